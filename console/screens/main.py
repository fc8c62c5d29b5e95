"""The operations screen: top bar, Commitments → Invoices → Payments, the payment detail, key hints.

Every database read and every engine call runs in a named thread worker and comes back as a
typed Message (console/messages.py), so the UI never blocks. Results for a selection the user
has already left are dropped, so a slow read can never overwrite a newer one.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, ProgressBar
from textual.worker import Worker, WorkerState

from console.bindings import MAIN_BINDINGS
from console.messages import (
    CommitmentsLoaded,
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
from console.screens.detail import PaymentDetailScreen
from console.screens.preview import PreviewScreen
from console.widgets.detail import PaymentDetailPanel
from console.widgets.prompt import PromptBar
from console.widgets.tables import (
    CommitmentsTable,
    InvoicesTable,
    PaymentsTable,
    commitment_id_of,
    commitment_key,
)
from console.widgets.topbar import BarState, TopBar
from storage import views
from storage.views import DELETED_IN_QUICKBOOKS, CommitmentRow, Overview, PaymentRow, SortOrder
from sync.service import SyncSummary

if TYPE_CHECKING:
    from console.app import PaySyncApp

MAX_PAYMENT_NUMBER = 2_147_483_647  # Procore's payment_number is a 32-bit integer
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
PAGE_SIZE = 500


def parse_payment_number(text: str) -> int | None:
    """The payment number the user typed; empty clears it. ValueError says what is wrong and how to fix it."""
    value = text.strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(
            f"“{value}” is not a payment number: type a whole number such as 1042 (digits only), "
            "or leave it empty to clear it. Nothing was stored."
        )
    number = int(value)
    if number < 1 or number > MAX_PAYMENT_NUMBER:
        raise ValueError(
            f"{value} is out of range: a payment number is from 1 to {MAX_PAYMENT_NUMBER:,}. Nothing was stored."
        )
    return number


def payment_number_problem(text: str) -> str | None:
    try:
        parse_payment_number(text)
    except ValueError as error:
        return str(error)
    return None


def attachment_problem(text: str) -> str | None:
    if not text.strip():
        return "Type the path of the file to attach (for example ~/Checks/1042.pdf), or press esc."
    path = Path(text.strip()).expanduser()
    if not path.exists():
        return f"There is no file at {path}: check the path (it is relative to {Path.cwd()})."
    if not path.is_file():
        return f"{path} is a folder, not a file: give the path of one file."
    size = path.stat().st_size
    if size == 0:
        return f"{path} is empty: choose the scanned check or remittance itself."
    if size > MAX_ATTACHMENT_BYTES:
        return f"{path} is {size / 1024 / 1024:.0f} MB; Procore attachments here are limited to 50 MB."
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
    return text


class MainScreen(Screen[None]):
    BINDINGS = [*MAIN_BINDINGS]
    AUTO_FOCUS = "#commitments"

    def __init__(self) -> None:
        super().__init__(id="main")
        self.filter_text = ""
        self.sort: SortOrder = "number"
        self.overview: Overview | None = None
        self.commitments: dict[str, CommitmentRow] = {}
        self.payments: dict[str, PaymentRow] = {}
        self.current_commitment: str | None = None  # key in the commitments table
        self.current_invoice: int | None = None  # None: all invoices of the commitment
        self.current_payment: str | None = None
        self.sync_running = False
        self.sync_trigger = ""
        self.busy_text: str | None = None

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
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(PaymentDetailPanel).show(None, tz=self.paysync.display_tz)
        self.render_topbar()
        self.reload_all()

    # ----------------------------------------------------------------------------------------
    # Reading (thread workers → Messages)

    def reload_all(self) -> None:
        self.load_overview()
        self.load_commitments(self.filter_text, self.sort)

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False, description="read the overview")
    def load_overview(self) -> None:
        with views.read_session():
            overview = views.overview()
        self.post_message(OverviewLoaded(overview))

    @work(
        thread=True, exclusive=True, group="commitments", exit_on_error=False, description="read commitments"
    )
    def load_commitments(self, text: str, sort: SortOrder) -> None:
        with views.read_session():
            page = views.list_commitments(text=text, limit=PAGE_SIZE, sort=sort)
        self.post_message(CommitmentsLoaded(page, text=text))

    @work(
        thread=True,
        exclusive=True,
        group="children",
        exit_on_error=False,
        description="read invoices and payments",
    )
    def load_children(self, key: str, invoice_id: int | None) -> None:
        commitment_id = commitment_id_of(key)
        with views.read_session():
            invoices = views.list_invoices(commitment_id) if commitment_id is not None else ()
            page = views.list_payments(commitment_id, invoice_id=invoice_id, limit=PAGE_SIZE)
        self.post_message(InvoicesLoaded(commitment_id, invoices))
        self.post_message(PaymentsLoaded(commitment_id, invoice_id, page))

    @work(thread=True, exclusive=True, group="payments", exit_on_error=False, description="read payments")
    def load_payments(self, key: str, invoice_id: int | None) -> None:
        commitment_id = commitment_id_of(key)
        with views.read_session():
            page = views.list_payments(commitment_id, invoice_id=invoice_id, limit=PAGE_SIZE)
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
            self.load_commitments(self.filter_text, self.sort)

    def on_commitments_loaded(self, message: CommitmentsLoaded) -> None:
        if message.text != self.filter_text:
            return  # the user has typed on since
        table = self.query_one(CommitmentsTable)
        self.commitments = {commitment_key(row.id): row for row in message.page.rows}
        table.show(message.page.rows)
        shown = sum(1 for row in message.page.rows if row.id is not None)
        count = (
            f"{message.page.total:,}"
            if shown == message.page.total
            else f"{shown:,} shown of {message.page.total:,}"
        )
        if self.filter_text:
            table.border_title = (
                f"Commitments · filter “{self.filter_text}” · {count} of {message.page.overall:,}"
            )
        else:
            table.border_title = f"Commitments · {count}"
        table.border_subtitle = "most urgent first" if self.sort == "status" else ""
        if message.page.overall == 0 and not message.page.rows:
            table.border_subtitle = "none yet: press s to import them from Procore"
        key = table.highlighted_key
        if key is None:
            self.current_commitment = None
            self.query_one(InvoicesTable).show(())
            self.query_one(PaymentsTable).show(())
            self.payments = {}
            self.show_detail_for(None)
            return
        self.select_commitment(key, force=True)

    def select_commitment(self, key: str, *, force: bool = False) -> None:
        if key == self.current_commitment and not force:
            return
        self.current_commitment = key
        self.current_invoice = None
        self.load_children(key, None)

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
            table.border_title = f"Invoices of {label} · {len(message.invoices)}"

    def on_payments_loaded(self, message: PaymentsLoaded) -> None:
        if self.current_commitment != commitment_key(message.commitment_id):
            return
        if message.invoice_id != self.current_invoice:
            return
        table = self.query_one(PaymentsTable)
        self.payments = {str(row.application_id): row for row in message.page.rows}
        table.show(message.page.rows)
        row = self.commitments.get(self.current_commitment or "")
        scope = row.number if row else ""
        if message.invoice_id is not None:
            invoice = next((r for r in message.page.rows if r.invoice_id == message.invoice_id), None)
            scope += f" · invoice {invoice.invoice_number if invoice else ''}".rstrip()
        total = message.page.total
        shown = len(message.page.rows)
        count = f"{total:,}" if shown == total else f"newest {shown:,} of {total:,}"
        table.border_title = f"Payments of {scope} · {count}"
        self.show_detail_for(table.highlighted_key)

    def show_detail_for(self, key: str | None) -> None:
        self.current_payment = key
        if key is None:
            self.query_one(PaymentDetailPanel).show(None, tz=self.paysync.display_tz)
            return
        self.load_detail(int(key))

    def on_payment_detail_loaded(self, message: PaymentDetailLoaded) -> None:
        detail = message.detail
        if detail is None or str(detail.row.application_id) != self.current_payment:
            return
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
        self.load_payments(self.current_commitment, invoice_id)

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
            self.load_payments(self.current_commitment, None)
        elif isinstance(widget, InvoicesTable):
            key = widget.highlighted_key
            if key is not None:
                self.narrow_to_invoice(int(key))

    def selected_payment(self) -> PaymentRow | None:
        key = self.query_one(PaymentsTable).highlighted_key
        return self.payments.get(key) if key is not None else None

    # ----------------------------------------------------------------------------------------
    # Actions

    def action_reload(self) -> None:
        self.reload_all()
        self.notify("Reloaded from the database.", timeout=2)

    def action_toggle_sort(self) -> None:
        self.sort = "status" if self.sort == "number" else "number"
        self.load_commitments(self.filter_text, self.sort)
        self.notify(
            "Commitments: most urgent status first." if self.sort == "status" else "Commitments by number."
        )

    def action_filter(self) -> None:
        self.query_one(PromptBar).open(
            "filter",
            label="Filter /",
            placeholder="number, title, vendor, project — or a status: failed, waiting, needs attention…",
            value=self.filter_text,
        )

    def action_clear_filter(self) -> None:
        if self.filter_text:
            self.filter_text = ""
            self.load_commitments("", self.sort)

    def action_open_detail(self) -> None:
        row = self.selected_payment()
        if row is not None:
            self.current_payment = str(row.application_id)
            self.load_detail(row.application_id, open_modal=True)

    def _linked_payment(self, doing: str) -> PaymentRow | None:
        row = self.selected_payment()
        if row is None:
            self.notify(f"Select a payment in the Payments pane first, then {doing}.", severity="warning")
            return None
        if row.link_id is None:
            self.notify(
                f"This payment is not in Procore yet ({views.status_label(row.status)}): you can {doing} once it is synced.",
                severity="warning",
            )
            return None
        return row

    def action_edit_payment_number(self) -> None:
        row = self._linked_payment("set its payment number")
        if row is None:
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
        row = self._linked_payment("attach a file")
        if row is None:
            return
        self.query_one(PromptBar).open(
            f"attachment:{row.link_id}",
            label="Attach file",
            placeholder="path of the check image or remittance, e.g. ~/Checks/1042.pdf",
            validate=attachment_problem,
        )

    def action_retract(self) -> None:
        row = self.selected_payment()
        if row is None:
            self.notify("Select a payment in the Payments pane first.", severity="warning")
            return
        if row.status != DELETED_IN_QUICKBOOKS or row.link_id is None:
            self.notify(
                f"Only a synced payment that was deleted in QuickBooks can be retracted; this one is "
                f"{views.status_label(row.status)}.",
                severity="warning",
            )
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
            self.load_commitments(self.filter_text, self.sort)

    @on(PromptBar.Submitted)
    def prompt_submitted(self, message: PromptBar.Submitted) -> None:
        mode, _, target = message.mode.partition(":")
        if mode == "payment_number":
            self.run_set_payment_number(int(target), parse_payment_number(message.value))
        elif mode == "attachment":
            self.run_add_attachment(int(target), Path(message.value.strip()).expanduser())
        self.query_one(PaymentsTable if mode != "filter" else CommitmentsTable).focus()

    @on(PromptBar.Cancelled)
    def prompt_cancelled(self, message: PromptBar.Cancelled) -> None:
        if message.mode == "filter":
            self.action_clear_filter()
            self.query_one(CommitmentsTable).focus()
        else:
            self.query_one(PaymentsTable).focus()
            self.notify("Nothing was changed.", timeout=2)

    # ----------------------------------------------------------------------------------------
    # Writes through the engine (thread workers; failures go to the one error modal)

    @work(thread=True, group="edit", exit_on_error=False, description="set the payment number")
    def run_set_payment_number(self, link_id: int, number: int | None) -> None:
        with views.read_session():
            outcome = self.paysync.service.set_payment_number(link_id, number)
        self.post_message(PaymentChanged(outcome))

    @work(thread=True, group="edit", exit_on_error=False, description="attach the file")
    def run_add_attachment(self, link_id: int, path: Path) -> None:
        with views.read_session():
            outcome = self.paysync.service.add_attachment(link_id, path)
        self.post_message(PaymentChanged(outcome))

    @work(thread=True, group="edit", exit_on_error=False, description="retract the payment")
    def run_retract(self, link_id: int) -> None:
        with views.read_session():
            self.paysync.service.retract_payment(link_id, confirm=True)
        self.post_message(PaymentChanged("The payment was retracted from Procore."))

    def on_payment_changed(self, message: PaymentChanged) -> None:
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
        self.busy_text = "Syncing…" if trigger != "schedule" else "Scheduled sync…"
        self.query_one("#sync-progress").add_class("-running")
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        self.query_one("#sync-step", Label).update("Checking permission…")
        self.render_topbar()
        self.run_sync(trigger)
        return True

    @work(thread=True, group="sync", exit_on_error=False, description="sync")
    def run_sync(self, trigger: str) -> None:
        def progress(done: int, total: int, step: str) -> None:
            self.post_message(SyncProgressed(done, total, step))

        with views.read_session():
            summary, note = self.paysync.perform_sync(trigger=trigger, progress=progress)
        self.post_message(SyncFinished(summary, trigger=trigger, web_connector_note=note))

    def on_sync_progressed(self, message: SyncProgressed) -> None:
        bar = self.query_one(ProgressBar)
        if message.total > 0:
            bar.update(total=message.total, progress=message.done)
        self.query_one("#sync-step", Label).update(message.step)

    def on_sync_finished(self, message: SyncFinished) -> None:
        self.sync_ended()
        summary = message.summary
        text = sync_summary_text(summary)
        if message.web_connector_note:
            text = f"{text}\n{message.web_connector_note}"
        title = "Scheduled sync finished" if message.trigger == "schedule" else "Sync finished"
        problems = summary.failed + summary.needs_attention
        self.notify(text, title=title, severity="warning" if problems else "information", timeout=12)
        self.paysync.sync_finished(message.trigger)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.paysync.worker_failed(event)  # the one error modal
        failed = event.state in (WorkerState.ERROR, WorkerState.CANCELLED)
        if event.worker.group == "sync" and failed and self.sync_running:
            self.sync_ended()
            self.paysync.sync_finished(self.sync_trigger)

    def sync_ended(self) -> None:
        self.sync_running = False
        self.busy_text = None
        self.query_one("#sync-progress").remove_class("-running")
        self.reload_all()
