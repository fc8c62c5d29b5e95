"""Several processes, one PostgreSQL (issue 13): two real `paysync serve` started at the same moment
on a fresh database both come up; a Web Connector whose calls alternate between them runs its
sessions to the end; a push started by both serves and by two `paysync sync` at once ends with every
payment in Procore exactly once. Plus the pieces on their own: migrations by processes started
together, a work item two sessions reach for at once, a scheduled run claimed once.

Runs against the PostgreSQL server PAYSYNC_TEST_POSTGRES_URL names (emptied first: DROP SCHEMA).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.procore import create_procore_app
from sandbox.quickbooks import SandboxCompanyFile
from sandbox.servers import run_asgi_in_thread
from sandbox.webconnector import WebConnectorEmulator
from storage.db import close_database, make_database, open_database, write_transaction
from storage.leases import claim_scheduled_run
from storage.migrations import LATEST_VERSION, migrate
from storage.models import (
    ErrorEvent,
    ProcoreWrite,
    SchemaVersion,
    Setting,
    SyncRun,
    database_proxy,
)
from sync.quickbooks.workqueue import next_queued_work, pending_work, queue_quickbooks_refresh, work_id
from tests.support.database import CUTOFF, POSTGRES_URL, POSTGRES_URL_ENV
from tests.support.procore_world import CLIENT_ID, CLIENT_SECRET, new_world, procore_view
from tests.support.quickbooks_world import PASSWORD, USERNAME
from tests.support.serve import ServeProcess

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not POSTGRES_URL, reason=f"{POSTGRES_URL_ENV} not set (bash .ci/run starts PostgreSQL and sets it)"
    ),
]

ROOT = Path(__file__).resolve().parents[1]
PAYMENTS_PATH = "/rest/v1.0/contract_payments"


def empty_database() -> str:
    """The test database with nothing in it, not even PaySync's tables (as a new server's is)."""
    assert POSTGRES_URL
    close_database()
    db = make_database(POSTGRES_URL)  # not opened: opening would create PaySync's tables
    try:
        db.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        db.close()
    return POSTGRES_URL


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    url = empty_database()
    yield url
    close_database()


# ---------------------------------------------------------------------------------------------
# Two `paysync serve`, one database


class SlowPaymentWrites:
    """The sandbox Procore with each payment write taking a moment, so pushes overlap."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app, self.delay = app, delay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PATCH")
            and scope["path"].startswith(PAYMENTS_PATH)
        ):
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


class AlternatingWebConnector(WebConnectorEmulator):
    """The Web Connector behind a load balancer: each SOAP call goes to the next of `urls`."""

    def __init__(self, urls: list[str], company: SandboxCompanyFile) -> None:
        super().__init__(urls[0], USERNAME, PASSWORD, company)
        self.urls = urls
        self.calls_by_url: dict[str, int] = dict.fromkeys(urls, 0)
        self._turn = 0

    def _post(self, client: httpx.Client, method: str, envelope: str) -> httpx.Response:
        self.url = self.urls[self._turn % len(self.urls)]
        self._turn += 1
        self.calls_by_url[self.url] += 1
        return super()._post(client, method, envelope)


def paysync_sync(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "--env-file", os.devnull, "sync"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_serves_share_sessions_and_pushes_and_every_payment_reaches_procore_once(
    fresh_postgres: str, tmp_path: Path
) -> None:
    world = new_world("Two Serves Tower")
    company = SandboxCompanyFile()  # its clock starts 2026-11-02, after the cutoff set below
    acme = company.add_vendor("Acme Concrete")
    world.add_vendor("acme", "Acme Concrete", acme)
    world.add_commitment("SC-1", "acme")
    expected: list[tuple[Any, ...]] = []

    def pay(first: int, count: int) -> None:
        for n in range(first, first + count):
            number = f"INV-{n:03d}"
            bill = company.add_bill("Acme Concrete", number, Decimal("10000.00"))
            world.add_invoice(number, "SC-1", number, n + 1, origin_id=bill)
            amount = Decimal(200 + n) + Decimal("0.25")
            check = company.pay_bills("Acme Concrete", [(bill, amount)], check_number=str(7000 + n))
            company.advance(minutes=1)
            snapshot = company.payment(check)
            expected.append(
                (
                    f"qbd:main:{check}:{bill}",
                    str(amount),
                    snapshot.txn_date.isoformat(),
                    "check",
                    str(7000 + n),
                    number,
                    world.invoices[number],
                )
            )

    pay(0, 8)
    procore = run_asgi_in_thread(SlowPaymentWrites(create_procore_app(world.state), delay=0.05))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PROCORE_", "QBWC_"))}
    env.update(
        {
            "PAYSYNC_DATABASE_URL": fresh_postgres,
            "PAYSYNC_KEY_FILE": str(tmp_path / "secret.key"),
            "PROCORE_API_BASE": procore.url,
            "PROCORE_LOGIN_BASE": procore.url,
            "PROCORE_CLIENT_ID": CLIENT_ID,
            "PROCORE_CLIENT_SECRET": CLIENT_SECRET,
            "PROCORE_COMPANY_ID": str(world.state.company_id),
            "PROCORE_PROJECT_IDS": str(world.project_id),
            "QBWC_HOST": "127.0.0.1",
            "QBWC_PORT": "0",
            "QBWC_PASSWORD": PASSWORD,
            "PAYSYNC_SCHEDULE": "hourly",
            "PYTHONUNBUFFERED": "1",
        }
    )
    serves = [ServeProcess(env), ServeProcess(env)]  # the same moment, a database without a single table
    try:
        urls = [serve.url() for serve in serves]  # both come up
        assert urls[0] != urls[1]
        schedule_words = sorted("run by paysync serve (process" in serve.announcement() for serve in serves)
        assert schedule_words == [False, True], [serve.announcement() for serve in serves]  # one runs it

        open_database(fresh_postgres)
        assert [row.version for row in SchemaVersion.select().order_by(SchemaVersion.version)] == list(
            range(1, LATEST_VERSION + 1)
        )  # each migration once
        Setting.create(key="schedule_cutoff", value=CUTOFF.isoformat())

        web_connector = AlternatingWebConnector(urls, company)
        queue_quickbooks_refresh("main", requested_by="test")
        first = web_connector.run_session()
        assert first.outcome == "done", (first.last_errors, first.soap_faults)
        assert first.close_message == "PaySync: 8 payments received (8 new, 0 changed), 0 deletions"
        assert min(web_connector.calls_by_url.values()) >= 4  # both processes answered this session

        # More payments, a second session (its closeConnection pushes in one serve or the other),
        # and at the same moment two `paysync sync`: four pushes asked for at once.
        pay(8, 6)
        queue_quickbooks_refresh("main", requested_by="test")
        second = web_connector.run_session()
        assert second.outcome == "done", (second.last_errors, second.soap_faults)
        # (the ten minutes of watermark overlap read the first ones again, unchanged)
        assert "(6 new, 0 changed), 0 deletions" in (second.close_message or "")
        syncs: list[subprocess.CompletedProcess[str]] = []
        runners = [threading.Thread(target=lambda: syncs.append(paysync_sync(env))) for _ in range(2)]
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join(150)
        for done in syncs:
            assert done.returncode == 0, done.stdout + done.stderr
        deadline = time.monotonic() + 30
        while (
            len(world.state.payments()) < len(expected)
            or SyncRun.select().where(SyncRun.status == "running").exists()
        ):
            assert time.monotonic() < deadline, "the pushes did not finish"
            time.sleep(0.1)

        assert procore_view(world.state.payments()) == sorted(expected)  # each payment once, exactly
        posts = [
            e for e in world.state.request_log if e.method == "POST" and e.path.startswith(PAYMENTS_PATH)
        ]
        assert len(posts) == len(expected)  # never written twice, not even tried twice
        assert ProcoreWrite.select().where(ProcoreWrite.status == "intent").count() == 0
        assert [run.status for run in SyncRun.select()] == ["ok"] * SyncRun.select().count()
        triggers = sorted(str(run.trigger) for run in SyncRun.select())
        assert triggers.count("cli") == 2 and "web_connector" in triggers, (
            triggers
        )  # pushes in the serves too
        assert list(ErrorEvent.select(ErrorEvent.message).tuples()) == []
    finally:
        close_database()
        codes = [serve.stop() for serve in serves]
        procore.stop()
    logs = "".join(line for serve in serves for line in serve.log)
    assert codes == [0, 0], logs
    assert "Traceback" not in logs


# ---------------------------------------------------------------------------------------------
# The pieces


def test_migrations_run_once_when_processes_start_together(fresh_postgres: str) -> None:
    """Four processes open a new database at the same moment: all come up, each migration once."""
    code = "import sys; from storage.db import open_database; open_database(sys.argv[1]); print('up')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYNC_DATABASE")}
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_postgres],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [process.communicate(timeout=60) for process in starts]
    assert [(process.returncode, out) for process, (out, _) in zip(starts, results, strict=True)] == [
        (0, "up\n")
    ] * 4, [err for _, err in results]
    open_database(fresh_postgres)
    versions = [row.version for row in SchemaVersion.select().order_by(SchemaVersion.version)]
    assert versions == list(range(1, LATEST_VERSION + 1))
    assert migrate(database_proxy.obj) == []  # up to date: nothing runs again


def test_two_sessions_reaching_for_work_at_once_take_different_items(fresh_postgres: str) -> None:
    """A work item taken (FOR UPDATE SKIP LOCKED) by one session's transaction is passed over by
    another's, which takes the next one instead of waiting or taking the same."""
    open_database(fresh_postgres)
    queue_quickbooks_refresh("main", requested_by="test")
    first_taken = threading.Event()
    release = threading.Event()
    taken: dict[str, int] = {}

    def session(name: str, hold: bool) -> None:
        db = database_proxy.obj
        assert db is not None
        with db.atomic():  # no write lock: only the row locks keep the two apart here
            work = next_queued_work("main")
            assert work is not None
            taken[name] = work_id(work)
            if hold:
                first_taken.set()
                release.wait(10)
        db.close()

    holder = threading.Thread(target=session, args=("first", True))
    holder.start()
    assert first_taken.wait(10)
    other = threading.Thread(target=session, args=("second", False))
    other.start()
    other.join(10)
    release.set()
    holder.join(10)
    assert set(taken) == {"first", "second"} and taken["first"] != taken["second"]
    # The first in line, and the one after it: the second session neither waited nor took the same.
    assert [taken["first"], taken["second"]] == [work_id(w) for w in pending_work("main")[:2]]


def test_a_scheduled_run_is_claimed_once_however_many_processes_reach_for_it(fresh_postgres: str) -> None:
    open_database(fresh_postgres)
    due = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    results: list[bool] = []
    start = threading.Barrier(6)

    def reach() -> None:
        start.wait(10)
        results.append(claim_scheduled_run(due))
        db = database_proxy.obj
        assert db is not None
        db.close()

    threads = [threading.Thread(target=reach) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(results) == [False] * 5 + [True]
    assert claim_scheduled_run(due) is False  # made already
    assert claim_scheduled_run(due - timedelta(hours=1)) is False  # an older one, late: not again
    assert claim_scheduled_run(due + timedelta(hours=1)) is True  # the next one
    with write_transaction():  # the claim is an ordinary setting, readable by any process
        assert (
            Setting.get(Setting.key == "schedule_last_run_due").value
            == (due + timedelta(hours=1)).isoformat()
        )
