"""Times as people read them: "3 min ago", "in 42 min", "18:00 UTC".

They are shown in the display time zone (the computer's local zone unless PAYSYNC_DISPLAY_TZ or
console.json say otherwise); the database and the logs keep UTC.
"""

from __future__ import annotations

from datetime import datetime, tzinfo


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 5:
        return "just now"
    return f"{_span(seconds)} ago"


def until(moment: datetime, now: datetime) -> str:
    seconds = (moment - now).total_seconds()
    return "now" if seconds < 1 else f"in {_span(seconds)}"


def clock(moment: datetime, tz: tzinfo | None, *, now: datetime | None = None) -> str:
    """HH:MM and the zone in the display time zone, with the date when it is not today there."""
    local = moment.astimezone(tz)
    label = local.strftime("%H:%M")
    if now is not None and now.astimezone(tz).date() != local.date():
        label = f"{local:%Y-%m-%d} {label}"
    zone = local.tzname() or ""
    return f"{label} {zone}".strip()


def stamp(moment: datetime | None, tz: tzinfo | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".strip()
