"""Stopping a sync between two writes: in the engine (SyncService with a SyncCancel), in the console
(k, with a confirmation) and by quitting it. What is written stays, the journal has no open intent,
the run is kept as "cancelled", and the next sync writes the rest, each payment once.

Real parts: the sandbox QuickBooks and Procore over loopback, the Web Connector emulator, SQLite.
The console tests hold the first POST at a gate (a ProcoreClient whose create waits for the test),
so the stop key is pressed while a payment is being written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.app import PaySyncApp
from console.screens.confirm import ConfirmModal
from console.screens.main import MainScreen
from console.widgets.footer import KeyFooter
from console.widgets.topbar import TopBar
from storage.db import close_database
from storage.models import AuditLog, PaymentLink, ProcoreWrite, SyncRun
from storage.vocabulary import ErpStatus
from sync.engine.cancel import SyncCancel
from sync.engine.service import SyncService
from sync.procore.auth import MemoryTokenStore
from sync.procore.client import ProcoreClient
from sync.runtime.status import collect_status, format_status_text
from tests.support.bridge import Bridge, Servers, new_bridge
from tests.support.console import settle
from tests.support.procore_world import CLIENT_ID, CLIENT_SECRET
from tests.support.runtime import until

N = 3  # payments to create
SIZE = (140, 40)


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path) -> Iterator[Bridge]:
    built = new_bridge(servers, tmp_path)
    yield built
    close_database()


def three_payments_read(bridge: Bridge) -> None:
    """Three checks paid in QuickBooks on three invoices of SC-1, read by the Web Connector."""
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    for n in range(N):
        bill = bridge.invoice_and_bill(
            f"A-{n}", "SC-1", "Acme Concrete", f"ACME-24{n}0", "5000.00", by_origin=True, draw=n + 1
        )
        bridge.company.pay_bills(
            "Acme Concrete", [(bill, Decimal(f"{n + 1}000.00"))], check_number=f"1045{n}"
        )
        bridge.company.advance(minutes=5)
    bridge.service.refresh_from_procore()
    bridge.session()


def open_intents() -> int:
    return int(ProcoreWrite.select().where(ProcoreWrite.status.in_(("intent", "unknown"))).count())


def procore_origins(bridge: Bridge) -> list[str]:
    return sorted(str(p["origin_id"]) for p in bridge.state.payments())


def posts(bridge: Bridge) -> int:
    return sum(1 for e in bridge.world.writes() if e.method == "POST")


def last_run() -> Any:
    return SyncRun.select().order_by(SyncRun.id.desc()).first()


@pytest.mark.parametrize("k", [0, 1, 2])
def test_a_cancelled_push_stops_between_writes_and_the_next_one_writes_the_rest_once(
    bridge: Bridge, k: int
) -> None:
    three_payments_read(bridge)
    cancel = SyncCancel()
    if k == 0:
        cancel.request("jdoe (computer account)")
    created: list[str] = []

    def progress(done: int, total: int, step: str) -> None:
        if step.startswith("create:"):
            created.append(step)
            if len(created) == k:
                cancel.request("jdoe (computer account)")

    summary = bridge.service.sync_now(trigger="console", progress=progress, cancel=cancel)

    assert summary.cancelled_by == "jdoe (computer account)"
    assert (summary.created, summary.left_for_next_sync) == (k, N - k)
    note = summary.cancel_note()
    assert note is not None and note.startswith(f"Cancelled by jdoe (computer account): {k} payment")
    assert note in summary.as_text() and not summary.all_right
    assert summary.queued_quickbooks == []  # the rest waits for the next sync, QuickBooks' queries too
    run = last_run()
    assert (run.trigger, run.status, run.created, run.message) == ("console", "cancelled", k, note)
    assert open_intents() == 0  # no write was cut in two
    stopped = AuditLog.get(AuditLog.action == "sync.cancelled")  # who stopped it, in the audit trail
    assert (stopped.actor, stopped.target) == ("jdoe (computer account)", "console")
    assert len(bridge.state.payments()) == k
    waiting = PaymentLink.select().where(PaymentLink.erp_status == ErpStatus.WAITING).count()
    assert waiting == N - k  # the rest is Waiting, as the console shows
    status = collect_status(bridge.settings)
    assert status["last_sync"]["status"] == "cancelled"
    text = format_status_text(status)
    assert f"CANCELLED, {k} created" in text and f"  note: {note}" in text

    again = bridge.service.sync_now(trigger="console")

    assert (again.created, again.cancelled) == (N - k, False)
    assert open_intents() == 0
    origins = procore_origins(bridge)
    assert len(origins) == len(set(origins)) == N  # each payment once
    assert posts(bridge) == N  # no write was repeated


class GatedClient(ProcoreClient):
    """The sandbox Procore client, whose first payment POST waits at a gate the test opens."""

    entered = threading.Event()
    gate = threading.Event()

    def create_contract_payment(
        self, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        type(self).entered.set()
        assert type(self).gate.wait(20), "the test never opened the gate"
        return super().create_contract_payment(project_id, contract_id, fields)


def gated_app(bridge: Bridge, tmp_path: Path) -> tuple[PaySyncApp, type[GatedClient]]:
    gated: type[GatedClient] = type(
        "Gated", (GatedClient,), {"entered": threading.Event(), "gate": threading.Event()}
    )

    def client() -> ProcoreClient:
        return gated(
            api_base=bridge.world.url,
            login_base=bridge.world.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            company_id=bridge.state.company_id,
            token_store=MemoryTokenStore(),
            timeout=5.0,
            sleep=lambda seconds: None,
        )

    service = SyncService(bridge.settings, client_factory=client, actor="jdoe (computer account)")
    app = PaySyncApp(
        bridge.settings,
        service,
        refresh_seconds=None,
        display_tz=UTC,
        preferences_folder=tmp_path / "config",
    )
    return app, gated


async def test_k_stops_the_console_sync_after_the_payment_being_written(
    bridge: Bridge, tmp_path: Path
) -> None:
    three_payments_read(bridge)
    app, gated = gated_app(bridge, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main_screen
        assert "k" not in screen.query_one(KeyFooter).shown_keys  # only while a sync runs

        await pilot.press("s")
        await until(gated.entered.is_set, what="the first payment being written")
        await pilot.pause(0.05)
        assert "k" in screen.query_one(KeyFooter).shown_keys
        await pilot.press("k")
        await pilot.pause(0.05)
        assert isinstance(app.screen, ConfirmModal)
        question = str(app.screen.query_one("#confirm-question").content)  # type: ignore[attr-defined]
        assert question.startswith("Stop the sync after the payment being written now?")
        assert "What is written stays" in question and "the rest waits for the next sync" in question
        await pilot.press("y")
        gated.gate.set()
        await until(lambda: not screen.sync_running, what="the sync to stop")
        await settle(pilot)

        assert isinstance(app.screen, MainScreen)
        toasts = {n.title: n.message for n in app._notifications}
        note = "Cancelled by jdoe (computer account): 1 payment written; 2 wait for the next sync."
        assert (
            toasts["Sync cancelled"].startswith("1 created · 0 updated") and note in toasts["Sync cancelled"]
        )
        activity = screen.query_one(TopBar).plain.splitlines()[1]
        assert activity.startswith(" ⊘ Last sync ") and "Cancelled by jdoe" in activity, activity
        assert (last_run().status, last_run().created) == ("cancelled", 1)
        assert open_intents() == 0 and len(bridge.state.payments()) == 1

        await pilot.press("s")  # the gate stays open now
        await until(lambda: not screen.sync_running, what="the next sync")
        await settle(pilot)

    assert (last_run().status, last_run().created) == ("ok", N - 1)
    origins = procore_origins(bridge)
    assert len(origins) == len(set(origins)) == N and posts(bridge) == N
    assert open_intents() == 0


async def test_quitting_the_console_stops_its_sync_after_the_payment_being_written(
    bridge: Bridge, tmp_path: Path
) -> None:
    three_payments_read(bridge)
    app, gated = gated_app(bridge, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await until(gated.entered.is_set, what="the first payment being written")
        opener = threading.Timer(0.2, gated.gate.set)  # the write under way finishes after q
        opener.start()
        await pilot.press("q")
    opener.join()
    await until(lambda: last_run() is not None and last_run().status != "running", what="the sync to end")

    run = last_run()
    assert (run.status, run.created) == ("cancelled", 1)
    assert run.message == (
        "Cancelled by jdoe (computer account) (quit the console): 1 payment written; 2 wait for the next sync."
    )
    assert open_intents() == 0 and len(bridge.state.payments()) == 1
