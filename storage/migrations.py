"""Schema versions and the steps between them.

Each migration runs once, inside a transaction, and records itself in `schema_version`. Several
processes may start together on a new database (two `paysync serve` on one PostgreSQL): the pending
migrations run under a lock (PostgreSQL: an advisory lock; SQLite: its write lock), and the version
is read again once the lock is held, so the first process migrates and the others find it done.
A database created by any earlier PaySync is brought forward step by step; a database from a
newer PaySync is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator
from playhouse.migrate import migrate as run_operations

from storage.locks import MIGRATION_LOCK_KEY, take_advisory_xact_lock
from storage.models import (
    MAPPING_MODELS,
    PROCORE_SIDE_MODELS,
    QUICKBOOKS_SIDE_MODELS,
    REAL_WORLD_MODELS,
    SCHEMA_3_COLUMNS,
    SCHEMA_4_COLUMNS,
    SCHEMA_6_COLUMNS,
    BaseModel,
    SchemaVersion,
)


class SchemaTooNewError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Database], None]


def _create_quickbooks_side(db: Database) -> None:
    db.create_tables(QUICKBOOKS_SIDE_MODELS, safe=True)


def _create_procore_side(db: Database) -> None:
    db.create_tables(PROCORE_SIDE_MODELS, safe=True)


def _migrator(db: Database) -> SchemaMigrator:
    return PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)


def _add_missing_columns(db: Database, columns: tuple[tuple[type[BaseModel], tuple[str, ...]], ...]) -> None:
    """Add the columns a table lacks. Tables created by earlier versions of *this* code already have
    them (they are created from today's models): an older database gains them, a fresh one is left
    alone."""
    migrator = _migrator(db)
    operations = []
    for model, names in columns:
        table = model._meta.table_name
        present = {column.name for column in db.get_columns(table)}
        for name in names:
            field = model._meta.fields[name]
            if field.column_name not in present:
                operations.append(migrator.add_column(table, field.column_name, field))
    if operations:
        run_operations(*operations)


def _add_real_world_columns(db: Database) -> None:
    """Schema 3: currencies, held records, vendor and currency lists."""
    _add_missing_columns(db, SCHEMA_3_COLUMNS)
    db.create_tables(REAL_WORLD_MODELS, safe=True)


def _add_sync_run_actor(db: Database) -> None:
    """Schema 4: who ran each sync (SyncRun.actor); older runs keep it empty."""
    _add_missing_columns(db, SCHEMA_4_COLUMNS)


def _create_bill_mappings(db: Database) -> None:
    """Schema 5: the bill-to-invoice mappings a person confirmed (BillMapping); nothing else changes."""
    db.create_tables(MAPPING_MODELS, safe=True)


def _add_company_file_columns(db: Database) -> None:
    """Schema 6: several company files (name, registration, removal, Procore projects, schedule,
    Procore company) and the Procore company of each imported project and vendor (None: the
    PROCORE_COMPANY_ID one). The file configured in .env stays unregistered, so it keeps the
    single-company settings."""
    _add_missing_columns(db, SCHEMA_6_COLUMNS)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "QuickBooks side: company files, Web Connector, payments, audit", _create_quickbooks_side),
    Migration(
        2, "Procore side: projects, commitments, invoices, payment links, write journal", _create_procore_side
    ),
    Migration(
        3,
        "Real-world data: currencies, vendor and currency lists, records held aside, Procore refusals",
        _add_real_world_columns,
    ),
    Migration(4, "Who ran each sync: SyncRun.actor", _add_sync_run_actor),
    Migration(5, "Confirmed bill-to-invoice mappings: BillMapping", _create_bill_mappings),
    Migration(
        6,
        "Several company files: name, Procore company and projects, schedule, removal",
        _add_company_file_columns,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(db: Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).first()
    return int(row.version) if row is not None else 0


def migrate(db: Database, target: int = LATEST_VERSION) -> list[int]:
    """Apply the pending migrations up to `target`; return the versions applied (none when another
    process applied them meanwhile)."""
    if not _pending(current_version(db), target):
        return []  # the usual start: nothing to do, and no lock taken
    # PostgreSQL changes its schema inside a transaction, so the whole upgrade is one transaction
    # under the lock (a process that waited sees it all or nothing); SQLite's write lock is taken
    # at BEGIN.
    outer = db.atomic("IMMEDIATE") if isinstance(db, SqliteDatabase) else db.atomic()
    with outer:
        if isinstance(db, PostgresqlDatabase):
            take_advisory_xact_lock(db, MIGRATION_LOCK_KEY)
        version = current_version(db)  # again, under the lock
        applied: list[int] = []
        for migration in MIGRATIONS:
            if migration.version <= version or migration.version > target:
                continue
            with db.atomic():
                if migration.version == 1:
                    db.create_tables([SchemaVersion], safe=True)
                migration.apply(db)
                SchemaVersion.create(version=migration.version, description=migration.description)
            applied.append(migration.version)
        return applied


def _pending(version: int, target: int) -> bool:
    """Whether migrations up to `target` remain; a database newer than this PaySync is refused."""
    if version > LATEST_VERSION:
        raise SchemaTooNewError(
            f"The database is at schema version {version}, newer than this PaySync knows "
            f"({LATEST_VERSION}). Upgrade PaySync, or point PAYSYNC_DATABASE_URL at another database."
        )
    return version < target
