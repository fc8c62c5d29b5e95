"""Runs that failed before (or instead of) pushing are kept too.

A sync that could not start — configuration, permission, Procore unreachable, a push that found
another one running, an unexpected error in the schedule or after a Web Connector session — is one
`SyncRun` row with status "failed" and its reason in `message`, plus an `ErrorEvent`, so `paysync
status` (`last_sync`, `last_failure`, `errors`) and the console show it. Recording never raises: a
database that cannot take the row is logged, and the caller's own error still reaches the person.
"""

from __future__ import annotations

import logging
from datetime import datetime

from storage import models
from storage.fields import utc_now
from storage.models import ErrorEvent, SyncRun

log = logging.getLogger(__name__)


# How each trigger reads in a message.
TRIGGER_WORDS = {
    "cli": "`paysync sync`",
    "console": "the console's Sync now",
    "schedule": "the scheduled sync",
    "web_connector": "the push after a Web Connector session",
}


def describe_trigger(trigger: str) -> str:
    return TRIGGER_WORDS.get(trigger, f"the {trigger} sync")


def failed_run_message(trigger: str, reason: str) -> str:
    """The ErrorEvent's wording: "`paysync sync` could not run: <reason>"."""
    text = describe_trigger(trigger)
    return f"{text[0].upper()}{text[1:]} could not run: {reason}"


def record_failed_run(
    trigger: str,
    actor: str | None,
    reason: str,
    *,
    where: str = "engine",
    started_at: datetime | None = None,
) -> None:
    """One failed SyncRun (message = `reason`) and one ErrorEvent; never raises."""
    if models.database_proxy.obj is None:
        log.warning("not recorded (no database): %s", reason)
        return
    now = utc_now()
    try:
        with models.database_proxy.atomic():
            SyncRun.create(
                trigger=trigger[:32],
                actor=actor[:100] if actor else None,
                started_at=started_at or now,
                finished_at=now,
                status="failed",
                message=reason[:2000],
            )
            ErrorEvent.create(at=now, where=where[:32], message=failed_run_message(trigger, reason))
    except Exception:
        log.exception("could not record a failed run (%s): %s", trigger, reason)
