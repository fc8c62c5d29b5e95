"""Syncing from the main screen: the preview (p), a sync on demand (s), one at a time, with a
progress row and the top bar's busy word (Toolong's pattern); stopping it between two writes (k,
and quitting); and what the runtime does on its own (console/runtime_bridge.py): this console's
scheduled runs and the pushes after a Web Connector session."""

from __future__ import annotations

from decimal import Decimal

from textual import work
from textual.widgets import Label, ProgressBar
from textual.worker import Worker, WorkerState

from console.messages import PreviewLine, PreviewReady, SyncFinished, SyncProgressed
from console.screens.confirm import ConfirmModal
from console.screens.main_editing import MainEditing
from console.screens.preview import PreviewScreen
from storage import views
from sync.engine.cancel import SyncCancel
from sync.engine.summary import SyncSummary
from sync.runtime.events import (
    PushFinished,
    RunProgressed,
    RuntimeEvent,
    ScheduledRunFinished,
    ScheduledRunStarted,
    WebConnectorSessionClosed,
)


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


class MainSyncing(MainEditing):
    """The person's syncs, the preview before one, stopping one, and the runtime's own runs."""

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
