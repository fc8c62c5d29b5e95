"""QuickBooks date-times: read as QuickBooks writes them, written as QuickBooks reads them.

QuickBooks times are local wall-clock times on the QuickBooks machine, with a UTC offset that is
wrong during daylight saving time (NOTES §8, DESIGN rule 2). So PaySync keeps and compares the wall
clock (`parse_qb_local`), reads the offset only where an instant is needed and an hour does not
matter (`parse_qb_aware`), and sends times without any offset (`format_qb_datetime`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# DATETIMETYPE (qbxmltypes130.xsd) allows partial values; "Z" is tolerated on input only, because
# QuickBooks itself never sends it and the schema rejects it in requests.
_QB_DATETIME = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:T(?P<hour>\d{1,2})(?::(?P<minute>\d{1,2})(?::(?P<second>\d{1,2})"
    r"(?:(?P<utc>Z)|(?P<sign>[+-])(?P<off_h>\d{1,2}):(?P<off_m>\d{1,2}))?)?)?)?"
)


def format_qb_datetime(dt: datetime) -> str:
    """Format a NAIVE QuickBooks-local wall-clock time as `YYYY-MM-DDTHH:MM:SS` (no offset).

    QuickBooks mishandles offsets during DST, so requests carry no offset at all and QuickBooks reads
    the time in its own machine's time zone (NOTES §8, DESIGN rule 2). Microseconds are dropped,
    which moves an inclusive "from" bound earlier, never later.
    """
    if dt.tzinfo is not None and dt.utcoffset() is not None:
        raise ValueError(
            f"QuickBooks filter times must be naive local wall-clock times, got the aware datetime {dt.isoformat()}. "
            "Convert it to the QuickBooks machine's local time and drop tzinfo (never send UTC or 'Z')."
        )
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def _match_qb_datetime(raw: str) -> re.Match[str]:
    match = _QB_DATETIME.fullmatch(raw.strip())
    if match is None:
        raise ValueError(f"{raw!r} is not a QuickBooks date-time (expected e.g. 2024-03-01T09:30:00-08:00).")
    return match


def _wall_clock(match: re.Match[str]) -> datetime:
    # Naive on purpose: QuickBooks times are local wall-clock times on the QuickBooks machine.
    return datetime(  # noqa: DTZ001
        int(match["year"]),
        int(match["month"]),
        int(match["day"]),
        int(match["hour"] or 0),
        int(match["minute"] or 0),
        int(match["second"] or 0),
    )


def parse_qb_local(raw: str) -> datetime:
    """The naive local wall-clock time of a QuickBooks date-time, ignoring any `±hh:mm` offset.

    The wall-clock part is right even when QuickBooks' offset is wrong (DST), so this is the value
    to store and compare (DESIGN rule 2): "2024-07-01T10:00:00-08:00" -> 2024-07-01 10:00:00.
    """
    return _wall_clock(_match_qb_datetime(raw))


def parse_qb_aware(raw: str) -> datetime:
    """An aware datetime using the offset exactly as QuickBooks gave it (which may be off by an hour in DST)."""
    match = _match_qb_datetime(raw)
    if match["utc"]:
        offset: timezone = UTC
    elif match["sign"]:
        minutes = int(match["off_h"]) * 60 + int(match["off_m"])
        offset = timezone(timedelta(minutes=-minutes if match["sign"] == "-" else minutes))
    else:
        raise ValueError(
            f"{raw!r} has no UTC offset; use parse_qb_local() for QuickBooks local times without one."
        )
    return _wall_clock(match).replace(tzinfo=offset)
