"""One way to make a test database: `open_test_database(folder, kind)` opens (and migrates) a fresh
SQLite file in `folder`, or the PostgreSQL server PAYSYNC_TEST_POSTGRES_URL names, emptied first,
and records the schedule cutoff unless told not to. `database_kinds()` parametrizes a fixture over
SQLite and, when it is configured, PostgreSQL. `postgres_turn()` holds that PostgreSQL database's
lock: tests marked `postgres` take turns with it (tests/conftest.py), across pytest-xdist workers too."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from storage.db import close_database, open_database
from storage.models import ALL_MODELS, Setting, database_proxy

POSTGRES_URL_ENV = "PAYSYNC_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_URL_ENV)
CUTOFF = datetime(2026, 11, 1, tzinfo=UTC)  # the schedule cutoff a test database starts with


def sqlite_url(folder: Path, name: str = "paysync.db") -> str:
    return f"sqlite:///{folder / name}"


def open_test_database(
    folder: Path, kind: str = "sqlite", *, cutoff: datetime | None = CUTOFF, name: str = "paysync.db"
) -> str:
    """Open a fresh database and return its URL: a SQLite file `name` in `folder`, or (kind
    "postgres") the server named by PAYSYNC_TEST_POSTGRES_URL, emptied first. `cutoff`: the schedule
    cutoff recorded in it (None: none, as before PaySync's first real run)."""
    close_database()
    if kind == "postgres":
        url = os.environ[POSTGRES_URL_ENV]
        open_database(url).drop_tables(ALL_MODELS, safe=True, cascade=True)
        close_database()
    else:
        url = sqlite_url(folder, name)
    open_database(url)
    if cutoff is not None:
        Setting.delete().where(Setting.key == "schedule_cutoff").execute()
        Setting.create(key="schedule_cutoff", value=cutoff.isoformat())
    return url


needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason=f"{POSTGRES_URL_ENV} not set (bash .ci/run starts PostgreSQL and sets it)"
)


def database_kinds() -> list[Any]:
    """SQLite always; PostgreSQL when .ci/run (or you) set PAYSYNC_TEST_POSTGRES_URL."""
    return ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, needs_postgres])]


def current_database() -> Database:
    """The database the models use now (the last one opened)."""
    db = database_proxy.obj
    assert isinstance(db, Database), "no database is open"
    return db


def postgres_lock_path(url: str) -> Path:
    """One lock file per test database (a digest of its URL): the workers of one run, or two runs on
    the same database, take turns; runs on other databases of the same server do not wait."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"paysync-test-postgres-{digest}.lock"


@contextmanager
def postgres_turn() -> Iterator[None]:
    """Waits for, then holds, the lock of the database PAYSYNC_TEST_POSTGRES_URL names: every test
    that uses it empties it first, so no two may use it at once."""
    with open(postgres_lock_path(os.environ.get(POSTGRES_URL_ENV, "")), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
