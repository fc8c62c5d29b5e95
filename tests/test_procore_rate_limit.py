"""Procore's rate limit used fully and never exceeded (sync/procore/ratelimit.py).

The budget alone, on an injected clock whose sleep moves it; then ProcoreClient against the
simulated Procore on loopback with windows of a second or two, in real time (each a few seconds):
N requests under both windows without a 429, at close to the announced rate, reads and writes from
two threads of one process sharing one budget, and figures left by another process used.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.procore import RateLimit
from sandbox.procore.faults import WindowKind
from storage.db import close_database
from storage.settings_store import PROCORE_RATE_LIMIT, get_setting
from sync.procore.client import ProcoreClient
from sync.procore.errors import ProcoreUnavailable
from sync.procore.ratelimit import (
    RESET_MARGIN,
    RateBudget,
    RateLimitState,
    SettingsShare,
    remember_rate_limit,
    shared_budget,
)
from tests.support.database import open_test_database
from tests.support.procore_world import ProcoreWorld

T0 = 1_800_000_000.0  # a whole second, like Procore's resets


class FakeTime:
    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeShare:
    """Another process's figures, as the settings would hold them."""

    def __init__(self, stored: RateLimitState | None = None) -> None:
        self.stored = stored
        self.saved: list[RateLimitState] = []

    def load(self) -> RateLimitState | None:
        return self.stored

    def save(self, state: RateLimitState, now: float) -> None:
        self.saved.append(state)


def figures(limit: int, remaining: int, reset: float) -> RateLimitState:
    return RateLimitState(limit, remaining, datetime.fromtimestamp(reset, UTC))


def send(budget: RateBudget, fake: FakeTime, answer: RateLimitState | None, *, write: bool = True) -> None:
    """One request through the budget: wait for room, go, take the answer's figures."""
    budget.acquire(write=write, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    budget.release(answer, now=fake.clock())


# --------------------------------------------------------------------------------------------
# The budget
# --------------------------------------------------------------------------------------------


def test_requests_go_at_full_speed_while_any_remain_then_wait_for_the_reset() -> None:
    fake, budget = FakeTime(), RateBudget()
    for left in range(4, -1, -1):  # 5 per window, reset 10 s away
        send(budget, fake, figures(5, left, T0 + 10))
    assert fake.sleeps == []  # no spreading: the whole window is used at once

    send(budget, fake, figures(5, 4, T0 + 20))
    assert fake.sleeps == [10.0 + RESET_MARGIN]  # until the (whole-second) reset, then on


def test_both_windows_are_honoured_the_one_not_shown_is_counted_down() -> None:
    fake, budget = FakeTime(), RateBudget()
    send(budget, fake, figures(100, 3, T0 + 3600))  # the hourly window is the closer one
    send(budget, fake, figures(5, 2, T0 + 10))  # now the spike one: hourly has 2 left
    send(budget, fake, figures(5, 1, T0 + 10))  # hourly: 1 left
    assert sorted(budget.windows()) == [(5, 1, T0 + 10), (100, 1, T0 + 3600)]
    send(budget, fake, figures(5, 0, T0 + 10))  # hourly: 0, spike: 0
    assert fake.sleeps == []

    # The spike window resets in 10 s but the hourly one is used up too: wait for the later one.
    with pytest.raises(ProcoreUnavailable, match="used up until"):
        budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=4000.0)
    assert fake.sleeps == [3600.0 + RESET_MARGIN]


def test_the_spike_window_blocks_while_the_hourly_one_has_room() -> None:
    fake, budget = FakeTime(), RateBudget()
    send(budget, fake, figures(600, 20, T0 + 3600))
    send(budget, fake, figures(25, 0, T0 + 7))
    send(budget, fake, figures(25, 24, T0 + 17))
    assert fake.sleeps == [7.0 + RESET_MARGIN]
    assert budget.windows() == [(600, 18, T0 + 3600), (25, 24, T0 + 17)]


def test_reads_wait_at_the_reserve_while_a_write_proceeds() -> None:
    fake, budget = FakeTime(), RateBudget()
    send(budget, fake, figures(20, 2, T0 + 10), write=False)  # a tenth (2) is kept for writes

    send(budget, fake, figures(20, 1, T0 + 10), write=True)
    send(budget, fake, figures(20, 0, T0 + 10), write=True)
    assert fake.sleeps == []  # writes spend the reserve

    reader = FakeTime(fake.now)
    budget2 = RateBudget()
    send(budget2, reader, figures(20, 2, T0 + 10), write=False)
    send(budget2, reader, figures(20, 19, T0 + 20), write=False)
    assert reader.sleeps == [10.0 + RESET_MARGIN]  # the read waited for the reset instead


def test_requests_in_flight_count_against_what_remains() -> None:
    fake, budget = FakeTime(), RateBudget()
    send(budget, fake, figures(10, 2, T0 + 10))
    budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    went = threading.Event()

    def third() -> None:
        budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
        went.set()

    thread = threading.Thread(target=third, daemon=True)
    thread.start()
    assert not went.wait(0.4), "two in flight with two left: a third must wait for their answers"
    budget.release(None, now=fake.now)  # the first failed without an answer: its place is free again
    assert went.wait(2.0)
    thread.join(2.0)


def test_a_wait_longer_than_max_wait_says_when_to_try_again() -> None:
    fake, budget = FakeTime(), RateBudget()
    send(budget, fake, figures(3, 0, T0 + 3600))
    with pytest.raises(ProcoreUnavailable) as failure:
        budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    assert "09:00:00 UTC" in str(failure.value)  # T0 + 1 h
    assert fake.sleeps == []


def test_figures_from_another_process_are_used_when_fresher() -> None:
    fake = FakeTime()
    other = FakeShare(figures(25, 0, T0 + 6))
    budget = RateBudget(share=other)
    budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    # Another process used the window up: wait for its reset even before a first answer.
    assert fake.sleeps == [6.0 + RESET_MARGIN]
    budget.release(figures(25, 24, T0 + 16), now=fake.now)

    # Older figures (an earlier window, or more left of ours) change nothing.
    other.stored = figures(25, 20, T0 + 6)
    fake.now += 1.0
    send(budget, fake, figures(25, 23, T0 + 16))
    assert budget.windows() == [(25, 23, T0 + 16)]
    # The same window with fewer left than we know: theirs wins.
    other.stored = figures(25, 1, T0 + 16)
    fake.now += 1.0
    budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    assert budget.windows() == [(25, 1, T0 + 16)]


def test_figures_are_left_for_other_processes_at_most_once_a_second_and_when_used_up() -> None:
    fake, share = FakeTime(), FakeShare()
    budget = RateBudget(share=share)
    for left in (9, 8, 7):
        send(budget, fake, figures(10, left, T0 + 10))
    assert [s.remaining for s in share.saved] == [9]
    fake.now += 1.0
    send(budget, fake, figures(10, 6, T0 + 10))
    send(budget, fake, figures(10, 0, T0 + 10))
    assert [s.remaining for s in share.saved] == [9, 6, 0]


def test_a_retry_after_waited_out_reopens_the_used_up_window() -> None:
    fake, budget = FakeTime(), RateBudget()
    budget.acquire(write=True, clock=fake.clock, sleep=fake.sleep, max_wait=120.0)
    budget.release(figures(3600, 0, T0 + 8), now=fake.now, counted=False)  # a 429
    fake.sleep(7.0)  # Retry-After: 7 (the reset header is rounded up past it)
    budget.reopen()
    send(budget, fake, figures(3600, 3599, T0 + 3600))
    assert fake.sleeps == [7.0]


def test_clients_of_one_process_share_one_budget_per_company_and_app() -> None:
    first = shared_budget("https://api.procore.com/", 1, "app")
    assert shared_budget("https://api.procore.com", 1, "app") is first
    assert shared_budget("https://api.procore.com", 2, "app") is not first
    assert shared_budget("https://api.procore.com", 1, "other") is not first


# --------------------------------------------------------------------------------------------
# Against the simulated Procore, in real time
# --------------------------------------------------------------------------------------------


def fields(number: int) -> dict[str, Any]:
    return {
        "amount": "10.00",
        "date": "2026-11-02",
        "payment_method": "check",
        "check_number": str(number),
        "origin_id": f"qbd:rate:{number}",
    }


def real_time_client(world: ProcoreWorld, **options: Any) -> ProcoreClient:
    return world.client(sleep=time.sleep, max_wait=30.0, timeout=5.0, **options)


def statuses(world: ProcoreWorld, method: str | None = None) -> list[int]:
    return [entry.status for entry in world.state.log_entries(method, "/rest")]


def warm_up(world: ProcoreWorld, client: ProcoreClient, limits: RateLimit) -> None:
    """Sign in (the token endpoint is not rate-limited), then start from fresh windows."""
    client.get_me()
    world.state.rate_limit = limits
    world.state.reset_rate_limits()
    world.state.request_log.clear()


@pytest.mark.parametrize("windows", ["fixed", "aligned", "sliding"])
def test_a_push_under_both_windows_gets_no_429_and_keeps_up_with_the_announced_rate(
    world: ProcoreWorld, windows: WindowKind
) -> None:
    # 5 per second (spike) and 12 per 3 s (hourly, scaled down): 4 per second binds over time.
    limits = RateLimit(limit=12, window_seconds=3.0, spike_limit=5, spike_window_seconds=1.0, windows=windows)
    count = 16
    with real_time_client(world) as client:
        warm_up(world, client, limits)
        started = time.monotonic()
        for number in range(count):
            client.create_contract_payment(world.project_id, world.commitments["SC-1"], fields(number))
        elapsed = time.monotonic() - started

    assert statuses(world) == [201] * count  # never a 429
    at_the_rate = count / min(5 / 1.0, 12 / 3.0)  # 4 s
    # Fixed windows open at a fractional time and the reset header is rounded up to the second.
    rounding = {"fixed": 1.0, "aligned": 0.0, "sliding": 1.0}[windows]
    # It waited as the windows said: 16 requests need four spike windows (three resets), and in
    # fixed or sliding windows the 13th waits for the hourly window's 3 s to pass.
    assert elapsed >= (2.0 if windows == "aligned" else 3.0)
    assert elapsed <= 1.1 * at_the_rate + rounding + 1.0


def test_reads_in_another_thread_share_the_budget_and_never_starve_the_push(world: ProcoreWorld) -> None:
    limits = RateLimit(limit=1000, window_seconds=60.0, spike_limit=10, spike_window_seconds=1.0)
    with real_time_client(world) as writer, real_time_client(world) as reader:
        warm_up(world, writer, limits)
        reader.get_me()  # the same process, app and company: the same budget
        world.state.reset_rate_limits()
        world.state.request_log.clear()
        done = threading.Event()
        reads = 0

        def read() -> None:
            nonlocal reads
            while not done.is_set():
                reader.get_me()
                reads += 1

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        started = time.monotonic()
        for number in range(20):
            writer.create_contract_payment(world.project_id, world.commitments["SC-1"], fields(number))
        elapsed = time.monotonic() - started
        done.set()
        thread.join(5.0)

    assert 429 not in statuses(world)
    assert statuses(world, "POST") == [201] * 20
    assert reads > 0
    # 20 writes plus the reads, 10 per window (at most 2 s each: the reset is rounded up to the
    # second): the reads got their share, the writes theirs and the reserve.
    assert elapsed < 2 * math.ceil((20 + reads) / 10) + 1.0


def test_a_client_waits_on_the_figures_another_process_left_in_the_settings(
    world: ProcoreWorld, tmp_path: Path
) -> None:
    open_test_database(tmp_path, cutoff=None)
    try:
        reset = math.ceil(time.time()) + 2
        # `paysync serve` used the spike window up a moment ago (its figures, as it stores them).
        remember_rate_limit(figures(5, 0, reset))
        assert get_setting(PROCORE_RATE_LIMIT[1]) == "0"
        world.state.rate_limit = RateLimit(limit=1000, window_seconds=60.0, spike_limit=5)
        with real_time_client(world, rate_budget=RateBudget(), rate_share=SettingsShare()) as client:
            client.get_me()
        first = world.state.log_entries("GET", "/rest/v1.0/me")[0]
        assert first.time.timestamp() >= reset  # it waited for the other process's window to reset
        # and left its own figures for the others
        assert get_setting(PROCORE_RATE_LIMIT[0]) == "5"
        assert get_setting(PROCORE_RATE_LIMIT[1]) == "4"
    finally:
        close_database()


def test_stale_figures_do_not_overwrite_fresher_ones_in_the_settings(tmp_path: Path) -> None:
    open_test_database(tmp_path, cutoff=None)
    try:
        reset = math.ceil(time.time()) + 60
        remember_rate_limit(figures(25, 3, reset))
        remember_rate_limit(figures(25, 10, reset))  # an older answer of the same window
        assert get_setting(PROCORE_RATE_LIMIT[1]) == "3"
        remember_rate_limit(figures(600, 550, reset + 3000))  # the other window, seen later
        assert get_setting(PROCORE_RATE_LIMIT[0]) == "600"
    finally:
        close_database()


# --------------------------------------------------------------------------------------------
# The sandbox's windows
# --------------------------------------------------------------------------------------------


def count(world: ProcoreWorld, key: str = "k") -> tuple[bool, dict[str, str], int]:
    return world.state._count_request(key)


@pytest.mark.parametrize("windows", ["aligned", "sliding"])
def test_the_sandbox_window_kinds(world: ProcoreWorld, windows: WindowKind) -> None:
    world.state.rate_limit = replace(RateLimit(limit=2, window_seconds=10.0), windows=windows)
    now = world.state.now().timestamp()
    world.state.advance_clock(math.ceil(now / 10) * 10 - now + 0.5)  # early in an aligned window
    first_ok, first, _ = count(world)
    world.state.advance_clock(3)
    second_ok, second, _ = count(world)
    refused, headers, wait = count(world)
    assert first_ok and second_ok and not refused
    assert [first["X-Rate-Limit-Remaining"], second["X-Rate-Limit-Remaining"]] == ["1", "0"]
    reset = int(headers["X-Rate-Limit-Reset"])
    if windows == "aligned":
        assert reset % 10 == 0  # windows cut from the epoch
    else:
        assert reset == int(first["X-Rate-Limit-Reset"])  # when the first request leaves the window
    world.state.advance_clock(wait)
    assert count(world)[0]


def test_an_unknown_window_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="windows must be one of"):
        RateLimit(windows="leaky")  # type: ignore[arg-type]
