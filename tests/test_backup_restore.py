"""`paysync backup PATH` and `paysync restore PATH` (storage/backup.py, docs/operations.md).

SQLite backups are taken while another connection keeps writing and must be one consistent moment;
PostgreSQL backups run the real pg_dump; a restore followed by a push against the sandbox Procore
posts nothing twice."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.cli import main
from storage.db import close_database, open_database
from storage.leases import ScheduleLease
from storage.models import PaymentLink
from storage.settings_store import LAST_BACKUP_AT, get_setting
from sync.engine.service import SyncService
from tests.support.database import POSTGRES_URL, needs_postgres, open_test_database
from tests.support.procore_world import ProcoreWorld
from tests.support.quickbooks_world import QB, origin

Configure = Callable[..., Path]


@pytest.fixture
def sqlite_setup(tmp_path: Path, clean_env: Configure) -> Iterator[tuple[str, Path]]:
    """A migrated SQLite database and the env file naming it."""
    url = open_test_database(tmp_path)
    close_database()
    yield url, clean_env(PAYSYNC_DATABASE_URL=url)
    close_database()


@pytest.fixture
def fresh_postgres(tmp_path: Path) -> Iterator[str]:
    """The test PostgreSQL database, emptied and migrated (set up before `clean_env` hides its URL)."""
    assert POSTGRES_URL is not None
    open_test_database(tmp_path, "postgres")
    close_database()
    yield POSTGRES_URL
    close_database()


def _last_backup_at(url: str) -> datetime | None:
    open_database(url)
    try:
        value = get_setting(LAST_BACKUP_AT)
    finally:
        close_database()
    return None if value is None else datetime.fromisoformat(value)


def test_backup_while_another_connection_writes_is_one_consistent_moment(
    sqlite_setup: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, env = sqlite_setup
    database = tmp_path / "paysync.db"
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:  # as `paysync serve` storing a Web Connector page: two rows per transaction
        with sqlite3.connect(database, timeout=30) as db:
            number = 0
            while not stop.is_set() or number < 50:
                with db:
                    for side in ("a", "b"):
                        db.execute(
                            "INSERT INTO setting (key, value, updated_at) VALUES (?, ?, ?)",
                            (f"pair-{side}:{number}", "x", datetime.now(UTC).isoformat()),
                        )
                written.append(number)
                number += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            stop.wait(0.01)
        copies = [tmp_path / f"copy-{n}.db" for n in range(3)]
        codes = [main(["backup", str(copy), "--env-file", str(env)]) for copy in copies]
    finally:
        stop.set()
        thread.join()

    assert codes == [0, 0, 0]
    out = capsys.readouterr().out
    for copy in copies:
        assert f"Wrote {copy} (" in out
        with sqlite3.connect(copy) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            keys = {row[0] for row in db.execute("SELECT key FROM setting WHERE key LIKE 'pair-%'")}
        halves = {(key.split(":")[0], int(key.split(":")[1])) for key in keys}
        numbers = {number for _, number in halves}
        assert numbers, "the copy was taken while rows were being written"
        assert halves == {(f"pair-{side}", n) for side in "ab" for n in numbers}  # never half a transaction
        assert numbers == set(range(max(numbers) + 1))
        if os.name != "nt":
            assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert not copy.with_name(copy.name + "-wal").exists()  # one self-contained file
    assert max(written) >= 50
    recorded = _last_backup_at(url)
    assert recorded is not None and recorded.tzinfo is not None
    assert abs((datetime.now(UTC) - recorded).total_seconds()) < 60
    assert not list(tmp_path.glob(".copy-*"))  # no temporary file left behind


def test_backup_refuses_an_existing_file_unless_forced(
    sqlite_setup: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, env = sqlite_setup
    target = tmp_path / "paysync-backup.db"
    target.write_text("precious")

    assert main(["backup", str(target), "--env-file", str(env)]) == 2
    err = capsys.readouterr().err
    assert f"paysync: {target} already exists: choose another name, or add --force to replace it." in err
    assert target.read_text() == "precious"
    assert _last_backup_at(url) is None  # nothing recorded for a backup that was not made

    assert main(["backup", str(target), "--force", "--env-file", str(env)]) == 0
    assert target.read_bytes().startswith(b"SQLite format 3\x00")


def test_backup_into_a_missing_folder_says_so(
    sqlite_setup: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = sqlite_setup
    assert main(["backup", str(tmp_path / "nope" / "b.db"), "--env-file", str(env)]) == 2
    err = capsys.readouterr().err
    assert f"The folder {tmp_path / 'nope'} does not exist" in err
    assert "Traceback" not in err


@pytest.mark.postgres
@needs_postgres
def test_postgres_backup_runs_pg_dump_with_the_password_only_in_its_environment(
    fresh_postgres: str, tmp_path: Path, clean_env: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = tmp_path / "pg_dump-call.txt"
    wrapper = tmp_path / "pg_dump"  # the real pg_dump, after writing down how it was called
    wrapper.write_text(f'#!/bin/sh\necho "$@" > {seen}\necho "$PGPASSWORD" >> {seen}\nexec pg_dump "$@"\n')
    wrapper.chmod(0o700)
    env = clean_env(PAYSYNC_DATABASE_URL=fresh_postgres, PAYSYNC_PG_DUMP=str(wrapper))
    target = tmp_path / "paysync.dump"

    assert main(["backup", str(target), "--env-file", str(env)]) == 0

    out, err = capsys.readouterr()
    assert target.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    arguments, password = seen.read_text().splitlines()
    assert password == "paysync"  # the password in PAYSYNC_DATABASE_URL, handed over as PGPASSWORD
    # Nothing but the format and the file on the command line: no URL, user, host or password.
    assert arguments.split() == ["--format=custom", "--no-password", "--file", arguments.split()[-1]]
    assert "paysync:paysync" not in out + err
    assert f"Wrote {target} (" in out and "postgresql" in out
    assert _last_backup_at(fresh_postgres) is not None


@pytest.mark.postgres
@needs_postgres
def test_postgres_backup_without_pg_dump_says_how_to_install_it(
    fresh_postgres: str,
    tmp_path: Path,
    clean_env: Configure,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = clean_env(PAYSYNC_DATABASE_URL=fresh_postgres)
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without PostgreSQL's client tools

    assert main(["backup", str(tmp_path / "paysync.dump"), "--env-file", str(env)]) == 2

    err = capsys.readouterr().err
    assert "pg_dump is not installed (or not on PATH)" in err and "postgresql-client" in err
    assert not (tmp_path / "paysync.dump").exists()
    assert _last_backup_at(fresh_postgres) is None


def test_restore_refused_while_a_service_holds_the_schedule(
    sqlite_setup: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, env = sqlite_setup
    backup = tmp_path / "b.db"
    assert main(["backup", str(backup), "--env-file", str(env)]) == 0
    close_database()
    open_database(url)
    lease = ScheduleLease("paysync serve", role="serve")
    assert lease.try_acquire()
    close_database()
    before = (tmp_path / "paysync.db").read_bytes()

    assert main(["restore", str(backup), "--env-file", str(env)]) == 2

    err = capsys.readouterr().err
    assert "paysync serve (process" in err and "runs the schedule on" in err and "--force" in err
    assert (tmp_path / "paysync.db").read_bytes() == before
    assert not (tmp_path / "paysync.db.before-restore").exists()

    assert main(["restore", str(backup), "--force", "--env-file", str(env)]) == 0
    assert (tmp_path / "paysync.db.before-restore").exists()


def test_restore_refuses_a_file_that_is_not_a_paysync_backup(
    sqlite_setup: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = sqlite_setup
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")
    assert main(["restore", str(junk), "--env-file", str(env)]) == 2
    assert f"{junk} is not a SQLite database PaySync can read" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "missing.db"), "--env-file", str(env)]) == 2
    assert "no such file. Give the path of a backup made by `paysync backup`." in capsys.readouterr().err


def test_restore_then_push_posts_nothing_twice(
    world: ProcoreWorld, tmp_path: Path, clean_env: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    url = open_test_database(tmp_path)
    env = clean_env(PAYSYNC_DATABASE_URL=url)
    service = SyncService(world.settings(url), client_factory=lambda: world.client(), actor="tester")
    service.refresh_from_procore()
    qb = QB()
    first = qb.pay([("B-100", "INV-100", "1250.00")], ref_number="5001")
    assert service.push(trigger="manual").created == 1
    backup = tmp_path / "before-second.db"
    assert main(["backup", str(backup), "--env-file", str(env)]) == 0

    # After the backup: another payment on the same commitment reaches Procore.
    second = qb.pay([("B-101", "INV-101", "300.10")], ref_number="5002")
    assert service.push(trigger="manual").created == 1
    assert len(world.payments()) == 2
    close_database()

    assert main(["restore", str(backup), "--env-file", str(env)]) == 0
    out = capsys.readouterr().out
    assert f"The database it replaced is kept as {tmp_path / 'paysync.db.before-restore'}." in out
    assert (
        PaymentLink.get_or_none(PaymentLink.origin_id == origin(second, "B-101")) is None
    )  # not in the backup

    # The Web Connector delivers the second payment again (the restored watermark is older).
    qb.pay([("B-101", "INV-101", "300.10")], ref_number="5002", txn_id=second.txn_id)
    writes_before = len(world.writes())
    summary = service.push(trigger="manual")

    assert summary.created == 0 and summary.failed == 0, summary.as_text()
    assert len(world.writes()) == writes_before  # adopted from the listing: no POST
    origins = sorted(p["origin_id"] for p in world.payments())
    assert origins == sorted([origin(first, "B-100"), origin(second, "B-101")])
    adopted = PaymentLink.get(PaymentLink.origin_id == origin(second, "B-101"))
    assert adopted.procore_payment_id is not None and adopted.erp_status == "synced"
    close_database()
