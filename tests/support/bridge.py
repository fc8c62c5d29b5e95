"""Both worlds wired together on loopback: the sandbox QuickBooks company file -> Web Connector
emulator -> PaySync's /qbwc app -> test database -> SyncService -> sandbox Procore. Shared by the
end-to-end, CLI, runtime and property tests (the `servers` fixture in tests/conftest.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.procore import ProcoreState, create_procore_app
from sandbox.quickbooks import SandboxCompanyFile
from sandbox.servers import RunningServer, run_asgi_in_thread
from sandbox.webconnector import SessionReport
from sync.engine.service import SyncService
from sync.engine.summary import SyncSummary
from sync.quickbooks.webconnector.app import create_qbwc_app
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.settings import Settings
from tests.support.database import open_test_database
from tests.support.procore_world import ProcoreWorld, new_world
from tests.support.quickbooks_world import PASSWORD, TEST_ITERATIONS, emulator


class SwappableApp:
    """An ASGI app whose target can be replaced, so one server can serve a fresh sandbox per test
    or hypothesis example (servers are started once per module)."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.target(scope, receive, send)


@dataclass
class Servers:
    procore_app: SwappableApp
    qbwc_app: SwappableApp
    procore: RunningServer
    qbwc: RunningServer

    @classmethod
    def start(cls) -> Servers:
        procore_app, qbwc_app = SwappableApp(), SwappableApp()
        return cls(procore_app, qbwc_app, run_asgi_in_thread(procore_app), run_asgi_in_thread(qbwc_app))

    def stop(self) -> None:
        self.procore.stop()
        self.qbwc.stop()


@dataclass
class Bridge:
    """One company: QuickBooks, Procore, PaySync's database and service, wired together."""

    company: SandboxCompanyFile
    world: ProcoreWorld
    settings: Settings
    service: SyncService
    qbwc_url: str
    hook_pushes: list[SyncSummary] = field(default_factory=list)
    hook_done: threading.Event = field(default_factory=threading.Event)
    procore_app: SwappableApp | None = None

    @property
    def state(self) -> ProcoreState:
        return self.world.state

    def serve_companies(self, *more: ProcoreState) -> None:
        """Serve more Procore companies beside this one from the same API (one token, each request
        routed by its Procore-Company-Id header), as Procore serves a firm's companies."""
        assert self.procore_app is not None
        self.procore_app.target = create_procore_app(self.world.state, *more)

    def session(self) -> SessionReport:
        """Queue a QuickBooks refresh and let the Web Connector poll once."""
        queue_quickbooks_refresh(self.settings.qbwc_file_key, requested_by="test")
        report = emulator(
            self.qbwc_url, self.company, username=self.settings.qbwc_username, password=PASSWORD
        ).run_session()
        assert report.outcome == "done", (report.outcome, report.last_errors, report.soap_faults)
        return report

    def sync(self) -> SyncSummary:
        """A Web Connector poll followed by a push (what happens after every session)."""
        self.session()
        return self.service.refresh_and_push(trigger="test")

    def vendor(self, key: str, name: str, *, link_origin: bool = True, currency: str | None = None) -> str:
        """A vendor in both systems: Procore's origin_id is the QuickBooks ListID when linked."""
        list_id = self.company.add_vendor(name, currency=currency)
        self.world.add_vendor(key, name, list_id if link_origin else None)
        return list_id

    def invoice_and_bill(
        self,
        key: str,
        commitment: str,
        vendor_name: str,
        number: str,
        amount: str,
        *,
        by_origin: bool,
        draw: int = 1,
    ) -> str:
        """A subcontractor invoice exported to QuickBooks as a bill; returns the bill TxnID."""
        bill = self.company.add_bill(vendor_name, number, Decimal(amount))
        self.world.add_invoice(key, commitment, number, draw, origin_id=bill if by_origin else None)
        return bill

    def expected(
        self, payment_txn_id: str, bill_txn_id: str, invoice_key: str, amount: str
    ) -> tuple[Any, ...]:
        snapshot = self.company.payment(payment_txn_id)
        return (
            f"qbd:{self.settings.qbwc_file_key}:{payment_txn_id}:{bill_txn_id}",
            amount,
            snapshot.txn_date.isoformat(),
            snapshot.kind,
            snapshot.ref_number,
            self.world.invoice_number(invoice_key),
            self.world.invoices[invoice_key],
        )


def new_bridge(
    servers: Servers,
    tmp_path: Path,
    *,
    clock_start: datetime = datetime(2026, 11, 2, 8, 0, 0),
    client_options: dict[str, Any] | None = None,
    with_hook: bool = False,
    company_options: dict[str, Any] | None = None,
) -> Bridge:
    """A fresh company on the running servers: new Procore world (project "Harbor Point", nothing
    else yet), QuickBooks file and database (with the schedule cutoff 2026-11-01)."""
    database_url = open_test_database(tmp_path)
    world = new_world("Harbor Point")
    world.url = servers.procore.url
    servers.procore_app.target = create_procore_app(world.state)
    settings = world.settings(database_url, qbwc_password=PASSWORD, schedule="hourly")
    options = dict(client_options or {})
    service = SyncService(
        settings,
        client_factory=lambda: world.client(**options),
        company_client_factory=lambda company_id: world.client(company_id=company_id, **options),
        actor="tester",
    )
    bridge = Bridge(
        company=SandboxCompanyFile(clock_start=clock_start, **(company_options or {})),
        world=world,
        settings=settings,
        service=service,
        qbwc_url=servers.qbwc.url + "/qbwc",
        procore_app=servers.procore_app,
    )

    def after_session(file_key: str) -> None:
        bridge.hook_pushes.append(service.refresh_and_push(trigger="web_connector"))
        bridge.hook_done.set()

    servers.qbwc_app.target = create_qbwc_app(
        settings, on_session_closed=after_session if with_hook else None, password_iterations=TEST_ITERATIONS
    )
    return bridge
