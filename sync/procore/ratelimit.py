"""Procore's rate limit (API-NOTES §6.2), used fully and never exceeded.

Procore counts requests per token owner in two windows, an hourly one and a 10-second "spike"
one; every answer's `X-Rate-Limit-Limit/Remaining/Reset` describe only whichever window is closer
to running out, the reset as a whole Unix second. So:

- One RateBudget per process per Procore API, company and OAuth client (`shared_budget`), shared by
  every ProcoreClient alive in the process: the console runs a push, its refreshes and its views'
  reads in threads at once, and they all spend the same budget.
- Requests go at full speed while the last figures say requests remain. Requests in flight count
  against `remaining`, so threads cannot overshoot together; when a window is used up, requests
  wait until its reset (the header's whole second, already rounded up; plus RESET_MARGIN) and go.
- Both windows are learned from what the headers show: each limit value is its own window, with
  its own remaining and reset. The window not shown is known from its last showing, counted down
  by every request since, and forgotten at its reset. No request goes while any known window is
  used up.
- Reads (GET) keep a reserve of each window (a tenth of it) for writes: they wait when no more than
  the reserve remains, writes may spend it all, so the console's reads never starve a push.
- Across processes (the console and `paysync serve` on one database spend the same token owner's
  budget): the figures are written to the settings (`SettingsShare`, also what the console and
  `paysync status` display) at most once a second and whenever a window runs out, and read back
  at most once a second; figures fresher than ours (a later reset, or the same window with fewer
  left) are used.
- A wait longer than `max_wait` raises ProcoreUnavailable saying when to try again. A 429 can
  still happen (another process, another app of the same user); the client waits as it says and
  resends (a 429 was not processed, so even a write may be sent again).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from storage.fields import utc_now
from storage.settings_store import PROCORE_RATE_LIMIT, get_setting, set_setting
from sync.procore.errors import ProcoreUnavailable

log = logging.getLogger("paysync.procore")

READ_RESERVE_FRACTION = 0.10  # of each window, left to writes: reads wait when no more remains
SHARE_INTERVAL = 1.0  # seconds between reads (and between writes) of the figures other processes see
IN_FLIGHT_POLL = 0.25  # seconds: longest wait for a request in flight before looking again
# Seconds waited past a reset: a window that really ends on the whole second (windows cut from the
# epoch) must not get a request that a clock a hair early, or a sleep cut short, sends before it.
RESET_MARGIN = 0.05


@dataclass(frozen=True)
class RateLimitState:
    """The last `X-Rate-Limit-*` headers Procore sent (whichever window is closest to running out)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.limit is not None and self.remaining is not None and self.reset_at is not None


def figures_from_headers(headers: Mapping[str, str]) -> RateLimitState | None:
    """The `X-Rate-Limit-*` figures of one answer, or None when it carries none."""
    limit = _int(headers.get("X-Rate-Limit-Limit"))
    remaining = _int(headers.get("X-Rate-Limit-Remaining"))
    reset = _int(headers.get("X-Rate-Limit-Reset"))
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitState(
        limit=limit,
        remaining=remaining,
        reset_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
    )


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None


class FiguresShare(Protocol):
    """Where processes that spend one budget leave their latest figures for each other."""

    def load(self) -> RateLimitState | None: ...

    def save(self, state: RateLimitState, now: float) -> None: ...


class SettingsShare:
    """The figures in the settings table (PROCORE_RATE_LIMIT), which the console and `paysync
    status` show too. Never raises: sharing is an optimisation and must never fail a sync."""

    def load(self) -> RateLimitState | None:
        try:
            limit, remaining, reset = (get_setting(key) for key in PROCORE_RATE_LIMIT)
            if not limit or not remaining or not reset:
                return None
            reset_at = datetime.fromisoformat(reset)
            return RateLimitState(
                int(limit), int(remaining), reset_at if reset_at.tzinfo else reset_at.replace(tzinfo=UTC)
            )
        except Exception:
            log.debug("could not read the shared Procore rate-limit figures", exc_info=True)
            return None

    def save(self, state: RateLimitState, now: float) -> None:
        if state.limit is None or state.remaining is None:
            return
        stored = self.load()
        if stored is not None and state.complete and _fresher(stored, state, now):
            return  # another process saw more of this window than we did: keep its figures
        values = (
            str(state.limit),
            str(state.remaining),
            state.reset_at.isoformat() if state.reset_at else "",
        )
        at = utc_now()
        try:
            for key, value in zip(PROCORE_RATE_LIMIT, values, strict=True):
                set_setting(key, value, now=at)
        except Exception:
            log.warning("could not store the Procore rate-limit figures", exc_info=True)


def _fresher(candidate: RateLimitState, than: RateLimitState, now: float) -> bool:
    """Whether `candidate` tells more about the budget now than `than`: same window with fewer
    left, or a later window of the same limit. Figures past their reset tell nothing."""
    assert candidate.reset_at is not None and than.reset_at is not None
    if candidate.reset_at.timestamp() <= now:
        return False
    if than.reset_at.timestamp() <= now:
        return True
    if candidate.limit != than.limit:
        return False
    if candidate.reset_at != than.reset_at:
        return candidate.reset_at > than.reset_at
    assert candidate.remaining is not None and than.remaining is not None
    return candidate.remaining < than.remaining


def remember_rate_limit(state: RateLimitState) -> None:
    """Keep the last X-Rate-Limit-* figures in the database, so the console and `paysync status`
    can show the Procore budget (and other processes pace by it). Never raises."""
    SettingsShare().save(state, time.time())


@dataclass
class _Window:
    """One of Procore's windows, known by its limit: what remains of it and when it resets."""

    limit: int
    remaining: int
    reset: float  # Unix seconds (Procore's whole second, rounded up)

    @property
    def reserve(self) -> int:
        return int(self.limit * READ_RESERVE_FRACTION)


class RateBudget:
    """The rate-limit budget every ProcoreClient of one process spends (see the module doc)."""

    def __init__(self, *, share: FiguresShare | None = None, share_interval: float = SHARE_INTERVAL) -> None:
        self.share = share
        self.share_interval = share_interval
        self._lock = threading.Condition()
        self._windows: dict[int, _Window] = {}
        self._in_flight = 0
        self._last = RateLimitState()
        self._loaded_at = -math.inf
        self._saved_at = -math.inf

    @property
    def last(self) -> RateLimitState:
        """The figures of the last answer (for display)."""
        return self._last

    def windows(self) -> list[tuple[int, int, float]]:
        """(limit, remaining, reset) of each window known now, tightest first (for tests and logs)."""
        with self._lock:
            return sorted(
                ((w.limit, w.remaining, w.reset) for w in self._windows.values()), key=lambda w: w[1]
            )

    # -- before a request -----------------------------------------------------------------------

    def wait_for_room(
        self, *, write: bool, clock: Callable[[], float], sleep: Callable[[float], None], max_wait: float
    ) -> None:
        """Wait until a request could go (without taking a place): before the token is fetched,
        so that a long wait does not leave it stale."""
        self._acquire(write, clock, sleep, max_wait, take=False)

    def acquire(
        self, *, write: bool, clock: Callable[[], float], sleep: Callable[[float], None], max_wait: float
    ) -> None:
        """Wait until the request may go and count it in flight; `release` must follow."""
        self._acquire(write, clock, sleep, max_wait, take=True)

    def _acquire(
        self,
        write: bool,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        max_wait: float,
        *,
        take: bool,
    ) -> None:
        while True:
            self._load_shared(clock())
            with self._lock:
                now = clock()
                blocking = self._blocking(write, now)
                if not blocking:
                    if take:
                        self._in_flight += 1
                    return
                used_up = [w for w in blocking if w.remaining - (0 if write else w.reserve) <= 0]
                if not used_up:
                    # Only requests in flight stand in the way: their answers tell what is left.
                    self._lock.wait(IN_FLIGHT_POLL)
                    continue
                reset = max(w.reset for w in used_up)
                tightest = min(used_up, key=lambda w: w.remaining)
            wait = reset - now + RESET_MARGIN
            when = datetime.fromtimestamp(reset, UTC)
            if wait > max_wait:
                raise ProcoreUnavailable(
                    f"Procore's rate limit for this app is used up until {when.strftime('%H:%M:%S UTC')}; "
                    "PaySync will carry on after that."
                )
            log.info(
                "Procore: %s of %s requests left%s; pausing %.2f s until the window resets",
                tightest.remaining,
                tightest.limit,
                "" if write else " (the rest is kept for writes)",
                wait,
            )
            sleep(wait)
            with self._lock:
                # Waited until those windows reset (by whatever clock `sleep` keeps): they are over.
                for window in used_up:
                    if self._windows.get(window.limit) is window and window.reset <= reset:
                        del self._windows[window.limit]

    def _blocking(self, write: bool, now: float) -> list[_Window]:
        for limit, window in list(self._windows.items()):
            if window.reset <= now:
                del self._windows[limit]  # reset: a full window again until an answer says otherwise
        return [
            w
            for w in self._windows.values()
            if w.remaining - self._in_flight - (0 if write else w.reserve) <= 0
        ]

    # -- after a request ------------------------------------------------------------------------

    def release(self, figures: RateLimitState | None, *, now: float, counted: bool = True) -> None:
        """A request taken by `acquire` is over: `figures` from its answer (None if none came);
        `counted`: whether Procore counted it (a 429 is not counted)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if figures is not None:
                self._last = figures
                if figures.complete:
                    self._observe(figures, now, counted=counted)
            self._lock.notify_all()
        if figures is not None and figures.complete:
            self._save_shared(figures, now)

    def _observe(self, figures: RateLimitState, now: float, *, counted: bool) -> None:
        assert figures.limit is not None and figures.remaining is not None and figures.reset_at is not None
        reset = figures.reset_at.timestamp()
        if counted:
            # This request counted against every window; the ones not shown are counted down.
            for window in self._windows.values():
                if window.limit != figures.limit:
                    window.remaining -= 1
        if reset <= now:
            return
        known = self._windows.get(figures.limit)
        if known is None or reset > known.reset:
            self._windows[figures.limit] = _Window(figures.limit, max(0, figures.remaining), reset)
        elif reset == known.reset:
            # Answers of concurrent requests arrive in any order: the lowest is the latest.
            known.remaining = min(known.remaining, max(0, figures.remaining))

    def reopen(self) -> None:
        """Procore said how long to wait (Retry-After) and the client waited that long: the used-up
        windows are over, whatever their rounded-up resets say."""
        with self._lock:
            for limit, window in list(self._windows.items()):
                if window.remaining <= 0:
                    del self._windows[limit]
            self._lock.notify_all()

    def seconds_until_reset(self, now: float) -> float | None:
        """Until the reset of the last figures (what a 429 without Retry-After waits)."""
        reset_at = self._last.reset_at
        return None if reset_at is None else max(0.0, reset_at.timestamp() - now)

    # -- other processes ------------------------------------------------------------------------

    def _load_shared(self, now: float) -> None:
        share = self.share
        if share is None or now - self._loaded_at < self.share_interval:
            return
        self._loaded_at = now
        stored = share.load()
        if stored is None or not stored.complete:
            return
        assert stored.limit is not None and stored.remaining is not None and stored.reset_at is not None
        reset = stored.reset_at.timestamp()
        if reset <= now:
            return
        with self._lock:
            known = self._windows.get(stored.limit)
            if known is None or reset > known.reset:
                self._windows[stored.limit] = _Window(stored.limit, max(0, stored.remaining), reset)
            elif reset == known.reset and stored.remaining < known.remaining:
                known.remaining = max(0, stored.remaining)

    def _save_shared(self, figures: RateLimitState, now: float) -> None:
        share = self.share
        if share is None:
            return
        used_up = figures.remaining is not None and figures.remaining <= 0
        if not used_up and now - self._saved_at < self.share_interval:
            return
        self._saved_at = now
        share.save(figures, now)


_BUDGETS: weakref.WeakValueDictionary[tuple[str, int, str], RateBudget] = weakref.WeakValueDictionary()
_BUDGETS_LOCK = threading.Lock()


def shared_budget(api_base: str, company_id: int, client_id: str) -> RateBudget:
    """The budget of this process for one Procore API, company and OAuth client: the same object
    for every client alive at once (it lasts as long as one of them holds it)."""
    key = (api_base.rstrip("/"), company_id, client_id)
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = _BUDGETS[key] = RateBudget()
        return budget
