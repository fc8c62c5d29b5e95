"""The QuickBooks machine's clock. It sits in US Eastern time, and NOTES §8 (jsgoupil README,
"Handling Timestamps"): QuickBooks prints local wall-clock times that follow DST correctly, but the
offset it prints next to them never does: it is always the *standard* offset. So a change made at
10:00 EDT in July is printed "…T10:00:00-05:00" (really 14:00 UTC, not 15:00). Code that trusts
the offset is an hour off all summer; the project must keep the wall-clock part only.

Instants are kept as epoch seconds; these functions turn them into what QuickBooks prints and back.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

QUICKBOOKS_TIME_ZONE: Final = ZoneInfo("America/New_York")
PRINTED_OFFSET: Final = "-05:00"
STANDARD_OFFSET: Final = timezone(timedelta(hours=-5))


@lru_cache(maxsize=65536)
def printed_time(epoch: int) -> str:
    """How QuickBooks prints an instant: correct local wall clock, always the standard offset."""
    local = datetime.fromtimestamp(epoch, QUICKBOOKS_TIME_ZONE)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + PRINTED_OFFSET


@lru_cache(maxsize=4096)
def local_wall_clock(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, QUICKBOOKS_TIME_ZONE).replace(tzinfo=None)


def epoch_of_wall_clock(wall_clock: datetime) -> int:
    # fold=0: an ambiguous time in the autumn fall-back hour means its first (daylight) occurrence.
    return int(wall_clock.replace(tzinfo=QUICKBOOKS_TIME_ZONE, fold=0).timestamp())
