"""`paysync serve`: refuses a bad configuration clearly, and serves the Web Connector over TLS."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from console.cli import main
from sandbox.quickbooks import SandboxCompanyFile
from sandbox.webconnector import WebConnectorEmulator
from storage.db import close_database, open_database
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from tests.support.serve import ServeProcess, serve_env

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "serve-test-password"


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"PAYSYNC_SCHEDULE": "weekly", "QBWC_PASSWORD": PASSWORD},
            "PAYSYNC_SCHEDULE='weekly' is not a schedule",
        ),
        (
            {"QBWC_HOST": "0.0.0.0", "QBWC_PASSWORD": PASSWORD},
            "the QuickBooks Web Connector requires HTTPS except on localhost",
        ),
        ({}, "QBWC_PASSWORD is not set"),
        ({"QBWC_PASSWORD": "short"}, "QBWC_PASSWORD is shorter than 8 characters"),
    ],
    ids=["bad-schedule", "no-tls-off-localhost", "no-password", "short-password"],
)
def test_serve_refuses_a_bad_configuration_with_exit_2(
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    env: dict[str, str],
    expected: str,
) -> None:
    db_file = tmp_path / "paysync.db"
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{db_file}", **env)

    assert main(["--env-file", str(env_file), "serve"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("paysync: ") and expected in err
    assert "Traceback" not in err
    assert not db_file.exists()  # refused before anything was written


def test_serve_listens_over_tls_and_a_web_connector_session_works(tmp_path: Path) -> None:
    cert, key = _self_signed_certificate(tmp_path)
    env = serve_env(
        PAYSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'paysync.db'}",
        QBWC_PASSWORD=PASSWORD,
        QBWC_TLS_CERT=str(cert),
        QBWC_TLS_KEY=str(key),
    )
    serve = ServeProcess(env)
    try:
        announcement = serve.announcement()
        url = serve.url()
        assert url.startswith("https://")
        assert "Schedule: hourly" in announcement
        trust = ssl.create_default_context(cafile=str(cert))

        health = httpx.get(url.replace("/qbwc", "/healthz"), verify=trust)
        assert health.json()["status"] == "ok"
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
            httpx.get(url.replace("https://", "http://").replace("/qbwc", "/healthz"), timeout=5)

        assert "Cutoff: not recorded yet" in announcement  # starting serve does not fix it

        # Entered in QuickBooks after the first session, which records the cutoff.
        company = SandboxCompanyFile(clock_start=datetime.now(UTC) + timedelta(minutes=1))
        company.add_vendor("Acme Concrete")
        emulator = WebConnectorEmulator(url, "paysync", PASSWORD, company, verify=trust)  # type: ignore[arg-type]
        assert emulator.run_session().authenticate_result[1] == "none"  # nothing queued yet
        bill = company.add_bill("Acme Concrete", "INV-1", Decimal("250.00"))
        company.pay_bills("Acme Concrete", [(bill, Decimal("250.00"))], check_number="1")

        open_database(env["PAYSYNC_DATABASE_URL"])  # another process, same SQLite file
        try:
            queue_quickbooks_refresh("main", requested_by="test")
        finally:
            close_database()
        report = emulator.run_session()
        assert report.outcome == "done"
        assert report.close_message == "PaySync: 1 payment received (1 new, 0 changed), 0 deletions"

        status = subprocess.run(
            [sys.executable, "-m", "console", "--env-file", os.devnull, "status", "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert status.returncode == 1, status.stderr  # Procore is not configured: nothing can be pushed
        facts = json.loads(status.stdout)
        assert facts["payments"]["waiting"] == 1  # new, after the cutoff: to be pushed
        assert facts["schedule"]["cutoff"] is not None and facts["schedule"]["cutoff_can_change"] is True
        assert facts["schedule"]["cutoff_source"]["by"] == "QuickBooks Web Connector (paysync)"
        assert facts["problems"] == [facts["procore"]["problem"]]

        # A second serve on the same database is refused, naming the process that runs the schedule.
        second = subprocess.run(
            [sys.executable, "-m", "console", "--env-file", os.devnull, "serve"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith(f"paysync: paysync serve (process {serve.pid} on ")
        assert "already runs the schedule on this database" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        stopped = serve.stop()
    log = serve.stderr_text()
    assert stopped == 0, log
    assert "PaySync recorded the cutoff " in log  # said in the service's log when the first session began
