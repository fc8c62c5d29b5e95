"""A PostgreSQL database that cannot be used is one line naming PAYSYNC_DATABASE_URL, its password
masked: a wrong password, a server that does not answer, a missing database, a missing driver.

The server ones run against the PostgreSQL server CI starts (PAYSYNC_TEST_POSTGRES_URL)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest

from console.cli import main
from storage.db import close_database, mask_database_url

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("PAYSYNC_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="PAYSYNC_TEST_POSTGRES_URL not set (bash .ci/run starts PostgreSQL and sets it)"
)


def _server() -> tuple[str, str, int, str, str]:
    assert POSTGRES_URL
    parsed = urlparse(POSTGRES_URL)
    return (
        parsed.username or "",
        parsed.hostname or "localhost",
        parsed.port or 5432,
        parsed.path.lstrip("/"),
        parsed.password or "",
    )


def _status(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], url: str, *extra: str
) -> tuple[int, str, str]:
    env_file = clean_env(PAYSYNC_DATABASE_URL=url)
    capsys.readouterr()
    try:
        status = main(["--env-file", str(env_file), "status", *extra])
    finally:
        close_database()
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_password_is_masked_in_messages() -> None:
    assert (
        mask_database_url("postgresql://paysync:s3cr%40t@db.example.com:5432/paysync")
        == "postgresql://paysync:***@db.example.com:5432/paysync"
    )
    assert mask_database_url("postgresql://db.example.com/paysync") == "postgresql://db.example.com/paysync"
    assert mask_database_url("sqlite:////var/lib/paysync.db") == "sqlite:////var/lib/paysync.db"


@needs_postgres
def test_a_wrong_password_is_one_line_with_the_password_masked(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    user, host, port, name, _ = _server()
    status, out, err = _status(
        clean_env, capsys, f"postgresql://{user}:not-the-password@{host}:{port}/{name}"
    )
    assert (status, out) == (2, "")
    assert err == (
        f"paysync: Cannot open the database PAYSYNC_DATABASE_URL names (postgresql://{user}:***@{host}:{port}/"
        f"{name}): the PostgreSQL server at {host}:{port} refused the password for user {user!r}. Correct the "
        "password in PAYSYNC_DATABASE_URL (characters such as @ : / # in it must be percent-encoded, e.g. @ as "
        "%40).\n"
    )
    assert "not-the-password" not in err


@needs_postgres
def test_a_server_that_does_not_answer_is_one_line(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    user, host, _, name, password = _server()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    status, out, err = _status(clean_env, capsys, f"postgresql://{user}:{password}@{host}:{port}/{name}")
    assert (status, out) == (2, "")
    assert err == (
        f"paysync: Cannot open the database PAYSYNC_DATABASE_URL names (postgresql://{user}:***@{host}:{port}/"
        f"{name}): no PostgreSQL server answers at {host}:{port}. Start the server, or correct the host and "
        "port in PAYSYNC_DATABASE_URL (and check that a firewall lets this machine reach it).\n"
    )


@needs_postgres
def test_a_missing_database_is_one_line_and_json_still_prints(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    user, host, port, _, password = _server()
    url = f"postgresql://{user}:{password}@{host}:{port}/paysync_no_such_db"
    message = (
        f"Cannot open the database PAYSYNC_DATABASE_URL names (postgresql://{user}:***@{host}:{port}/"
        f"paysync_no_such_db): the PostgreSQL server at {host}:{port} has no database 'paysync_no_such_db'. "
        f"Create it (e.g. createdb -O {user} paysync_no_such_db) or correct the database name in "
        "PAYSYNC_DATABASE_URL."
    )
    status, out, err = _status(clean_env, capsys, url)
    assert (status, out, err) == (2, "", f"paysync: {message}\n")

    status, out, err = _status(clean_env, capsys, url, "--json")
    assert status == 2 and err == f"paysync: {message}\n"
    facts = json.loads(out)
    assert (facts["error"], facts["exit"]) == (message, 2)
    assert f":{password}@" not in out  # masked


def test_a_missing_postgresql_driver_says_how_to_install_it(tmp_path: Path) -> None:
    """Run as a person would, in a Python where psycopg2 (and psycopg) cannot be imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PROCORE_", "QBWC_"))}
    env["PAYSYNC_DATABASE_URL"] = POSTGRES_URL or "postgresql://paysync:secret@127.0.0.1:5432/paysync"
    env["PAYSYNC_KEY_FILE"] = str(tmp_path / "secret.key")
    code = (
        "import sys; sys.modules['psycopg2'] = None; sys.modules['psycopg'] = None; "
        "from console.cli import main; raise SystemExit(main(['--env-file', sys.argv[1], 'status']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, os.devnull],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "paysync: PAYSYNC_DATABASE_URL names a PostgreSQL database, but PostgreSQL's driver (psycopg2) is not "
        'installed: install PaySync with its PostgreSQL driver: pip install "paysync[postgres]" (from a clone: '
        'pip install -e ".[postgres]").\n'
    )
