"""Checking the sync from the main screen: reconciliation (R fills the commitments' Reconciled
column from a thread worker that reads Procore, its progress in the top bar; i lists a
commitment's items, from which the missing payments go through the normal preview and push), and
mapping a payment that needs mapping (m: the invoices its bill may belong to; one confirmed is
mapped and the lists reload). The results of R are kept for the session."""

from __future__ import annotations

from datetime import datetime

from textual import on, work
from textual.worker import Worker, WorkerState

from console.messages import (
    MissingResent,
    PaymentChanged,
    ReconcileFinished,
    ReconcileProgressed,
    SuggestionsLoaded,
)
from console.screens.main_sync import MainSyncing
from console.screens.reconcile import ReconcileScreen
from console.screens.suggestions import SuggestionsScreen
from console.widgets.tables import CommitmentsTable, commitment_id_of
from console.widgets.timefmt import clock
from storage import views
from storage.views import PaymentRow
from storage.vocabulary import ErpStatus
from sync.engine.reconcile import CommitmentReconciliation, Reconciliation
from sync.engine.suggestions import Suggestion, confirm_mapping, suggestions_for_bill

RECONCILE_GROUP = "reconcile"


def needs_mapping(row: PaymentRow) -> bool:
    """A payment PaySync could not place on one Procore invoice (listed under (unmatched))."""
    return row.status == ErpStatus.NEEDS_ATTENTION and row.invoice_id is None and not row.held


class MainReconciling(MainSyncing):
    """R, i and m: reconciliation with Procore and the mapping suggestions."""

    def __init__(self) -> None:
        super().__init__()
        self.reconciliation: Reconciliation | None = None  # kept for the session
        self.reconciled_at: datetime | None = None
        self.reconcile_running = False

    # ----------------------------------------------------------------------------------------
    # R: reconcile every commitment (reads Procore) in a thread worker, progress in the top bar

    def action_reconcile(self) -> None:
        if self.reconcile_running:
            self.notify("The reconciliation is under way: the top bar shows how far.", timeout=3)
            return
        if self.sync_running:
            self.notify(
                "Wait until the sync has finished: reconciling now would compare commitments half-written.",
                severity="warning",
                timeout=5,
            )
            return
        self.reconcile_running = True
        self.reconcile_busy = "Reconciling with Procore…"
        self.render_topbar()
        self.run_reconcile()

    @work(
        thread=True,
        exclusive=True,
        group=RECONCILE_GROUP,
        exit_on_error=False,
        description="reconcile with Procore",
    )
    def run_reconcile(self) -> None:
        def progress(done: int, total: int) -> None:
            self.post_message(ReconcileProgressed(done, total))

        with views.read_session():
            result = self.paysync.service.reconcile(progress=progress)
        self.post_message(ReconcileFinished(result, at=self.paysync.now()))

    def on_reconcile_progressed(self, message: ReconcileProgressed) -> None:
        if not self.reconcile_running:
            return
        if message.total > 0:
            self.reconcile_busy = (
                f"Reconciling with Procore: {message.done:,} of {message.total:,} commitments…"
            )
        self.render_topbar()

    def on_reconcile_finished(self, message: ReconcileFinished) -> None:
        self.reconcile_ended()
        self.show_reconciliation(message.result, at=message.at)
        result = message.result
        off = sum(1 for c in result.commitments if c.status != "reconciled")
        agreed = len(result.commitments) - off
        if not result.commitments:
            text = "PaySync has placed no payment on a commitment yet: nothing to reconcile."
        else:
            text = f"{agreed:,} reconciled ✔ · {off:,} off"
            if off:
                text += "\nOn a commitment that is off, i lists what does not agree."
        self.notify(text, title="Reconciliation", severity="warning" if off else "information", timeout=10)

    def show_reconciliation(self, result: Reconciliation, *, at: datetime) -> None:
        """Fill the Reconciled column (also how a test hands the screen a result)."""
        self.reconciliation = result
        self.reconciled_at = at
        self.query_one(CommitmentsTable).show_reconciliation({c.commitment_id: c for c in result.commitments})

    def reconcile_ended(self) -> None:
        self.reconcile_running = False
        self.reconcile_busy = None
        self.render_topbar()

    @on(Worker.StateChanged)
    def reconcile_worker_changed(self, event: Worker.StateChanged) -> None:
        # main_sync's on_worker_state_changed already hands failures to the error modal.
        failed = event.state in (WorkerState.ERROR, WorkerState.CANCELLED)
        if event.worker.group == RECONCILE_GROUP and failed and self.reconcile_running:
            self.reconcile_ended()

    # ----------------------------------------------------------------------------------------
    # i: the selected commitment's items; s there sends the missing ones through preview and push

    def reconciled_commitment(self) -> CommitmentReconciliation | None:
        key = self.query_one(CommitmentsTable).highlighted_key
        commitment_id = commitment_id_of(key) if key is not None else None
        if self.reconciliation is None or commitment_id is None:
            return None
        return next((c for c in self.reconciliation.commitments if c.commitment_id == commitment_id), None)

    def action_reconcile_items(self) -> None:
        key = self.query_one(CommitmentsTable).highlighted_key
        if key is not None and commitment_id_of(key) is None:
            self.notify(
                "The unmatched payments belong to no commitment, so there is nothing to reconcile. "
                "m on one that needs mapping shows where its bill may belong.",
                timeout=8,
            )
            return
        result = self.reconciled_commitment()
        if result is None:
            said = (
                "Press R first: it compares each commitment's QuickBooks payments with Procore's "
                "(reads Procore, writes nothing)."
                if self.reconciliation is None
                else "PaySync has placed no payment on this commitment, so it was not reconciled."
            )
            self.notify(said, title="Not reconciled", timeout=8)
            return
        at = self.reconciled_at or self.paysync.now()
        as_of = clock(at, self.paysync.display_tz, now=self.paysync.now())

        def answered(origin_ids: tuple[str, ...] | None) -> None:
            if origin_ids:
                self.run_resend(origin_ids)

        self.app.push_screen(ReconcileScreen(result, as_of=as_of), answered)

    @work(
        thread=True, group="edit", exit_on_error=False, description="mark the missing payments for the push"
    )
    def run_resend(self, origin_ids: tuple[str, ...]) -> None:
        with views.read_session():
            count = self.paysync.service.resend_missing(origin_ids, actor=self.paysync.service.actor)
        self.post_message(MissingResent(count, len(origin_ids)))

    def on_missing_resent(self, message: MissingResent) -> None:
        if message.count == message.asked:
            text = f"{message.count:,} marked to be created at the next push."
        else:
            text = (
                f"{message.count:,} of {message.asked:,} marked to be created again at the next push; the "
                "others were never in Procore (or Procore has them again): the preview shows what the push "
                "does with each."
            )
        self.notify(
            f"{text}\nNothing is written to Procore until you press s in the preview.",
            title="Sent to the preview",
            timeout=10,
        )
        self.reload_all()
        self.run_preview()

    # ----------------------------------------------------------------------------------------
    # m: where a needs-mapping payment's bill may belong; one confirmed is mapped

    def action_suggest_mapping(self) -> None:
        row = self._payment_for("press m to see where its bill may belong")
        if row is None:
            return
        if not needs_mapping(row):
            self.notify(
                "m is for a payment that needs mapping (▲ Needs attention, listed under (unmatched)): its "
                f"bill matches no single Procore invoice. This one is {views.status_label(row.status)}"
                + (f" on invoice {row.invoice_number}." if row.invoice_number else "."),
                title="Nothing to map",
                timeout=8,
            )
            return
        self.load_suggestions(row.application_id, row.bill_ref_number or "")

    @work(
        thread=True,
        exclusive=True,
        group="suggestions",
        exit_on_error=False,
        description="read the suggestions",
    )
    def load_suggestions(self, application_id: int, bill_ref: str) -> None:
        with views.read_session():
            detail = views.payment_detail(application_id)
            found = suggestions_for_bill(detail.bill_txn_id) if detail is not None else None
        self.post_message(SuggestionsLoaded(application_id, found, bill_ref=bill_ref))

    def on_suggestions_loaded(self, message: SuggestionsLoaded) -> None:
        if self.current_payment != str(message.application_id):
            return  # the person has moved on
        bill = message.suggestions
        if bill is None or not bill.suggestions:
            self.notify(
                f"PaySync found no Procore invoice that bill {message.bill_ref or ''} may belong to. Check the "
                "bill number and vendor in QuickBooks, or that the invoice exists in Procore (s refreshes it); "
                "the next sync matches it again.",
                title="No suggestions",
                timeout=10,
            )
            return
        bill_txn_id = bill.bill_txn_id

        def answered(chosen: Suggestion | None) -> None:
            if chosen is not None:
                self.run_confirm_mapping(bill_txn_id, chosen.invoice_id)

        self.app.push_screen(SuggestionsScreen(bill), answered)

    @work(thread=True, group="edit", exit_on_error=False, description="map the bill")
    def run_confirm_mapping(self, bill_txn_id: str, invoice_id: int) -> None:
        with views.read_session():
            sentence = confirm_mapping(bill_txn_id, invoice_id, actor=self.paysync.service.actor)
        self.post_message(PaymentChanged(sentence))
