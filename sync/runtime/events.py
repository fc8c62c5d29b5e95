"""What the runtime tells whoever runs it (runtime.py): typed events, plain data.

`paysync serve` prints or logs them; the console turns each into a Textual message
(console/runtime_bridge.py). They are handed to the listeners from whatever thread the runtime is
in at that moment (the event loop, the scheduler's worker thread, a push thread), so a listener
must be quick and thread-safe (Textual's `post_message` is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.leases import ScheduleHolder
from sync.engine.summary import SyncSummary


@dataclass(frozen=True)
class ScheduleHolderChanged:
    """Who runs the schedule on this database changed, or was first found out.

    `held_here`: this process runs it. Otherwise `holder` says who does ("paysync serve (process
    1234 on host X)"); this process tries again now and then, and takes it when the holder stops.
    `taken_from`: this process took the schedule over from that console (only `paysync serve` does)."""

    held_here: bool
    holder: ScheduleHolder | None = None
    taken_from: ScheduleHolder | None = None


@dataclass(frozen=True)
class NextRunPlanned:
    """The scheduler planned its next run (None: the schedule is "never")."""

    next_run_at: datetime | None


@dataclass(frozen=True)
class ScheduledRunStarted:
    due: datetime | None


@dataclass(frozen=True)
class RunProgressed:
    """A push of the runtime moved on: `done` of `total` planned actions (total 0: not known yet)."""

    trigger: str
    done: int
    total: int
    step: str


@dataclass(frozen=True)
class ScheduledRunFinished:
    """A scheduled run ended. `summary` is None when nothing could be pushed (`problem` says why)."""

    due: datetime | None
    summary: SyncSummary | None
    queued_quickbooks: tuple[str, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class WebConnectorSessionClosed:
    """A Web Connector session on this process's endpoint closed with new or changed payments; the
    push after it follows in the background (PushFinished)."""

    file_key: str


@dataclass(frozen=True)
class PushFinished:
    """The push after a Web Connector session ended (`problem`: it stopped on an unexpected error)."""

    trigger: str
    summary: SyncSummary | None
    problem: str | None = None


@dataclass(frozen=True)
class EndpointListening:
    """The Web Connector endpoint this process hosts accepts connections at `url`."""

    url: str


@dataclass(frozen=True)
class EndpointFailed:
    """The endpoint could not listen (or stopped on an error); the message says what to do."""

    message: str


RuntimeEvent = (
    ScheduleHolderChanged
    | NextRunPlanned
    | ScheduledRunStarted
    | RunProgressed
    | ScheduledRunFinished
    | WebConnectorSessionClosed
    | PushFinished
    | EndpointListening
    | EndpointFailed
)
