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
from sync.scheduler import record_schedule_configured

CUTOFF = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


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
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, PAYSYNC_SCHEDULE="every-2-hours")

    assert main(["--env-file", str(env_file), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)

    assert {"web_connector", "payments", "schedule", "last_sync", "errors", "queue"} <= set(status)
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
    assert status["last_sync"]["started_at"] == "2026-11-25T16:00:00Z"
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
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, QBWC_FILE_KEY="east")

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


def test_status_text_shows_errors_and_an_invalid_schedule(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    _seed(db_url)
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, PAYSYNC_SCHEDULE="weekly")

    assert main(["--env-file", str(env_file), "status"]) == 0
    text = capsys.readouterr().out
    assert "problem: PAYSYNC_SCHEDULE='weekly' is not a schedule" in text
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
