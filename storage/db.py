"""Opening the database: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from platformdirs import user_data_dir

from storage.migrations import migrate
from storage.models import database_proxy


class DatabaseConfigError(ValueError):
    pass


def default_database_url() -> str:
    folder = Path(user_data_dir("paysync", appauthor=False))
    return f"sqlite:///{folder / 'paysync.db'}"


def _sqlite(path: str) -> SqliteDatabase:
    if path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(
        path,
        pragmas={
            "journal_mode": "wal",  # readers (the console) never block the Web Connector's writes
            "foreign_keys": 1,
            "busy_timeout": 10000,
            "synchronous": "normal",
        },
        check_same_thread=False,
    )


def make_database(url: str | None) -> Database:
    """Build (but do not open) the peewee database that `url` names."""
    url = url or default_database_url()
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db, sqlite:////abs/path.db, sqlite:///:memory:
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise DatabaseConfigError(
                f"PAYSYNC_DATABASE_URL={url!r} names no file; use e.g. sqlite:////var/lib/paysync/paysync.db"
            )
        return _sqlite(path)
    if parsed.scheme in ("postgres", "postgresql"):
        if not parsed.path.strip("/"):
            raise DatabaseConfigError(
                f"PAYSYNC_DATABASE_URL={url!r} names no database; use postgresql://user:pass@host:5432/paysync"
            )
        return PostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname or "localhost",
            port=parsed.port or 5432,
        )
    raise DatabaseConfigError(
        f"PAYSYNC_DATABASE_URL={url!r} is not understood: use sqlite:///path/to/file.db or postgresql://…"
    )


def open_database(url: str | None = None, *, run_migrations: bool = True) -> Database:
    """Point every model at the database `url` names, connect, and bring its schema up to date."""
    db = make_database(url)
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    if run_migrations:
        migrate(db)
    return db


def close_database() -> None:
    db = database_proxy.obj
    if db is not None and not db.is_closed():
        db.close()
