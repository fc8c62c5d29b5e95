"""`paysync status [--json]`: the health facts scripts and people rely on (DESIGN "Interfaces")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from storage.db import close_database, open_database
from storage.models import (
    BillPayment,
    BillPaymentApplication,
    CompanyFile,
    ErrorEvent,
    PaymentLink,
    QuickBooksWork,
    SyncRun,
)
from storage.queries import payment_status_counts
from sync.runtime.scheduler import record_schedule_configured

CUTOFF = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
PROCORE = {"PROCORE_CLIENT_ID": "app-id", "PROCORE_CLIENT_SECRET": "app-secret", "PROCORE_COMPANY_ID": "42"}
NOT_CONFIGURED = (
    "Procore is not configured, so nothing is pushed to Procore: PROCORE_CLIENT_ID, PROCORE_CLIENT_SECRET, "
    "PROCORE_COMPANY_ID are not set: add them to .env (see .env.example) with the values of your Procore app "
    "(Developer Portal → your app → OAuth credentials) and company id."
)


def _payment(company: CompanyFile, txn_id: str, bills: int, **fields: Any) -> list[Any]:
    payment = BillPayment.create(
        company_file=company,
        txn_id=txn_id,
        kind="check",
        edit_sequence="1",
        time_created="2026-11-24T08:00:00-05:00",
        time_modified="2026-11-24T08:00:00-05:00",
        txn_date=date(2026, 11, 24),
        amount=Decimal("10.00") * bills,
        **fields,
    )
    return [
        BillPaymentApplication.create(payment=payment, bill_txn_id=f"{txn_id}-B{n}", amount=Decimal("10.00"))
        for n in range(bills)
    ]


def _seed(db_url: str) -> None:
    open_database(db_url)
    try:
        record_schedule_configured("hourly", CUTOFF)
        company = CompanyFile.create(
            file_key="main",
            country="US",
            company_name="Summit Builders LLC",
            last_contact_at=datetime(2026, 11, 25, 17, 0, tzinfo=UTC),
        )
        synced = _payment(company, "P-1", 3)
        for number, application in enumerate(synced):
            PaymentLink.create(
                application=application,
                origin_id=f"qbd:main:P-1:{number}",
                erp_status="synced" if number < 2 else "needs_attention",
            )
        _payment(company, "P-2", 2)  # not linked yet: waiting
        _payment(company, "P-3", 1, pre_existing=True)
        _payment(company, "P-4", 1, deleted_at=datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
        QuickBooksWork.create(file_key="main", kind="payments_check")
        QuickBooksWork.create(file_key="main", kind="deleted", status="in_progress")
        QuickBooksWork.create(file_key="main", kind="host", status="done")
        SyncRun.create(
            trigger="schedule",
            started_at=datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
            finished_at=datetime(2026, 11, 25, 16, 1, tzinfo=UTC),
            status="ok",
            created=5,
            updated=1,
        )
        for minute in range(25):
            ErrorEvent.create(
                at=datetime(2026, 11, 25, 12, minute, tzinfo=UTC),
                where="procore",
                message=f"problem {minute}",
            )
    finally:
        close_database()


def test_status_json_has_the_documented_keys_and_counts(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    _seed(db_url)
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, PAYSYNC_SCHEDULE="every-2-hours", **PROCORE)

    assert main(["--env-file", str(env_file), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)

    keys = {
        "web_connector",
        "payments",
        "schedule",
        "last_sync",
        "last_failure",
        "errors",
        "queue",
        "problems",
    }
    assert keys <= set(status)
    assert status["problems"] == [] and status["last_failure"] is None
    assert status["procore"]["configured"] is True and status["procore"]["problem"] is None
    assert status["web_connector"]["last_contact"] == "2026-11-25T17:00:00Z"
    assert status["web_connector"]["company_files"] == [
        {
            "file_key": "main",
            "company_name": "Summit Builders LLC",
            "country": "US",
            "product_name": None,
            "last_contact": "2026-11-25T17:00:00Z",
            "last_error": None,
            "last_error_at": None,
            # Each company file's own figures (several company files): the one in .env here.
            "name": "Summit Builders LLC",
            "default": True,
            "active": True,
            "username": "paysync",
            "procore_company_id": 42,
            "procore_project_ids": [],
            "schedule": status["schedule"]["expression"],
            "next_run": status["schedule"]["next_run"],
            "cutoff": status["schedule"]["cutoff"],
            "payments": status["payments"],
            "queue": status["queue"],
        }
    ]
    assert status["payments"] == {
        "synced": 2,
        "waiting": 2,
        "needs_attention": 1,
        "failed": 0,
        "deleted_in_quickbooks": 1,
        "not_synced": 1,
    }
    assert status["schedule"]["expression"] == "every-2-hours"
    assert status["schedule"]["cutoff"] == "2026-11-20T09:30:00Z"
    next_run = datetime.fromisoformat(status["schedule"]["next_run"].replace("Z", "+00:00"))
    assert next_run.minute == 0 and next_run.hour % 2 == 0 and next_run > datetime.now(UTC)
    assert status["schedule"]["cutoff_can_change"] is True  # nothing is in Procore yet
    assert status["last_sync"]["started_at"] == "2026-11-25T16:00:00Z"
    assert (status["last_sync"]["status"], status["last_sync"]["message"]) == ("ok", None)
    assert (
        status["last_sync"]["created"],
        status["last_sync"]["updated"],
        status["last_sync"]["errors"],
    ) == (5, 1, 0)
    assert len(status["errors"]) == 20
    assert status["errors"][0] == {"at": "2026-11-25T12:24:00Z", "where": "procore", "message": "problem 24"}
    assert status["queue"] == {"queued": 1, "in_progress": 1}


def test_status_on_an_empty_database_and_the_text_form(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, QBWC_FILE_KEY="east", **PROCORE)

    assert main(["--env-file", str(env_file), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["web_connector"]["last_contact"] is None
    assert status["web_connector"]["company_files"][0]["file_key"] == "east"
    assert status["last_sync"] is None
    assert status["errors"] == []
    assert set(status["payments"].values()) == {0}
    assert status["schedule"]["cutoff"] is None

    assert main(["--env-file", str(env_file), "status"]) == 0
    text = capsys.readouterr().out
    assert "last contact: never" in text
    assert "Deleted in QuickBooks" in text
    assert "Last sync      none yet" in text
    assert "Problems" not in text
    assert (
        "  cutoff:   not recorded yet: PaySync records it when it first runs for real (`paysync cutoff` "
        "explains; it can be set beforehand)\n"
    ) in text


def test_status_text_shows_errors_and_an_invalid_schedule(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    _seed(db_url)
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, PAYSYNC_SCHEDULE="weekly", **PROCORE)

    assert main(["--env-file", str(env_file), "status"]) == 1  # an invalid schedule stops PaySync
    text = capsys.readouterr().out
    invalid = (
        "PAYSYNC_SCHEDULE='weekly' is not a schedule PaySync understands (it has 1 fields). Use one of "
        "hourly, every-2-hours, every-4-hours, daily, never, or a 5-field cron expression in UTC such as "
        "'*/30 * * * *' (minute hour day-of-month month day-of-week)."
    )
    assert text.startswith(
        f"Problems (1: PaySync cannot sync until they are fixed)\n  The schedule is invalid: {invalid}\n\n"
    )
    assert f"problem: {invalid}" in text
    assert "  cutoff:   2026-11-20T09:30:00Z — can still change (`paysync cutoff`)\n" in text
    assert "[procore] problem 24" in text
    assert "Synced                       2" in text
    assert "company file main — Summit Builders LLC (US)" in text


def test_payment_status_counts_are_per_application(db: Any) -> None:
    company = CompanyFile.create(file_key="main")
    _payment(company, "P-1", 4)
    assert payment_status_counts()["waiting"] == 4


def test_a_bad_database_url_is_a_config_error(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env(PAYSYNC_DATABASE_URL="mysql://nope")
    assert main(["--env-file", str(env_file), "status"]) == 2
    assert capsys.readouterr().err.startswith(
        "paysync: PAYSYNC_DATABASE_URL='mysql://nope' is not understood"
    )


def test_status_says_procore_is_not_configured_and_exits_1(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    _seed(db_url)
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url)

    assert main(["--env-file", str(env_file), "status", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["problems"] == [NOT_CONFIGURED]
    assert status["procore"]["configured"] is False and status["procore"]["problem"] == NOT_CONFIGURED

    assert main(["--env-file", str(env_file), "status"]) == 1
    text = capsys.readouterr().out
    assert text.startswith(f"Problems (1: PaySync cannot sync until they are fixed)\n  {NOT_CONFIGURED}\n\n")
    assert "Procore        https://api.procore.com (not configured)\n" in text


def test_status_shows_the_last_failure_next_to_a_later_run(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    _seed(db_url)
    open_database(db_url)
    try:
        SyncRun.create(
            trigger="web_connector",
            actor="paysync serve",
            started_at=datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
            finished_at=datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
            status="failed",
            message="Procore could not list projects: 503 Service Unavailable.",
        )
    finally:
        close_database()
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, **PROCORE)

    assert main(["--env-file", str(env_file), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last_sync"]["status"] == "ok"  # the newest run, 16:00
    assert status["last_failure"] == {
        "trigger": "web_connector",
        "actor": "paysync serve",
        "status": "failed",
        "started_at": "2026-11-25T15:00:00Z",
        "finished_at": "2026-11-25T15:00:00Z",
        "created": 0,
        "updated": 0,
        "voided": 0,
        "flagged": 0,
        "skipped": 0,
        "errors": 0,
        "message": "Procore could not list projects: 503 Service Unavailable.",
    }
    assert main(["--env-file", str(env_file), "status"]) == 0
    assert (
        "Last failure   2026-11-25T15:00:00Z (the push after a Web Connector session by paysync serve): "
        "Procore could not list projects: 503 Service Unavailable.\n"
    ) in capsys.readouterr().out


def test_status_json_is_json_even_when_it_cannot_run(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-folder" / "paysync.db"
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{missing}", PAYSYNC_SCHEDULE="weekly")

    assert main(["--env-file", str(env_file), "status", "--json"]) == 2
    captured = capsys.readouterr()
    error = (
        f"PAYSYNC_DATABASE_URL names {missing}, but the folder {missing.parent} does not exist. Create the "
        "folder (readable only by the account PaySync runs as), or point PAYSYNC_DATABASE_URL at an existing one."
    )
    status = json.loads(captured.out)
    assert (status["error"], status["exit"]) == (error, 2)
    assert status["schedule"]["error"].startswith("PAYSYNC_SCHEDULE='weekly' is not a schedule")
    assert status["procore"]["configured"] is False  # whatever it could collect without the database
    assert captured.err == f"paysync: {error}\n"

    # A configuration it cannot even read: the error and the exit status, still as JSON.
    env_file = clean_env(QBWC_PORT="eighty")
    assert main(["--env-file", str(env_file), "status", "--json"]) == 2
    captured = capsys.readouterr()
    error = "QBWC_PORT='eighty' is not a whole number: write e.g. QBWC_PORT=12345"
    assert json.loads(captured.out) == {"error": error, "exit": 2}
    assert captured.err == f"paysync: {error}\n"
