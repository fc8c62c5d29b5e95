"""A Web Connector world for end-to-end tests: sandbox QuickBooks + Web Connector emulator -> our
SOAP service on a loopback port -> a SQLite file in tmp_path.

The service's clock is a settable `Clock` (ticket expiry, throttling); QuickBooks' clock is the
sandbox company file's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.quickbooks import SandboxCompanyFile
from sandbox.servers import RunningServer, run_asgi_in_thread
from sandbox.webconnector import SessionReport, WebConnectorEmulator
from storage.db import close_database, open_database
from storage.models import ALL_MODELS, BillPayment, BillPaymentApplication
from sync.quickbooks.webconnector.app import create_qbwc_app
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.runtime.scheduler import record_schedule_configured
from sync.settings import Settings, settings_from_mapping

PASSWORD = "correct horse battery staple"
USERNAME = "paysync"
TEST_ITERATIONS = 1_000  # PBKDF2 rounds in tests; production uses the default (600,000)

# The sandbox's clock starts at 2026-11-02 08:00 US Eastern (EST, UTC-5) = 13:00 UTC.
SANDBOX_START_UTC = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
DEFAULT_CUTOFF = SANDBOX_START_UTC - timedelta(hours=1)


class SessionClosedRecorder:
    """The on_session_closed hook: records file keys; the hook runs after the answer is sent, so
    tests wait for it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._changed = threading.Condition()

    def __call__(self, file_key: str) -> None:
        with self._changed:
            self.calls.append(file_key)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[str]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)


class Clock:
    """The service's UTC clock, moved by the test."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 2, 14, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def make_settings(db_url: str, **extra: str) -> Settings:
    env = {"PAYSYNC_DATABASE_URL": db_url, "QBWC_PASSWORD": PASSWORD, "QBWC_USERNAME": USERNAME}
    env.update(extra)
    return settings_from_mapping(env)


@dataclass
class QbwcWorld:
    settings: Settings
    company: SandboxCompanyFile
    server: RunningServer
    clock: Clock
    closed_files: SessionClosedRecorder = field(default_factory=SessionClosedRecorder)

    @property
    def url(self) -> str:
        return f"{self.server.url}/qbwc"

    def emulator(
        self, *, password: str = PASSWORD, username: str = USERNAME, **options: Any
    ) -> WebConnectorEmulator:
        return WebConnectorEmulator(self.url, username, password, self.company, **options)

    def queue(self) -> None:
        queue_quickbooks_refresh(self.settings.qbwc_file_key, requested_by="test")

    def session(self, **options: Any) -> SessionReport:
        return self.emulator(**options).run_session()

    def sync(self, **options: Any) -> SessionReport:
        """Queue a refresh and let the Web Connector poll once."""
        self.queue()
        return self.session(**options)


@contextmanager
def qbwc_world(
    tmp_path: Path,
    *,
    company: SandboxCompanyFile | None = None,
    cutoff: datetime | None = DEFAULT_CUTOFF,
    max_returned: int = 100,
    fetch_unknown_bills: bool = False,
    database_url: str | None = None,
    **settings_env: str,
) -> Iterator[QbwcWorld]:
    """`database_url`: another database (PostgreSQL) instead of a SQLite file; it is emptied first."""
    db_url = database_url or f"sqlite:///{tmp_path / 'paysync.db'}"
    settings = make_settings(db_url, **settings_env)
    if database_url:
        open_database(db_url).drop_tables(ALL_MODELS, safe=True, cascade=True)
        close_database()
    open_database(db_url)
    clock = Clock()
    if cutoff is not None:
        record_schedule_configured("hourly", now=cutoff)
    closed = SessionClosedRecorder()
    app = create_qbwc_app(
        settings,
        on_session_closed=closed,
        clock=clock,
        max_returned=max_returned,
        password_iterations=TEST_ITERATIONS,
        fetch_unknown_bills=fetch_unknown_bills,
    )
    server = run_asgi_in_thread(app)
    try:
        yield QbwcWorld(settings, company or SandboxCompanyFile(), server, clock, closed)
    finally:
        server.stop()
        close_database()


def stored_payment(txn_id: str) -> BillPayment:
    payment: BillPayment = BillPayment.get(BillPayment.txn_id == txn_id)
    return payment


def applications_of(txn_id: str) -> dict[str, Decimal]:
    """{bill TxnID: amount applied} of a stored payment."""
    payment = stored_payment(txn_id)
    return {
        str(row.bill_txn_id): row.amount
        for row in BillPaymentApplication.select().where(BillPaymentApplication.payment == payment)
    }


def add_vendor_with_bills(company: SandboxCompanyFile, vendor: str, *amounts: str) -> list[str]:
    company.add_vendor(vendor)
    return [
        company.add_bill(vendor, f"{vendor[:3].upper()}-{index}", Decimal(amount))
        for index, amount in enumerate(amounts, start=1)
    ]
