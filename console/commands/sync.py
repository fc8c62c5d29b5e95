"""`paysync sync`: an on-demand sync from the shell, and what it left for the Web Connector."""

from __future__ import annotations

import argparse

from console.commands.common import EXIT_FAILED, EXIT_OK, CouldNotRun, open_database_for
from storage.fields import utc_now
from storage.queries import last_web_connector_contact, pending_work_kinds
from sync.engine.runs import record_failed_run
from sync.engine.service import SyncService
from sync.procore.errors import ProcoreError
from sync.procore.permissions import PermissionDenied
from sync.quickbooks.steps import WORK_LABELS
from sync.runtime.scheduler import parse_schedule, remember_schedule
from sync.runtime.status import iso_utc
from sync.settings import ConfigError, Settings, acting_person


def command_sync(args: argparse.Namespace, settings: Settings) -> int:
    """On-demand sync from the shell: refresh from Procore, push to Procore now, and queue the
    QuickBooks queries for the Web Connector's next poll (it is pull-only). Prints a summary.

    Exits 0 only when every payment it meant to write is right; 1 when it ran but some payments
    need attention or failed (or the push could not start, the refresh failed); 2 when it could not
    run at all (configuration, database, Procore sign-in or permission). A sync that could not run
    is kept as a failed run with its reason (`paysync status` shows it); the cutoff is recorded only
    once Procore was reached (sync/quickbooks/cutoff.py)."""
    open_database_for(args, settings)
    actor = acting_person("cli")
    file_key = settings.qbwc_file_key
    try:
        schedule = parse_schedule(settings.schedule)
    except ConfigError as exc:
        record_failed_run("cli", actor, str(exc), where="config")
        raise
    remember_schedule(schedule.expression)
    try:
        summary = SyncService(settings, actor=actor).sync_now(trigger="cli")
    except (PermissionDenied, ProcoreError) as exc:  # kept as a failed run by sync_now
        raise CouldNotRun(str(exc)) from exc
    except ConfigError:  # kept as a failed run by sync_now
        raise
    except Exception as exc:
        record_failed_run("cli", actor, f"stopped by an unexpected error: {type(exc).__name__}: {exc}")
        raise
    print(summary.as_text())
    created_kinds = set(summary.queued_quickbooks)
    pending = pending_work_kinds(file_key)
    already = [(kind, status) for kind, status in pending if kind not in created_kinds]
    if already:
        print(
            "Already waiting: "
            + ", ".join(
                f"{WORK_LABELS.get(kind, kind)} ({status.replace('_', ' ')})" for kind, status in already
            )
            + "."
        )
    last = last_web_connector_contact(file_key)
    if last is None:
        print(
            "The Web Connector has never polled PaySync. Run `paysync serve`, load the file from "
            "`paysync qwc` into the QuickBooks Web Connector, and enter the QBWC_PASSWORD there."
        )
    else:
        minutes = int((utc_now() - last).total_seconds() // 60)
        print(
            f"The Web Connector last polled at {iso_utc(last)} ({minutes} min ago); the queries run at its next poll."
        )
    return EXIT_OK if summary.all_right else EXIT_FAILED
