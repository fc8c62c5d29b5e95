"""`paysync status`: one JSON object for scripts and monitoring (DESIGN "Interfaces"), and its text form.

Documented keys (they stay; more may be added): web_connector {last_contact, company_files
[{file_key, country, last_error}]}, payments {synced, waiting, needs_attention, failed,
deleted_in_quickbooks, not_synced}, schedule {expression, next_run, cutoff}, last_sync, errors
[{at, where, message}], queue {queued, in_progress}. Times are UTC ISO 8601 with a "Z".
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.db import sqlite_path
from storage.fields import utc_now
from storage.queries import (
    company_files,
    held_records,
    last_web_connector_contact,
    latest_errors,
    latest_sync_run,
    payment_status_counts,
    procore_rate_limit,
    queue_counts,
)
from storage.secrets import (
    KEY_FILE_ENV,
    PRIVATE_FILE,
    PRIVATE_FOLDER,
    default_key_file,
    looser_than_private,
)
from sync.scheduler import parse_schedule, schedule_cutoff
from sync.settings import ConfigError, Settings

# Said by every `paysync status`: PaySync cannot see this setting (it lives in Procore's own QuickBooks
# connector, API-NOTES §12 "Deployment conflicts"), and leaving it on posts every payment twice.
PROCORE_OWN_SYNC_WARNING = (
    "Procore's own QuickBooks Desktop connector must not sync payments too: keep its \"Sync Payments for "
    'Synced Invoices" setting off (Procore > ERP Integrations > QuickBooks settings) wherever PaySync '
    "runs, or every payment is posted twice."
)


def permission_warnings(settings: Settings) -> list[str]:
    """Files and folders holding PaySync's data or its secret key that others may read (POSIX modes;
    on Windows the folder's ACL is the check, see docs/security.md)."""
    warnings: list[str] = []
    path = sqlite_path(settings.database_url)
    checks: list[tuple[Path, int]] = []
    if path is not None:
        checks.append((path.parent, PRIVATE_FOLDER))
        checks.extend((path.with_name(path.name + suffix), PRIVATE_FILE) for suffix in ("", "-wal", "-shm"))
    key_file = Path(settings.key_file or os.environ.get(KEY_FILE_ENV) or default_key_file()).expanduser()
    if not settings.secret_key:
        checks.extend([(key_file, PRIVATE_FILE), (key_file.parent, PRIVATE_FOLDER)])
    for checked, wanted in checks:
        problem = looser_than_private(checked, wanted)
        if problem:
            warnings.append(f"Others may read PaySync's data or key: {problem}.")
    return warnings


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value


def collect_status(settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """The status object; the database must be open."""
    now = now or utc_now()
    files = company_files()
    if not any(entry["file_key"] == settings.qbwc_file_key for entry in files):
        files.append(
            {
                "file_key": settings.qbwc_file_key,
                "company_name": None,
                "country": None,
                "product_name": None,
                "last_contact": None,
                "last_error": None,
                "last_error_at": None,
            }
        )
    schedule: dict[str, Any] = {
        "expression": settings.schedule,
        "next_run": None,
        "cutoff": schedule_cutoff(),
    }
    try:
        parsed = parse_schedule(settings.schedule)
        schedule["expression"] = parsed.expression
        schedule["next_run"] = parsed.next_run(now)
    except ConfigError as exc:
        schedule["error"] = str(exc)
    status = {
        "web_connector": {
            "last_contact": last_web_connector_contact(),
            "url": settings.qbwc_url,
            "company_files": files,
        },
        "payments": payment_status_counts(),
        "schedule": schedule,
        "last_sync": latest_sync_run(),
        "errors": latest_errors(20),
        "queue": queue_counts(),
        "procore": {"api_base": settings.procore_api_base, "rate_limit": procore_rate_limit()},
        # Records QuickBooks sent that PaySync could not read: kept aside, nothing posted for them.
        "held": held_records(),
        "warnings": [*permission_warnings(settings), PROCORE_OWN_SYNC_WARNING],
    }
    result: dict[str, Any] = _json_ready(status)
    return result


def _ago(value: str | None, now: datetime) -> str:
    if value is None:
        return "never"
    then = datetime.fromisoformat(value.replace("Z", "+00:00"))
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 1:
        return f"{value} (just now)"
    if minutes < 120:
        return f"{value} ({minutes} min ago)"
    hours = minutes // 60
    if hours < 48:
        return f"{value} ({hours} h ago)"
    return f"{value} ({hours // 24} days ago)"


_LABELS = {
    "synced": "Synced",
    "waiting": "Waiting",
    "needs_attention": "Needs attention",
    "failed": "Failed",
    "deleted_in_quickbooks": "Deleted in QuickBooks",
    "not_synced": "Not synced",
}


def format_status_text(status: dict[str, Any], *, now: datetime | None = None) -> str:
    """The same facts for a person at a terminal."""
    now = now or utc_now()
    wc = status["web_connector"]
    lines = [
        f"Web Connector  last contact: {_ago(wc['last_contact'], now)}",
        f"               endpoint: {wc['url']}",
    ]
    for entry in wc["company_files"]:
        name = f" — {entry['company_name']}" if entry.get("company_name") else ""
        country = entry.get("country") or "country not yet known"
        lines.append(f"  company file {entry['file_key']}{name} ({country})")
        if entry.get("last_error"):
            lines.append(f"    last error: {entry['last_error']}")
    queue = status["queue"]
    lines.append(
        f"  QuickBooks queries waiting: {queue['queued']} queued, {queue['in_progress']} in progress"
    )
    lines.append("")
    lines.append("Payments (one per bill a payment applies to)")
    for key, label in _LABELS.items():
        lines.append(f"  {label:<22} {status['payments'][key]:>7}")
    lines.append("")
    schedule = status["schedule"]
    lines.append(f"Schedule       {schedule['expression']}")
    if schedule.get("error"):
        lines.append(f"  problem: {schedule['error']}")
    lines.append(f"  next run: {schedule['next_run'] or 'none (never)'}")
    lines.append(
        f"  cutoff:   {schedule['cutoff'] or 'not set yet (set when the schedule is first configured)'}"
    )
    last = status["last_sync"]
    if last is None:
        lines.append("Last sync      none yet")
    else:
        lines.append(
            f"Last sync      {last['started_at']} → {last['finished_at'] or 'running'}: "
            f"{last['created']} created, {last['updated']} updated, {last['errors']} errors"
        )
    held = status.get("held") or []
    if held:
        lines.append("")
        lines.append(f"Held from QuickBooks ({len(held)}: unreadable, nothing posted for them)")
        for record in held[:10]:
            lines.append(f"  {record['label']}: {record['reason']}")
    lines.append("")
    errors = status["errors"]
    if not errors:
        lines.append("Errors         none")
    else:
        lines.append(f"Errors (latest {len(errors)}, newest first)")
        for error in errors[:10]:
            lines.append(f"  {error['at']} [{error['where']}] {error['message']}")
        if len(errors) > 10:
            lines.append(f"  … {len(errors) - 10} more in `paysync status --json`")
    for warning in status.get("warnings") or []:
        lines.append("")
        lines.append(f"Note           {warning}")
    return "\n".join(lines) + "\n"
