"""l: the errors a person should see (failed syncs among them) and the audit log of every write.

Entries name payments as people know them ("Check 1042 · Summit Framing Co. · 48,500.00") rather
than by origin id, amounts carry thousands separators, and an audit entry's details read as
"amount 28,500.00 · check number 10455 · …" rather than JSON; enter shows the whole entry.
`e` and `a` switch to the errors and the audit tab; `/` filters the audit log, and esc in the
filter clears it.
"""

from __future__ import annotations

import json
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane
from textual.worker import Worker

from console.bindings import LOG_BINDINGS, MODAL_BINDINGS
from console.messages import EventLogLoaded
from console.widgets.footer import KeyFooter
from console.widgets.status import palette
from console.widgets.tables import ColumnSpec, KeyedTable, with_thousands
from console.widgets.timefmt import stamp
from storage import views
from storage.views import AuditRow, ErrorRow

# Internal ids a person never needs in the one-line summary (the whole entry shows them).
_QUIET_KEYS = {
    "origin_data",
    "origin_id",
    "write_id",
    "requisition_id",
    "contract_id",
    "project_id",
    "link_id",
    "attachment_row",
}
_KEY_NAMES = {
    "procore_payment_id": "Procore payment",
    "payment_number": "payment #",
    "check_number": "check #",
    "invoice_number": "invoice #",
    "draw_request_number": "draw",
    "file_key": "company file",
}


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        pairs: list[tuple[str, Any]] = []
        for key, inner in value.items():
            if key == "fields" and isinstance(inner, dict):
                pairs.extend(_flatten(inner, prefix))
            else:
                pairs.extend(_flatten(inner, f"{prefix}{key}" if not prefix else f"{prefix}.{key}"))
        return pairs
    return [(prefix, value)]


def _shown_value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if "amount" in key:
        try:
            return f"{Decimal(str(value)):,.2f}"
        except (InvalidOperation, ValueError):
            return str(value)
    if key.endswith("size") and isinstance(value, int):
        return f"{value:,} bytes"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return with_thousands(str(value))


def _shown_key(key: str) -> str:
    last = key.rsplit(".", 1)[-1]
    return _KEY_NAMES.get(last, last.replace("_", " "))


def detail_pairs(detail: str | None) -> list[tuple[str, str]]:
    """An audit entry's JSON details as (label, value) pairs a person reads."""
    if not detail:
        return []
    try:
        loaded = json.loads(detail)
    except ValueError:
        return [("detail", with_thousands(detail))]
    if not isinstance(loaded, dict):
        return [("detail", _shown_value("", loaded))]
    return [(key, _shown_value(key, value)) for key, value in _flatten(loaded)]


def readable_detail(detail: str | None) -> str:
    """The one-line summary: "amount 28,500.00 · check # 10455 · Procore payment 5000000033"."""
    pairs = [(k, v) for k, v in detail_pairs(detail) if k.rsplit(".", 1)[-1] not in _QUIET_KEYS]
    return " · ".join(f"{_shown_key(k)} {v}" if k != "detail" else v for k, v in pairs)


class LogFilter(Input):
    """The audit filter: esc clears it (and a second esc goes back to the list)."""

    BINDINGS = [Binding("escape", "clear_or_leave", "Clear filter", id="log-filter-clear")]

    def action_clear_or_leave(self) -> None:
        if self.value:
            self.value = ""
        else:
            self.screen.query_one(TabbedContent).active_pane.query_one(DataTable).focus()  # type: ignore[union-attr]


class ErrorsTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("at", "At"),
        ColumnSpec("where", "Where"),
        ColumnSpec("message", "Message", wrap=True),
        ColumnSpec("detail", "Detail", flex=True, drop=1),
    )


class AuditTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("at", "At"),
        ColumnSpec("actor", "Actor"),
        ColumnSpec("action", "Action"),
        ColumnSpec("target", "Payment / target", wrap=True),
        ColumnSpec("detail", "Detail", flex=True),
    )


class EntryScreen(ModalScreen[None]):
    """Enter on a log entry: all of it, one fact a line."""

    BINDINGS = [*MODAL_BINDINGS]

    def __init__(self, title: str, lines: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        text = Text()
        for i, (label, value) in enumerate(self.lines):
            if i:
                text.append("\n")
            text.append(f"{label}: ", style="bold")
            text.append(value)
        with Vertical(id="entry-dialog", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            dialog.border_subtitle = "esc to close"
            with VerticalScroll(classes="dialog-body"):
                yield Static(text, id="entry-body")
        yield KeyFooter()

    def action_close(self) -> None:
        self.dismiss(None)


class EventLogScreen(Screen[None]):
    BINDINGS = [*LOG_BINDINGS]

    def __init__(self, *, tz: tzinfo | None, limit: int = 500) -> None:
        super().__init__()
        self.tz = tz
        self.limit = limit
        self.errors: list[ErrorRow] = []
        self.audit: list[AuditRow] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="log-body"):
            yield Static(
                "Event log: errors to see, and every write, newest first · enter: the whole entry",
                id="log-title",
            )
            yield LogFilter(
                placeholder="Filter the audit log: action, vendor, check #, detail, actor (esc clears)",
                id="log-filter",
            )
            with TabbedContent(id="log-tabs"):
                with TabPane("Errors", id="errors-tab"):
                    yield ErrorsTable(id="errors-table")
                with TabPane("Audit log", id="audit-tab"):
                    yield AuditTable(id="audit-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load("")
        self.query_one(ErrorsTable).focus()

    @work(thread=True, exclusive=True, group="event-log", exit_on_error=False, description="read the log")
    def load(self, text: str) -> None:
        with views.read_session():
            audit = views.recent_audit(limit=self.limit, text=text)
            errors = views.recent_errors(limit=self.limit)
        self.post_message(EventLogLoaded(audit, errors))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.app.worker_failed(event)  # type: ignore[attr-defined]

    def on_event_log_loaded(self, message: EventLogLoaded) -> None:
        self.errors = list(message.errors)
        self.audit = list(message.audit)
        self.show_rows()

    def show_rows(self) -> None:
        red = palette().red
        self.query_one(ErrorsTable)._refill(
            [
                (
                    str(i),
                    (
                        stamp(e.at, self.tz),
                        e.where,
                        Text(with_thousands(" ".join(e.message.split())), style=red),
                        readable_detail(e.detail),
                    ),
                )
                for i, e in enumerate(self.errors)
            ],
            None,
        )
        self.query_one(AuditTable)._refill(
            [
                (
                    str(i),
                    (
                        stamp(a.at, self.tz),
                        a.actor,
                        a.action,
                        a.subject or a.target or "",
                        readable_detail(a.detail),
                    ),
                )
                for i, a in enumerate(self.audit)
            ],
            None,
        )
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("errors-tab").label = f"Errors ({len(self.errors)})"
        tabs.get_tab("audit-tab").label = f"Audit log ({len(self.audit)})"

    def restyle(self) -> None:
        self.show_rows()

    @on(Input.Changed, "#log-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        if event.value:
            self.query_one(TabbedContent).active = "audit-tab"
        self.load(event.value)

    @on(Input.Submitted, "#log-filter")
    def filter_submitted(self) -> None:
        self.query_one("#audit-table", DataTable).focus()

    def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        self.query_one("#errors-table" if tab == "errors-tab" else "#audit-table", DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#log-filter", Input).focus()

    def action_reload(self) -> None:
        self.load(self.query_one("#log-filter", Input).value)

    @on(DataTable.RowSelected)
    def row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_entry(event.data_table.id or "", event.cursor_row)

    def action_open_entry(self) -> None:
        tabs = self.query_one(TabbedContent)
        table_id = "errors-table" if tabs.active == "errors-tab" else "audit-table"
        self.open_entry(table_id, self.query_one(f"#{table_id}", DataTable).cursor_row)

    def open_entry(self, table_id: str, index: int) -> None:
        if table_id == "errors-table" and 0 <= index < len(self.errors):
            e = self.errors[index]
            lines = [("At", stamp(e.at, self.tz)), ("Where", e.where), ("Message", with_thousands(e.message))]
            lines += [(_shown_key(k), v) for k, v in detail_pairs(e.detail)]
            self.app.push_screen(EntryScreen("Error", lines))
        elif table_id == "audit-table" and 0 <= index < len(self.audit):
            a = self.audit[index]
            lines = [("At", stamp(a.at, self.tz)), ("Actor", a.actor), ("Action", a.action)]
            if a.subject:
                lines.append(("Payment", a.subject))
            lines.append(("Target", a.target or "—"))
            lines += [(_shown_key(k), v) for k, v in detail_pairs(a.detail)]
            self.app.push_screen(EntryScreen(f"Audit: {a.action}", lines))

    def action_close(self) -> None:
        self.dismiss(None)
