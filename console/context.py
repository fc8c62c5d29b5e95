"""What the screens and the app need of each other, as two small protocols, so that no screen
imports the app (console/app.py imports the screens, never the other way round) and the app does
not import the demo (console/demo.py imports the app to run it).

- `ConsoleHost`: what the main screen asks of the app that runs it: the engine, the clock, the
  display time zone, what the top bar says about how this console runs, the one error modal, and
  running or stopping a sync. `console.app.PaySyncApp` implements it.
- `ConsoleEnvironment`: what the app asks of an embedded environment (the demo's sandbox,
  `console.demo.DemoEnvironment`): a simulated Web Connector poll, its own "sync now", and
  winding its servers down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from textual.worker import Worker

    from sync.engine.cancel import SyncCancel
    from sync.engine.service import SyncService
    from sync.engine.summary import SyncSummary

# A sync's progress: (done, total, step); total 0 while the amount of work is not known yet.
Progress = Callable[[int, int, str], None]


class ConsoleEnvironment(Protocol):
    """An embedded environment the console runs on (the demo's sandbox)."""

    def poll_web_connector(self) -> object:
        """One simulated Web Connector poll: QuickBooks answers the queued queries."""
        ...

    def sync(
        self, service: SyncService, *, trigger: str, progress: Progress, cancel: SyncCancel | None = None
    ) -> tuple[SyncSummary, str]:
        """What "sync now" means in this environment; the summary and a note about the Web Connector."""
        ...

    def begin_stop(self) -> None:
        """Ask the environment's servers to stop, without waiting for them."""
        ...


class ConsoleHost(Protocol):
    """The app, as the main screen sees it."""

    service: SyncService
    now: Callable[[], datetime]
    display_tz: tzinfo | None

    # What the top bar shows about how this console runs
    @property
    def schedule_expression(self) -> str: ...

    @property
    def mode_label(self) -> str | None: ...

    @property
    def web_connector_note(self) -> str | None: ...

    @property
    def endpoint_url(self) -> str | None: ...

    @property
    def next_run_at(self) -> datetime | None: ...

    @property
    def schedule_holder(self) -> str | None: ...

    def worker_failed(self, event: Worker.StateChanged) -> None:
        """Hand a worker's state change to the one error modal."""
        ...

    def perform_sync(
        self, *, trigger: str, progress: Progress, cancel: SyncCancel | None = None
    ) -> tuple[SyncSummary, str | None]:
        """Run one sync a person asked for (from the sync worker thread)."""
        ...

    def cancel_scheduled_run(self, by: str) -> bool:
        """Stop this console's scheduled run after its current write; False when none runs."""
        ...
