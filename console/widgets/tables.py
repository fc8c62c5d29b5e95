"""The three master–detail tables: Commitments → Invoices → Payments.

Each table is filled from the read models in storage/views.py and keeps the cursor on the same
row (by key) across reloads, so a background refresh never moves the user's selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from console.widgets.status import status_text
from storage.views import CommitmentRow, InvoiceRow, PaymentRow

UNMATCHED_KEY = "unmatched"


def format_money(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


def _right(text: str) -> Text:
    return Text(text, justify="right")


class KeyedTable(DataTable[str | Text]):
    """A row-cursor DataTable that restores the highlighted row by key after a refill."""

    FLEX_COLUMNS: tuple[str, ...] = ()

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._last_rows: list[tuple[str, tuple[str | Text, ...]]] = []

    @property
    def highlighted_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor can briefly point past a shrunken table
            return None
        return key

    def _fit_columns(self, rows: Sequence[tuple[str, tuple[str | Text, ...]]]) -> list[int]:
        """Size every column to its widest cell before the rows go in; return the widths.

        DataTable measures auto-width columns only when idle, and a row it renders earlier keeps its
        too-narrow cells in a cache (Textual 8.2.8), so the widths are set up front instead. When
        the table is wider than the pane, the FLEX_COLUMNS give way (their cells end in "…").
        """
        columns = self.ordered_columns
        widths = []
        for index, column in enumerate(columns):
            widest = cell_len(column.label.plain)
            for _, cells in rows:
                cell = cells[index]
                widest = max(widest, cell_len(cell.plain if isinstance(cell, Text) else str(cell)))
            widths.append(widest)
        available = self.scrollable_content_region.width or self.size.width
        padding = 2 * self.cell_padding * len(columns) + 1
        flexible = [i for i, c in enumerate(columns) if c.key.value in self.FLEX_COLUMNS]
        excess = sum(widths) + padding - available
        if flexible and available and excess > 0:
            # Shrink the flexible columns in proportion to their width, none below 10 cells.
            room = sum(widths[i] for i in flexible)
            for i in flexible:
                widths[i] = max(10, widths[i] - -(-excess * widths[i] // room))
        for column, width in zip(columns, widths, strict=True):
            column.width = width
            column.auto_width = False
        return widths

    def _refill(self, rows: Sequence[tuple[str, tuple[str | Text, ...]]], keep: str | None) -> None:
        self._last_rows = list(rows)
        self.clear()
        widths = self._fit_columns(rows)
        for key, cells in rows:
            self.add_row(*(_clip(cell, width) for cell, width in zip(cells, widths, strict=True)), key=key)
        if not rows:
            return
        index = 0
        if keep is not None:
            for i, (key, _) in enumerate(rows):
                if key == keep:
                    index = i
                    break
        self.move_cursor(row=index, animate=False, scroll=True)

    def on_resize(self) -> None:
        if self._last_rows:
            self._refill(self._last_rows, self.highlighted_key)


def _clip(cell: str | Text, width: int) -> str | Text:
    text = cell if isinstance(cell, Text) else Text(str(cell))
    if cell_len(text.plain) <= width:
        return cell
    clipped = text.copy()
    clipped.truncate(width, overflow="ellipsis")
    return clipped


class CommitmentsTable(KeyedTable):
    FLEX_COLUMNS = ("title", "project", "vendor")

    def on_mount(self) -> None:
        self.add_column("Status", key="status", width=23)
        self.add_column("Number", key="number")
        self.add_column("Title", key="title")
        self.add_column("Vendor", key="vendor")
        self.add_column("Kind", key="kind")
        self.add_column("Payments", key="payments")
        self.add_column("Project", key="project")

    def show(self, rows: Sequence[CommitmentRow]) -> None:
        keep = self.highlighted_key
        self._refill(
            [
                (
                    commitment_key(row.id),
                    (
                        status_text(row.status),
                        row.number,
                        row.title,
                        row.vendor_name,
                        row.kind_label,
                        _right(str(row.payments_count)),
                        row.project_name,
                    ),
                )
                for row in rows
            ],
            keep,
        )


def commitment_key(commitment_id: int | None) -> str:
    return UNMATCHED_KEY if commitment_id is None else str(commitment_id)


def commitment_id_of(key: str) -> int | None:
    return None if key == UNMATCHED_KEY else int(key)


class InvoicesTable(KeyedTable):
    def on_mount(self) -> None:
        self.add_column("Status", key="status", width=23)
        self.add_column("Invoice #", key="invoice")
        self.add_column("QB bill #", key="bill")
        self.add_column("Draw", key="draw")
        self.add_column("Amount", key="amount")
        self.add_column("Payments", key="payments")

    def show(self, rows: Sequence[InvoiceRow]) -> None:
        self._refill(
            [
                (
                    str(row.id),
                    (
                        status_text(row.status),
                        row.invoice_number,
                        row.bill_ref_number or Text("not matched", style="italic dim"),
                        _right("" if row.draw_number is None else str(row.draw_number)),
                        _right(row.amount_text),
                        _right(str(row.payments_count)),
                    ),
                )
                for row in rows
            ],
            None,
        )


class PaymentsTable(KeyedTable):
    FLEX_COLUMNS = ("reason",)

    def on_mount(self) -> None:
        self.add_column("Status", key="status", width=23)
        self.add_column("Date", key="date")
        self.add_column("Method", key="method")
        self.add_column("Check #", key="check")
        self.add_column("Pay #", key="payment_number")
        self.add_column("Amount", key="amount")
        self.add_column("Invoice #", key="invoice")
        self.add_column("Reason", key="reason")

    def show(self, rows: Sequence[PaymentRow]) -> None:
        keep = self.highlighted_key
        self._refill(
            [
                (
                    str(row.application_id),
                    (
                        status_text(row.status),
                        row.txn_date.isoformat(),
                        row.method_label,
                        row.check_number or "",
                        _right("" if row.payment_number is None else str(row.payment_number)),
                        _right(row.amount_text),
                        row.invoice_number or row.bill_ref_number or "",
                        Text(_reason(row), style="italic"),
                    ),
                )
                for row in rows
            ],
            keep,
        )


def _reason(row: PaymentRow) -> str:
    if row.is_void and not row.reason:
        return "Voided in QuickBooks"
    if row.status in ("synced",) and not row.is_void:
        return ""
    return row.reason or ""
