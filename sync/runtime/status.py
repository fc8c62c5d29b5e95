"""`paysync status`: one JSON object for scripts and monitoring (DESIGN "Interfaces"), and its text form.

Documented keys (they stay; more may be added): web_connector {last_contact, company_files
[{file_key, country, last_error}, and per file: name, default, active, username, procore_company_id,
cutoff, schedule, next_run, payments, queue]}, payments {synced, waiting, needs_attention, failed,
deleted_in_quickbooks, not_synced}, schedule {expression, next_run, cutoff}, last_sync, last_failure,
errors [{at, where, message}], queue {queued, in_progress}, problems [text]. Times are UTC ISO 8601
with a "Z".

`problems` lists what stops PaySync from syncing (Procore not configured, an invalid schedule):
`paysync status` exits 1 while there are any. When it cannot run at all (the configuration cannot be
read, the database cannot be opened) it exits 2, and `--json` still prints an object: {"error": …,
"exit": 2} plus whatever could be collected without the database (`configuration_facts`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.db import sqlite_path
from storage.fields import utc_now
from storage.leases import schedule_holder
from storage.queries import (
    company_files,
    held_records,
    last_web_connector_contact,
    latest_errors,
    latest_failed_run,
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
from storage.vocabulary import ErpStatus
from sync.engine.runs import describe_trigger
from sync.quickbooks.companies import list_companies
from sync.quickbooks.cutoff import cutoff_source, schedule_cutoff
from sync.runtime.cutoff import why_locked
from sync.runtime.scheduler import company_schedules, parse_schedule
from sync.settings import ConfigError, Settings, signed_in_procore_user

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
    return list(dict.fromkeys(warnings))  # the key file may sit in the database's folder: say it once


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


def configuration_facts(settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """What the settings alone tell (no database): the schedule, Procore, the Web Connector URL, and
    the problems that stop PaySync from syncing."""
    now = now or utc_now()
    problems: list[str] = []
    schedule: dict[str, Any] = {"expression": settings.schedule, "next_run": None}
    try:
        parsed = parse_schedule(settings.schedule)
        schedule["expression"] = parsed.expression
        schedule["next_run"] = parsed.next_run(now)
    except ConfigError as exc:
        schedule["error"] = str(exc)
        problems.append(f"The schedule is invalid: {exc}")
    procore: dict[str, Any] = {"api_base": settings.procore_api_base, "configured": True, "problem": None}
    try:
        settings.require_procore()
    except ConfigError as exc:
        procore["configured"] = False
        procore["problem"] = f"Procore is not configured, so nothing is pushed to Procore: {exc}"
        problems.append(procore["problem"])
    facts = {
        "web_connector": {"url": settings.qbwc_url},
        "schedule": schedule,
        "procore": procore,
        "problems": problems,
        "warnings": list(settings.config_warnings),
    }
    result: dict[str, Any] = _json_ready(facts)
    return result


def _cutoff_facts() -> dict[str, Any]:
    cutoff = schedule_cutoff()
    locked = why_locked()
    holder = schedule_holder()
    return {
        "cutoff": cutoff,
        "cutoff_can_change": locked is None,
        "cutoff_source": cutoff_source() if cutoff is not None else None,
        # The process that runs the schedule on this database (its lease), or None.
        "runs_in": None
        if holder is None
        else {"owner": holder.owner, "role": holder.role, "pid": holder.pid, "host": holder.host},
    }


def collect_status(settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """The status object; the database must be open."""
    now = now or utc_now()
    facts = configuration_facts(settings, now=now)
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
    # Several company files: each with its name, user, cutoff, schedule, payments and queue.
    schedules = None
    try:
        schedules = company_schedules(settings)
    except ConfigError:
        pass
    by_key = {entry.file_key: entry for entry in list_companies(settings)}
    for entry in files:
        company = by_key.get(entry["file_key"])
        if company is None:  # seen once but never added (an earlier QBWC_FILE_KEY)
            entry.update(default=False, active=False)
            continue
        entry.update(
            name=company.name,
            default=company.default,
            active=company.active,
            username=company.username,
            procore_company_id=company.procore_company_id,
            procore_project_ids=list(company.procore_project_ids),
            schedule=company.schedule,
            next_run=schedules.next_run_of(company.file_key, now) if schedules and company.active else None,
            cutoff=company.cutoff,
            payments=payment_status_counts(company.file_key),
            queue=queue_counts(company.file_key),
        )
    schedule: dict[str, Any] = {**facts["schedule"], **_cutoff_facts()}
    procore = {
        **facts["procore"],
        "rate_limit": procore_rate_limit(),
        "signed_in_as": signed_in_procore_user(),
    }
    status = {
        "web_connector": {
            "last_contact": last_web_connector_contact(),
            "url": settings.qbwc_url,
            "company_files": files,
        },
        "payments": payment_status_counts(),
        "schedule": schedule,
        "last_sync": latest_sync_run(),
        "last_failure": latest_failed_run(),
        "errors": latest_errors(20),
        "queue": queue_counts(),
        "procore": procore,
        # Records QuickBooks sent that PaySync could not read: kept aside, nothing posted for them.
        "held": held_records(),
        "problems": facts["problems"],
        "warnings": [*facts["warnings"], *permission_warnings(settings), PROCORE_OWN_SYNC_WARNING],
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


def _who(run: dict[str, Any]) -> str:
    actor = f" by {run['actor']}" if run.get("actor") else ""
    return f"{describe_trigger(str(run['trigger']))}{actor}"


def _cutoff_line(schedule: dict[str, Any]) -> str:
    cutoff = schedule.get("cutoff")
    if not cutoff:
        return (
            "  cutoff:   not recorded yet: PaySync records it when it first runs for real "
            "(`paysync cutoff` explains; it can be set beforehand)"
        )
    source = schedule.get("cutoff_source") or {}
    how = ""
    if source.get("how") == "set":
        how = f"set by {source.get('by')}; "
    elif source.get("how") == "recorded":
        how = f"recorded at the first real run by {source.get('by')}; "
    change = (
        "can still change (`paysync cutoff`)"
        if schedule.get("cutoff_can_change")
        else "can no longer change: payments are in Procore"
    )
    return f"  cutoff:   {cutoff} — {how}{change}"


def status_exit_code(status: dict[str, Any]) -> int:
    """1 while something stops PaySync from syncing (`problems`), else 0."""
    return 1 if status.get("problems") else 0


def format_status_text(status: dict[str, Any], *, now: datetime | None = None) -> str:
    """The same facts for a person at a terminal."""
    now = now or utc_now()
    wc = status["web_connector"]
    lines: list[str] = []
    problems = status.get("problems") or []
    if problems:
        lines.append(f"Problems ({len(problems)}: PaySync cannot sync until they are fixed)")
        lines.extend(f"  {problem}" for problem in problems)
        lines.append("")
    lines += [
        f"Web Connector  last contact: {_ago(wc['last_contact'], now)}",
        f"               endpoint: {wc['url']}",
    ]
    several = sum(1 for entry in wc["company_files"] if entry.get("active", True)) > 1
    for entry in wc["company_files"]:
        label = entry.get("name") or entry.get("company_name")
        name = f" — {label}" if label else ""
        country = entry.get("country") or "country not yet known"
        removed = "" if entry.get("active", True) else ", removed"
        lines.append(f"  company file {entry['file_key']}{name} ({country}{removed})")
        if several and entry.get("active", True):
            # Each file's own figures (`paysync company list` has them all).
            counts = entry.get("payments") or {}
            waiting = entry.get("queue") or {}
            lines.append(
                f"    user {entry.get('username')}; Procore company {entry.get('procore_company_id')}; "
                f"last contact {_ago(entry.get('last_contact'), now)}; cutoff {entry.get('cutoff') or 'not recorded yet'}; next run {entry.get('next_run') or 'none'}"
            )
            lines.append(
                f"    payments: {counts.get('synced', 0)} synced, {counts.get('needs_attention', 0)} need attention, "
                f"{counts.get('failed', 0)} failed; queries waiting: {waiting.get('queued', 0)}"
            )
        if entry.get("last_error"):
            lines.append(f"    last error: {entry['last_error']}")
    queue = status["queue"]
    lines.append(
        f"  QuickBooks queries waiting: {queue['queued']} queued, {queue['in_progress']} in progress"
    )
    lines.append("")
    lines.append("Payments (one per bill a payment applies to)")
    for erp_status in ErpStatus:
        lines.append(f"  {erp_status.label:<22} {status['payments'][erp_status.value]:>7}")
    lines.append("")
    schedule = status["schedule"]
    lines.append(f"Schedule       {schedule['expression']}")
    if schedule.get("error"):
        lines.append(f"  problem: {schedule['error']}")
    lines.append(f"  next run: {schedule['next_run'] or 'none (never)'}")
    runs_in = schedule.get("runs_in")
    if runs_in:
        lines.append(f"  runs in:  {runs_in['owner']} (process {runs_in['pid']} on {runs_in['host']})")
    elif "runs_in" in schedule:
        lines.append("  runs in:  no PaySync process right now (`paysync serve` or a console runs it)")
    lines.append(_cutoff_line(schedule))
    procore = status.get("procore") or {}
    signed_in = f", signed in as {procore['signed_in_as']}" if procore.get("signed_in_as") else ""
    configured = "" if procore.get("configured", True) else " (not configured)"
    lines.append(f"Procore        {procore.get('api_base', '')}{configured}{signed_in}")
    last = status["last_sync"]
    if last is None:
        lines.append("Last sync      none yet")
    elif last.get("status") == "failed" and not (last["created"] or last["updated"] or last["errors"]):
        lines.append(f"Last sync      {last['started_at']}: FAILED ({_who(last)})")
        lines.append(f"  reason: {last.get('message') or 'not recorded'}")
    else:
        outcome = {"ok": "", "failed": "FAILED, ", "running": "running, ", "cancelled": "CANCELLED, "}.get(
            str(last.get("status")), ""
        )
        lines.append(
            f"Last sync      {last['started_at']} → {last['finished_at'] or 'running'}: {outcome}"
            f"{last['created']} created, {last['updated']} updated, {last['errors']} errors ({_who(last)})"
        )
        if last.get("status") in ("failed", "cancelled") and last.get("message"):
            lines.append(f"  {'reason' if last.get('status') == 'failed' else 'note'}: {last['message']}")
    failure = status.get("last_failure")
    if failure is not None and failure != last:
        lines.append(
            f"Last failure   {failure['started_at']} ({_who(failure)}): {failure.get('message') or ''}"
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
