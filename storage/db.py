"""Opening the database: SQLite by default, PostgreSQL by URL; and `write_transaction()`, the
transaction every writer that reads first takes.

Nothing stored is ever silently lost: a SQLite file that is empty, corrupt or not PaySync's is
refused with a message naming the file and the way out (restore a backup, or start fresh on
purpose with `paysync --new-database …`), never quietly started afresh. A new SQLite file is created
readable only by its owner (0600; SQLite gives its -wal and -shm files the same mode), in a data
folder created 0700 (DESIGN rule 12).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from peewee import (
    BaseQuery,
    Database,
    DatabaseError,
    ImproperlyConfigured,
    OperationalError,
    PostgresqlDatabase,
    Select,
    SqliteDatabase,
)
from platformdirs import user_data_dir

from storage.locks import WRITE_LOCK_KEY, take_advisory_xact_lock
from storage.migrations import migrate
from storage.models import SchemaVersion, database_proxy
from storage.secrets import PRIVATE_FILE, KeySource, configure_secrets, make_private_folder

_SQLITE_HEADER = b"SQLite format 3\x00"
POSTGRES_CONNECT_TIMEOUT = 10  # seconds: a server that does not answer fails the command in seconds
POSTGRES_INSTALL_HINT = (
    'install PaySync with its PostgreSQL driver: pip install "paysync[postgres]" '
    '(from a clone: pip install -e ".[postgres]")'
)


class DatabaseConfigError(ValueError):
    pass


class DatabaseRefusedError(DatabaseConfigError):
    """The database is there but PaySync will not use it as it is; the message says why and how out."""


def mask_database_url(url: str) -> str:
    """The URL with its password replaced by *** (postgresql://paysync:***@host:5432/db), for messages."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    user = parsed.username or ""
    host = parsed.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port else ""
    return parsed._replace(netloc=f"{user}:***@{host}{port}").geturl()


def describe_postgres_failure(url: str, error: BaseException) -> str:
    """One line for a PostgreSQL connection that failed: what went wrong, naming PAYSYNC_DATABASE_URL
    (password masked) and what to do."""
    parsed = urlparse(url)
    shown = mask_database_url(url)
    host = parsed.hostname or "localhost"
    port = parsed.port or 5432
    user = unquote(parsed.username) if parsed.username else "(none)"
    name = parsed.path.lstrip("/")
    text = " ".join(str(error).split())
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        what = (
            f"the PostgreSQL server at {host}:{port} refused the password for user {user!r}. "
            "Correct the password in PAYSYNC_DATABASE_URL (characters such as @ : / # in it must be "
            "percent-encoded, e.g. @ as %40)"
        )
    elif "database" in lowered and "does not exist" in lowered:
        what = (
            f"the PostgreSQL server at {host}:{port} has no database {name!r}. Create it "
            f"(e.g. createdb -O {user} {name}) or correct the database name in PAYSYNC_DATABASE_URL"
        )
    elif "role" in lowered and "does not exist" in lowered:
        what = (
            f"the PostgreSQL server at {host}:{port} has no user {user!r}. Create the role or correct "
            "the user name in PAYSYNC_DATABASE_URL"
        )
    elif "could not translate host name" in lowered or "name or service not known" in lowered:
        what = f"the host name {host!r} does not resolve. Correct the host in PAYSYNC_DATABASE_URL"
    elif any(
        sign in lowered
        for sign in ("connection refused", "could not connect", "timeout expired", "no route to host")
    ):
        what = (
            f"no PostgreSQL server answers at {host}:{port}. Start the server, or correct the host and "
            "port in PAYSYNC_DATABASE_URL (and check that a firewall lets this machine reach it)"
        )
    else:
        what = f"the PostgreSQL server said: {text[:300]}"
    return f"Cannot open the database PAYSYNC_DATABASE_URL names ({shown}): {what}."


def default_database_path() -> Path:
    return Path(user_data_dir("paysync", appauthor=False)) / "paysync.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


def sqlite_path(url: str | None) -> Path | None:
    """The file a sqlite URL names (None for PostgreSQL or :memory:)."""
    url = url or default_database_url()
    if not url.startswith("sqlite:///"):
        return None
    path = unquote(url[len("sqlite:///") :])
    return None if path in ("", ":memory:") else Path(path).expanduser()


def _way_out(path: Path) -> str:
    return (
        f"Restore {path} from a backup; or, to start a new empty database on purpose (the journal of "
        "Procore writes, the cutoff and the audit log start again), run the command once with "
        f"`paysync --new-database …`, which keeps the old file beside it as {path.name}.refused-<time>."
    )


def _set_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.refused-{stamp}")
    path.rename(aside)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(aside.with_name(aside.name + suffix))
    return aside


def _prepare_sqlite_file(path: Path, *, default_location: bool, new_database: bool) -> None:
    """Refuse a file PaySync must not start afresh on; create a new one privately."""
    folder = path.parent
    if default_location:
        make_private_folder(folder)
    elif not folder.is_dir():
        raise DatabaseConfigError(
            f"PAYSYNC_DATABASE_URL names {path}, but the folder {folder} does not exist. Create the folder "
            "(readable only by the account PaySync runs as), or point PAYSYNC_DATABASE_URL at an existing one."
        )
    if path.is_dir():
        raise DatabaseConfigError(f"PAYSYNC_DATABASE_URL names {path}, which is a folder: name a file in it.")
    if path.exists():
        try:
            with path.open("rb") as handle:
                header = handle.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise DatabaseConfigError(
                f"Cannot read the database file {path} ({exc.strerror or exc}): it must be readable and "
                "writable by the account PaySync runs as."
            ) from exc
        if header == _SQLITE_HEADER:
            return
        problem = (
            "is empty (0 bytes)" if not header else "is not a SQLite database (corrupt, or another file)"
        )
        if not new_database:
            raise DatabaseRefusedError(
                f"The database file {path} {problem}. PaySync will not start afresh on it, which would lose "
                f"the journal of Procore writes, the cutoff and the audit log. {_way_out(path)}"
            )
        _set_aside(path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        os.close(descriptor)
    except FileExistsError:
        pass
    except OSError as exc:
        raise DatabaseConfigError(
            f"Cannot create the database file {path} ({exc.strerror or exc}): check that the account "
            "PaySync runs as may write to the folder."
        ) from exc


def _check_is_paysync(db: Database, path: Path | None, *, new_database: bool) -> None:
    """A database with tables but no schema_version is someone else's: never write into it."""
    tables = db.get_tables()
    if not tables or SchemaVersion._meta.table_name in tables:
        return
    shown = ", ".join(sorted(tables)[:5]) + (" …" if len(tables) > 5 else "")
    if path is not None and new_database:
        db.close()
        _set_aside(path)
        _prepare_sqlite_file(path, default_location=False, new_database=False)
        db.connect()
        return
    where = str(path) if path is not None else "The database PAYSYNC_DATABASE_URL names"
    raise DatabaseRefusedError(
        f"{where} is not PaySync's: it has tables ({shown}) but no schema_version. PaySync writes nothing "
        "into another program's database. Point PAYSYNC_DATABASE_URL at PaySync's own database"
        + (f". {_way_out(path)}" if path is not None else ", or at a new, empty one.")
    )


# Every SQLite connection's settings.
SQLITE_PRAGMAS: dict[str, str | int] = {
    "journal_mode": "wal",  # readers (the console) never block the Web Connector's writes
    "foreign_keys": 1,
    "busy_timeout": 10000,
    # Commits are not flushed to disk one by one; the WAL is, at each checkpoint. A crash of PaySync
    # loses nothing; a power cut (or an OS crash) can lose the last transactions, whole, never half of
    # one. For QuickBooks pages that is safe: a page is committed with its work item and watermark in
    # one transaction, so the next session reads the lost range again (DESIGN rule 2).
    "synchronous": "normal",
    # Checkpoint (copy the WAL into the database, two fsyncs) every 10,000 pages of WAL (40 MB at
    # most) rather than SQLite's 1,000: a Web Connector page of one payment writes about 13, and the
    # SQL of such a page, its checkpoints paid, fell from 280-400 us to 210-225 us (bench_ingest.py).
    "wal_autocheckpoint": 10000,
}


@contextmanager
def durable_commits() -> Iterator[None]:
    """While Procore is being written to: every commit of this thread's SQLite connection reaches
    the disk before it returns (synchronous=FULL), so an intent committed before a POST survives a
    power cut that follows the POST (DESIGN rule 4); `synchronous=normal` above is right for
    QuickBooks pages only. The fsync per commit costs little beside a Procore request. PostgreSQL
    commits are durable as they are."""
    database = database_proxy.obj
    if not isinstance(database, SqliteDatabase) or database.in_transaction():
        yield
        return
    database.execute_sql("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        if not database.is_closed() and not database.in_transaction():
            database.execute_sql(f"PRAGMA synchronous={SQLITE_PRAGMAS['synchronous']}")


def _sqlite(path: str) -> SqliteDatabase:
    return SqliteDatabase(path, pragmas=dict(SQLITE_PRAGMAS), check_same_thread=False)


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
                f"PAYSYNC_DATABASE_URL={mask_database_url(url)!r} names no database; use "
                "postgresql://user:pass@host:5432/paysync"
            )
        try:
            port = parsed.port or 5432
        except ValueError:
            raise DatabaseConfigError(
                f"PAYSYNC_DATABASE_URL={mask_database_url(url)!r} has a port that is not a number; use "
                "postgresql://user:pass@host:5432/paysync"
            ) from None
        return PostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname or "localhost",
            port=port,
            connect_timeout=POSTGRES_CONNECT_TIMEOUT,
        )
    raise DatabaseConfigError(
        f"PAYSYNC_DATABASE_URL={mask_database_url(url)!r} is not understood: use sqlite:///path/to/file.db "
        "or postgresql://…"
    )


def open_database(
    url: str | None = None,
    *,
    run_migrations: bool = True,
    new_database: bool = False,
    secrets: KeySource | None = None,
) -> Database:
    """Point every model at the database `url` names, connect, and bring its schema up to date.

    Raises DatabaseRefusedError for a SQLite file that is empty, corrupt or not PaySync's (unless
    `new_database`, which sets such a file aside and starts a new one), DatabaseConfigError for a
    path that cannot work. `secrets` says where the key for stored secrets is (storage/secrets.py)."""
    if secrets is not None:
        configure_secrets(secrets)
    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite_file(path, default_location=url is None, new_database=new_database)
    db = make_database(url)
    database_proxy.initialize(db)
    where = str(path) if path is not None else "the PostgreSQL database PAYSYNC_DATABASE_URL names"
    try:
        db.connect(reuse_if_open=True)
        if path is not None or run_migrations:
            _check_is_paysync(db, path, new_database=new_database)
        if run_migrations:
            migrate(db)
    except DatabaseConfigError:
        db.close()
        raise
    except ImproperlyConfigured as exc:
        # peewee says "psycopg2 postgres driver not found." when the driver is not installed.
        db.close()
        if path is None:
            raise DatabaseConfigError(
                "PAYSYNC_DATABASE_URL names a PostgreSQL database, but PostgreSQL's driver (psycopg2) is "
                f"not installed: {POSTGRES_INSTALL_HINT}."
            ) from exc
        raise DatabaseConfigError(f"Cannot use {where}: {exc}") from exc
    except (OperationalError, DatabaseError) as exc:
        db.close()
        if path is not None:
            raise DatabaseRefusedError(
                f"The database file {path} cannot be used ({exc}). {_way_out(path)}"
            ) from exc
        raise DatabaseConfigError(describe_postgres_failure(url or "", exc)) from exc
    return db


def close_database() -> None:
    db = database_proxy.obj
    if db is not None and not db.is_closed():
        db.close()


def is_postgres(db: Database | None = None) -> bool:
    """Whether `db` (default: the database the models use) is PostgreSQL."""
    return isinstance(db if db is not None else database_proxy.obj, PostgresqlDatabase)


@contextmanager
def write_transaction() -> Iterator[Any]:
    """A transaction that reads and then writes, one at a time per database, in every process.

    SQLite: BEGIN IMMEDIATE takes the database's write lock at BEGIN (a deferred transaction that
    reads and then writes fails at once with "database is locked" when another connection wrote in
    between; IMMEDIATE waits, busy_timeout). PostgreSQL: it takes a transaction-level advisory lock
    first, so "read, decide, write" (is another Web Connector session open? is this query already
    queued? is there a cutoff yet?) is decided by one process at a time there too, by the same
    code; the lock is released at commit or rollback, or when a killed process's connection drops.
    Nested, it is a savepoint.
    """
    db = database_proxy.obj
    if db is None:
        raise RuntimeError("the database is not open; call storage.db.open_database() first")
    if isinstance(db, SqliteDatabase):
        with db.atomic("IMMEDIATE") as transaction:
            yield transaction
        return
    with db.atomic() as transaction:
        if isinstance(db, PostgresqlDatabase):
            # Taken again when nested (it is re-entrant, a no-op then), so a write_transaction
            # inside some other transaction is kept apart from other writers as well.
            take_advisory_xact_lock(db, WRITE_LOCK_KEY)
        yield transaction


_Q = TypeVar("_Q", bound=Select)


def skip_locked(query: _Q) -> _Q:
    """`query` with FOR UPDATE SKIP LOCKED on PostgreSQL: the rows it returns are this transaction's
    until it ends, and rows another transaction holds are passed over rather than waited for (a
    work queue's claim). SQLite has no row locks (its write lock already keeps writers apart), so
    there the query is unchanged."""
    if is_postgres():
        locked: _Q = query.for_update(skip_locked=True)
        return locked
    return query


def tuple_rows(query: BaseQuery) -> Iterator[tuple[Any, ...]]:
    """The rows of `query.tuples()`: each a tuple of the selected columns' values.

    peewee's type stubs give `.tuples()` the query's own type, so the rows of a model's query
    would read as model instances; this names them for what they are.
    """
    rows: Iterator[tuple[Any, ...]] = iter(query.tuples())
    return rows


_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int = 500) -> Iterator[list[_T]]:
    """`items` in slices small enough for one IN list or one multi-row statement (SQLite allows
    32,766 bound values in a statement)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
