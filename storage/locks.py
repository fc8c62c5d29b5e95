"""PostgreSQL advisory locks PaySync takes, so several processes on one database share the work.

Each is transaction-level (`pg_advisory_xact_lock`): it is released when the transaction that took
it ends, by commit or rollback, or when the connection drops because its process died, so a
killed `paysync serve` never leaves one behind. SQLite needs none of them: a transaction that
writes holds its one write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from peewee import Database

# The first half of every key: an arbitrary constant that keeps PaySync's locks apart from any
# other program's on the same server.
ADVISORY_LOCK_CLASS = 72_617_913
WRITE_LOCK_KEY = 1  # storage.db.write_transaction(): one writer at a time, as SQLite has
MIGRATION_LOCK_KEY = 2  # storage.migrations.migrate(): schema changes run once


def take_advisory_xact_lock(db: Database, key: int) -> None:
    """Wait for PaySync's advisory lock `key`; it is held until the current transaction ends.
    Call inside a transaction on PostgreSQL."""
    db.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (ADVISORY_LOCK_CLASS, key))
