"""Nothing in the product assumes POSIX where Windows differs (docs/operations.md).

Windows has no fcntl, pwd, grp, resource or termios; `os.kill(pid, 0)` there ends the process
instead of probing it; a service stop must end `paysync serve` cleanly; log files rotate by size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from peewee import Database

import storage.leases
from console.cli import main
from console.logfiles import BACKUP_COUNT, append_to_errors_log, configure_serve_logging
from storage.db import close_database, open_database
from storage.fields import utc_now
from storage.leases import ScheduleLease, schedule_holder
from storage.models import Setting
from storage.settings_store import SCHEDULE_LEASE
from tests.support.serve import ServeProcess, serve_env

ROOT = Path(__file__).resolve().parents[1]
POSIX_ONLY = ("fcntl", "pwd", "grp", "resource", "termios")

IMPORT_EVERYTHING = """
import importlib, importlib.abc, json, pkgutil, sys

BLOCKED = set(sys.argv[1].split(","))

class WindowsHasNoSuchModule(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

for name in BLOCKED:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, WindowsHasNoSuchModule())
blocked_works = []
for name in sorted(BLOCKED):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        blocked_works.append(name)
imported, failures = [], []
for package in ("storage", "sync", "console", "sandbox"):
    imported.append(package)
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        if info.name.endswith(".__main__"):
            continue  # running it is `paysync`, not an import
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except Exception as error:
            failures.append(f"{info.name}: {type(error).__name__}: {error}")
print(json.dumps({"blocked": blocked_works, "imported": imported, "failures": failures}))
"""


def test_every_product_module_imports_without_the_posix_only_modules() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, ",".join(POSIX_ONLY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["blocked"] == sorted(POSIX_ONLY)  # the simulation does hide them
    assert result["failures"] == []
    assert {"console.cli", "console.commands.backup", "storage.backup", "storage.leases"} <= set(
        result["imported"]
    )
    assert len(result["imported"]) > 100


@pytest.fixture
def lease_of_a_dead_process(db: Database) -> Iterator[int]:
    """A schedule lease, not yet expired, held by a process on this machine that has ended."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(finished.stdout)
    holder = ScheduleLease("paysync serve", role="serve")
    assert holder.try_acquire()
    row = Setting.get(Setting.key == SCHEDULE_LEASE)
    value = json.loads(row.value)
    value.update(pid=dead_pid, token="gone", expires_at=(utc_now() + timedelta(minutes=2)).isoformat())
    Setting.update(value=json.dumps(value)).where(Setting.key == SCHEDULE_LEASE).execute()
    yield dead_pid


def test_on_windows_a_lease_holder_is_never_sent_a_signal(
    lease_of_a_dead_process: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals: list[tuple[int, int]] = []

    def kill(pid: int, sig: int) -> None:  # on Windows this would be TerminateProcess
        signals.append((pid, sig))

    monkeypatch.setattr(storage.leases, "ON_WINDOWS", True)
    monkeypatch.setattr(os, "kill", kill)
    taker = ScheduleLease("paysync serve", role="serve")

    assert not taker.try_acquire()  # cannot tell that it ended: waits for the lease to expire
    assert signals == []
    holder = schedule_holder()
    assert holder is not None and holder.pid == lease_of_a_dead_process


def test_on_posix_a_lease_of_a_process_that_ended_is_taken_at_once(lease_of_a_dead_process: int) -> None:
    taker = ScheduleLease("paysync serve", role="serve")
    assert taker.try_acquire()
    holder = schedule_holder()
    assert holder is not None and holder.pid == os.getpid()


def test_errors_log_rolls_over_by_size_and_keeps_five(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("console.logfiles.MAX_BYTES", 1000)
    for number in range(40):
        path = append_to_errors_log(f"--- error {number}\n" + "x" * 300, str(tmp_path))
    assert path == tmp_path / "errors.log"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["errors.log", *(f"errors.log.{n}" for n in range(1, BACKUP_COUNT + 1))]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    assert "--- error 39" in path.read_text()


def test_an_unexpected_error_goes_to_errors_log_in_paysync_log_folder(
    tmp_path: Path,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = tmp_path / "logs"
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'paysync.db'}")
    env_file.write_text(f"PAYSYNC_LOG_FOLDER={logs}\n")  # from the .env file, not only the environment

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr("console.commands.status.collect_status", broken)
    assert main(["--env-file", str(env_file), "status"]) == 2
    close_database()
    assert f"The details are in {logs / 'errors.log'};" in capsys.readouterr().err
    assert "RuntimeError: a bug" in (logs / "errors.log").read_text()


def test_serve_logging_writes_serve_log(tmp_path: Path) -> None:
    import logging

    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        path = configure_serve_logging(str(tmp_path / "logs"))
        logging.getLogger("paysync.test").info("listening for the Web Connector")
        assert path == tmp_path / "logs" / "serve.log"
        assert "INFO paysync.test: listening for the Web Connector" in path.read_text()
    finally:
        for handler in root.handlers:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


@pytest.mark.skipif(
    not hasattr(signal, "SIGTERM") or os.name == "nt", reason="a service stop on POSIX is SIGTERM"
)
def test_a_service_stop_ends_serve_cleanly_and_frees_the_schedule(tmp_path: Path) -> None:
    """systemd stops the unit with SIGTERM (WinSW with Ctrl+C, SIGINT, which test_cli_serve covers)."""
    url = f"sqlite:///{tmp_path / 'paysync.db'}"
    serve = ServeProcess(
        serve_env(
            PAYSYNC_DATABASE_URL=url,
            PAYSYNC_LOG_FOLDER=str(tmp_path / "logs"),
            QBWC_PASSWORD="serve-test-password",
        )
    )
    try:
        assert "PaySync is listening for the QuickBooks Web Connector" in serve.announcement()
        assert serve.stop(signal.SIGTERM) == 0
    finally:
        serve.kill()
    assert "Traceback" not in serve.stderr_text()
    assert (
        "WARNING paysync.runtime: Procore is not configured" in (tmp_path / "logs" / "serve.log").read_text()
    )
    open_database(url)
    try:
        assert schedule_holder() is None  # given back: the next serve starts at once
    finally:
        close_database()
