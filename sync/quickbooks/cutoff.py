"""The cutoff: bill payments QuickBooks created before it are pre-existing and never synced.

This module is the cutoff as a fact: reading it (`schedule_cutoff`), telling whether a payment is
pre-existing under it (`is_pre_existing`, decided when the payment is first stored), and recording
it once, when PaySync first runs for real (`record_cutoff_at_first_run`): configuration valid and
Procore reached (the first `paysync sync`, the console's first sync, the first successful Procore
refresh of `paysync serve`), or the Web Connector's first session. Never by a run that failed on its
configuration: a trial run days before go-live must not fix the cutoff, or every payment keyed into
Procore by hand in those days would be pushed a second time later. PaySync says so when it records
it (the returned message, an audit entry, the log).

Changing it before the first push (`paysync cutoff --set/--reset`) is sync/runtime/cutoff.py.

Each company file has its own cutoff: a file added with `paysync company add` starts with none (its
key is written empty), and records one at its own first run, so its payments from before it joined
are pre-existing too. The file configured in .env keeps the single-company keys (`schedule_cutoff`),
so an installation from before several files existed reads the cutoff it always had.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from storage.db import write_transaction
from storage.fields import utc_now
from storage.models import AuditLog
from storage.settings_store import (
    SCHEDULE_CUTOFF,
    SCHEDULE_CUTOFF_SOURCE,
    company_cutoff_keys,
    get_setting,
    get_settings,
    set_setting,
)
from sync.quickbooks.qbxml.times import parse_qb_aware, parse_qb_local

log = logging.getLogger(__name__)


def cutoff_keys(file_key: str | None) -> tuple[str, str]:
    """The setting keys (cutoff, source) of a company file: its own when it was added with `paysync
    company add` (written, empty, then), else the single-company keys. One read answers both."""
    if file_key is None:
        return SCHEDULE_CUTOFF, SCHEDULE_CUTOFF_SOURCE
    own = company_cutoff_keys(file_key)
    return own if get_setting(own[0]) is not None else (SCHEDULE_CUTOFF, SCHEDULE_CUTOFF_SOURCE)


def schedule_cutoff(file_key: str | None = None) -> datetime | None:
    """The cutoff (aware, UTC) of a company file (None: the file configured in .env), or None while
    that file has not yet run for real."""
    if file_key is None:
        raw = get_setting(SCHEDULE_CUTOFF)
    else:
        own_key = company_cutoff_keys(file_key)[0]
        found = get_settings(own_key, SCHEDULE_CUTOFF)
        raw = found[own_key] if own_key in found else found.get(SCHEDULE_CUTOFF)
    if not raw:
        return None
    value = datetime.fromisoformat(raw)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def is_pre_existing(time_created: str, cutoff: datetime | None) -> bool:
    """Whether QuickBooks created the payment before the schedule was first configured.

    TimeCreated is read with the offset QuickBooks wrote. During daylight saving time that offset
    is an hour off (NOTES §8), so a payment entered within an hour of the cutoff may land on the
    wrong side. That is acceptable: the cutoff is the moment someone configured the schedule, and
    payments typed in that same hour are ambiguous to the accountant too; everything else is hours
    or days away from it.

    With no cutoff yet (no schedule ever configured), every payment counts as pre-existing: it was
    necessarily created before the schedule that is configured later.
    """
    if cutoff is None:
        return True
    try:
        created = parse_qb_aware(time_created)
    except ValueError:
        # No offset: read the wall clock as UTC. U.S. local time is behind UTC, so this errs
        # towards "created later", by at most the zone offset.
        created = parse_qb_local(time_created).replace(tzinfo=UTC)
    return created < cutoff


def format_cutoff(moment: datetime) -> str:
    """2026-12-02 09:14 UTC (seconds shown only when there are some)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if moment.second == 0 else "%Y-%m-%d %H:%M:%S UTC")


def recorded_message(cutoff: datetime) -> str:
    """What PaySync says when it records the cutoff (printed, audited, logged)."""
    return (
        f"PaySync recorded the cutoff {format_cutoff(cutoff)}: payments created in QuickBooks before it are "
        "never synced (they show Not synced, as pre-existing). Until the first payment is pushed to Procore "
        "it can still change: `paysync cutoff --set DATE` moves it, `paysync cutoff --reset` clears it."
    )


def audit_cutoff(actor: str, action: str, detail: dict[str, Any], now: datetime) -> None:
    """The audit entry of a change to the cutoff (target "cutoff")."""
    AuditLog.create(
        at=now,
        actor=actor[:100],
        action=action,
        target="cutoff",
        detail=json.dumps(detail, default=str, sort_keys=True),
    )


def cutoff_source(file_key: str | None = None) -> dict[str, Any] | None:
    """How the cutoff came to be: {"how": "recorded" | "set", "by": actor, "trigger": …, "at": ISO}."""
    raw = get_setting(cutoff_keys(file_key)[1])
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def record_cutoff_at_first_run(
    actor: str, trigger: str, now: datetime | None = None, *, file_key: str | None = None
) -> datetime | None:
    """Record the cutoff of a company file (None: the one configured in .env) unless it has one: call
    once a real run has started (Procore reached, or the Web Connector logged in). Returns the cutoff
    when it was recorded by this call, else None."""
    now = now or utc_now()
    with write_transaction():
        if schedule_cutoff(file_key) is not None:
            return None
        key, source_key = cutoff_keys(file_key)
        cutoff = now.astimezone(UTC).replace(microsecond=0)
        set_setting(key, cutoff.isoformat(), now=now)
        source = {"how": "recorded", "by": actor, "trigger": trigger, "at": now.isoformat()}
        set_setting(source_key, json.dumps(source), now=now)
        message = recorded_message(cutoff)
        if key != SCHEDULE_CUTOFF:
            message = f"Company file {file_key}: {message}"
        audit_cutoff(
            actor,
            "cutoff.recorded",
            {"cutoff": cutoff.isoformat(), "trigger": trigger, "message": message, "company_file": file_key},
            now,
        )
    log.warning("%s", message)
    return cutoff
