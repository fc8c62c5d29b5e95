"""H: Health, the checks of `paysync doctor` (sync/doctor), each ✔ / ⚠ / ✖ with why and the fix.

The checks talk to Procore and the Web Connector's URL, so they run in a thread worker (never on the
UI), when the screen opens, every minute while it is open, and on `r`; the last result stays shown
meanwhile. The probes (`paysync doctor --probe`) write to Procore and are not run from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker

from console.bindings import HEALTH_BINDINGS
from console.widgets.footer import KeyFooter
from console.widgets.status import palette
from console.widgets.tables import ColumnSpec, KeyedTable
from console.widgets.timefmt import stamp
from sync.doctor.check import Check
from sync.doctor.run import counts

REFRESH_SECONDS = 60.0


class HealthChecked(Message):
    """Posted by the worker, from its thread, with the checks and when they ran."""

    def __init__(self, checks: Sequence[Check], at: datetime) -> None:
        super().__init__()
        self.checks = tuple(checks)
        self.at = at


class HealthTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("verdict", " "),
        ColumnSpec("area", "Area"),
        ColumnSpec("name", "Check"),
        ColumnSpec("why", "Why", wrap=True),
        ColumnSpec("fix", "Fix", flex=True, wrap=True),
    )


class HealthScreen(Screen[None]):
    BINDINGS = [*HEALTH_BINDINGS]

    def __init__(
        self,
        collect: Callable[[], list[Check]],
        *,
        now: Callable[[], datetime],
        tz: tzinfo | None,
        refresh_seconds: float | None = REFRESH_SECONDS,
    ) -> None:
        super().__init__()
        self.collect = collect
        self.now = now
        self.tz = tz
        self.refresh_seconds = refresh_seconds
        self.checks: tuple[Check, ...] = ()
        self.checked_at: datetime | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="health-body"):
            yield Static(
                "Health: the checks of `paysync doctor`, each with why and the fix · r: check again",
                id="health-title",
            )
            yield Static("Checking…", id="health-summary")
            yield HealthTable(id="health-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(HealthTable).focus()
        self.run_checks()
        if self.refresh_seconds:
            self.set_interval(self.refresh_seconds, self.run_checks)

    @work(
        thread=True, exclusive=True, group="health", exit_on_error=False, description="run the health checks"
    )
    def run_checks(self) -> None:
        checks = self.collect()
        self.post_message(HealthChecked(checks, self.now()))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.app.worker_failed(event)  # type: ignore[attr-defined]

    def on_health_checked(self, message: HealthChecked) -> None:
        self.checks = message.checks
        self.checked_at = message.at
        self.show_rows()

    def show_rows(self) -> None:
        if self.checked_at is None:
            return
        colours = palette()
        style = {"ok": colours.green, "warn": colours.yellow, "fail": colours.red}
        self.query_one(HealthTable)._refill(
            [
                (
                    str(i),
                    (
                        Text(check.glyph, style=f"bold {style[check.verdict]}"),
                        check.area,
                        check.name,
                        check.why,
                        check.fix,
                    ),
                )
                for i, check in enumerate(self.checks)
            ],
            None,
        )
        total = counts(self.checks)
        summary = Text()
        summary.append(f"{total['ok']} ✔  ", style=colours.green)
        summary.append(f"{total['warn']} ⚠  ", style=colours.yellow)
        summary.append(f"{total['fail']} ✖", style=colours.red)
        summary.append(f"   checked {stamp(self.checked_at, self.tz)}")
        self.query_one("#health-summary", Static).update(summary)

    def restyle(self) -> None:
        self.show_rows()

    def action_reload(self) -> None:
        self.query_one("#health-summary", Static).update("Checking…")
        self.run_checks()

    def action_close(self) -> None:
        self.dismiss(None)
