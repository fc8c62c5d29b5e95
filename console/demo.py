"""`paysync demo`: the console on an embedded sandbox, with no configuration at all.

Everything runs in this process, on loopback ports, against a SQLite file in a temporary folder:

- the sandbox Procore (sandbox.procore, seeded with a small general contractor);
- a sandbox QuickBooks company file whose vendors and bills match the Procore invoices (same
  invoice numbers as bill RefNumbers, same vendor names), with payments of every kind: full,
  partial, multi-bill, credit card, pre-existing ones from before the cutoff, a bill that matches
  no Procore invoice; one payment is later voided and one deleted;
- PaySync's own Web Connector endpoint (sync/quickbooks/webconnector/app.py), and a *simulated*
  Web Connector (sandbox/webconnector.py) that polls it at start and whenever the user syncs.

At start the demo runs two polls and pushes (so there is history: synced, voided, deleted), then
enters a few more payments in "QuickBooks" that PaySync has not seen yet: pressing `s` fetches
and pushes them, and the Synced count goes up.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from console.context import Progress
from sandbox.procore import ProcoreState, create_procore_app, seed_demo
from sandbox.quickbooks import SandboxCompanyFile
from sandbox.servers import RunningServer, run_asgi_in_thread
from sandbox.webconnector import SessionReport, WebConnectorEmulator
from storage.db import close_database, open_database
from storage.fields import utc_now
from sync.engine.cancel import SyncCancel
from sync.engine.service import SyncService
from sync.engine.summary import SyncSummary
from sync.quickbooks.webconnector.app import create_qbwc_app
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.runtime.scheduler import record_schedule_configured
from sync.settings import Settings

DEMO_QBWC_PASSWORD = "demo-web-connector-password"
# The demo's Web Connector password is throwaway: hash it cheaply so each simulated poll is quick.
DEMO_PASSWORD_ITERATIONS = 2_000

# Procore demo invoices that were exported to QuickBooks as bills: (vendor, invoice number, amount).
_BILLS: list[tuple[str, str, str]] = [
    ("Acme Concrete", "ACME-2411", "48500.00"),
    ("Acme Concrete", "ACME-2438", "72750.00"),
    ("Acme Concrete", "ACME-2467", "61200.00"),
    ("Acme Concrete", "ACME-2495", "55125.50"),
    ("Brightline Electric", "BLE-10234", "31250.00"),
    ("Brightline Electric", "BLE-10291", "46875.00"),
    ("Brightline Electric", "BLE-10355", "38410.25"),
    ("Ironclad Steel Erectors", "ISE-7781", "99375.00"),
    ("Ironclad Steel Erectors", "ISE-7824", "66250.00"),
    ("Keystone Rebar & Supply", "KRS-55012", "23100.00"),
    ("Keystone Rebar & Supply", "KRS-55087", "15400.00"),
    ("Cascade Plumbing & Mechanical", "CPM-3301", "26800.00"),
    ("Cascade Plumbing & Mechanical", "CPM-3342", "40200.00"),
    ("Northwind Lumber Supply", "NLS-90417", "43725.00"),
    ("Northwind Lumber Supply", "NLS-90466", "21862.50"),
    # Entered in QuickBooks by hand: no Procore invoice has this number, so it needs mapping.
    ("Acme Concrete", "ACME-MISC-17", "4200.00"),
]


@dataclass
class DemoEnvironment:
    """The running sandbox; `stop()` shuts every server down and removes the temporary folder."""

    settings: Settings
    folder: Path
    procore_state: ProcoreState
    procore_server: RunningServer
    qbwc_server: RunningServer
    company_file: SandboxCompanyFile
    emulator: WebConnectorEmulator
    bills: dict[str, str] = field(default_factory=dict)  # RefNumber -> bill TxnID
    last_report: SessionReport | None = None
    startup_seconds: float = 0.0
    _stopped: bool = False
    _stoppers: list[threading.Thread] = field(default_factory=list)
    _stop_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def qbwc_url(self) -> str:
        return f"{self.qbwc_server.url}/qbwc"

    def poll_web_connector(self) -> SessionReport:
        """One simulated Web Connector poll: QuickBooks answers the queued queries."""
        self.last_report = self.emulator.run_session()
        return self.last_report

    def sync(
        self, service: SyncService, *, trigger: str, progress: Progress, cancel: SyncCancel | None = None
    ) -> tuple[SyncSummary, str]:
        """What "sync now" means here: push and queue (the engine), then let the simulated Web
        Connector poll at once (a real one polls on its own schedule), then push what it brought.
        A cancelled sync stops between two writes and goes no further."""
        progress(0, 0, "Pushing what PaySync already knows to Procore…")
        first = service.sync_now(trigger=trigger, progress=progress, cancel=cancel)
        if first.cancelled:
            return first, "The sync was stopped: the simulated Web Connector did not poll."
        progress(0, 0, "Simulated Web Connector polling QuickBooks…")
        report = self.poll_web_connector()
        progress(0, 0, "Pushing the new QuickBooks payments to Procore…")
        second = service.push(trigger=f"{trigger}+poll", progress=progress, cancel=cancel)
        combined = _combine(first, second)
        note = (
            f"The Web Connector is simulated in the demo: it polled now ({len(report.requests)} QuickBooks "
            "requests). A real one polls on its own schedule."
        )
        return combined, note

    def begin_stop(self) -> None:
        """Ask both servers to stop, without waiting: the console calls this when `q` is pressed,
        so the servers wind down (up to one uvicorn tick, 0.1 s, each, side by side) while the
        console closes, and nothing waits for them on the UI thread."""
        with self._stop_lock:
            if self._stoppers:
                return
            self._stoppers = [
                threading.Thread(target=server.stop, name=f"paysync-demo-stop-{name}", daemon=True)
                for name, server in (("qbwc", self.qbwc_server), ("procore", self.procore_server))
            ]
            for stopper in self._stoppers:
                stopper.start()

    def stop(self) -> None:
        """Stop the servers (if `begin_stop` has not already), wait for them, close the database and
        remove the temporary folder."""
        if self._stopped:
            return
        self._stopped = True
        self.begin_stop()
        for stopper in self._stoppers:
            stopper.join()
        close_database()
        shutil.rmtree(self.folder, ignore_errors=True)


def _combine(first: SyncSummary, second: SyncSummary) -> SyncSummary:
    """One summary for the two pushes: writes add up; what is still wrong is what the last one saw."""
    for name in ("created", "updated", "voided", "flagged"):
        setattr(first, name, getattr(first, name) + getattr(second, name))
    first.skipped = second.skipped
    first.problems = second.problems
    first.errors = list(dict.fromkeys([*first.errors, *second.errors]))
    first.finished_at = second.finished_at
    first.cancelled_by = second.cancelled_by
    first.left_for_next_sync = second.left_for_next_sync
    return first


def _pay(
    qb: SandboxCompanyFile,
    bills: dict[str, str],
    vendor: str,
    applications: list[tuple[str, str]],
    *,
    kind: str = "check",
    check_number: str | None = None,
    memo: str | None = None,
) -> str:
    txn_id = qb.pay_bills(
        vendor,
        [(bills[ref], Decimal(amount)) for ref, amount in applications],
        kind=kind,  # type: ignore[arg-type]
        check_number=check_number,
        memo=memo,
    )
    qb.advance(minutes=7)
    return txn_id


def start_demo(folder: Path | None = None) -> DemoEnvironment:
    """Start the sandbox servers, seed both sides, run the first polls and pushes; return the environment."""
    started = time.monotonic()
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="paysync-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    state = ProcoreState()
    seed = seed_demo(state)
    procore_server = run_asgi_in_thread(create_procore_app(state))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'paysync-demo.db'}",
        procore_api_base=procore_server.url,
        procore_login_base=procore_server.url,
        procore_client_id=str(seed["client_id"]),
        procore_client_secret=str(seed["client_secret"]),
        procore_company_id=int(seed["company_id"]),
        qbwc_password=DEMO_QBWC_PASSWORD,
        qbwc_file_key="main",
        schedule="hourly",
    )
    open_database(settings.database_url)
    try:
        env = _start_rest(settings, folder, state, procore_server)
    except BaseException:
        procore_server.stop()
        close_database()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    env.startup_seconds = time.monotonic() - started
    return env


def _start_rest(
    settings: Settings, folder: Path, state: ProcoreState, procore_server: RunningServer
) -> DemoEnvironment:
    now = utc_now()
    qbwc_server = run_asgi_in_thread(create_qbwc_app(settings, password_iterations=DEMO_PASSWORD_ITERATIONS))
    # QuickBooks' clock starts three weeks back; the schedule was configured two weeks back.
    qb = SandboxCompanyFile(company_name="Summit Ridge Builders", clock_start=now - timedelta(days=21))
    emulator = WebConnectorEmulator(f"{qbwc_server.url}/qbwc", settings.qbwc_username, DEMO_QBWC_PASSWORD, qb)
    env = DemoEnvironment(
        settings=settings,
        folder=folder,
        procore_state=state,
        procore_server=procore_server,
        qbwc_server=qbwc_server,
        company_file=qb,
        emulator=emulator,
    )
    try:
        _seed_history(env, now)
    except BaseException:
        qbwc_server.stop()
        raise
    return env


def _seed_history(env: DemoEnvironment, now: datetime) -> None:
    qb = env.company_file
    bills = env.bills
    for vendor in sorted({v for v, _, _ in _BILLS}):
        qb.add_vendor(vendor)
    for vendor, ref, amount in _BILLS:
        bills[ref] = qb.add_bill(vendor, ref, Decimal(amount), txn_date=qb.now.date() - timedelta(days=3))
    qb.advance(hours=1)

    # Paid before the sync schedule was configured: pre-existing, never synced.
    old_check = _pay(qb, bills, "Acme Concrete", [("ACME-2411", "20000.00")], check_number="10412")
    old_card = _pay(
        qb, bills, "Brightline Electric", [("BLE-10234", "31250.00")], kind="credit_card", memo="Visa 4417"
    )

    record_schedule_configured(env.settings.schedule, now=now - timedelta(days=14))
    qb.advance(days=8)
    # Old payments touched after the cutoff reach PaySync, and stay Not synced (pre-existing).
    qb.edit_payment(old_check, memo="Draw 1 (partial)")
    qb.edit_payment(old_card, memo="Visa 4417 - draw 1")
    qb.advance(minutes=5)

    # After the cutoff: what the sync carries to Procore.
    _pay(qb, bills, "Acme Concrete", [("ACME-2411", "28500.00")], check_number="10455")  # completes the bill
    _pay(qb, bills, "Acme Concrete", [("ACME-2438", "72750.00")], check_number="10456")  # full
    _pay(qb, bills, "Acme Concrete", [("ACME-2467", "30000.00")], check_number="10457")  # partial
    _pay(
        qb, bills, "Acme Concrete", [("ACME-2495", "55125.50")], check_number="10458"
    )  # matched by number only
    to_void = _pay(qb, bills, "Brightline Electric", [("BLE-10291", "46875.00")], check_number="10459")
    # One check paying two bills: one Procore payment per bill.
    _pay(
        qb,
        bills,
        "Ironclad Steel Erectors",
        [("ISE-7781", "99375.00"), ("ISE-7824", "33125.00")],
        check_number="10460",
    )
    _pay(
        qb,
        bills,
        "Keystone Rebar & Supply",
        [("KRS-55012", "23100.00")],
        kind="credit_card",
        memo="Visa 4417",
    )
    to_delete = _pay(
        qb, bills, "Cascade Plumbing & Mechanical", [("CPM-3301", "26800.00")], check_number="10461"
    )
    _pay(
        qb,
        bills,
        "Northwind Lumber Supply",
        [("NLS-90417", "43725.00")],
        kind="credit_card",
        memo="Amex 1009",
    )
    _pay(qb, bills, "Acme Concrete", [("ACME-MISC-17", "4200.00")], check_number="10462")  # needs mapping

    service = SyncService(env.settings, actor="demo")
    service.refresh_from_procore()
    queue_quickbooks_refresh(env.settings.qbwc_file_key, requested_by="demo")
    env.poll_web_connector()
    service.push(trigger="demo start")

    # A voided check and a deleted payment, caught by the next poll.
    qb.advance(days=2)
    qb.void_payment(to_void)
    qb.advance(minutes=20)
    qb.delete_payment(to_delete)
    qb.advance(minutes=20)
    queue_quickbooks_refresh(env.settings.qbwc_file_key, requested_by="demo")
    env.poll_web_connector()
    service.push(trigger="schedule")

    # Entered in QuickBooks since the last poll: `s` brings them over.
    qb.advance(days=1)
    _pay(qb, bills, "Brightline Electric", [("BLE-10355", "38410.25")], check_number="10470")
    _pay(
        qb, bills, "Acme Concrete", [("ACME-2467", "31200.00")], check_number="10471"
    )  # the rest of the bill
    _pay(
        qb,
        bills,
        "Northwind Lumber Supply",
        [("NLS-90466", "10000.00")],
        kind="credit_card",
        memo="Amex 1009",
    )


def run_demo() -> int:
    """`paysync demo`: start the sandbox, run the console on it, and shut everything down on exit."""
    from console.app import PaySyncApp

    print("Starting the PaySync demo sandbox (simulated Procore, QuickBooks and Web Connector)…", flush=True)
    env = start_demo()
    try:
        service = SyncService(env.settings, actor="demo user")
        PaySyncApp(env.settings, service, environment=env).run()
    finally:
        env.stop()
    print("PaySync demo stopped; its sandbox and temporary database are gone.")
    return 0
