"""What lets the suite run on several cores (pytest-xdist, `-n 2` in .ci/run) without one test
seeing another's leftovers: tests using the PostgreSQL test database take turns with a lock of that
database's own, and each process keeps PaySync's default folders in a temporary folder of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from platformdirs import user_log_dir

from storage.db import default_database_path
from storage.secrets import default_key_file
from tests.support.database import POSTGRES_URL_ENV, postgres_lock_path, postgres_turn

ROOT = Path(__file__).resolve().parents[1]

# Run in another process: try, without waiting, the lock of each URL given; print "free" or "held".
TRY_LOCKS = """
import fcntl, sys
from tests.support.database import postgres_lock_path
for url in sys.argv[1:]:
    with open(postgres_lock_path(url), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("held")
        else:
            print("free")
"""


def test_a_worker_waits_for_the_postgres_database_in_use_but_not_for_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = "postgresql://paysync:paysync@127.0.0.1:5432/paysync_isolation_test_ours"
    theirs = "postgresql://paysync:paysync@127.0.0.1:5432/paysync_isolation_test_theirs"
    monkeypatch.setenv(POSTGRES_URL_ENV, ours)
    with postgres_turn():
        other_worker = subprocess.run(
            [sys.executable, "-c", TRY_LOCKS, ours, theirs],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert other_worker.returncode == 0, other_worker.stderr
    assert other_worker.stdout.split() == ["held", "free"]
    assert postgres_lock_path(ours) != postgres_lock_path(theirs)


def test_the_default_database_key_and_log_folders_are_this_processs_own(private_user_folders: Path) -> None:
    # A command run without PAYSYNC_DATABASE_URL (or a failure's errors.log) lands here, never in the
    # developer's own folders or another worker's.
    for path in (default_database_path(), default_key_file(), Path(user_log_dir("paysync", appauthor=False))):
        assert path.is_relative_to(private_user_folders), path
