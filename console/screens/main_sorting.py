"""Sorting the main screen's lists: `o` steps through the focused list's usual orders; a click
on a column header sorts by that column (again: the other way)."""

from __future__ import annotations

from textual import on
from textual.widgets import DataTable

from console.screens.main_base import SortState, sort_label
from console.screens.main_reading import MainReading
from console.widgets.tables import (
    INVOICE_SORTS,
    CommitmentsTable,
    InvoicesTable,
    KeyedTable,
    PaymentsTable,
    commitment_id_of,
)
from storage.views import COMMITMENT_SORTS, PAYMENT_SORTS

# What `o` steps through on each list (a header click sorts by any column).
SORT_CYCLES: dict[str, tuple[str, ...]] = {
    "commitments": ("number", "status"),
    "invoices": ("draw", "status", "amount"),
    "payments": ("date", "status", "amount"),
}


class MainSorting(MainReading):
    """`o` and the header clicks."""

    # ----------------------------------------------------------------------------------------
    # Sorting: `o` steps through the focused list's usual orders; a header click sorts by its column

    @on(DataTable.HeaderSelected)
    def header_selected(self, event: DataTable.HeaderSelected) -> None:
        table = event.data_table
        if not isinstance(table, KeyedTable):
            return
        spec = table.spec(str(event.column_key.value))
        if spec is None or spec.sort is None:
            return
        event.stop()
        self.sort_list(table, spec.sort, flip=True)

    def sort_list(self, table: KeyedTable, key: str, *, flip: bool = False) -> None:
        if isinstance(table, CommitmentsTable):
            default = COMMITMENT_SORTS.get(key, False)
            descending = not self.sort.descending if flip and self.sort.key == key else default
            self.sort = SortState(key, descending)
            table.border_title = self.commitments_title()
            self.load_commitments(self.filter_text, key, descending)
            said = f"Commitments {sort_label(key, descending)}."
        elif isinstance(table, PaymentsTable):
            default = PAYMENT_SORTS.get(key, True)
            same = self.payment_sort.key == key
            descending = not self.payment_sort.descending if flip and same else default
            self.payment_sort = SortState(key, descending)
            if self.current_commitment is not None:
                self.load_payments(self.current_commitment, self.current_invoice, self.filter_text)
            said = f"Payments {sort_label(key, descending)}."
        elif isinstance(table, InvoicesTable):
            default = INVOICE_SORTS.get(key, False)
            descending = not table.sort_descending if flip and table.sort_key == key else default
            table.set_sort(key, descending)
            if self.current_commitment is not None and commitment_id_of(self.current_commitment) is not None:
                self.load_children(self.current_commitment, self.current_invoice, self.filter_text)
            said = f"Invoices {sort_label(key, descending)}."
        else:
            return
        self.notify(said, timeout=2)

    def action_toggle_sort(self) -> None:
        focused = self.focused
        table: KeyedTable = focused if isinstance(focused, KeyedTable) else self.query_one(CommitmentsTable)
        if isinstance(table, CommitmentsTable):
            name, current = "commitments", self.sort.key
        elif isinstance(table, PaymentsTable):
            name, current = "payments", self.payment_sort.key
        else:
            name, current = "invoices", table.sort_key or "draw"
        cycle = SORT_CYCLES[name]
        following = cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else cycle[0]
        self.sort_list(table, following)
