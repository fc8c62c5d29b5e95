"""The schedule: Procore's presets and cron expressions, the once-only cutoff, and the loop that
runs syncs without ever overlapping them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from peewee import Database

from storage.models import ErrorEvent, Setting, SyncRun
from sync.quickbooks.cutoff import schedule_cutoff
from sync.runtime.scheduler import (
    PRESETS,
    SchedulerLoop,
    parse_schedule,
    record_schedule_configured,
    stored_schedule_expression,
)
from sync.settings import ConfigError

AT = datetime(2026, 11, 25, 10, 20, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("hourly", datetime(2026, 11, 25, 11, 0, tzinfo=UTC)),
        ("every-2-hours", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("every-4-hours", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("daily", datetime(2026, 11, 26, 8, 0, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 11, 25, 10, 30, tzinfo=UTC)),
        ("  0   6  * *  1-5 ", datetime(2026, 11, 26, 6, 0, tzinfo=UTC)),
    ],
)
def test_next_run_for_presets_and_cron(expression: str, expected: datetime) -> None:
    assert parse_schedule(expression).next_run(AT) == expected


def test_never_has_no_next_run_and_presets_ignore_case() -> None:
    assert parse_schedule("never").next_run(AT) is None
    assert parse_schedule("Hourly").expression == "hourly"
    assert set(PRESETS) == {"hourly", "every-2-hours", "every-4-hours", "daily", "never"}


def test_next_run_is_strictly_after_and_converts_to_utc() -> None:
    on_the_hour = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert parse_schedule("hourly").next_run(on_the_hour) == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    new_york = on_the_hour.astimezone(ZoneInfo("America/New_York"))
    assert parse_schedule("hourly").next_run(new_york) == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("expression", ["weekly", "* * * *", "0 0 * * * *", "61 * * * *", "every hour", ""])
def test_an_invalid_schedule_is_refused_with_the_choices(expression: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_schedule(expression)
    message = str(error.value)
    assert f"PAYSYNC_SCHEDULE={expression!r}" in message
    for choice in ("hourly", "every-2-hours", "every-4-hours", "daily", "never", "cron"):
        assert choice in message


def test_shortest_interval() -> None:
    assert parse_schedule("hourly").shortest_interval() == timedelta(hours=1)
    assert parse_schedule("0,5 * * * *").shortest_interval() == timedelta(minutes=5)
    assert parse_schedule("never").shortest_interval() is None


def test_the_cutoff_is_set_the_first_time_only(db: Database) -> None:
    assert schedule_cutoff() is None
    first = record_schedule_configured("hourly", AT)
    assert first == AT.replace(microsecond=0)
    later = AT + timedelta(days=3)
    assert record_schedule_configured("every-4-hours", later) == first
    assert schedule_cutoff() == first
    assert stored_schedule_expression() == "every-4-hours"
    assert Setting.get(Setting.key == "schedule_cutoff").value == "2026-11-25T10:20:30+00:00"
    with pytest.raises(ConfigError):
        record_schedule_configured("sometimes", later)
    assert stored_schedule_expression() == "every-4-hours"


class FakeTime:
    """A clock the loop's sleep moves forward; `hold` parks the loop in its next sleep."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.hold = threading.Event()

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self.hold.is_set():
            await asyncio.Event().wait()  # until the loop is stopped
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def _wait_until(condition: Callable[[], bool]) -> None:
    # The condition is set from the tick's worker thread, where an asyncio.Event cannot be set safely.
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_runs_never_overlap_and_the_next_time_is_computed_after_a_run() -> None:
    fake = FakeTime(AT)
    ticks: list[datetime] = []

    def long_tick() -> None:
        ticks.append(fake.now)
        fake.now += timedelta(minutes=75)  # the run outlasts the hourly interval
        if len(ticks) == 3:
            fake.hold.set()

    loop = SchedulerLoop(parse_schedule("hourly"), long_tick, clock=fake.clock, sleep=fake.sleep)
    task = asyncio.create_task(loop.run())
    await _wait_until(lambda: fake.hold.is_set())
    loop.stop()
    await asyncio.wait_for(task, 5)

    hour = timedelta(hours=1)
    first = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    # 12:00 and 14:00 fall inside the previous run and are skipped, not queued up.
    assert ticks == [first, first + 2 * hour, first + 4 * hour]
    assert loop.runs == 3


async def test_sleeps_are_capped_so_a_changed_clock_is_noticed() -> None:
    fake = FakeTime(AT)
    ticks: list[datetime] = []

    def tick() -> None:
        ticks.append(fake.now)
        fake.hold.set()

    loop = SchedulerLoop(parse_schedule("daily"), tick, clock=fake.clock, sleep=fake.sleep, max_sleep=300)
    task = asyncio.create_task(loop.run())
    await _wait_until(lambda: fake.hold.is_set())
    loop.stop()
    await asyncio.wait_for(task, 5)

    assert ticks == [datetime(2026, 11, 26, 8, 0, tzinfo=UTC)]
    assert max(fake.sleeps) <= 300
    assert sum(fake.sleeps) == pytest.approx((ticks[0] - AT).total_seconds())


async def test_a_failing_run_is_recorded_and_the_schedule_goes_on(db: Database) -> None:
    fake = FakeTime(AT)
    calls: list[datetime] = []

    def failing_tick() -> None:
        calls.append(fake.now)
        if len(calls) == 2:
            fake.hold.set()
        raise RuntimeError("Procore is down")

    loop = SchedulerLoop(parse_schedule("hourly"), failing_tick, clock=fake.clock, sleep=fake.sleep)
    task = asyncio.create_task(loop.run())
    await _wait_until(lambda: fake.hold.is_set() and loop.failures == 2)
    loop.stop()
    await asyncio.wait_for(task, 5)

    assert len(calls) == 2
    errors = [e.message for e in ErrorEvent.select().where(ErrorEvent.where == "schedule")]
    assert len(errors) == 2
    assert errors[0] == (
        "The scheduled sync could not run: the run due at 2026-11-25 11:00 UTC stopped: Procore is down. "
        "It runs again at the next scheduled time."
    )
    runs = list(SyncRun.select().order_by(SyncRun.id))  # each failed run is on record, with its reason
    assert [(run.trigger, run.status) for run in runs] == [("schedule", "failed")] * 2
    assert runs[0].message == (
        "the run due at 2026-11-25 11:00 UTC stopped: Procore is down. It runs again at the next scheduled time."
    )


async def test_stop_ends_a_long_real_sleep_and_never_never_runs() -> None:
    ran: list[int] = []
    daily = SchedulerLoop(parse_schedule("daily"), lambda: ran.append(1))
    never = SchedulerLoop(parse_schedule("never"), lambda: ran.append(2))
    tasks = [asyncio.create_task(daily.run()), asyncio.create_task(never.run())]
    await asyncio.sleep(0.05)
    assert daily.next_run_at is not None and never.next_run_at is None
    daily.stop()
    never.stop()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert ran == []
