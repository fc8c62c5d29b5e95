"""The three master–detail tables: Commitments → Invoices → Payments.

Each table is filled from the read models in storage/views.py and keeps the cursor on the same
row (by key) across reloads, so a background refresh never moves the user's selection.

Columns are laid out to the pane's width (`KeyedTable._layout`): money columns never shrink; when
the pane is too narrow, the flexible text columns shrink first (their cells end in "…"), then
the status words get shorter ("▲ Attention"), then the least needed columns are hidden. A click on
a column header asks the screen to sort by that column (`DataTable.HeaderSelected`); the sorted
column's header carries an arrow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from rich.cells import cell_len
from rich.text import Text
from textual.binding import BindingType
from textual.widgets import DataTable

from console.bindings import PAYMENTS_PANE_BINDINGS
from console.widgets.status import palette, status_text
from storage.views import CommitmentRow, InvoiceRow, PaymentRow, natural_key

if TYPE_CHECKING:
    from sync.engine.reconcile import CommitmentReconciliation

UNMATCHED_KEY = "unmatched"
FLEX_MIN_WIDTH = 8


def format_money(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


_AMOUNT = re.compile(r"(?<![\w.,:-])(\d{4,})(\.\d{2})(?![\d.])")


def with_thousands(text: str) -> str:
    """Amounts written without separators in a message ("48500.00") get them ("48,500.00")."""
    return _AMOUNT.sub(lambda m: f"{Decimal(m.group(1) + m.group(2)):,.2f}", text)


def _right(text: str) -> Text:
    return Text(text, justify="right")


@dataclass(frozen=True)
class StatusCell:
    """An ERP status, drawn as glyph and word (a short word where the pane is narrow)."""

    status: str


Cell: TypeAlias = str | Text | StatusCell
Row: TypeAlias = tuple[str, tuple[Cell, ...]]


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    right: bool = False
    money: bool = False  # never shrinks: an amount is never cut
    flex: bool = False  # shrinks first, down to FLEX_MIN_WIDTH
    drop: int = 0  # > 0: hidden when the pane is too narrow, lowest number first
    sort: str | None = None  # the sort a click on the header asks for
    wrap: bool = False  # a flexible column whose text wraps onto more lines instead of ending in "…"


def arrow(descending: bool) -> str:
    return "↓" if descending else "↑"


class KeyedTable(DataTable[str | Text]):
    """A row-cursor DataTable that restores the highlighted row by key after a refill."""

    COLUMNS: tuple[ColumnSpec, ...] = ()

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._last_rows: list[Row] = []
        self._shown_columns: tuple[str, ...] = ()
        self._shown_short = False
        self.sort_key: str | None = None
        self.sort_descending = False

    def on_mount(self) -> None:
        self._set_columns(list(self.COLUMNS), [cell_len(c.label) for c in self.COLUMNS])

    @property
    def highlighted_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor can briefly point past a shrunken table
            return None
        return key

    @property
    def visible_columns(self) -> tuple[str, ...]:
        """The keys of the columns shown now (narrow panes hide some)."""
        return self._shown_columns

    @property
    def short_status(self) -> bool:
        return self._shown_short

    def column_for_sort(self, sort: str) -> ColumnSpec | None:
        return next((c for c in self.COLUMNS if c.sort == sort), None)

    def spec(self, key: str) -> ColumnSpec | None:
        return next((c for c in self.COLUMNS if c.key == key), None)

    # -- layout --------------------------------------------------------------------------------

    def _header(self, column: ColumnSpec) -> str:
        if column.sort is not None and column.sort == self.sort_key:
            return f"{column.label} {arrow(self.sort_descending)}"
        return column.label

    @staticmethod
    def _plain(cell: Cell, short: bool) -> str:
        if isinstance(cell, StatusCell):
            return status_text(cell.status, short=short).plain
        return cell.plain if isinstance(cell, Text) else str(cell)

    def _natural_widths(self, columns: list[ColumnSpec], rows: Sequence[Row], short: bool) -> list[int]:
        index = {c.key: i for i, c in enumerate(self.COLUMNS)}
        widths = []
        for column in columns:
            widest = cell_len(self._header(column))
            at = index[column.key]
            for _, cells in rows:
                widest = max(widest, cell_len(self._plain(cells[at], short)))
            widths.append(widest)
        return widths

    def _available(self) -> int:
        # One cell is kept for the vertical scrollbar, which appears once the rows overflow.
        return max(0, self.size.width - 1)

    def _fit(
        self, columns: list[ColumnSpec], widths: list[int], available: int, *, force: bool
    ) -> list[int] | None:
        """The widths once the flexible columns gave way, or None when they cannot give enough."""
        padding = 2 * self.cell_padding * len(columns)
        excess = sum(widths) + padding - available
        if excess <= 0:
            return widths
        flexible = [i for i, c in enumerate(columns) if (c.flex or c.wrap) and widths[i] > FLEX_MIN_WIDTH]
        room = sum(widths[i] - FLEX_MIN_WIDTH for i in flexible)
        if room < excess and not force:
            return None
        fitted = list(widths)
        if room <= excess:
            for i in flexible:
                fitted[i] = FLEX_MIN_WIDTH
            return fitted
        # Shrink each flexible column in proportion to what it can give, the last one takes the rest.
        left = excess
        for n, i in enumerate(flexible):
            give = (
                left
                if n == len(flexible) - 1
                else min(left, -(-excess * (widths[i] - FLEX_MIN_WIDTH) // room))
            )
            fitted[i] = widths[i] - give
            left -= give
        return fitted

    def layout_columns(self) -> tuple[ColumnSpec, ...]:
        """The columns as laid out now: a table may make one give way sooner while it is empty."""
        return self.COLUMNS

    def _layout(self, rows: Sequence[Row]) -> tuple[list[ColumnSpec], list[int], bool]:
        available = self._available()
        columns = list(self.layout_columns())
        if available <= 0:
            return columns, self._natural_widths(columns, rows, False), False
        droppable = sorted((c for c in columns if c.drop), key=lambda c: c.drop)
        hidden: set[str] = set()
        attempts = [False, True]
        while True:
            visible = [c for c in columns if c.key not in hidden]
            for short in attempts:
                fitted = self._fit(
                    visible, self._natural_widths(visible, rows, short), available, force=False
                )
                if fitted is not None:
                    return visible, fitted, short
            attempts = [True]  # once the words are short, they stay short while columns go
            if not droppable:
                widths = self._natural_widths(visible, rows, True)
                return visible, self._fit(visible, widths, available, force=True) or widths, True
            hidden.add(droppable.pop(0).key)

    def _set_columns(self, columns: list[ColumnSpec], widths: list[int]) -> None:
        self.clear(columns=True)
        for column, width in zip(columns, widths, strict=True):
            label = self._header(column)
            self.add_column(
                Text(label, justify="right") if column.right else label, key=column.key, width=width
            )
        self._shown_columns = tuple(c.key for c in columns)

    def _refill(self, rows: Sequence[Row], keep: str | None) -> None:
        self._last_rows = list(rows)
        columns, widths, short = self._layout(rows)
        self._set_columns(columns, widths)
        self._shown_short = short
        index = {c.key: i for i, c in enumerate(self.COLUMNS)}
        wraps = any(c.wrap for c in columns)
        for key, cells in rows:
            shown: list[str | Text] = []
            for column, width in zip(columns, widths, strict=True):
                cell = cells[index[column.key]]
                if isinstance(cell, StatusCell):
                    cell = status_text(cell.status, short=short)
                if column.wrap:
                    text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
                    text.no_wrap, text.overflow = False, "fold"
                    shown.append(text)
                else:
                    shown.append(cell if column.money else _clip(cell, width))
            self.add_row(*shown, key=key, height=None if wraps else 1)
        if not rows:
            return
        position = 0
        if keep is not None:
            for i, (key, _) in enumerate(rows):
                if key == keep:
                    position = i
                    break
        self.move_cursor(row=position, animate=False, scroll=True)

    def restyle(self) -> None:
        """Draw the rows again (after a theme change: the status colours are the theme's)."""
        self._refill(self._last_rows, self.highlighted_key)

    def on_resize(self) -> None:
        self._refill(self._last_rows, self.highlighted_key)

    def set_sort(self, key: str | None, descending: bool) -> None:
        self.sort_key = key
        self.sort_descending = descending


def _clip(cell: str | Text, width: int) -> str | Text:
    text = cell if isinstance(cell, Text) else Text(str(cell))
    if cell_len(text.plain) <= width:
        return cell
    clipped = text.copy()
    clipped.truncate(width, overflow="ellipsis")
    return clipped


def reconcile_text(result: CommitmentReconciliation | None) -> Text:
    """The Reconciled cell: ✔ when QuickBooks and Procore agree, "off 12.50 USD" when they do
    not (the difference, without its sign: the items screen says which side has more), blank
    until the commitment is reconciled (R)."""
    if result is None:
        return Text("", justify="right")
    if result.status == "reconciled":
        return Text("✔", style=f"bold {palette().green}", justify="right")
    amount = f"off {abs(result.difference):,.2f} {result.currency}".rstrip()
    return Text(amount, style=f"bold {palette().yellow}", justify="right")


RECONCILED_COLUMN = ColumnSpec("reconciled", "Reconciled", right=True, money=True)


class CommitmentsTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("status", "Status", sort="status"),
        ColumnSpec("number", "Number", sort="number"),
        ColumnSpec("title", "Title", flex=True, sort="title"),
        ColumnSpec("vendor", "Vendor", flex=True, sort="vendor"),
        ColumnSpec("kind", "Kind", drop=2, sort="kind"),
        ColumnSpec("payments", "Payments", right=True, drop=4, sort="payments"),
        ColumnSpec("project", "Project", flex=True, drop=3, sort="project"),
        RECONCILED_COLUMN,
    )
    # Before the first reconciliation (R) the column is blank: it gives way first.
    _BLANK_RECONCILED = ColumnSpec("reconciled", "Reconciled", right=True, drop=1)

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.reconciliation: Mapping[int, CommitmentReconciliation] = {}
        self._rows: tuple[CommitmentRow, ...] = ()

    def layout_columns(self) -> tuple[ColumnSpec, ...]:
        if self.reconciliation:
            return self.COLUMNS
        return tuple(self._BLANK_RECONCILED if c.key == "reconciled" else c for c in self.COLUMNS)

    def restyle(self) -> None:
        self.show(self._rows)  # the Reconciled cells take the new theme's colours too

    def show_reconciliation(self, results: Mapping[int, CommitmentReconciliation]) -> None:
        """Fill the Reconciled column (kept until the next reconciliation)."""
        self.reconciliation = dict(results)
        self.show(self._rows)

    def show(self, rows: Sequence[CommitmentRow]) -> None:
        keep = self.highlighted_key
        self._rows = tuple(rows)
        self._refill(
            [
                (
                    commitment_key(row.id),
                    (
                        StatusCell(row.status),
                        row.number,
                        row.title,
                        row.vendor_name,
                        row.kind_label,
                        _right(str(row.payments_count)),
                        row.project_name,
                        reconcile_text(self.reconciliation.get(row.id) if row.id is not None else None),
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


_URGENCY = {
    "failed": 6,
    "deleted_in_quickbooks": 5,
    "needs_attention": 4,
    "waiting": 3,
    "synced": 2,
    "not_synced": 1,
}


def invoice_sort_key(sort: str) -> Callable[[InvoiceRow], tuple[object, int]]:
    def key(row: InvoiceRow) -> tuple[object, int]:
        if sort == "status":
            return (_URGENCY.get(row.status, 0), row.id)
        if sort == "invoice":
            return (natural_key(row.invoice_number), row.id)
        if sort == "bill":
            return (natural_key(row.bill_ref_number), row.id)
        if sort == "amount":
            return (row.amount or Decimal(0), row.id)
        if sort == "payments":
            return (row.payments_count, row.id)
        return (row.draw_number or 0, row.id)

    return key


INVOICE_SORTS: dict[str, bool] = {
    "draw": False,
    "status": True,
    "invoice": False,
    "bill": False,
    "amount": True,
    "payments": True,
}


class InvoicesTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("status", "Status", sort="status"),
        ColumnSpec("invoice", "Invoice #", sort="invoice"),
        ColumnSpec("bill", "QB bill #", flex=True, sort="bill"),
        ColumnSpec("draw", "Draw", right=True, drop=1, sort="draw"),
        ColumnSpec("amount", "Amount", right=True, money=True, sort="amount"),
        ColumnSpec("payments", "Payments", right=True, drop=2, sort="payments"),
    )

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.sort_key = "draw"

    def show(self, rows: Sequence[InvoiceRow]) -> None:
        sort = self.sort_key or "draw"
        descending = self.sort_descending
        ordered = sorted(rows, key=invoice_sort_key(sort), reverse=descending)
        self._refill(
            [
                (
                    str(row.id),
                    (
                        StatusCell(row.status),
                        row.invoice_number,
                        row.bill_ref_number or Text("not matched", style="italic dim"),
                        _right("" if row.draw_number is None else str(row.draw_number)),
                        _right(row.amount_text),
                        _right(str(row.payments_count)),
                    ),
                )
                for row in ordered
            ],
            self.highlighted_key if self._last_rows else None,
        )


class PaymentsTable(KeyedTable):
    BINDINGS: ClassVar[list[BindingType]] = [*PAYMENTS_PANE_BINDINGS]
    COLUMNS = (
        ColumnSpec("status", "Status", sort="status"),
        ColumnSpec("date", "Date", sort="date"),
        ColumnSpec("method", "Method", drop=1, sort="method"),
        ColumnSpec("check", "Check #", sort="check"),
        ColumnSpec("payment_number", "Pay #", right=True, drop=2, sort="payment_number"),
        ColumnSpec("amount", "Amount", right=True, money=True, sort="amount"),
        ColumnSpec("invoice", "Invoice #", sort="invoice"),
        ColumnSpec("reason", "Reason", flex=True, drop=3),
    )

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.sort_key = "date"
        self.sort_descending = True

    def show(self, rows: Sequence[PaymentRow]) -> None:
        keep = self.highlighted_key
        self._refill(
            [
                (
                    str(row.application_id),
                    (
                        StatusCell(row.status),
                        row.txn_date.isoformat(),
                        row.method_label,
                        row.check_number or "",
                        _right("" if row.payment_number is None else str(row.payment_number)),
                        _right(row.amount_text),
                        row.invoice_number or row.bill_ref_number or "",
                        Text(payment_reason(row), style="italic"),
                    ),
                )
                for row in rows
            ],
            keep,
        )


def payment_reason(row: PaymentRow) -> str:
    if row.is_void and not row.reason:
        return "Voided in QuickBooks"
    if row.status in ("synced",) and not row.is_void:
        return ""
    reason = row.reason or ""
    if row.matched_by_bill and row.status == "not_synced":
        reason = f"Listed by its bill; never synced. {reason}".strip()
    return reason
