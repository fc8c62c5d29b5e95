"""l: the audit log (every write PaySync made or saw) and the errors a person should see."""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, TabbedContent, TabPane
from textual.worker import Worker

from console.bindings import LOG_BINDINGS
from console.messages import EventLogLoaded
from console.widgets.status import RED
from console.widgets.timefmt import stamp
from storage import views


class EventLogScreen(Screen[None]):
    BINDINGS = [*LOG_BINDINGS]

    def __init__(self, *, tz: tzinfo | None, limit: int = 500) -> None:
        super().__init__()
        self.tz = tz
        self.limit = limit

    def compose(self) -> ComposeResult:
        with Vertical(id="log-body"):
            yield Input(placeholder="Filter the audit log (action, target, detail, actor)…", id="log-filter")
            with TabbedContent(id="log-tabs"):
                with TabPane("Errors", id="errors-tab"):
                    yield DataTable(id="errors-table", cursor_type="row", zebra_stripes=True)
                with TabPane("Audit log", id="audit-tab"):
                    yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        errors = self.query_one("#errors-table", DataTable)
        for label in ("At", "Where", "Message", "Detail"):
            errors.add_column(label, key=label.lower())
        audit = self.query_one("#audit-table", DataTable)
        for label in ("At", "Actor", "Action", "Target", "Detail"):
            audit.add_column(label, key=label.lower())
        self.load("")
        errors.focus()

    @work(thread=True, exclusive=True, group="event-log", exit_on_error=False, description="Reading the log")
    def load(self, text: str) -> None:
        with views.read_session():
            audit = views.recent_audit(limit=self.limit, text=text)
            errors = views.recent_errors(limit=self.limit)
        self.post_message(EventLogLoaded(audit, errors))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.app.worker_failed(event)  # type: ignore[attr-defined]

    def on_event_log_loaded(self, message: EventLogLoaded) -> None:
        errors = self.query_one("#errors-table", DataTable)
        errors.clear()
        for e in message.errors:
            errors.add_row(stamp(e.at, self.tz), e.where, Text(e.message, style=RED), e.detail or "")
        audit = self.query_one("#audit-table", DataTable)
        audit.clear()
        for a in message.audit:
            audit.add_row(stamp(a.at, self.tz), a.actor, a.action, a.target or "", (a.detail or "")[:200])
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("errors-tab").label = f"Errors ({len(message.errors)})"
        tabs.get_tab("audit-tab").label = f"Audit log ({len(message.audit)})"

    @on(Input.Changed, "#log-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.query_one(TabbedContent).active = "audit-tab"
        self.load(event.value)

    def action_filter(self) -> None:
        self.query_one("#log-filter", Input).focus()

    def action_reload(self) -> None:
        self.load(self.query_one("#log-filter", Input).value)

    def action_close(self) -> None:
        self.dismiss(None)
