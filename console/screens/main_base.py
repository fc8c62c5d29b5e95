"""The main screen's state and layout: the top bar, Commitments → Invoices → Payments, the payment
detail pane, the progress row, the prompt bar and the key hints; and the sort each list is in.
The screen's behaviour is layered over this base, one job a module (console/screens/main.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, ProgressBar

from console.context import ConsoleHost
from console.widgets.detail import PaymentDetailPanel
from console.widgets.footer import KeyFooter
from console.widgets.prompt import PromptBar
from console.widgets.tables import CommitmentsTable, InvoicesTable, KeyedTable, PaymentsTable, arrow
from console.widgets.topbar import BarState, TopBar
from storage.views import COMMITMENT_SORTS, PAYMENT_SORTS, CommitmentRow, Overview, PaymentDetail, PaymentRow
from sync.engine.cancel import SyncCancel

DETAIL_HINT = "enter: full details"

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


@dataclass
class SortState:
    key: str
    descending: bool


class MainScreenBase(Screen[None]):
    """The main screen's state and layout; the layers above it (console/screens/main.py says
    which) add reading, sorting, editing and syncing."""

    def __init__(self) -> None:
        super().__init__(id="main")
        self.filter_text = ""
        self.company_filter: str | None = None  # a company file's key; None: all company files
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
        self.reconcile_busy: str | None = None  # R's progress, beside a sync's
        self._commitment_count = ""
        self._invoice_title = "Invoices"
        self._payment_title = "Payments"

    @property
    def paysync(self) -> ConsoleHost:
        """The app, as far as this screen needs it (console/context.py)."""
        return cast("ConsoleHost", self.app)

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
    # The top bar: the counts, the last sync, the schedule and how this console runs

    def companies_changed(self) -> None:
        """The overview was read again: the company files may have changed (the filter's layer acts)."""

    def company_filter_label(self) -> str | None:
        """ "East Builders LLC" while the company filter is on, "All companies" with several files
        and no filter; None with one file (the top bar then looks as it always did)."""
        return None

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
                busy=" · ".join(text for text in (self.busy_text, self.reconcile_busy) if text) or None,
                company_filter=self.company_filter_label(),
            )
        )
