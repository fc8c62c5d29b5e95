"""Failures the simulated Procore serves on purpose: injected faults (``ProcoreState.inject_fault``)
and rate limits (windows per token owner, the ``X-Rate-Limit-*`` headers, 429 over the limit).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

FaultKind = Literal["429", "500", "503", "commit_then_timeout", "commit_then_502"]
WindowKind = Literal["fixed", "aligned", "sliding"]
WINDOW_KINDS: tuple[WindowKind, ...] = ("fixed", "aligned", "sliding")
FAULT_KINDS = ("429", "500", "503", "commit_then_timeout", "commit_then_502")
# Kinds answered before any work is done; the others commit first.
FAULTS_BEFORE_WORK = ("429", "500", "503")


@dataclass(frozen=True)
class RateLimit:
    """Requests allowed per token owner: an hourly window and an optional spike window.

    Procore's docs show ``600`` per hour and ``25`` per 10 s as examples; the sandbox default
    is 3600 per hour with no spike window so that long test runs are not throttled by accident.

    How Procore's windows run is not documented (API-NOTES §6.2 gives only the headers), so
    ``windows`` chooses: ``"fixed"`` (the default) opens a window at the first request after the
    previous one ended; ``"aligned"`` cuts time into windows from the Unix epoch (the reset is a
    whole multiple of the window); ``"sliding"`` counts the requests of the last
    ``window_seconds`` (the reset is when the oldest of them leaves the window).
    """

    limit: int = 3600
    window_seconds: float = 3600.0
    spike_limit: int | None = None
    spike_window_seconds: float = 10.0
    windows: WindowKind = "fixed"

    def __post_init__(self) -> None:
        if self.windows not in WINDOW_KINDS:
            raise ValueError(
                f"windows must be one of {', '.join(map(repr, WINDOW_KINDS))}, not {self.windows!r}"
            )


@dataclass
class Fault:
    method: str
    path_prefix: str
    kind: FaultKind
    remaining: int
    retry_after: int
    delay: float


@dataclass
class RateWindow:
    started_at: datetime
    count: int
    # "sliding" windows: when each request still in the window was counted, oldest first.
    times: deque[datetime] = field(default_factory=deque)


# -- injected faults ----------------------------------------------------------------------------


def take_fault(faults: list[Fault], method: str, path: str) -> Fault | None:
    """The first fault matching this request, counted down (and dropped when used up)."""
    for fault in faults:
        if fault.method in ("*", method) and path.startswith(fault.path_prefix):
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.remove(fault)
            return replace(fault)
    return None


def fault_response(fault: Fault, now: datetime, limit: int) -> Response:
    """The answer of a fault served before any work: 429, 503 or 500."""
    if fault.kind == "429":
        reset = now + timedelta(seconds=fault.retry_after)
        return JSONResponse(
            {"code": 429, "message": "Rate limit exceeded"},
            status_code=429,
            headers={**rate_headers(limit, 0, reset), "Retry-After": str(fault.retry_after)},
        )
    if fault.kind == "503":
        # Heavy-load throttling: plain text, with Retry-After (API-NOTES §6.2).
        return PlainTextResponse(
            "Service Unavailable", status_code=503, headers={"Retry-After": str(fault.retry_after)}
        )
    return JSONResponse({"code": 500, "message": "Internal Server Error"}, status_code=500)


def bad_gateway_response() -> Response:
    """What ``commit_then_502`` answers once the work is committed: a gateway's HTML page."""
    return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)


async def hold_back(seconds: float, release: threading.Event) -> None:
    """``commit_then_timeout``: wait before answering, until ``release`` is set at the latest."""
    # Short sleeps so that release_delayed_responses can end the wait (a stopping server
    # otherwise waits for the sleeping response); asyncio.sleep keeps the server serving.
    deadline = asyncio.get_running_loop().time() + seconds
    while not release.is_set():
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(0.05, remaining))


# -- rate limits --------------------------------------------------------------------------------


def rate_headers(limit: int, remaining: int, reset: datetime) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(max(0, remaining)),
        # Rounded up: a client that waits until this second has really passed the reset.
        "X-Rate-Limit-Reset": str(math.ceil(reset.timestamp())),
    }


def count_request(
    windows_by_key: dict[tuple[str, str], RateWindow], key: str, now: datetime, limits: RateLimit
) -> tuple[bool, dict[str, str], int]:
    """Count one request against ``key``'s windows.

    Returns (allowed, rate headers, seconds to wait when refused). A refused request is
    not counted, so a client that waits as told gets in.
    """
    windows: list[tuple[int, RateWindow, datetime]] = []
    specs: list[tuple[str, int, float]] = []
    if limits.spike_limit is not None:
        specs.append(("spike", limits.spike_limit, limits.spike_window_seconds))
    specs.append(("hourly", limits.limit, limits.window_seconds))
    for name, limit, seconds in specs:
        window = _current_window(windows_by_key, (key, name), now, seconds, limits.windows)
        windows.append((limit, window, window.started_at + timedelta(seconds=seconds)))
    refused = [item for item in windows if item[1].count >= item[0]]
    if refused:
        # Wait for the exhausted window that reopens last.
        limit, _, reset = max(refused, key=lambda item: item[2])
        wait = max(1, math.ceil((reset - now).total_seconds()))
        return False, rate_headers(limit, 0, reset), wait
    for _, counted, _ in windows:
        counted.count += 1
        if limits.windows == "sliding":
            counted.times.append(now)
    # Report the window closest to running out, as Procore does (ties: the spike one).
    limit, reported, reset = min(windows, key=lambda item: item[0] - item[1].count)
    return True, rate_headers(limit, limit - reported.count, reset), 0


def _current_window(
    windows_by_key: dict[tuple[str, str], RateWindow],
    key: tuple[str, str],
    now: datetime,
    seconds: float,
    kind: WindowKind,
) -> RateWindow:
    """``key``'s window as of ``now`` (``started_at + seconds`` is its reset)."""
    window = windows_by_key.get(key)
    if kind == "sliding":
        if window is None:
            window = windows_by_key[key] = RateWindow(now, 0)
        horizon = now - timedelta(seconds=seconds)
        while window.times and window.times[0] <= horizon:
            window.times.popleft()
        window.count = len(window.times)
        # The next reset: when the oldest request still counted leaves the window.
        window.started_at = window.times[0] if window.times else now
        return window
    if kind == "aligned":
        start = datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, now.tzinfo)
        if window is None or window.started_at != start:
            window = windows_by_key[key] = RateWindow(start, 0)
        return window
    if window is None or now >= window.started_at + timedelta(seconds=seconds):
        window = windows_by_key[key] = RateWindow(now, 0)
    return window


def rate_limited_response(headers: dict[str, str], wait: int) -> Response:
    """429 for a request over the limit, with ``Retry-After``."""
    return JSONResponse(
        {"code": 429, "message": "Rate limit exceeded"},
        status_code=429,
        headers={**headers, "Retry-After": str(wait)},
    )
