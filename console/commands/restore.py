"""`paysync restore PATH`: put a SQLite backup in place of the database; for PostgreSQL, what to do
after `pg_restore` (docs/operations.md "Backup and restore")."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from console.commands.common import EXIT_OK, CouldNotRun, open_database_for, warn
from storage.backup import BackupError, check_sqlite_backup, restore_sqlite
from storage.db import DatabaseConfigError, close_database, open_database, sqlite_path
from storage.leases import ScheduleHolder, schedule_holder
from storage.settings_store import PUSH_LEASE, SCHEDULE_LEASE, delete_setting
from sync.engine.journal import audit
from sync.engine.listings import forget_payment_listings
from sync.settings import Settings, acting_person

log = logging.getLogger(__name__)


def _current_holder(settings: Settings) -> ScheduleHolder | None:
    """Who runs the schedule on the database now; None also when it cannot be opened (a corrupt
    file is just what a restore is for)."""
    try:
        open_database(settings.database_url, run_migrations=False, secrets=settings.key_source())
    except DatabaseConfigError as exc:
        warn(f"the database cannot be opened as it is ({exc}); restoring over it")
        return None
    try:
        return schedule_holder()
    finally:
        close_database()


def _settle_restored(args: argparse.Namespace, settings: Settings, detail: dict[str, object]) -> int:
    """What a restored database must forget: which commitments it listed (payments written to
    Procore after the backup are not in its journal, so the next push lists each commitment first
    and adopts them instead of posting them twice) and the leases of processes from back then."""
    open_database_for(args, settings)  # migrations bring a backup from an older PaySync forward
    forgotten = forget_payment_listings()
    delete_setting(PUSH_LEASE, SCHEDULE_LEASE)
    audit(acting_person("cli"), "database.restore", None, {**detail, "listings_forgotten": forgotten})
    return forgotten


def command_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Refused while a `paysync serve` or console holds the schedule lease on the database (unless
    --force). Exits 0 when restored, 2 when it could not be."""
    database = sqlite_path(settings.database_url)
    if args.after_pg_restore:
        if database is not None:
            raise CouldNotRun(
                "--after-pg-restore is for a PostgreSQL database; for SQLite run `paysync restore PATH`."
            )
        _settle_restored(args, settings, {"how": "pg_restore"})
        print(
            "PaySync will list each commitment's Payments Issued before its next create there, and adopt "
            "what was posted after the backup was taken. Start PaySync again."
        )
        return EXIT_OK
    if database is None:
        raise CouldNotRun(
            "PAYSYNC_DATABASE_URL names a PostgreSQL database: restore it with pg_restore (docs/operations.md, "
            '"Backup and restore"), then run `paysync restore --after-pg-restore`.'
        )
    if args.path is None:
        raise CouldNotRun(
            "Name the backup to restore: paysync restore PATH (a file made by `paysync backup`)."
        )
    backup = Path(args.path).expanduser()
    try:
        check_sqlite_backup(backup)
        holder = _current_holder(settings) if database.exists() else None
        if holder is not None and not args.force:
            raise CouldNotRun(
                f"{holder.describe()} runs the schedule on {database}: stop it first (Linux: sudo systemctl "
                "stop paysync; Windows: Stop-Service PaySync; or quit that console), then run this again. "
                "--force restores anyway, only when you know that process is gone."
            )
        report = restore_sqlite(backup, database)
    except BackupError as exc:
        raise CouldNotRun(str(exc)) from None
    forgotten = _settle_restored(
        args, settings, {"from": str(backup), "schema_version": report.schema_version}
    )
    print(f"Restored {database} from {backup}.")
    if report.kept_as is not None:
        print(f"The database it replaced is kept as {report.kept_as}.")
    print(
        f"Forgot which commitments had been listed ({forgotten}): the next push lists each one's Payments "
        "Issued before creating there and adopts what was posted after the backup, instead of posting it twice."
    )
    return EXIT_OK
