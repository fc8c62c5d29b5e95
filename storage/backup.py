"""Backups of PaySync's database and restoring one (docs/operations.md "Backup and restore").

SQLite: SQLite's online backup API (`sqlite3.Connection.backup`) copies the database in one step
under a read transaction, so the copy is consistent while `paysync serve` keeps writing (WAL mode:
the reader never blocks the writer). PostgreSQL: `pg_dump -Fc`, its password handed over in the
child's environment (PGPASSWORD), never on its command line. Either way the copy is written to a
temporary file beside PATH, created readable only by its owner (0600 where the OS has POSIX modes;
on Windows the folder's ACL applies), and renamed into place once complete: a failed backup never
leaves a half-written file under PATH.

Restoring a SQLite backup copies it into place atomically and keeps the replaced database as
`<name>.before-restore`. What the restored database must then forget (its records of which
commitments were listed, its leases) is done by the caller, which may import sync/.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from storage.db import mask_database_url, sqlite_path
from storage.fields import utc_now
from storage.migrations import LATEST_VERSION
from storage.models import BillPayment, PaymentLink, SchemaVersion, database_proxy
from storage.secrets import PRIVATE_FILE
from storage.settings_store import LAST_BACKUP_AT, set_setting

PG_DUMP_INSTALL_HINT = (
    "install PostgreSQL's client tools, the same major version as the server or newer "
    "(Debian/Ubuntu: sudo apt install postgresql-client; RHEL/Fedora: sudo dnf install postgresql; "
    "Windows: the PostgreSQL installer's 'Command Line Tools', then add its bin folder to PATH), "
    "or set PAYSYNC_PG_DUMP to pg_dump's full path"
)
BEFORE_RESTORE_SUFFIX = ".before-restore"


class BackupError(RuntimeError):
    """The backup or restore could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup wrote: the file, its size, and what is in it."""

    path: Path
    size: int
    kind: str  # "sqlite" or "postgresql"
    tables: int
    bill_payments: int  # QuickBooks bill payments stored
    procore_payments: int  # applications PaySync has posted to Procore (a Procore id recorded)
    taken_at: datetime

    def as_text(self) -> str:
        return (
            f"Wrote {self.path} ({self.size:,} bytes, {self.kind}): {self.tables} tables, "
            f"{self.bill_payments} QuickBooks bill payments, {self.procore_payments} payments in Procore."
        )


@dataclass(frozen=True)
class RestoreReport:
    database: Path
    kept_as: Path | None  # the database that was replaced, or None when there was none
    schema_version: int


# -- shared -------------------------------------------------------------------------------------


def _check_target(target: Path, *, force: bool) -> None:
    if target.is_dir():
        raise BackupError(f"{target} is a folder: name a file in it, e.g. {target / 'paysync-backup.db'}.")
    if not target.parent.is_dir():
        raise BackupError(
            f"The folder {target.parent} does not exist: create it, or name a file in another one."
        )
    if target.exists() and not force:
        raise BackupError(f"{target} already exists: choose another name, or add --force to replace it.")


def _private_temporary(beside: Path, label: str) -> Path:
    """An empty file next to `beside`, created 0600 (mode ignored on Windows; the folder's ACL applies)."""
    temporary = beside.with_name(f".{beside.name}.{label}-{os.getpid()}")
    with suppress(FileNotFoundError):
        temporary.unlink()
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except OSError as exc:
        raise BackupError(
            f"Cannot write in {beside.parent} ({exc.strerror or exc}): check that the account PaySync runs as "
            "may write there."
        ) from exc
    return temporary


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy the database `source` into the (empty) file `target` with the online backup API, in one
    step, so the copy is one consistent moment even while another process writes. The copy is a
    single self-contained file (rollback journal, not WAL)."""
    with closing(sqlite3.connect(source, timeout=30)) as reader, closing(sqlite3.connect(target)) as writer:
        reader.backup(writer)  # pages=-1: everything under one read transaction
        writer.execute("PRAGMA journal_mode=DELETE")
        writer.commit()


def _sqlite_facts(path: Path) -> tuple[int, int, int, int]:
    """(tables, bill payments, Procore payments, schema version) of a PaySync SQLite file;
    BackupError when it is not one or fails SQLite's own check."""
    try:
        with closing(sqlite3.connect(path)) as db:
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise BackupError(
                    f"{path} fails SQLite's integrity check ({check[0] if check else 'no answer'})."
                )
            tables = {
                str(row[0])
                for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            }
            if SchemaVersion._meta.table_name not in tables:
                raise BackupError(
                    f"{path} is a SQLite database, but not PaySync's (it has no schema_version)."
                )
            version = db.execute(f'SELECT MAX("version") FROM "{SchemaVersion._meta.table_name}"').fetchone()
            bills = _count(db, BillPayment._meta.table_name, tables)
            posted = _count(db, PaymentLink._meta.table_name, tables, "procore_payment_id IS NOT NULL")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database PaySync can read ({exc}).") from exc
    return len(tables), bills, posted, int(version[0] or 0) if version else 0


def _count(db: sqlite3.Connection, table: str, tables: set[str], where: str = "1 = 1") -> int:
    if table not in tables:
        return 0
    row = db.execute(f'SELECT COUNT(*) FROM "{table}" WHERE {where}').fetchone()
    return int(row[0]) if row else 0


# -- SQLite ---------------------------------------------------------------------------------------


def backup_sqlite(source: Path, target: Path, *, force: bool = False) -> BackupReport:
    """A consistent copy of the SQLite database `source` at `target` (refused when `target` exists,
    unless `force`)."""
    if not source.is_file():
        raise BackupError(
            f"There is no database at {source} to back up: check PAYSYNC_DATABASE_URL (or run PaySync once)."
        )
    target = target.expanduser().absolute()
    if target == source.absolute():
        raise BackupError(f"{target} is the database itself: name another file for the backup.")
    _check_target(target, force=force)
    temporary = _private_temporary(target, "partial")
    try:
        try:
            _sqlite_copy(source, temporary)
        except sqlite3.Error as exc:
            raise BackupError(f"Cannot copy {source} ({exc}). Nothing was written to {target}.") from exc
        tables, bills, posted, _ = _sqlite_facts(temporary)
        os.replace(temporary, target)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()
    return BackupReport(target, target.stat().st_size, "sqlite", tables, bills, posted, utc_now())


def check_sqlite_backup(backup: Path) -> int:
    """The schema version of a PaySync SQLite backup; BackupError when it cannot be restored here."""
    if not backup.is_file():
        raise BackupError(f"{backup}: no such file. Give the path of a backup made by `paysync backup`.")
    _, _, _, version = _sqlite_facts(backup)
    if version > LATEST_VERSION:
        raise BackupError(
            f"{backup} is at schema version {version}, newer than this PaySync knows ({LATEST_VERSION}): "
            "restore it with the PaySync version that made it, or upgrade PaySync first."
        )
    return version


def restore_sqlite(backup: Path, database: Path) -> RestoreReport:
    """Put the backup in place of `database`, atomically; the replaced database (with what its WAL
    held) is kept as `<name>.before-restore`. Every connection to `database` must be closed, and no
    other process may be using it (the caller checks the schedule lease)."""
    version = check_sqlite_backup(backup)
    database = database.expanduser().absolute()
    if not database.parent.is_dir():
        raise BackupError(
            f"The folder {database.parent} (from PAYSYNC_DATABASE_URL) does not exist: create it first."
        )
    incoming = _private_temporary(database, "restoring")
    kept: Path | None = None
    try:
        try:
            _sqlite_copy(backup, incoming)
            if database.exists():
                kept = database.with_name(database.name + BEFORE_RESTORE_SUFFIX)
                kept_temporary = _private_temporary(kept, "partial")
                try:
                    _sqlite_copy(database, kept_temporary)  # includes what is still in its WAL
                    os.replace(kept_temporary, kept)
                finally:
                    with suppress(FileNotFoundError):
                        kept_temporary.unlink()
                _checkpoint(database)
        except sqlite3.Error as exc:
            raise BackupError(
                f"Cannot restore {backup} into {database} ({exc}); nothing was replaced."
            ) from exc
        try:
            # The old -wal/-shm must not be applied to the restored file: they belong to the old one.
            for suffix in ("-wal", "-shm", "-journal"):
                with suppress(FileNotFoundError):
                    database.with_name(database.name + suffix).unlink()
            os.replace(incoming, database)
        except OSError as exc:  # Windows: a file another process still has open cannot be replaced
            raise BackupError(
                f"Cannot replace {database} ({exc.strerror or exc}): another program still has it open. Stop "
                "every PaySync (the service, consoles) and try again."
            ) from exc
    finally:
        with suppress(FileNotFoundError):
            incoming.unlink()
    return RestoreReport(database, kept, version)


def _checkpoint(database: Path) -> None:
    """Fold the WAL into the database file and empty it, so nothing of the old database is left
    only in -wal."""
    with closing(sqlite3.connect(database, timeout=30)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# -- PostgreSQL -----------------------------------------------------------------------------------


def pg_dump_program(chosen: str | None = None) -> str:
    """The pg_dump to run: `chosen` (PAYSYNC_PG_DUMP, a path or a name on PATH), else pg_dump on PATH."""
    chosen = (chosen or "").strip()
    found = chosen if chosen and Path(chosen).is_file() else shutil.which(chosen or "pg_dump")
    if not found:
        where = (
            f"PAYSYNC_PG_DUMP={chosen!r} names no program"
            if chosen
            else "pg_dump is not installed (or not on PATH)"
        )
        raise BackupError(f"{where}: {PG_DUMP_INSTALL_HINT}.")
    return found


def postgres_environment(url: str) -> dict[str, str]:
    """libpq's variables for the database `url` names: the child finds host, user and password
    there, so none of them is on its command line (where `ps` would show it)."""
    parsed = urlparse(url)
    variables = {
        "PGHOST": parsed.hostname or "localhost",
        "PGPORT": str(parsed.port or 5432),
        "PGDATABASE": unquote(parsed.path.lstrip("/")),
    }
    if parsed.username:
        variables["PGUSER"] = unquote(parsed.username)
    if parsed.password:
        variables["PGPASSWORD"] = unquote(parsed.password)
    query = parse_qs(parsed.query)
    for name, variable in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if query.get(name):
            variables[variable] = query[name][-1]
    return variables


def backup_postgres(
    url: str,
    target: Path,
    *,
    tables: int,
    bill_payments: int,
    procore_payments: int,
    force: bool = False,
    pg_dump: str | None = None,
) -> BackupReport:
    """`pg_dump -Fc` of the database `url` names into `target` (refused when it exists, unless
    `force`). The counts are the caller's, read from the open database."""
    program = pg_dump_program(pg_dump)
    target = target.expanduser().absolute()
    _check_target(target, force=force)
    temporary = _private_temporary(target, "partial")
    environment = {**os.environ, **postgres_environment(url)}
    try:
        try:
            finished = subprocess.run(
                [program, "--format=custom", "--no-password", "--file", str(temporary)],
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise BackupError(
                f"Cannot run {program} ({exc.strerror or exc}): {PG_DUMP_INSTALL_HINT}."
            ) from exc
        if finished.returncode != 0:
            said = " ".join(finished.stderr.split())[:400] or f"exit status {finished.returncode}"
            raise BackupError(
                f"pg_dump could not back up {mask_database_url(url)}: {said}. Nothing was written to {target}."
            )
        os.replace(temporary, target)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()
    return BackupReport(
        target, target.stat().st_size, "postgresql", tables, bill_payments, procore_payments, utc_now()
    )


# -- the one entry point ------------------------------------------------------------------------------


def take_backup(
    url: str | None, target: Path, *, force: bool = False, pg_dump: str | None = None
) -> BackupReport:
    """Back up the open database `url` names (None: the default SQLite file) into `target`, and
    record when in the settings store (LAST_BACKUP_AT, ISO UTC) once the copy is complete."""
    path = sqlite_path(url)
    if path is not None:
        report = backup_sqlite(path, target, force=force)
    elif url and urlparse(url).scheme in ("postgres", "postgresql"):
        db = database_proxy.obj
        if db is None:
            raise RuntimeError("the database is not open; call storage.db.open_database() first")
        report = backup_postgres(
            url,
            target,
            tables=len(db.get_tables()),
            bill_payments=BillPayment.select().count(),
            procore_payments=PaymentLink.select()
            .where(PaymentLink.procore_payment_id.is_null(False))
            .count(),
            force=force,
            pg_dump=pg_dump,
        )
    else:
        raise BackupError(f"PAYSYNC_DATABASE_URL={url!r} names no database file to back up.")
    set_setting(LAST_BACKUP_AT, report.taken_at.isoformat(), now=report.taken_at)
    return report
