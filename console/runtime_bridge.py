"""The console's side of the one runtime (sync/runtime/runtime.py).

The console runs the same `Runtime` as `paysync serve`: as a Textual async worker on the app's own
event loop (the scheduler, and with --with-web-connector the endpoint under uvicorn). The runtime
tells its events (sync/runtime/events.py) from whatever thread it is in; the bridge posts each to
the app as a `RuntimeEventArrived` message (`post_message` is thread-safe), and keeps what the top
bar says about the schedule: who runs it, when it runs next, where the endpoint listens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.app import App
from textual.message import Message

from storage.leases import ScheduleHolder
from sync.runtime.events import EndpointListening, RuntimeEvent, ScheduleHolderChanged
from sync.runtime.runtime import Runtime

RUNTIME_GROUP = "runtime"  # the worker group of the runtime (tests wait for every other worker)


class RuntimeEventArrived(Message):
    """One event of the runtime, handed to the UI."""

    def __init__(self, event: RuntimeEvent) -> None:
        super().__init__()
        self.event = event


@dataclass(frozen=True)
class Notice:
    """A toast about the schedule."""

    title: str
    text: str
    severity: str = "information"
    timeout: float = 12.0


class RuntimeBridge:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.held_here: bool | None = None  # None until the runtime has looked at the lease
        self.holder: ScheduleHolder | None = None  # who runs the schedule when this console does not
        self.endpoint_url: str | None = runtime.endpoint_url

    def start(self, app: App[None]) -> None:
        """Run the runtime as an async worker of `app`; its events come back as messages."""
        self.runtime.add_listener(lambda event: app.post_message(RuntimeEventArrived(event)))
        app.run_worker(
            self.runtime.run(),
            name="paysync-runtime",
            group=RUNTIME_GROUP,
            exclusive=True,
            exit_on_error=False,
            description="run the schedule and the Web Connector endpoint",
        )

    def stop(self, *, by: str | None = None) -> None:
        self.runtime.stop(by=by)

    # What the top bar shows

    def next_run(self, now: datetime) -> datetime | None:
        """The next scheduled run in this console; None while another process runs the schedule."""
        if self.held_here is False:
            return None
        return self.runtime.next_run_at or self.runtime.schedule.next_run(now)

    @property
    def holder_text(self) -> str | None:
        """ "paysync serve (process 1234 on host X)" while another process runs the schedule."""
        if self.held_here is not False:
            return None
        return self.holder.describe() if self.holder is not None else "another PaySync"

    def take(self, event: RuntimeEvent) -> Notice | None:
        """Follow the event; return the toast it deserves, if any (the screens show the runs)."""
        if isinstance(event, EndpointListening):
            self.endpoint_url = event.url
            return None
        if not isinstance(event, ScheduleHolderChanged):
            return None
        before = self.held_here
        self.held_here = event.held_here
        self.holder = event.holder
        if event.held_here:
            if before is False:
                return Notice(
                    "Schedule", "This console runs the schedule now: the process that ran it has stopped."
                )
            return None
        where = event.holder.describe() if event.holder is not None else "another PaySync"
        if before is True:
            return Notice(
                "Schedule",
                f"{where[0].upper()}{where[1:]} took the schedule over: this console shows what it does.",
                severity="warning",
            )
        return Notice(
            "Schedule",
            f"The schedule runs in {where}. This console shows what it does, and runs the schedule itself "
            "if that one stops.",
        )
