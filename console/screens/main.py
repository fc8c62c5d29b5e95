"""The operations screen: top bar, Commitments → Invoices → Payments, the payment detail, key hints.

Every database read and every engine call runs in a named thread worker and comes back as a
typed Message (console/messages.py), so the UI never blocks. Results for a selection the user
has already left are dropped, so a slow read can never overwrite a newer one.

The layout follows the terminal: below 36 rows the detail pane hides (enter still opens the full
view) and the invoices pane gets fewer rows, so the payments list is always on screen, down to
80×24; the tables give way column by column (console/widgets/tables.py), never cutting an amount.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Label, ProgressBar
from textual.worker import Worker, WorkerState

from console.bindings import MAIN_BINDINGS
from console.messages import (
    CommitmentsLoaded,
    ExportWritten,
    InvoicesLoaded,
    OverviewLoaded,
    PaymentChanged,
    PaymentDetailLoaded,
    PaymentsLoaded,
    PreviewLine,
    PreviewReady,
    SyncFinished,
    SyncProgressed,
)
from console.screens.confirm import ConfirmModal
from console.screens.detail import PaymentDetailScreen, payment_clipboard_text
from console.screens.preview import PreviewScreen
from console.widgets.detail import PaymentDetailPanel
from console.widgets.footer import KeyFooter
from console.widgets.prompt import PromptBar
from console.widgets.tables import (
    INVOICE_SORTS,
    CommitmentsTable,
    InvoicesTable,
    KeyedTable,
    PaymentsTable,
    arrow,
    commitment_id_of,
    commitment_key,
    payment_reason,
)
from console.widgets.topbar import BarState, TopBar
from storage import views
from storage.views import (
    COMMITMENT_SORTS,
    PAYMENT_SORTS,
    CommitmentRow,
    Overview,
    PaymentDetail,
    PaymentRow,
)
from storage.vocabulary import ErpStatus
from sync.engine.cancel import SyncCancel
from sync.engine.service import MAX_PAYMENT_NUMBER
from sync.engine.summary import SyncSummary
from sync.procore.attachments import ALLOWED_ATTACHMENT_TYPES, MAX_ATTACHMENT_BYTES
from sync.runtime.events import (
    PushFinished,
    RunProgressed,
    RuntimeEvent,
    ScheduledRunFinished,
    ScheduledRunStarted,
    WebConnectorSessionClosed,
)

if TYPE_CHECKING:
    from console.app import PaySyncApp

SYNCED, DELETED_IN_QUICKBOOKS = ErpStatus.SYNCED, ErpStatus.DELETED_IN_QUICKBOOKS
PAGE_SIZE = 500
QUOTE_LIMIT = 30
DETAIL_HINT = "enter: full details"

# What `o` steps through on each list (a header click sorts by any column).
SORT_CYCLES: dict[str, tuple[str, ...]] = {
    "commitments": ("number", "status"),
    "invoices": ("draw", "status", "amount"),
    "payments": ("date", "status", "amount"),
}
SORT_WORDS: dict[str, str] = {
    "payment_number": "payment #",
    "check": "check #",
    "invoice": "invoice #",
    "bill": "bill #",
}


def sort_label(key: str, descending: bool) -> str:
    """ "by date ↓"; the status sort reads "most urgent first"."""
    if key == "status":
        return "most urgent first" if descending else "least urgent first"
    return f"by {SORT_WORDS.get(key, key)} {arrow(descending)}"


def quoted(value: str, limit: int = QUOTE_LIMIT) -> str:
    """What the user typed, in quotes and shortened to `limit` characters (ending in …)."""
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return f"“{shown}”"


def parse_payment_number(text: str) -> int | None:
    """The payment number the user typed; empty clears it. ValueError says what is wrong and how to fix it."""
    value = text.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValueError(
            f"{quoted(value)} is not a payment number: type a whole number such as 1042, with the "
            "digits 0–9 only, or leave it empty to clear it. Nothing was stored."
        )
    number = int(value)
    if number < 1 or number > MAX_PAYMENT_NUMBER:
        raise ValueError(
            f"{quoted(value)} is out of range: a payment number is from 1 to {MAX_PAYMENT_NUMBER:,}. "
            "Nothing was stored."
        )
    return number


def payment_number_problem(text: str) -> str | None:
    try:
        parse_payment_number(text)
    except ValueError as error:
        return str(error)
    return None


def unquote_path(text: str) -> str:
    """A path as typed or pasted: Windows' "Copy as path" wraps it in double quotes."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def attachment_path(text: str) -> Path:
    return Path(unquote_path(text)).expanduser()


def attachment_problem(text: str) -> str | None:
    if not unquote_path(text):
        return "Type the path of the file to attach (for example ~/Checks/1042.pdf), or press esc."
    path = attachment_path(text)
    if not path.exists():
        return (
            f"There is no file at {quoted(str(path), 60)}: check the path (it is relative to {Path.cwd()})."
        )
    if not path.is_file():
        return f"{quoted(str(path), 60)} is a folder, not a file: give the path of one file."
    if path.suffix.lower() not in ALLOWED_ATTACHMENT_TYPES:
        allowed = ", ".join(sorted(s.lstrip(".") for s in ALLOWED_ATTACHMENT_TYPES))
        return f"{path.name}: files of type {path.suffix or '(none)'} cannot be attached. Allowed: {allowed}."
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty: choose the scanned check or remittance itself."
    if size > MAX_ATTACHMENT_BYTES:
        return (
            f"{path.name} is {size / 1024 / 1024:.1f} MB; Procore attachments here are limited to "
            f"{MAX_ATTACHMENT_BYTES // 1024 // 1024} MB. Compress or split it."
        )
    return None


def export_path(text: str) -> Path:
    return Path(unquote_path(text)).expanduser()


def export_problem(text: str) -> str | None:
    if not unquote_path(text):
        return "Type a file name for the CSV (for example payments.csv), or press esc."
    path = export_path(text)
    if path.is_dir():
        return f"{quoted(str(path), 60)} is a folder: add a file name, for example {path / 'payments.csv'}."
    if not path.parent.exists():
        return f"There is no folder {quoted(str(path.parent), 60)}: check the path. Nothing was written."
    if path.exists():
        return f"{path.name} already exists there: type another name (nothing was overwritten)."
    return None


def sync_summary_text(summary: SyncSummary) -> str:
    """The toast after a sync: what was written, what still needs a person."""
    text = (
        f"{summary.created} created · {summary.updated} updated · {summary.voided} voided · "
        f"{summary.flagged} flagged deleted · {summary.skipped} unchanged"
    )
    if summary.needs_attention or summary.failed:
        text += (
            f"\n{summary.needs_attention} need attention · {summary.failed} failed (see the Reason column)"
        )
    if summary.errors and not (summary.needs_attention or summary.failed):
        text += f"\n{summary.errors[0]}"
    note = summary.cancel_note()
    if note is not None:
        text += f"\n{note}"
    return text


STOP_QUESTION = (
    "Stop the sync after the payment being written now?\n\n"
    "What is written stays, in Procore and in PaySync's journal; the rest waits for the next sync."
)


def retract_refusal(row: PaymentRow) -> str:
    """Why `x` does nothing on this payment, and what retract is for."""
    purpose = (
        "Retract (x) deletes from Procore a payment that was deleted in QuickBooks after it was synced; "
        "PaySync never does that by itself."
    )
    if row.status == DELETED_IN_QUICKBOOKS:
        return (
            f"{purpose} This one was deleted in QuickBooks before it reached Procore, so there is nothing "
            "to retract."
        )
    if row.status == SYNCED:
        return (
            f"{purpose} This payment is Synced: it is still in QuickBooks. To change it, change it in "
            "QuickBooks (a void is carried to Procore as a void); the next sync brings the change over."
        )
    return f"{purpose} This payment is {views.status_label(row.status)}, not deleted in QuickBooks."


def csv_rows(rows: list[PaymentRow], commitment: str) -> list[list[str]]:
    header = [
        "Status",
        "Date",
        "Method",
        "Check #",
        "Payment #",
        "Amount",
        "Currency",
        "Invoice #",
        "QB bill #",
        "Vendor",
        "Commitment",
        "Reason",
        "QuickBooks TxnID",
    ]
    lines = [header]
    for row in rows:
        lines.append(
            [
                views.status_label(row.status),
                row.txn_date.isoformat(),
                row.method_label,
                row.check_number or "",
                "" if row.payment_number is None else str(row.payment_number),
                "" if row.held else f"{row.amount:.2f}",
                row.currency or "",
                row.invoice_number or "",
                row.bill_ref_number or "",
                row.vendor_name or "",
                commitment,
                payment_reason(row),
                row.payment_txn_id,
            ]
        )
    return lines


@dataclass
class SortState:
    key: str
    descending: bool


class MainScreen(Screen[None]):
    BINDINGS = [*MAIN_BINDINGS]
    AUTO_FOCUS = "#commitments"
    # Classes on the screen by terminal height: the panes shrink and collapse in this order.
    VERTICAL_BREAKPOINTS = [(0, "-height-tiny"), (28, "-height-short"), (36, "-height-normal")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.filter_text = ""
        self.sort = SortState("number", COMMITMENT_SORTS["number"])
        self.payment_sort = SortState("date", PAYMENT_SORTS["date"])
        self.overview: Overview | None = None
        self.commitments: dict[str, CommitmentRow] = {}
        self.payments: dict[str, PaymentRow] = {}
        self.payment_page_total = 0
        self.detail: PaymentDetail | None = None
        self.current_commitment: str | None = None  # key in the commitments table
        self.current_invoice: int | None = None  # None: all invoices of the commitment
        self.current_payment: str | None = None
        self.sync_running = False
        self.sync_trigger = ""
        self.sync_cancel: SyncCancel | None = None
        self.scheduled_running = False  # the runtime's scheduled run, in this console
        self.busy_text: str | None = None
        self._commitment_count = ""
        self._invoice_title = "Invoices"
        self._payment_title = "Payments"

    @property
    def paysync(self) -> PaySyncApp:
        return self.app  # type: ignore[return-value]

    # ----------------------------------------------------------------------------------------
    # Layout

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Vertical(id="panes"):
            commitments = CommitmentsTable(id="commitments")
            commitments.border_title = "Commitments"
            yield commitments
            invoices = InvoicesTable(id="invoices")
            invoices.border_title = "Invoices"
            yield invoices
            payments = PaymentsTable(id="payments")
            payments.border_title = "Payments"
            yield payments
        detail = PaymentDetailPanel(id="detail")
        detail.border_title = "Payment: QuickBooks ⇄ Procore"
        yield detail
        with Horizontal(id="sync-progress"):
            yield Label("Syncing…", id="sync-step")
            yield ProgressBar(id="sync-bar", show_eta=False)
        yield PromptBar(id="prompt")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(PaymentDetailPanel).show(None, tz=self.paysync.display_tz)
        self.render_topbar()
        self.reload_all()

    @property
    def detail_pane_shown(self) -> bool:
        return self.query_one(PaymentDetailPanel).display

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_payments_hint)

    def show_payments_hint(self) -> None:
        """Where the detail pane is hidden, the payments pane says how to see a payment's details."""
        table = self.query_one(PaymentsTable)
        table.border_subtitle = "" if self.detail_pane_shown or not self.payments else DETAIL_HINT

    def restyle(self) -> None:
        """The theme changed: draw everything again in its colours."""
        for table in self.query(KeyedTable):
            table.restyle()
        self.render_topbar()
        self.query_one(PaymentDetailPanel).show(self.detail, tz=self.paysync.display_tz)

    # ----------------------------------------------------------------------------------------
    # Reading (thread workers → Messages)

    def reload_all(self) -> None:
        self.load_overview()
        self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False, description="read the overview")
    def load_overview(self) -> None:
        with views.read_session():
            overview = views.overview()
        self.post_message(OverviewLoaded(overview))

    @work(
        thread=True, exclusive=True, group="commitments", exit_on_error=False, description="read commitments"
    )
    def load_commitments(self, text: str, sort: str, descending: bool) -> None:
        with views.read_session():
            page = views.list_commitments(text=text, limit=PAGE_SIZE, sort=sort, descending=descending)
        self.post_message(CommitmentsLoaded(page, text=text))

    @work(
        thread=True,
        exclusive=True,
        group="children",
        exit_on_error=False,
        description="read invoices and payments",
    )
    def load_children(self, key: str, invoice_id: int | None, text: str) -> None:
        commitment_id = commitment_id_of(key)
        sort = self.payment_sort
        with views.read_session():
            invoices = views.list_invoices(commitment_id) if commitment_id is not None else ()
            page = views.list_payments(
                commitment_id,
                invoice_id=invoice_id,
                limit=PAGE_SIZE,
                sort=sort.key,
                descending=sort.descending,
                text=text,
            )
        self.post_message(InvoicesLoaded(commitment_id, invoices))
        self.post_message(PaymentsLoaded(commitment_id, invoice_id, page))

    @work(thread=True, exclusive=True, group="payments", exit_on_error=False, description="read payments")
    def load_payments(self, key: str, invoice_id: int | None, text: str) -> None:
        commitment_id = commitment_id_of(key)
        sort = self.payment_sort
        with views.read_session():
            page = views.list_payments(
                commitment_id,
                invoice_id=invoice_id,
                limit=PAGE_SIZE,
                sort=sort.key,
                descending=sort.descending,
                text=text,
            )
        self.post_message(PaymentsLoaded(commitment_id, invoice_id, page))

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False, description="read the payment")
    def load_detail(self, application_id: int, open_modal: bool = False) -> None:
        with views.read_session():
            detail = views.payment_detail(application_id)
        self.post_message(PaymentDetailLoaded(detail, open_modal=open_modal))

    # ----------------------------------------------------------------------------------------
    # Showing what was read

    def render_topbar(self) -> None:
        app = self.paysync
        expression = (self.overview.schedule_expression if self.overview else None) or app.schedule_expression
        self.query_one(TopBar).show(
            BarState(
                overview=self.overview,
                now=app.now(),
                tz=app.display_tz,
                schedule_expression=expression,
                next_run=app.next_run_at,
                schedule_holder=app.schedule_holder,
                mode_label=app.mode_label,
                web_connector_note=app.web_connector_note,
                endpoint_url=app.endpoint_url,
                busy=self.busy_text,
            )
        )

    def on_overview_loaded(self, message: OverviewLoaded) -> None:
        changed = self.overview is not None and (
            message.overview.counts != self.overview.counts
            or message.overview.last_sync != self.overview.last_sync
        )
        self.overview = message.overview
        self.render_topbar()
        if changed and not self.sync_running:
            # Something else (the Web Connector, the schedule, `paysync serve`) changed the data.
            self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)

    def commitments_title(self) -> str:
        table = self.query_one(CommitmentsTable)
        order = sort_label(self.sort.key, self.sort.descending)
        if self.filter_text:
            return f"Commitments · {quoted(self.filter_text)} · {self._commitment_count} · {order}"
        return f"Commitments · {self._commitment_count} · {order}" if table.row_count else "Commitments"

    def on_commitments_loaded(self, message: CommitmentsLoaded) -> None:
        if message.text != self.filter_text:
            return  # the user has typed on since
        table = self.query_one(CommitmentsTable)
        self.commitments = {commitment_key(row.id): row for row in message.page.rows}
        table.set_sort(self.sort.key, self.sort.descending)
        table.show(message.page.rows)
        shown = sum(1 for row in message.page.rows if row.id is not None)
        count = (
            f"{message.page.total:,}"
            if shown == message.page.total
            else f"{shown:,} shown of {message.page.total:,}"
        )
        self._commitment_count = f"{count} of {message.page.overall:,}" if self.filter_text else count
        table.border_title = self.commitments_title()
        table.border_subtitle = ""
        if message.page.overall == 0 and not message.page.rows:
            table.border_subtitle = "none yet: press s to import them from Procore"
        elif not message.page.rows:
            table.border_subtitle = "nothing matches the filter: esc clears it"
        key = table.highlighted_key
        if key is None:
            self.current_commitment = None
            self.query_one(InvoicesTable).show(())
            self.query_one(InvoicesTable).border_title = "Invoices"
            self.query_one(PaymentsTable).show(())
            self.query_one(PaymentsTable).border_title = "Payments"
            self.payments = {}
            self.show_detail_for(None)
            return
        self.select_commitment(key, force=True)

    def select_commitment(self, key: str, *, force: bool = False) -> None:
        if key == self.current_commitment and not force:
            return
        self.current_commitment = key
        self.current_invoice = None
        self.load_children(key, None, self.filter_text)

    def on_invoices_loaded(self, message: InvoicesLoaded) -> None:
        if self.current_commitment != commitment_key(message.commitment_id):
            return
        table = self.query_one(InvoicesTable)
        table.show(message.invoices)
        row = self.commitments.get(self.current_commitment)
        label = row.number if row else ""
        if message.commitment_id is None:
            table.border_title = "Invoices · unmatched payments have none"
        else:
            order = sort_label(table.sort_key or "draw", table.sort_descending)
            table.border_title = f"Invoices of {label} · {len(message.invoices)} · {order}"

    def on_payments_loaded(self, message: PaymentsLoaded) -> None:
        if self.current_commitment != commitment_key(message.commitment_id):
            return
        if message.invoice_id != self.current_invoice:
            return
        table = self.query_one(PaymentsTable)
        self.payments = {str(row.application_id): row for row in message.page.rows}
        self.payment_page_total = message.page.total
        table.set_sort(self.payment_sort.key, self.payment_sort.descending)
        table.show(message.page.rows)
        row = self.commitments.get(self.current_commitment or "")
        scope = row.number if row else ""
        if message.invoice_id is not None:
            invoice = next((r for r in message.page.rows if r.invoice_id == message.invoice_id), None)
            scope += f" · invoice {invoice.invoice_number if invoice else ''}".rstrip()
        elif message.commitment_id is None and self.filter_text:
            scope += f" · {quoted(self.filter_text)}"
        total = message.page.total
        shown = len(message.page.rows)
        count = f"{total:,}" if shown == total else f"{shown:,} of {total:,}"
        order = sort_label(self.payment_sort.key, self.payment_sort.descending)
        table.border_title = f"Payments of {scope} · {count} · {order}"
        self.show_payments_hint()
        self.show_detail_for(table.highlighted_key)

    def show_detail_for(self, key: str | None) -> None:
        self.current_payment = key
        if key is None:
            self.detail = None
            self.query_one(PaymentDetailPanel).show(None, tz=self.paysync.display_tz)
            return
        self.load_detail(int(key))

    def on_payment_detail_loaded(self, message: PaymentDetailLoaded) -> None:
        detail = message.detail
        if detail is None or str(detail.row.application_id) != self.current_payment:
            return
        self.detail = detail
        self.query_one(PaymentDetailPanel).show(detail, tz=self.paysync.display_tz)
        if message.open_modal:
            self.app.push_screen(PaymentDetailScreen(detail, tz=self.paysync.display_tz))

    # ----------------------------------------------------------------------------------------
    # Following the user's selection

    @on(DataTable.RowHighlighted, "#commitments")
    def commitment_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is not None:
            self.select_commitment(key)

    @on(DataTable.RowHighlighted, "#invoices")
    def invoice_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Refilling the table highlights its first row; only a user moving in it narrows the payments.
        if not event.data_table.has_focus or self.current_commitment is None or event.row_key.value is None:
            return
        self.narrow_to_invoice(int(event.row_key.value))

    def narrow_to_invoice(self, invoice_id: int | None) -> None:
        if self.current_commitment is None or invoice_id == self.current_invoice:
            return
        self.current_invoice = invoice_id
        self.load_payments(self.current_commitment, invoice_id, self.filter_text)

    @on(DataTable.RowHighlighted, "#payments")
    def payment_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is not None and key != self.current_payment:
            self.show_detail_for(key)

    @on(DataTable.RowSelected, "#payments")
    def payment_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.current_payment = event.row_key.value
            self.load_detail(int(event.row_key.value), open_modal=True)

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget
        if (
            isinstance(widget, CommitmentsTable)
            and self.current_invoice is not None
            and self.current_commitment
        ):
            self.current_invoice = None
            self.load_payments(self.current_commitment, None, self.filter_text)
        elif isinstance(widget, InvoicesTable):
            key = widget.highlighted_key
            if key is not None:
                self.narrow_to_invoice(int(key))

    def selected_payment(self) -> PaymentRow | None:
        key = self.query_one(PaymentsTable).highlighted_key
        return self.payments.get(key) if key is not None else None

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

    # ----------------------------------------------------------------------------------------
    # Actions

    def action_reload(self) -> None:
        self.reload_all()
        self.notify("Reloaded from the database.", timeout=2)

    def action_filter(self) -> None:
        self.query_one(PromptBar).open(
            "filter",
            label="Filter commitments (esc clears)",
            placeholder="number, title, vendor, project, or a status: failed, waiting, deleted…",
            value=self.filter_text,
        )

    def action_clear_filter(self) -> None:
        if self.filter_text:
            self.filter_text = ""
            self.load_commitments("", self.sort.key, self.sort.descending)

    def action_open_detail(self) -> None:
        row = self.selected_payment()
        if row is not None:
            self.current_payment = str(row.application_id)
            self.load_detail(row.application_id, open_modal=True)

    def action_copy_payment(self) -> None:
        row = self.selected_payment()
        if row is None:
            self.notify(
                "Select a payment in the Payments pane first, then press c to copy it.", severity="warning"
            )
            return
        detail = (
            self.detail
            if self.detail is not None and self.detail.row.application_id == row.application_id
            else None
        )
        commitment = self.commitments.get(self.current_commitment or "")
        text = payment_clipboard_text(row, detail, commitment=commitment.number if commitment else None)
        self.app.copy_to_clipboard(text)
        first = text.splitlines()[0]
        self.notify(f"Copied to the clipboard: {first}", timeout=4)

    def action_export_csv(self) -> None:
        rows = self.query_one(PaymentsTable).row_count
        if not rows:
            self.notify(
                "There are no payments listed to export: select a commitment first.", severity="warning"
            )
            return
        commitment = self.commitments.get(self.current_commitment or "")
        name = (commitment.number if commitment and commitment.id is not None else "unmatched") or "payments"
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "payments"
        today = self.paysync.now().astimezone(self.paysync.display_tz).date()
        default = f"paysync-payments-{safe}-{today.isoformat()}.csv"
        suffix = (
            ""
            if self.payment_page_total <= rows
            else f" (the {rows:,} listed of {self.payment_page_total:,})"
        )
        self.query_one(PromptBar).open(
            "export",
            label=f"Export {rows:,} payments{suffix} to",
            placeholder="a file name or path, e.g. payments.csv",
            value=default,
            validate=export_problem,
        )

    def _payment_for(self, doing: str) -> PaymentRow | None:
        row = self.selected_payment()
        if row is None:
            self.notify(f"Select a payment in the Payments pane first, then {doing}.", severity="warning")
        return row

    def action_edit_payment_number(self) -> None:
        row = self._payment_for("set its payment number")
        if row is None:
            return
        if row.link_id is None:
            self.notify(
                f"This payment is not in Procore yet ({views.status_label(row.status)}): you can set its "
                "payment number once PaySync has linked it (after the next push).",
                severity="warning",
            )
            return
        if row.status == DELETED_IN_QUICKBOOKS:
            self.notify(
                "This payment was deleted in QuickBooks: its payment number can no longer change.",
                severity="warning",
            )
            return
        what = f"{row.method_label} {row.check_number or ''}".strip()
        self.query_one(PromptBar).open(
            f"payment_number:{row.link_id}",
            label=f"Payment # for {what} ({row.amount_text})",
            placeholder="a whole number, e.g. 1042; empty clears it",
            value="" if row.payment_number is None else str(row.payment_number),
            validate=payment_number_problem,
        )

    def action_add_attachment(self) -> None:
        row = self._payment_for("attach a file")
        if row is None:
            return
        if row.status == DELETED_IN_QUICKBOOKS:
            self.notify(
                "This payment was deleted in QuickBooks: it takes no more attachments. Retract it (x) "
                "if it should go from Procore.",
                severity="warning",
            )
            return
        if row.link_id is None or row.procore_payment_id is None:
            self.notify(
                f"This payment is not in Procore yet ({views.status_label(row.status)}), so there is "
                "nothing to attach a file to. Attach it once the payment shows Synced.",
                severity="warning",
            )
            return
        limit = MAX_ATTACHMENT_BYTES // 1024 // 1024
        self.query_one(PromptBar).open(
            f"attachment:{row.link_id}",
            label=f"Attach a file to {row.method_label} {row.check_number or ''} ({row.amount_text}) in Procore",
            placeholder=f"path of a check image or remittance, up to {limit} MB: ~/Checks/1042.pdf",
            validate=attachment_problem,
        )

    def action_retract(self) -> None:
        row = self.selected_payment()
        if row is None:
            self.notify("Select a payment in the Payments pane first.", severity="warning")
            return
        if row.status != DELETED_IN_QUICKBOOKS or row.link_id is None or row.procore_payment_id is None:
            self.notify(retract_refusal(row), title="Nothing to retract", severity="information", timeout=12)
            return
        link_id = row.link_id
        question = (
            f"Delete the Procore payment for {row.method_label} {row.check_number or ''} of "
            f"{row.amount_text} (invoice {row.invoice_number or '?'}) from its commitment?\n\n"
            "It was deleted in QuickBooks. This cannot be undone in PaySync, and it is written to the audit log."
        )

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.run_retract(link_id)
            else:
                self.notify("Nothing was retracted.", timeout=3)

        self.app.push_screen(ConfirmModal("Retract payment?", question, yes_label="Retract"), answered)

    @on(PromptBar.Changed)
    def prompt_changed(self, message: PromptBar.Changed) -> None:
        if message.mode == "filter":
            self.filter_text = message.value.strip()
            self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)

    @on(PromptBar.Submitted)
    def prompt_submitted(self, message: PromptBar.Submitted) -> None:
        mode, _, target = message.mode.partition(":")
        if mode == "payment_number":
            self.run_set_payment_number(int(target), parse_payment_number(message.value))
        elif mode == "attachment":
            self.run_add_attachment(int(target), attachment_path(message.value))
        elif mode == "export":
            commitment = self.commitments.get(self.current_commitment or "")
            rows = [self.payments[key] for key in self.payment_keys_in_order() if key in self.payments]
            label = commitment.number if commitment else ""
            self.run_export(export_path(message.value), csv_rows(rows, label))
        self.query_one(PaymentsTable if mode != "filter" else CommitmentsTable).focus()

    def payment_keys_in_order(self) -> list[str]:
        table = self.query_one(PaymentsTable)
        return [str(row_key.value) for row_key in table.rows]

    @on(PromptBar.Cancelled)
    def prompt_cancelled(self, message: PromptBar.Cancelled) -> None:
        if message.mode == "filter":
            self.action_clear_filter()
            self.query_one(CommitmentsTable).focus()
        else:
            self.query_one(PaymentsTable).focus()
            self.notify(
                "Nothing was changed." if message.mode != "export" else "Nothing was written.", timeout=2
            )

    # ----------------------------------------------------------------------------------------
    # Writes through the engine (thread workers; failures go to the one error modal)

    @work(thread=True, group="edit", exit_on_error=False, description="set the payment number")
    def run_set_payment_number(self, link_id: int, number: int | None) -> None:
        with views.read_session():
            if views.payment_number_of(link_id) == number:
                shown = "empty" if number is None else str(number)
                self.post_message(
                    PaymentChanged(f"Nothing changed: the payment number is already {shown}.", changed=False)
                )
                return
            outcome = self.paysync.service.set_payment_number(link_id, number)
        self.post_message(PaymentChanged(outcome))

    @work(thread=True, group="edit", exit_on_error=False, description="attach the file")
    def run_add_attachment(self, link_id: int, path: Path) -> None:
        with views.read_session():
            if views.attachment_on_payment(link_id, path.name, path.stat().st_size):
                self.post_message(
                    PaymentChanged(
                        f"Nothing changed: {path.name} is already attached to this payment in Procore.",
                        changed=False,
                    )
                )
                return
            outcome = self.paysync.service.add_attachment(link_id, path)
        self.post_message(PaymentChanged(outcome))

    @work(thread=True, group="edit", exit_on_error=False, description="retract the payment")
    def run_retract(self, link_id: int) -> None:
        with views.read_session():
            self.paysync.service.retract_payment(link_id, confirm=True)
        self.post_message(PaymentChanged("The payment was retracted from Procore."))

    @work(thread=True, group="export", exit_on_error=False, description="write the CSV file")
    def run_export(self, path: Path, lines: list[list[str]]) -> None:
        with path.open("x", newline="", encoding="utf-8-sig") as handle:
            csv.writer(handle).writerows(lines)
        self.post_message(ExportWritten(path.resolve(), len(lines) - 1))

    def on_export_written(self, message: ExportWritten) -> None:
        self.notify(f"Wrote {message.count:,} payments to {message.path}", title="Exported", timeout=10)

    def on_payment_changed(self, message: PaymentChanged) -> None:
        if not message.changed:
            self.notify(message.text, title="Nothing changed", timeout=5)
            return
        self.notify(message.text, title="Saved", timeout=5)
        self.reload_all()

    def action_preview(self) -> None:
        self.run_preview()

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False, description="preview the sync")
    def run_preview(self) -> None:
        with views.read_session():
            actions = self.paysync.service.preview()
            commitments = views.commitment_labels(a.commitment_id for a in actions if a.commitment_id)
            invoices = views.invoice_labels(a.invoice_id for a in actions if a.invoice_id)
        lines = [
            PreviewLine(
                action=str(a.action),
                commitment=commitments.get(a.commitment_id, "—") if a.commitment_id else "—",
                invoice=invoices.get(a.invoice_id, "—") if a.invoice_id else "—",
                amount=a.amount if isinstance(a.amount, Decimal) else None,
                reason=str(a.reason or ""),
                origin_id=str(a.origin_id or f"{a.action}-{i}"),
            )
            for i, a in enumerate(actions)
        ]
        self.post_message(PreviewReady(lines))

    def on_preview_ready(self, message: PreviewReady) -> None:
        def answered(run_now: bool | None) -> None:
            if run_now:
                self.action_sync_now()

        self.app.push_screen(PreviewScreen(message.lines), answered)

    # ----------------------------------------------------------------------------------------
    # Sync (on demand and scheduled): one at a time, with a progress bar (Toolong's pattern)

    def action_sync_now(self) -> None:
        self.start_sync("console")

    def start_sync(self, trigger: str) -> bool:
        if self.sync_running:
            self.notify("A sync is already running.", severity="warning", timeout=3)
            return False
        self.sync_running = True
        self.sync_trigger = trigger
        self.sync_cancel = SyncCancel()
        self.busy_text = "Syncing…"
        self.query_one("#sync-progress").add_class("-running")
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        self.query_one("#sync-step", Label).update("Checking permission…")
        self.render_topbar()
        self.refresh_bindings()
        self.run_sync(trigger, self.sync_cancel)
        return True

    @work(thread=True, group="sync", exit_on_error=False, description="sync")
    def run_sync(self, trigger: str, cancel: SyncCancel) -> None:
        def progress(done: int, total: int, step: str) -> None:
            self.post_message(SyncProgressed(done, total, step))

        with views.read_session():
            summary, note = self.paysync.perform_sync(trigger=trigger, progress=progress, cancel=cancel)
        self.post_message(SyncFinished(summary, trigger=trigger, web_connector_note=note))

    def on_sync_progressed(self, message: SyncProgressed) -> None:
        self.show_progress(message.done, message.total, message.step)

    def show_progress(self, done: int, total: int, step: str) -> None:
        bar = self.query_one(ProgressBar)
        if total > 0:
            bar.update(total=total, progress=done)
        self.query_one("#sync-step", Label).update(step)

    def on_sync_finished(self, message: SyncFinished) -> None:
        self.sync_ended()
        summary = message.summary
        text = sync_summary_text(summary)
        if message.web_connector_note and not summary.cancelled:
            text = f"{text}\n{message.web_connector_note}"
        title = "Sync cancelled" if summary.cancelled else "Sync finished"
        problems = summary.failed + summary.needs_attention or summary.cancelled
        self.notify(text, title=title, severity="warning" if problems else "information", timeout=12)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.paysync.worker_failed(event)  # the one error modal
        failed = event.state in (WorkerState.ERROR, WorkerState.CANCELLED)
        if event.worker.group == "sync" and failed and self.sync_running:
            self.sync_ended()

    def sync_ended(self) -> None:
        self.sync_running = False
        self.sync_cancel = None
        self.show_running()
        self.reload_all()

    def show_running(self) -> None:
        """The progress bar and the top bar's busy word follow what runs: the person's sync first,
        else this console's scheduled run."""
        if self.sync_running:
            return
        if self.scheduled_running:
            self.busy_text = "Scheduled sync…"
            self.query_one("#sync-progress").add_class("-running")
        else:
            self.busy_text = None
            self.query_one("#sync-progress").remove_class("-running")
        self.render_topbar()
        self.refresh_bindings()

    # ----------------------------------------------------------------------------------------
    # Stopping a sync between two writes (k, and quitting)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_sync":  # shown only while a sync runs in this console
            return self.sync_running or self.scheduled_running
        return True

    def action_cancel_sync(self) -> None:
        if not (self.sync_running or self.scheduled_running):
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.cancel_sync(by=self.paysync.service.actor)
            else:
                self.notify("The sync goes on.", timeout=3)

        self.app.push_screen(
            ConfirmModal("Stop the sync?", STOP_QUESTION, yes_label="Stop it", no_label="Go on"), answered
        )

    def cancel_sync(self, *, by: str) -> bool:
        """Ask the sync under way in this console (the person's, or the scheduled run) to stop after
        the payment being written now. False when none runs."""
        stopped = False
        if self.sync_running and self.sync_cancel is not None:
            self.sync_cancel.request(by)
            stopped = True
        if self.scheduled_running and self.paysync.cancel_scheduled_run(by):
            stopped = True
        if stopped and self.is_mounted:
            self.busy_text = "Stopping after the payment being written…"
            self.query_one("#sync-step", Label).update(self.busy_text)
            self.render_topbar()
        return stopped

    # ----------------------------------------------------------------------------------------
    # What the runtime does on its own (console/runtime_bridge.py): this console's scheduled runs,
    # the pushes after a Web Connector session on its endpoint

    def runtime_event(self, event: RuntimeEvent) -> None:
        if isinstance(event, ScheduledRunStarted):
            self.scheduled_running = True
            if not self.sync_running:
                self.query_one(ProgressBar).update(total=None, progress=0)
                self.query_one("#sync-step", Label).update("Scheduled sync: refreshing from Procore…")
            self.show_running()
        elif isinstance(event, RunProgressed):
            if event.trigger == "schedule" and self.scheduled_running and not self.sync_running:
                self.show_progress(event.done, event.total, event.step)
        elif isinstance(event, ScheduledRunFinished):
            self.scheduled_running = False
            self.show_running()
            self.notify_run("Scheduled sync", event.summary, event.problem)
            self.reload_all()
        elif isinstance(event, PushFinished):
            self.notify_run("Push after a Web Connector session", event.summary, event.problem)
            self.reload_all()
        elif isinstance(event, WebConnectorSessionClosed):
            self.load_overview()
        else:
            self.render_topbar()

    def notify_run(self, what: str, summary: SyncSummary | None, problem: str | None) -> None:
        if summary is None:
            self.notify(
                problem or "It did not run.", title=f"{what}: nothing pushed", severity="warning", timeout=12
            )
            return
        title = f"{what} cancelled" if summary.cancelled else f"{what} finished"
        problems = summary.failed + summary.needs_attention or summary.cancelled or summary.errors
        self.notify(
            sync_summary_text(summary),
            title=title,
            severity="warning" if problems else "information",
            timeout=12,
        )
