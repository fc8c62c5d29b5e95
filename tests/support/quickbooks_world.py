"""One QuickBooks world: a sandbox QuickBooks company file polled by the Web Connector emulator,
which talks SOAP to PaySync's /qbwc app on a loopback port, which stores into a test database
(`qbwc_world`). The service's clock is a settable `Clock` (ticket expiry, throttling); QuickBooks'
clock is the sandbox company file's own.

For the engine tests that need no Web Connector, `QB` writes QuickBooks rows straight into the
database, the way the Web Connector service stores them.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.quickbooks import SandboxCompanyFile
from sandbox.servers import RunningServer, run_asgi_in_thread
from sandbox.webconnector import SessionReport, WebConnectorEmulator
from storage.db import close_database
from storage.models import BillPayment, BillPaymentApplication, CompanyFile
from sync.quickbooks.webconnector.app import create_qbwc_app
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.runtime.scheduler import record_schedule_configured
from sync.settings import Settings, settings_from_mapping
from tests.support.database import open_test_database

FILE_KEY = "main"
PASSWORD = "correct horse battery staple"  # the Web Connector's password (QBWC_PASSWORD)
USERNAME = "paysync"
TEST_ITERATIONS = 1_000  # PBKDF2 rounds in tests; production uses the default (600,000)

# The sandbox's clock starts at 2026-11-02 08:00 US Eastern (EST, UTC-5) = 13:00 UTC.
SANDBOX_START_UTC = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
DEFAULT_CUTOFF = SANDBOX_START_UTC - timedelta(hours=1)


def emulator(
    url: str,
    company: SandboxCompanyFile,
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    **options: Any,
) -> WebConnectorEmulator:
    """The Web Connector polling `company` against the /qbwc endpoint at `url`."""
    return WebConnectorEmulator(url, username, password, company, **options)


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
        return emulator(self.url, self.company, username=username, password=password, **options)

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
    database: str = "sqlite",
    **settings_env: str,
) -> Iterator[QbwcWorld]:
    """`database`: "postgres" for the server PAYSYNC_TEST_POSTGRES_URL names (emptied first) instead
    of a SQLite file. `cutoff`: recorded with the schedule "hourly" (None: no cutoff yet)."""
    db_url = open_test_database(tmp_path, database, cutoff=None)
    settings = make_settings(db_url, **settings_env)
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


# ---- QuickBooks rows written straight into the database ------------------------------------

_txn_counter = itertools.count(1)


@dataclass
class QB:
    """Writes QuickBooks rows the way the Web Connector service stores them."""

    file_key: str = FILE_KEY

    def company(self) -> CompanyFile:
        row = CompanyFile.get_or_none(CompanyFile.file_key == self.file_key)
        return row or CompanyFile.create(file_key=self.file_key, country="US")

    def pay(
        self,
        bills: list[tuple[str, str | None, str]],
        *,
        txn_id: str | None = None,
        kind: str = "check",
        ref_number: str | None = "1001",
        vendor_list_id: str | None = "V-ACME",
        vendor_name: str | None = "Acme Concrete",
        txn_date: date = date(2026, 11, 20),
        pre_existing: bool = False,
    ) -> BillPayment:
        """bills: (bill TxnID, bill RefNumber, applied amount)."""
        txn_id = txn_id or f"P-{next(_txn_counter)}"
        amounts = [Decimal(a) for _, _, a in bills]
        payment = BillPayment.create(
            company_file=self.company(),
            txn_id=txn_id,
            kind=kind,
            edit_sequence="1",
            time_created="2026-11-20T09:00:00-05:00",
            time_modified="2026-11-20T09:00:00-05:00",
            vendor_list_id=vendor_list_id,
            vendor_name=vendor_name,
            txn_date=txn_date,
            amount=sum(amounts, Decimal("0.00")),
            ref_number=ref_number,
            pre_existing=pre_existing,
        )
        for (bill_txn_id, bill_ref, _), amount in zip(bills, amounts, strict=True):
            BillPaymentApplication.create(
                payment=payment, bill_txn_id=bill_txn_id, bill_ref_number=bill_ref, amount=amount
            )
        return payment

    def edit(self, payment: BillPayment, **changes: Any) -> None:
        """Change the payment as a new EditSequence would; `applied` maps bill TxnID -> amount."""
        applied: dict[str, str] | None = changes.pop("applied", None)
        fresh = BillPayment.get_by_id(payment.id)
        for name, value in changes.items():
            setattr(fresh, name, value)
        fresh.edit_sequence = str(int(fresh.edit_sequence) + 1)
        if applied is not None:
            for app in BillPaymentApplication.select().where(BillPaymentApplication.payment == fresh):
                if app.bill_txn_id in applied:
                    app.amount = Decimal(applied[app.bill_txn_id])
                    app.save()
            fresh.amount = sum(
                (
                    a.amount
                    for a in BillPaymentApplication.select().where(BillPaymentApplication.payment == fresh)
                ),
                Decimal("0.00"),
            )
        fresh.save()

    def void(self, payment: BillPayment) -> None:
        self.edit(payment, is_void=True, memo="VOID:", amount=Decimal("0.00"))
        BillPaymentApplication.update(amount=Decimal("0.00")).where(
            BillPaymentApplication.payment == payment.id
        ).execute()

    def delete(self, payment: BillPayment) -> None:
        BillPayment.update(deleted_at=datetime.now(UTC)).where(BillPayment.id == payment.id).execute()


def origin(payment: BillPayment, bill_txn_id: str, file_key: str = FILE_KEY) -> str:
    """The origin_id PaySync gives the Procore payment of one application."""
    return f"qbd:{file_key}:{payment.txn_id}:{bill_txn_id}"
