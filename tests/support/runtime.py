"""For the tests of the one runtime (sync/runtime/runtime.py): a clock the scheduler's sleeps move
forward only as far as the test allows, and a way to wait for what the runtime tells."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sync.runtime.events import RuntimeEvent


class SteppedClock:
    """The runtime's scheduler clock and sleep. A sleep moves the clock forward, but never past
    `limit`: there it waits (in real time) until the test moves the limit. So nothing is due until
    the test says `allow_until(moment)`, and then the scheduler gets there at once."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.limit = start

    def clock(self) -> datetime:
        return self.now

    def allow_until(self, moment: datetime) -> None:
        self.limit = moment

    def jump_to(self, moment: datetime) -> None:
        """Time passed (say, while another process ran the schedule)."""
        self.now = moment
        self.limit = max(self.limit, moment)

    async def sleep(self, seconds: float) -> None:
        while self.now >= self.limit:  # noqa: ASYNC110 - moved by the test, not an event
            await asyncio.sleep(0.005)
        step = min(seconds, (self.limit - self.now).total_seconds())
        self.now += timedelta(seconds=step)
        await asyncio.sleep(0)


class Heard:
    """Every event a runtime told (from any thread), in order."""

    def __init__(self) -> None:
        self.events: list[RuntimeEvent] = []

    def __call__(self, event: RuntimeEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


async def until(condition: Callable[[], object], *, what: str = "", seconds: float = 20.0) -> None:
    """Wait (polling, on the event loop) until `condition()` is true; fail after `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while not condition():  # noqa: ASYNC110 - set from other threads
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"waited {seconds} s in vain{': ' + what if what else ''}") from None
