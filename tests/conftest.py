"""Fixtures shared by the whole suite.

- `db_url` / `db`: a fresh SQLite file in tmp_path, opened (and migrated) with
  storage.db.open_database, closed afterwards.
- `running`: `with running(app) as server:` serves an ASGI app on a loopback port in a thread
  (sandbox.servers.run_asgi_in_thread); `server.url` is its base URL. Servers still running at
  the end of the test are stopped.
- `clean_env`: no PAYSYNC_/PROCORE_/QBWC_ variables; `configure(KEY=value, ...)` sets some and
  returns a missing file to pass as `--env-file`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from sandbox.servers import RunningServer, run_asgi_in_thread
from storage.db import close_database, open_database


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'paysync.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    try:
        yield database
    finally:
        close_database()


RunningFactory = Callable[..., AbstractContextManager[RunningServer]]


@pytest.fixture
def running() -> Iterator[RunningFactory]:
    started: list[RunningServer] = []

    @contextmanager
    def serve(app: Any, **options: Any) -> Iterator[RunningServer]:
        server = run_asgi_in_thread(app, **options)
        started.append(server)
        try:
            yield server
        finally:
            server.stop()

    yield serve
    for server in started:
        server.stop()


CONFIG_PREFIXES = ("PAYSYNC_", "PROCORE_", "QBWC_")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Path]:
    """Removes every PaySync setting from the environment and returns `configure(**values)`, which
    sets the given keys and returns the path of a (missing) env file to pass as --env-file, so a
    developer's own .env never leaks into a test."""
    for key in list(os.environ):
        if key.startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(key)

    def configure(**values: str) -> Path:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        return tmp_path / "no-such.env"

    return configure
