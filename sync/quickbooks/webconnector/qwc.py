"""The .qwc file the IT person loads into the QuickBooks Web Connector (NOTES §10).

OwnerID and FileID are derived with uuid5 from fixed names, so printing the file again (after an
upgrade, on another machine) gives the same identifiers and the Web Connector sees the same
application instead of a new one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Protocol
from xml.sax.saxutils import escape

from sync.settings import Settings

APP_NAME = "PaySync"
APP_DESCRIPTION = (
    "PaySync reads check and credit card bill payments from QuickBooks (read-only) and records "
    "them as Payments Issued on Procore commitments."
)
# A fixed namespace for PaySync's identifiers (itself uuid5 of the project's name).
PAYSYNC_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "paysync.qbwc")
DEFAULT_POLL_MINUTES = 15


class Schedule(Protocol):
    """The sync schedule, as far as the .qwc file needs it (sync.runtime.scheduler.Schedule)."""

    def shortest_interval(self) -> timedelta | None: ...


def _braced(value: uuid.UUID) -> str:
    return "{" + str(value).upper() + "}"


def owner_id() -> str:
    """One per application (NOTES §10)."""
    return _braced(uuid.uuid5(PAYSYNC_NAMESPACE, "owner"))


def file_id(file_key: str) -> str:
    """One per company file PaySync serves; QBWC stores it in the company file."""
    return _braced(uuid.uuid5(PAYSYNC_NAMESPACE, f"file:{file_key}"))


def poll_minutes(schedule: Schedule) -> int:
    """How often the Web Connector should poll: at most every 15 minutes, and no less often than
    the schedule runs, so scheduled and on-demand work is picked up promptly. An idle poll costs
    one authenticate answered with "none"."""
    interval = schedule.shortest_interval()
    if interval is None:
        return DEFAULT_POLL_MINUTES
    minutes = int(interval / timedelta(minutes=1))
    return max(1, min(DEFAULT_POLL_MINUTES, minutes))


def app_name(file_key: str, settings: Settings) -> str:
    """The Web Connector lists applications by name and refuses a second one of the same name, so each
    company file added with `paysync company add` gets its own ("PaySync (east)")."""
    return APP_NAME if file_key == settings.qbwc_file_key else f"{APP_NAME} ({file_key})"


def build_qwc(
    settings: Settings, schedule: Schedule, *, file_key: str | None = None, username: str | None = None
) -> str:
    """The .qwc XML, elements in the order of Intuit's samples (NOTES §10). `username`: the company
    file's Web Connector user (default QBWC_USERNAME)."""
    key = file_key or settings.qbwc_file_key
    url = settings.qbwc_url
    elements: list[tuple[str, str | None]] = [
        ("AppName", app_name(key, settings)),
        ("AppID", ""),
        ("AppURL", url),
        ("AppDescription", APP_DESCRIPTION),
        ("AppSupport", f"{url}?wsdl"),
        ("UserName", username or settings.qbwc_username),
        ("OwnerID", owner_id()),
        ("FileID", file_id(key)),
        ("QBType", "QBFS"),
        ("PersonalDataPref", "pdpNotNeeded"),  # vendor names and payments only, no personal data
        ("UnattendedModePref", "umpOptional"),  # scheduled runs may happen while QuickBooks is closed
        ("Scheduler", None),
        ("IsReadOnly", "true"),  # PaySync only reads from QuickBooks
    ]
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<QBWCXML>"]
    for name, value in elements:
        if name == "Scheduler":
            lines.append(
                f"  <Scheduler>\n    <RunEveryNMinutes>{poll_minutes(schedule)}</RunEveryNMinutes>\n  </Scheduler>"
            )
        else:
            lines.append(f"  <{name}>{escape(value or '')}</{name}>")
    lines.append("</QBWCXML>")
    return "\n".join(lines) + "\n"
