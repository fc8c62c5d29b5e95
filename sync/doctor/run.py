"""Every check in order, and their text and JSON forms (`paysync doctor [--json]`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from storage.fields import utc_now
from sync.doctor.check import Check, guarded
from sync.doctor.local import (
    CONFIG,
    DATABASE,
    DEFAULT_BACKUP_MAX_AGE,
    SCHEDULE,
    WEB_CONNECTOR,
    configuration_checks,
    database_checks,
    schedule_checks,
    web_connector_checks,
)
from sync.doctor.procore import PROBES, PROCORE, findings_checks, procore_checks
from sync.procore.auth import TokenStore
from sync.runtime.status import PROCORE_OWN_SYNC_WARNING
from sync.settings import Settings

# Said by every doctor: PaySync cannot see this Procore setting (API-NOTES §12 "Deployment conflicts").
NOTES: tuple[str, ...] = (PROCORE_OWN_SYNC_WARNING,)


def run_checks(
    settings: Settings,
    *,
    now: datetime | None = None,
    token_store: TokenStore | None = None,
    backup_max_age: timedelta = DEFAULT_BACKUP_MAX_AGE,
) -> list[Check]:
    """Every check; the database must be open (a database that is not is one ✖ among the others)."""
    at = now or utc_now()
    checks: list[Check] = []
    checks += guarded(CONFIG, "Configuration", lambda: configuration_checks(settings))
    checks += guarded(DATABASE, "Database", lambda: database_checks(now=at, backup_max_age=backup_max_age))
    checks += guarded(PROCORE, "Procore", lambda: procore_checks(settings, now=at, token_store=token_store))
    checks += guarded(PROBES, "Probes", findings_checks)
    checks += guarded(WEB_CONNECTOR, "Web Connector", lambda: web_connector_checks(settings, now=at))
    checks += guarded(SCHEDULE, "Schedule", lambda: schedule_checks(settings, now=at))
    return checks


def exit_code(checks: Sequence[Check]) -> int:
    """0 when every check is ✔, else 1 (2, could not run, is the command's)."""
    return 0 if all(check.verdict == "ok" for check in checks) else 1


def counts(checks: Sequence[Check]) -> dict[str, int]:
    return {verdict: sum(1 for c in checks if c.verdict == verdict) for verdict in ("ok", "warn", "fail")}


def as_json(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "checks": [check.as_dict() for check in checks],
        "summary": counts(checks),
        "notes": list(NOTES),
        "exit": exit_code(checks),
    }


def as_text(checks: Sequence[Check]) -> str:
    lines: list[str] = []
    area = None
    for check in checks:
        if check.area != area:
            if area is not None:
                lines.append("")
            area = check.area
            lines.append(area)
        lines.append(f"  {check.glyph} {check.name}: {check.why}")
        if check.fix:
            lines.append(f"      fix: {check.fix}")
    total = counts(checks)
    lines.append("")
    lines.append(f"{total['ok']} ✔  {total['warn']} ⚠  {total['fail']} ✖")
    for note in NOTES:
        lines.append(f"Note: {note}")
    return "\n".join(lines) + "\n"
