"""`paysync backup PATH`: a consistent copy of the database (storage/backup.py does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands.common import EXIT_OK, CouldNotRun, open_database_for
from storage.backup import BackupError, take_backup
from sync.runtime.status import iso_utc
from sync.settings import Settings


def command_backup(args: argparse.Namespace, settings: Settings) -> int:
    """SQLite: the online backup API, safe while `paysync serve` writes; PostgreSQL: `pg_dump -Fc`.
    Refuses an existing PATH unless --force. Exits 0 when the backup was written (and recorded as
    the last good one), 2 when it could not be made."""
    open_database_for(args, settings)
    try:
        report = take_backup(
            settings.database_url, Path(args.path), force=args.force, pg_dump=settings.pg_dump
        )
    except BackupError as exc:
        raise CouldNotRun(str(exc)) from None
    print(report.as_text())
    print(f"Recorded as the last good backup ({iso_utc(report.taken_at)}).")
    return EXIT_OK
