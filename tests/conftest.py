"""Fixtures shared by the whole suite, built on tests/support/ (the one set of shared test setup:
database.py, procore_world.py, quickbooks_world.py, bridge.py, console.py, runtime.py).

- `db_url` / `db`: a fresh SQLite file in tmp_path, opened (and migrated) with
  tests.support.database.open_test_database (no schedule cutoff), closed afterwards.
- `world`: the base Procore world (tests.support.procore_world.base_world) served on loopback.
- `servers`: once per module, the loopback servers end-to-end tests put a fresh Procore and /qbwc
  behind (tests.support.bridge.new_bridge).
- Tests marked `postgres` share one PostgreSQL database, so they hold a lock while they run: under
  pytest-xdist (.ci/run runs `-n 2`) no two empty it under each other. The lock is per database,
  so suites on other databases of the same server do not wait for it.
- Each process (each xdist worker) keeps the user folders platformdirs names (XDG_CONFIG_HOME,
  XDG_DATA_HOME, XDG_STATE_HOME, XDG_CACHE_HOME) in its own temporary folder: a command a test runs
  without naming a database or log file never shares one with another worker, or touches the
  developer's own.
- `running`: `with running(app) as server:` serves an ASGI app on a loopback port in a thread
  (sandbox.servers.run_asgi_in_thread); `server.url` is its base URL. Servers still running at
  the end of the test are stopped.
- `clean_env`: no PAYSYNC_/PROCORE_/QBWC_ variables (except the test harness's own, see
  tests/shared_reference.py); `configure(KEY=value, ...)` sets some and returns an empty env file to
  pass as `--env-file` (a file named with --env-file must exist).

Reference files from `../shared` (tests/shared_reference.py): the header says where they are
looked for and whether their absence skips or fails. A test that fails after looking for one that
is missing ends as that skip (or failure), even when the lookup ran in another thread, such as a
server under test that turned the skip into a 500.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from sandbox.procore import create_procore_app
from sandbox.servers import RunningServer, run_asgi_in_thread
from storage.db import close_database
from tests.shared_reference import (
    HARNESS_ENV,
    REQUIRE_SHARED_ENV,
    SHARED_DIR,
    failure_message,
    missing_count,
    missing_since,
    shared_required,
    skip_or_fail,
)
from tests.support.bridge import Servers
from tests.support.database import current_database, open_test_database, postgres_turn, sqlite_url
from tests.support.procore_world import ProcoreWorld, base_world


def pytest_report_header() -> str:
    if shared_required():
        mode = f"required ({REQUIRE_SHARED_ENV}=1: a missing file fails its tests)"
    else:
        mode = f"optional (a missing file skips its tests; {REQUIRE_SHARED_ENV}=1 fails them)"
    present = "present" if SHARED_DIR.is_dir() else "absent"
    return f"shared reference files: {SHARED_DIR} ({present}), {mode}"


def _end_as_missing_shared_file(item: pytest.Item | None = None) -> Generator[None, None, None]:
    """A test phase that fails after looking for a missing reference file ends as that file's skip
    (or failure): the lookup may have run in a server thread, whose skip became, say, a 500. Tests
    marked `shared_reference_selftest` (those of the lookup itself) keep their own outcome."""
    mark = missing_count()
    try:
        yield
    except (Exception, pytest.fail.Exception) as error:
        message = "; ".join(missing_since(mark))
        already = isinstance(error, pytest.fail.Exception) and error.msg == failure_message(message)
        selftest = item is not None and item.get_closest_marker("shared_reference_selftest") is not None
        if message and not already and not selftest:
            skip_or_fail(message)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _end_as_missing_shared_file(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _end_as_missing_shared_file(item))


@pytest.fixture(scope="session", autouse=True)
def secret_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Secrets the tests store are encrypted with a key in a temporary file, never one in the
    user's configuration folder or keyring (storage/secrets.py looks at PAYSYNC_KEY_FILE)."""
    path = tmp_path_factory.mktemp("keys") / "secret.key"
    previous = os.environ.get("PAYSYNC_KEY_FILE")
    os.environ["PAYSYNC_KEY_FILE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("PAYSYNC_KEY_FILE", None)
    else:
        os.environ["PAYSYNC_KEY_FILE"] = previous


USER_FOLDER_ENV = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


@pytest.fixture(scope="session", autouse=True)
def private_user_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """platformdirs' user folders (the default database, errors.log, console settings) in this
    process's own temporary folder; a test that wants others still sets them with monkeypatch."""
    home = tmp_path_factory.mktemp("user-folders")
    previous = {key: os.environ.get(key) for key in USER_FOLDER_ENV}
    for key in USER_FOLDER_ENV:
        os.environ[key] = str(home / key.removeprefix("XDG_").removesuffix("_HOME").lower())
    yield home
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def postgres_exclusive(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked `postgres` holds a lock on the one PostgreSQL test database while it runs."""
    if request.node.get_closest_marker("postgres") is None:
        yield
        return
    with postgres_turn():
        yield


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> Iterator[Database]:
    assert open_test_database(tmp_path, cutoff=None) == db_url
    try:
        yield current_database()
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


@pytest.fixture
def world(running: RunningFactory) -> Iterator[ProcoreWorld]:
    """The base Procore world (tests/support/procore_world.py) served on loopback."""
    built = base_world()
    with running(create_procore_app(built.state)) as server:
        built.url = server.url
        try:
            yield built
        finally:
            built.state.release_delayed_responses.set()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """The Procore and /qbwc servers of a module's end-to-end tests; each test's new_bridge puts a
    fresh company behind them."""
    started = Servers.start()
    yield started
    started.stop()


CONFIG_PREFIXES = ("PAYSYNC_", "PROCORE_", "QBWC_")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Path]:
    """Removes every PaySync setting from the environment and returns `configure(**values)`, which
    sets the given keys and returns the path of an empty env file to pass as --env-file, so a
    developer's own .env never leaks into a test."""
    for key in list(os.environ):
        if key.startswith(CONFIG_PREFIXES) and key not in HARNESS_ENV:
            monkeypatch.delenv(key)

    def configure(**values: str) -> Path:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        env_file = tmp_path / "empty.env"
        env_file.touch()
        return env_file

    return configure
