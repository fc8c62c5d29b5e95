"""Security and honest failure: secrets at rest, logins no stranger can use to stop the sync, a
database never silently lost, and no traceback on any command line path."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.cli import main
from storage.db import close_database, open_database
from storage.models import ErrorEvent, LoginAttempt, ProcoreToken, WebConnectorSession
from storage.secrets import KeySource, configure_secrets
from sync.procore.auth import DatabaseTokenStore, StoredToken
from sync.procore.errors import ProcoreAuthError
from sync.quickbooks.webconnector import passwords
from sync.quickbooks.webconnector.app import PRE_AUTH_MAX_BODY_BYTES, create_qbwc_app
from sync.quickbooks.webconnector.logins import MAX_FAILED_LOGINS
from sync.quickbooks.webconnector.service import WebConnectorService
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.settings import Settings

posix_only = pytest.mark.skipif(
    os.name == "nt", reason="POSIX file modes (Windows uses ACLs, docs/security.md)"
)
PASSWORD = "correct horse battery"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def own_key(tmp_path: Path) -> Iterator[Path]:
    """This test's own key file (the suite's shared one is set aside)."""
    key = tmp_path / "keys" / "secret.key"
    configure_secrets(KeySource(key_file=str(key)))
    yield key
    configure_secrets(None)


# ---------------------------------------------------------------------------------------------
# Secrets at rest


@posix_only
def test_the_data_folder_and_the_database_are_private_from_the_first_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    close_database()
    db = open_database(None)  # the default place: the user's data folder
    try:
        folder = tmp_path / "data" / "paysync"
        database = folder / "paysync.db"
        db.execute_sql("CREATE TABLE probe (x INTEGER)")  # a write, so the WAL exists too
        assert _mode(folder) == 0o700
        assert _mode(database) == 0o600
        assert _mode(folder / "paysync.db-wal") == 0o600
    finally:
        close_database()


@posix_only
def test_status_warns_when_the_files_are_readable_by_others(
    tmp_path: Path, clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "shared-folder"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    database = folder / "paysync.db"
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{database}")
    assert main(["--env-file", str(env_file), "status"]) == 1  # ran; exits 1 as Procore is not configured
    close_database()
    os.chmod(database, 0o644)
    capsys.readouterr()

    main(["--env-file", str(env_file), "status"])
    close_database()

    out = capsys.readouterr().out
    assert (
        f"Others may read PaySync's data or key: {folder} is mode 755; it should be 700 (chmod 700 '{folder}')."
        in out
    )
    assert f"{database} is mode 644; it should be 600" in out


def test_a_copied_database_alone_does_not_reveal_the_procore_sign_in(tmp_path: Path, own_key: Path) -> None:
    database = tmp_path / "paysync.db"
    close_database()
    open_database(f"sqlite:///{database}")
    token = StoredToken(
        "authorization_code",
        "ACCESS-abc123-secret",
        "REFRESH-xyz789-secret",
        datetime.now(UTC) + timedelta(hours=1),
    )
    DatabaseTokenStore().save(token)
    assert DatabaseTokenStore().load() == token  # PaySync itself reads it back
    close_database()

    raw = database.read_bytes() + (
        database.with_name("paysync.db-wal").read_bytes()
        if database.with_name("paysync.db-wal").exists()
        else b""
    )
    assert b"ACCESS-abc123" not in raw and b"REFRESH-xyz789" not in raw
    with sqlite3.connect(database) as plain:
        (access, refresh) = plain.execute("SELECT access_token, refresh_token FROM procore_token").fetchone()
    assert access.startswith("enc:v1:") and refresh.startswith("enc:v1:")
    if os.name != "nt":
        assert _mode(own_key) == 0o600

    # The database copied to another machine, with another key: the sign-in cannot be read.
    copy = tmp_path / "elsewhere" / "paysync.db"
    copy.parent.mkdir()
    shutil.copy(database, copy)
    configure_secrets(KeySource(key_file=str(tmp_path / "other.key")))
    open_database(f"sqlite:///{copy}")
    try:
        with pytest.raises(ProcoreAuthError, match="run `paysync login` again"):
            DatabaseTokenStore().load()
    finally:
        close_database()


def test_a_sign_in_stored_in_clear_by_an_earlier_paysync_is_encrypted_when_read(
    tmp_path: Path, own_key: Path
) -> None:
    database = tmp_path / "paysync.db"
    close_database()
    open_database(f"sqlite:///{database}")
    ProcoreToken._meta.database.execute_sql(
        "INSERT INTO procore_token (name, grant_type, access_token, refresh_token, expires_at, updated_at) "
        "VALUES ('default', 'authorization_code', 'OLD-ACCESS', 'OLD-REFRESH', '2030-01-01 00:00:00', "
        "'2026-01-01 00:00:00')"
    )
    try:
        assert DatabaseTokenStore().load().access_token == "OLD-ACCESS"  # type: ignore[union-attr]
        stored = ProcoreToken._meta.database.execute_sql("SELECT access_token FROM procore_token").fetchone()[
            0
        ]
        assert stored.startswith("enc:v1:")
    finally:
        close_database()


# ---------------------------------------------------------------------------------------------
# Logins: no stranger can lock the Web Connector out


@pytest.fixture
def service(tmp_path: Path) -> Iterator[WebConnectorService]:
    close_database()
    open_database(f"sqlite:///{tmp_path / 'paysync.db'}")
    settings = Settings(database_url=None, qbwc_password=PASSWORD, qbwc_file_key="main")
    built = WebConnectorService(settings, password_iterations=20_000)
    built.ensure_credential()
    queue_quickbooks_refresh("main", requested_by="test")
    yield built
    close_database()


def test_a_login_flood_from_one_address_never_locks_out_the_web_connector_at_another(
    service: WebConnectorService, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []
    real_verify = passwords.verify_password

    def counted(password: str, encoded: str) -> bool:
        hashed.append(password)
        return real_verify(password, encoded)

    monkeypatch.setattr("sync.quickbooks.webconnector.logins.verify_password", counted)

    def flood() -> None:
        for _ in range(25):
            assert service.authenticate("paysync", "guess", "203.0.113.9") == ["", "nvu"]

    attackers = [threading.Thread(target=flood) for _ in range(8)]
    for thread in attackers:
        thread.start()
    # Meanwhile the real Web Connector logs in from its own machine.
    ticket, status = service.authenticate("paysync", PASSWORD, "192.0.2.10")
    for thread in attackers:
        thread.join()

    assert ticket and status == ""  # a session, not "nvu"
    assert WebConnectorSession.get(WebConnectorSession.ticket == ticket).state == "open"
    # 200 bad logins cost at most MAX_FAILED_LOGINS password checks: the rest were refused unhashed.
    assert hashed.count("guess") <= MAX_FAILED_LOGINS
    assert LoginAttempt.select().where(LoginAttempt.remote_addr == "203.0.113.9").count() <= MAX_FAILED_LOGINS
    said = [e.message for e in ErrorEvent.select().order_by(ErrorEvent.id)]
    paused = [m for m in said if m.startswith("Web Connector logins from 203.0.113.9 are paused until ")]
    assert len(paused) == 1  # said once, with where from
    refused = [
        m for m in said if m.startswith("A Web Connector login as 'paysync' from 203.0.113.9 was refused")
    ]
    assert len(refused) == 1
    # And the Web Connector's own address still logs in after the flood.
    service.close_connection(ticket)
    assert service.authenticate("paysync", PASSWORD, "192.0.2.10")[1] in ("", "none")


def test_large_bodies_need_an_open_session_and_slow_ones_are_dropped(tmp_path: Path, running: Any) -> None:
    close_database()
    open_database(f"sqlite:///{tmp_path / 'paysync.db'}")
    settings = Settings(qbwc_password=PASSWORD, qbwc_file_key="main")
    app = create_qbwc_app(settings, password_iterations=1_000)
    big = b"<soap:Envelope>" + b"x" * (PRE_AUTH_MAX_BODY_BYTES + 10) + b"</soap:Envelope>"
    try:
        with running(app) as server:
            refused = httpx.post(
                server.url + "/qbwc", content=big, headers={"Content-Type": "text/xml", "SOAPAction": '"x"'}
            )
            assert refused.status_code == 500
            assert "names no open Web Connector session, so it was refused unread" in refused.text
    finally:
        close_database()


# ---------------------------------------------------------------------------------------------
# The database is never silently lost; no traceback on any path


def _database_with_a_payment(path: Path) -> None:
    from decimal import Decimal

    from tests.support.quickbooks_world import QB

    close_database()
    open_database(f"sqlite:///{path}")
    QB().pay([("B-1", "INV-1", Decimal("10.00").to_eng_string())])
    close_database()


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda path: path.write_bytes(b""), "is empty (0 bytes)"),
        (
            lambda path: path.write_bytes(b"\x00garbage after a crash" * 100),
            "is not a SQLite database (corrupt, or another file)",
        ),
    ],
    ids=["emptied", "corrupted"],
)
def test_an_emptied_or_corrupted_database_is_refused_with_nothing_written(
    tmp_path: Path,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    spoil: Callable[[Path], Any],
    problem: str,
) -> None:
    database = tmp_path / "paysync.db"
    _database_with_a_payment(database)
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    spoil(database)
    before = database.read_bytes()
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{database}")

    for command in (["status"], ["status", "--json"], ["sync"]):
        assert main(["--env-file", str(env_file), *command]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"paysync: The database file {database} {problem}. PaySync will not start afresh"
        )
        assert "Restore" in err and "paysync --new-database" in err and "Traceback" not in err
        assert database.read_bytes() == before  # nothing written
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("paysync.db")) == ["paysync.db"]

    # Starting afresh on purpose keeps the old file beside the new database.
    # (It runs, and exits 1 only because Procore is not configured here.)
    assert main(["--env-file", str(env_file), "--new-database", "status"]) == 1
    close_database()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("paysync.db.refused-")]
    assert len(kept) == 1 and kept[0].read_bytes() == before


def test_a_database_that_is_not_paysyncs_is_refused(
    tmp_path: Path, clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "accounts.db"
    with sqlite3.connect(database) as other:
        other.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{database}")

    assert main(["--env-file", str(env_file), "status"]) == 2

    err = capsys.readouterr().err
    assert err.startswith(
        f"paysync: {database} is not PaySync's: it has tables (customers) but no schema_version."
    )
    with sqlite3.connect(database) as other:
        assert [r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")] == [
            "customers"
        ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///{tmp}/missing-folder/paysync.db", "the folder {tmp}/missing-folder does not exist"),
        ("sqlite:///{tmp}", "which is a folder: name a file in it"),
        ("mysql://x@y/z", "is not understood"),
    ],
    ids=["missing-folder", "a-folder", "unknown-scheme"],
)
def test_a_bad_database_path_is_one_line_and_exit_2(
    tmp_path: Path,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    url: str,
    expected: str,
) -> None:
    env_file = clean_env(PAYSYNC_DATABASE_URL=url.format(tmp=tmp_path), QBWC_PASSWORD=PASSWORD)
    for command in (["status"], ["sync"], ["serve"]):
        assert main(["--env-file", str(env_file), *command]) == 2
        err = capsys.readouterr().err
        assert err.startswith("paysync: ") and expected.format(tmp=tmp_path) in err
        assert "Traceback" not in err and err.count("\n") == 1


def test_an_unexpected_error_is_one_line_and_the_details_go_to_a_file(
    tmp_path: Path,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'paysync.db'}")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("console.commands.status.collect_status", broken)
    assert main(["--env-file", str(env_file), "status"]) == 2
    close_database()
    err = capsys.readouterr().err
    assert err.startswith(
        "paysync: unexpected error (RuntimeError: a bug). Nothing more was done. The details are in "
    )
    assert "Traceback" not in err
    logged = next((tmp_path / "state").rglob("errors.log")).read_text()
    assert "Traceback" in logged and "a bug" in logged
