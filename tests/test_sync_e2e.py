"""End to end over loopback: sandbox QuickBooks -> Web Connector emulator -> PaySync /qbwc ->
SQLite -> SyncService -> sandbox Procore. Every test ends by comparing exactly what Procore holds."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.cli import main as paysync_main
from storage.db import close_database
from storage.models import ErrorEvent, PaymentLink, ProcoreWrite
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from tests.support.bridge import Bridge, Servers, new_bridge
from tests.support.procore_world import procore_view

PAYMENTS = "/rest/v1.0/contract_payments"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path) -> Iterator[Bridge]:
    built = new_bridge(servers, tmp_path, client_options={"timeout": 1.0})
    yield built
    built.state.release_delayed_responses.set()
    close_database()


def acme_world(bridge: Bridge) -> dict[str, str]:
    """Acme (linked by ListID) on SC-1 with invoices matched by origin id and by number; Bolt
    (matched by name) on PO-1. Returns bill TxnIDs by invoice key."""
    bridge.vendor("acme", "Acme Concrete")
    bridge.vendor("bolt", "Bolt Electric", link_origin=False)
    bridge.world.add_commitment("SC-1", "acme")
    bridge.world.add_commitment("PO-1", "bolt", kind="purchase_order")
    return {
        "A-1": bridge.invoice_and_bill(
            "A-1", "SC-1", "Acme Concrete", "ACME-2411", "5000.00", by_origin=True
        ),
        "A-2": bridge.invoice_and_bill(
            "A-2", "SC-1", "Acme Concrete", "ACME-2438", "7000.00", by_origin=False, draw=2
        ),
        "B-1": bridge.invoice_and_bill(
            "B-1", "PO-1", "Bolt Electric", "BLE-10234", "900.00", by_origin=False
        ),
    }


def payments_issued(bridge: Bridge) -> list[tuple[Any, ...]]:
    return procore_view(bridge.state.payments())


def writes(bridge: Bridge) -> list[Any]:
    return [
        e
        for e in bridge.state.request_log
        if e.method in ("POST", "PATCH", "DELETE") and e.path.startswith(PAYMENTS)
    ]


def status_json(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    monkeypatch.setenv("PAYSYNC_DATABASE_URL", str(bridge.settings.database_url))
    monkeypatch.setenv("QBWC_FILE_KEY", bridge.settings.qbwc_file_key)
    monkeypatch.setenv("PROCORE_CLIENT_ID", str(bridge.settings.procore_client_id))
    monkeypatch.setenv("PROCORE_CLIENT_SECRET", str(bridge.settings.procore_client_secret))
    monkeypatch.setenv("PROCORE_COMPANY_ID", str(bridge.settings.procore_company_id))
    capsys.readouterr()
    assert paysync_main(["--env-file", os.devnull, "status", "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_matched_partial_multi_bill_and_card_payments_arrive_exactly(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bills = acme_world(bridge)
    qb = bridge.company
    full = qb.pay_bills("Acme Concrete", [(bills["A-1"], Decimal("5000.00"))], check_number="10452")
    bridge.company.advance(minutes=5)
    partial = qb.pay_bills("Acme Concrete", [(bills["A-2"], Decimal("3500.50"))], check_number="10453")
    bridge.company.advance(minutes=5)
    card = qb.pay_bills(
        "Bolt Electric", [(bills["B-1"], Decimal("899.99"))], kind="credit_card", check_number="AMEX-77"
    )

    summary = bridge.sync()

    assert summary.created == 3 and summary.failed == 0 and summary.needs_attention == 0, summary.as_text()
    assert payments_issued(bridge) == sorted(
        [
            bridge.expected(full, bills["A-1"], "A-1", "5000.00"),
            bridge.expected(partial, bills["A-2"], "A-2", "3500.50"),
            bridge.expected(card, bills["B-1"], "B-1", "899.99"),
        ]
    )
    status = status_json(bridge, monkeypatch, capsys)
    assert status["payments"] == {
        "synced": 3,
        "waiting": 0,
        "needs_attention": 0,
        "failed": 0,
        "deleted_in_quickbooks": 0,
        "not_synced": 0,
    }
    assert status["last_sync"]["created"] == 3


def test_one_check_paying_several_bills_becomes_one_payment_per_bill(bridge: Bridge) -> None:
    bills = acme_world(bridge)
    check = bridge.company.pay_bills(
        "Acme Concrete",
        [(bills["A-1"], Decimal("1200.00")), (bills["A-2"], Decimal("800.25"))],
        check_number="2001",
    )

    bridge.sync()

    assert payments_issued(bridge) == sorted(
        [
            bridge.expected(check, bills["A-1"], "A-1", "1200.00"),
            bridge.expected(check, bills["A-2"], "A-2", "800.25"),
        ]
    )


def test_unmatched_ambiguous_and_pre_existing_post_nothing_and_say_why(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = new_bridge(servers, tmp_path, clock_start=datetime(2026, 10, 20, 9, 0))
    try:
        bills = acme_world(bridge)
        old = bridge.company.pay_bills("Acme Concrete", [(bills["A-1"], Decimal("100.00"))], check_number="1")
        bridge.company.advance(days=14)  # past the cutoff (2026-11-01)
        # Only payments changed since the cutoff are read; an old one edited now is, and stays unsynced.
        bridge.company.edit_payment(old, memo="reprinted")
        stray = bridge.company.add_bill("Acme Concrete", "NOPE-1", Decimal("50.00"))
        twin_a = bridge.company.add_bill("Acme Concrete", "TWIN-9", Decimal("60.00"))
        bridge.world.add_commitment("SC-2", "acme")
        bridge.world.add_invoice("T-1", "SC-1", "TWIN-9", 5)
        bridge.world.add_invoice("T-2", "SC-2", "twin-9", 1)
        unmatched = bridge.company.pay_bills("Acme Concrete", [(stray, Decimal("50.00"))], check_number="2")
        ambiguous = bridge.company.pay_bills("Acme Concrete", [(twin_a, Decimal("60.00"))], check_number="3")
        good = bridge.company.pay_bills("Acme Concrete", [(bills["A-2"], Decimal("70.00"))], check_number="4")

        summary = bridge.sync()

        assert payments_issued(bridge) == [bridge.expected(good, bills["A-2"], "A-2", "70.00")]
        assert summary.needs_attention == 2
        reasons = {
            link.origin_id.split(":")[2]: (link.erp_status, link.status_reason or "")
            for link in PaymentLink.select()
        }
        assert reasons[unmatched][0] == "needs_attention"
        assert "no Procore invoice numbered 'NOPE-1'" in reasons[unmatched][1]
        assert "several Procore invoices numbered 'TWIN-9'" in reasons[ambiguous][1]
        assert reasons[old][0] == "not_synced"
        assert "before the sync schedule was first configured" in reasons[old][1]
        status = status_json(bridge, monkeypatch, capsys)
        assert status["payments"] == {
            "synced": 1,
            "waiting": 0,
            "needs_attention": 2,
            "failed": 0,
            "deleted_in_quickbooks": 0,
            "not_synced": 1,
        }
        messages = [e["message"] for e in status["errors"]]
        assert any("NOPE-1" in m for m in messages) and any("TWIN-9" in m for m in messages)
    finally:
        close_database()


def test_a_second_sync_writes_nothing(bridge: Bridge) -> None:
    bills = acme_world(bridge)
    bridge.company.pay_bills("Acme Concrete", [(bills["A-1"], Decimal("10.00"))], check_number="5")
    bridge.sync()
    before, count = bridge.state.payments(), len(writes(bridge))

    bridge.session()
    summary = bridge.service.sync_now(trigger="console")

    assert len(writes(bridge)) == count  # zero POST/PATCH/DELETE
    assert bridge.state.payments() == before
    assert (summary.created, summary.updated, summary.skipped) == (0, 0, 1)
    assert summary.queued_quickbooks  # QuickBooks queries queued for the next poll


def test_a_void_and_an_edit_change_the_same_procore_payments(bridge: Bridge) -> None:
    bills = acme_world(bridge)
    voided = bridge.company.pay_bills(
        "Acme Concrete", [(bills["A-1"], Decimal("2500.00"))], check_number="300"
    )
    edited = bridge.company.pay_bills(
        "Acme Concrete", [(bills["A-2"], Decimal("1000.00"))], check_number="301"
    )
    bridge.sync()
    ids = {p["origin_id"]: p["id"] for p in bridge.state.payments()}
    bridge.company.advance(minutes=30)
    bridge.company.void_payment(voided)
    bridge.company.edit_payment(
        edited,
        applications=[(bills["A-2"], Decimal("999.99"))],
        check_number="301B",
        txn_date=date(2026, 11, 3),
    )

    summary = bridge.sync()

    assert (summary.voided, summary.updated, summary.created) == (1, 1, 0), summary.as_text()
    assert {p["origin_id"]: p["id"] for p in bridge.state.payments()} == ids
    assert payments_issued(bridge) == sorted(
        [
            bridge.expected(voided, bills["A-1"], "A-1", "0.00"),
            bridge.expected(edited, bills["A-2"], "A-2", "999.99"),
        ]
    )
    void_row = next(p for p in bridge.state.payments() if p["amount"] == "0.00")
    assert "VOIDED in QuickBooks" in void_row["notes"]


def test_a_deleted_payment_is_flagged_not_deleted_then_retracted_with_confirmation(bridge: Bridge) -> None:
    bills = acme_world(bridge)
    gone = bridge.company.pay_bills("Acme Concrete", [(bills["A-1"], Decimal("640.00"))], check_number="77")
    bridge.sync()
    bridge.company.advance(minutes=10)
    bridge.company.delete_payment(gone)

    summary = bridge.sync()

    assert summary.flagged == 1
    assert [p["amount"] for p in bridge.state.payments()] == ["640.00"]
    link = PaymentLink.get()
    assert link.erp_status == "deleted_in_quickbooks"
    assert ErrorEvent.select().where(ErrorEvent.message.contains("deleted after it was synced")).count() == 1
    with pytest.raises(ValueError, match="confirm"):
        bridge.service.retract_payment(link.id, confirm=False)
    assert len(bridge.state.payments()) == 1

    bridge.service.retract_payment(link.id, confirm=True)

    assert bridge.state.payments() == []
    assert [e.method for e in writes(bridge)][-2:] == ["PATCH", "DELETE"]
    assert bridge.sync().created == 0 and bridge.state.payments() == []


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("GET", "429"),
        ("GET", "500"),
        ("GET", "503"),
        ("POST", "429"),
        ("POST", "500"),
        ("POST", "503"),
        ("POST", "commit_then_timeout"),
        ("PATCH", "503"),
        ("PATCH", "commit_then_timeout"),
    ],
)
def test_rate_limits_server_errors_and_lost_answers_end_with_exact_payments(
    bridge: Bridge, method: str, kind: str
) -> None:
    bills = acme_world(bridge)
    first = bridge.company.pay_bills("Acme Concrete", [(bills["A-1"], Decimal("111.11"))], check_number="900")
    second = bridge.company.pay_bills(
        "Acme Concrete", [(bills["A-2"], Decimal("222.22"))], check_number="901"
    )
    if method == "PATCH":
        bridge.sync()
        bridge.company.advance(minutes=5)
        bridge.company.void_payment(first)
    bridge.state.inject_fault(method, PAYMENTS, kind, times=2, retry_after=0, delay=1.5)  # type: ignore[arg-type]

    bridge.sync()
    # The injected fault was met (else this test would prove nothing about it); a failed PATCH
    # ends that payment's run, so the second one may be left for clear_faults.
    left = sum(f.remaining for f in bridge.state._faults)
    assert left < 2, bridge.state._faults
    if kind.isdigit():
        faulted = [e for e in bridge.state.log_entries(method, PAYMENTS) if e.status == int(kind)]
        assert len(faulted) == 2 - left
    bridge.state.clear_faults()
    bridge.sync()  # the next run reconciles whatever is left

    first_amount = "0.00" if method == "PATCH" else "111.11"
    assert payments_issued(bridge) == sorted(
        [
            bridge.expected(first, bills["A-1"], "A-1", first_amount),
            bridge.expected(second, bills["A-2"], "A-2", "222.22"),
        ]
    )
    assert {link.erp_status for link in PaymentLink.select()} == {"synced"}
    assert all(p["origin_id"] for p in bridge.state.payments())


def test_the_end_of_a_web_connector_session_pushes_automatically(servers: Servers, tmp_path: Path) -> None:
    bridge = new_bridge(servers, tmp_path, with_hook=True)
    try:
        bills = acme_world(bridge)
        check = bridge.company.pay_bills(
            "Acme Concrete", [(bills["A-1"], Decimal("42.00"))], check_number="42"
        )

        bridge.session()

        assert bridge.hook_done.wait(30), "no push after the session closed"
        assert payments_issued(bridge) == [bridge.expected(check, bills["A-1"], "A-1", "42.00")]
        assert bridge.hook_pushes[0].trigger == "web_connector"
    finally:
        close_database()


# ---------------------------------------------------------------------------------------------
# `paysync serve` as a real process, killed in the middle of a push


class SlowPaymentWrites:
    """Wraps the sandbox Procore so each payment write takes a while (a slow Procore)."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app, self.delay = app, delay
        self.in_flight = 0
        # Writes still in their delay: Procore has not answered them yet, so their sender is
        # certainly waiting (in_flight also counts a write whose answer is already on its way).
        self.unanswered = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PATCH")
            and scope["path"].startswith(PAYMENTS)
        ):
            self.in_flight += 1
            self.unanswered += 1
            try:
                try:
                    await asyncio.sleep(self.delay)
                finally:
                    self.unanswered -= 1
                await self.app(scope, receive, send)
            finally:
                self.in_flight -= 1
            return
        await self.app(scope, receive, send)


def start_serve(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--env-file", os.devnull],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"on (http://127\.0\.0\.1:\d+/qbwc)", line)
            if match and not found:
                found.append(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not found:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"paysync serve did not start (exit {process.poll()})")
        time.sleep(0.05)
    return process, found[0]


def test_serve_killed_mid_push_and_restarted_ends_with_exact_payments(tmp_path: Path) -> None:
    from sandbox.procore import create_procore_app
    from sandbox.quickbooks import SandboxCompanyFile
    from sandbox.servers import run_asgi_in_thread
    from tests.support.database import open_test_database
    from tests.support.procore_world import CLIENT_ID, CLIENT_SECRET, new_world
    from tests.support.quickbooks_world import PASSWORD, emulator

    count = 30
    database_url = open_test_database(tmp_path)  # also records the schedule cutoff (2026-11-01)
    world = new_world("Kill Test Tower")
    state = world.state
    company = SandboxCompanyFile()
    world.add_vendor("acme", "Acme Concrete", company.add_vendor("Acme Concrete"))
    world.add_commitment("SC-1", "acme")
    expected_rows = []
    for n in range(count):
        number = f"INV-{n:03d}"
        bill = company.add_bill("Acme Concrete", number, Decimal("10000.00"))
        world.add_invoice(number, "SC-1", number, n + 1, origin_id=bill if n % 2 else None)
        amount = Decimal(100 + n) + Decimal("0.07")
        check = company.pay_bills("Acme Concrete", [(bill, amount)], check_number=str(5000 + n))
        company.advance(minutes=1)
        expected_rows.append(
            (
                f"qbd:main:{check}:{bill}",
                str(amount),
                company.payment(check).txn_date.isoformat(),
                "check",
                str(5000 + n),
                number,
                world.invoices[number],
            )
        )
    slow = SlowPaymentWrites(create_procore_app(state), delay=0.15)
    server = run_asgi_in_thread(slow)
    env = {
        **os.environ,
        "PAYSYNC_DATABASE_URL": database_url,
        "PROCORE_API_BASE": server.url,
        "PROCORE_LOGIN_BASE": server.url,
        "PROCORE_CLIENT_ID": CLIENT_ID,
        "PROCORE_CLIENT_SECRET": CLIENT_SECRET,
        "PROCORE_COMPANY_ID": str(state.company_id),
        "PROCORE_PROJECT_IDS": str(world.project_id),
        "QBWC_HOST": "127.0.0.1",
        "QBWC_PORT": "0",
        "QBWC_PASSWORD": PASSWORD,
        "PAYSYNC_SCHEDULE": "never",
    }
    serve, url = start_serve(env)
    restarted: subprocess.Popen[str] | None = None
    try:
        queue_quickbooks_refresh("main", requested_by="test")
        report = emulator(url, company).run_session()
        assert report.outcome == "done", report
        # The session's end starts the automatic push; kill the service in the middle of it.
        # Kill it while a payment POST is on its way (its intent is committed, its answer not).
        deadline = time.monotonic() + 60
        while len(state.payments()) < 5 or not slow.unanswered:
            assert time.monotonic() < deadline, "the automatic push did not start"
            time.sleep(0.005)
        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
        # The POST that was on its way lands in Procore anyway: wait for it, however busy the machine.
        while slow.in_flight:
            assert time.monotonic() < deadline, "the POST in flight when serve was killed never landed"
            time.sleep(0.005)
        killed_at = len(state.payments())
        assert 0 < killed_at < count
        assert ProcoreWrite.select().where(ProcoreWrite.status == "intent").count() == 1

        restarted, _ = start_serve(env)
        finish = subprocess.run(
            [sys.executable, "-m", "console", "sync", "--env-file", os.devnull],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert finish.returncode == 0, finish.stdout + finish.stderr
        assert "Procore payments:" in finish.stdout
        assert procore_view(state.payments()) == sorted(expected_rows)
        assert len({p["origin_id"] for p in state.payments()}) == count
        assert all(p["origin_id"] for p in state.payments())
        status = subprocess.run(
            [sys.executable, "-m", "console", "status", "--json", "--env-file", os.devnull],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(status.stdout)["payments"]["synced"] == count
    finally:
        for process in (serve, restarted):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        server.stop()
        close_database()
