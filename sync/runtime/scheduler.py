"""The sync schedule: Procore's presets or any 5-field cron expression, and the loop that runs it.

Cron times are evaluated in UTC, so a schedule means the same on every machine and in the
status output (which prints UTC). The presets follow Procore's ERP Integrations choices.

The *cutoff* (bill payments QuickBooks created before it are pre-existing and never synced, the
seed's "Limitations") is decided in sync/quickbooks/cutoff.py: it is recorded when PaySync first
runs for real, never merely because a command read the schedule. This is the one module that
imports croniter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from storage.db import tuple_rows, write_transaction
from storage.fields import utc_now
from storage.models import CompanyFile
from storage.settings_store import SCHEDULE_CUTOFF, SCHEDULE_EXPRESSION, get_setting, set_setting
from sync.engine.runs import record_failed_run
from sync.quickbooks.companies import active_file_keys
from sync.quickbooks.cutoff import schedule_cutoff
from sync.settings import ConfigError, Settings

log = logging.getLogger(__name__)

# Procore's choices. "daily" runs at 08:00 UTC: after midnight in every U.S. time zone, before the working day.
PRESETS: dict[str, str | None] = {
    "hourly": "0 * * * *",
    "every-2-hours": "0 */2 * * *",
    "every-4-hours": "0 */4 * * *",
    "daily": "0 8 * * *",
    "never": None,
}

_CHOICES = ", ".join(PRESETS)


@dataclass(frozen=True)
class Schedule:
    expression: str  # as configured, e.g. "hourly" or "*/30 * * * *"
    cron: str | None  # the cron form; None for "never"

    def next_run(self, after: datetime) -> datetime | None:
        """The first run strictly after `after` (aware), in UTC; None when the schedule is "never"."""
        if self.cron is None:
            return None
        if after.tzinfo is None:
            raise ValueError("next_run needs an aware datetime")
        following: datetime = croniter(self.cron, after.astimezone(UTC)).get_next(datetime)
        return following.astimezone(UTC)

    def shortest_interval(self, *, samples: int = 48) -> timedelta | None:
        """The shortest gap between two runs (checked over the next `samples` runs); None for "never"."""
        if self.cron is None:
            return None
        runs = croniter(self.cron, datetime(2025, 1, 1, tzinfo=UTC))
        times = [runs.get_next(datetime) for _ in range(samples + 1)]
        return min(b - a for a, b in zip(times, times[1:], strict=False))


@dataclass(frozen=True)
class CompanySchedules:
    """Each company file's schedule (sync/quickbooks/companies.py); the loop sleeps until the soonest run of
    any, and a run queues the QuickBooks queries of the files due then."""

    entries: tuple[tuple[str, Schedule], ...]

    @property
    def expression(self) -> str:
        expressions = {schedule.expression for _, schedule in self.entries}
        if len(expressions) == 1:
            return expressions.pop()
        return "; ".join(f"{key}: {schedule.expression}" for key, schedule in self.entries)

    def next_run(self, after: datetime) -> datetime | None:
        runs = [run for _, schedule in self.entries if (run := schedule.next_run(after)) is not None]
        return min(runs) if runs else None

    def due_at(self, moment: datetime) -> list[str]:
        """The company files whose schedule has a run at `moment` (to the second)."""
        before = moment - timedelta(seconds=1)
        return [key for key, schedule in self.entries if schedule.next_run(before) == moment]

    def next_run_of(self, file_key: str, after: datetime) -> datetime | None:
        for key, schedule in self.entries:
            if key == file_key:
                return schedule.next_run(after)
        return None


def parse_schedule(expression: str) -> Schedule:
    """Read PAYSYNC_SCHEDULE; raise ConfigError saying what is accepted."""
    text = " ".join(expression.split())
    preset = text.lower()
    if preset in PRESETS:
        return Schedule(expression=preset, cron=PRESETS[preset])
    fields = text.split(" ")
    valid = False
    if len(fields) == 5:
        try:
            valid = bool(croniter.is_valid(text))
        except Exception:  # croniter raises a variety of errors for odd input
            valid = False
    if not valid:
        shape = (
            f"it has {len(fields)} fields"
            if len(fields) != 5 and text
            else "it is not a valid cron expression"
        )
        raise ConfigError(
            f"PAYSYNC_SCHEDULE={expression!r} is not a schedule PaySync understands ({shape}). "
            f"Use one of {_CHOICES}, or a 5-field cron expression in UTC such as '*/30 * * * *' "
            "(minute hour day-of-month month day-of-week)."
        )
    return Schedule(expression=text, cron=text)


def company_schedules(settings: Settings) -> CompanySchedules:
    """Each active company file's schedule (its own, else PAYSYNC_SCHEDULE). A stored schedule that no
    longer parses falls back to PAYSYNC_SCHEDULE rather than stopping every file's runs."""
    default = parse_schedule(settings.schedule)
    own = {
        str(key): str(expression)
        for key, expression in tuple_rows(
            CompanyFile.select(CompanyFile.file_key, CompanyFile.schedule).where(
                CompanyFile.registered_at.is_null(False)
                & CompanyFile.removed_at.is_null(True)
                & CompanyFile.schedule.is_null(False)
            )
        )
    }
    entries = []
    for key in active_file_keys(settings):
        try:
            entries.append((key, parse_schedule(own[key]) if key in own else default))
        except ConfigError:
            entries.append((key, default))
    return CompanySchedules(tuple(entries))


# ---------------------------------------------------------------------------------------------
# What is stored


def remember_schedule(expression: str, now: datetime | None = None) -> Schedule:
    """Store the schedule in use (the console shows it); the cutoff is left alone."""
    schedule = parse_schedule(expression)
    now = now or utc_now()
    with write_transaction():
        set_setting(SCHEDULE_EXPRESSION, schedule.expression, now=now)
    return schedule


def record_schedule_configured(expression: str, now: datetime | None = None) -> datetime:
    """Store the schedule in use and, when there is none, the cutoff `now`. Returns the cutoff.

    For the demo and the tests, which need a cutoff at a chosen time. PaySync itself records the
    cutoff only when a real run starts (sync.quickbooks.cutoff.record_cutoff_at_first_run)."""
    schedule = parse_schedule(expression)
    now = now or utc_now()
    with write_transaction():
        set_setting(SCHEDULE_EXPRESSION, schedule.expression, now=now)
        existing = schedule_cutoff()
        if existing is not None:
            return existing
        cutoff = now.astimezone(UTC).replace(microsecond=0)
        set_setting(SCHEDULE_CUTOFF, cutoff.isoformat(), now=now)
        return cutoff


def stored_schedule_expression() -> str | None:
    return get_setting(SCHEDULE_EXPRESSION)


# ---------------------------------------------------------------------------------------------
# The loop


class SchedulerLoop:
    """Sleeps until the next scheduled time, runs `tick` in a worker thread, then plans the next run.

    The next time is computed only after a run has finished (Dolphie's self-rescheduling timer), so
    runs never overlap; a run that lasts past a scheduled time simply skips it. Sleeps are capped
    at `max_sleep` seconds and the clock is read again after each, so a changed wall clock or a
    suspended machine does not make a run fire early or very late.
    """

    def __init__(
        self,
        schedule: Schedule | CompanySchedules,
        tick: Callable[[], object],
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_sleep: float = 300.0,
        actor: str | None = None,
        on_plan: Callable[[datetime | None], object] | None = None,
    ) -> None:
        """`on_plan(next_run_at)` is told each time the next run is planned (None: "never")."""
        self.schedule = schedule
        self.actor = actor
        self._on_plan = on_plan
        self._tick = tick
        self._clock = clock
        self._sleep = sleep
        self._max_sleep = max_sleep
        self._stop = asyncio.Event()
        self.next_run_at: datetime | None = None
        self.runs = 0
        self.failures = 0

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                if not task.done():
                    task.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)

    async def run(self) -> None:
        while not self._stop.is_set():
            due = self.schedule.next_run(self._clock())
            self.next_run_at = due
            if self._on_plan is not None:
                self._on_plan(due)
            if due is None:  # "never": nothing to do until stopped
                await self._stop.wait()
                return
            while not self._stop.is_set():
                remaining = (due - self._clock()).total_seconds()
                if remaining <= 0:
                    break
                await self._sleep_unless_stopped(min(remaining, self._max_sleep))
            if self._stop.is_set():
                return
            await self._run_tick(due)

    async def _run_tick(self, due: datetime) -> None:
        try:
            await asyncio.to_thread(self._tick)
            self.runs += 1
        except Exception as exc:  # a failed run must not stop the schedule
            self.failures += 1
            log.exception("scheduled sync due at %s failed", due.isoformat())
            # A failed SyncRun (with the reason) and an ErrorEvent; recording never raises.
            await asyncio.to_thread(
                record_failed_run,
                "schedule",
                self.actor,
                f"the run due at {due:%Y-%m-%d %H:%M} UTC stopped: {exc}. It runs again at the next "
                "scheduled time.",
                where="schedule",
            )
