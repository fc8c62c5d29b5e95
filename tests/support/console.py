"""The console over a fixed data set (`make_fixed_app`), for the console tests and snapshots: one
project, four commitments, payments in every ERP status. Written straight into a SQLite file with
the storage models, at fixed times, so the screens render the same on every run. `settle` lets the
console's workers finish."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled, WorkerFailed

from console.app import PaySyncApp
from console.runtime_bridge import RUNTIME_GROUP
from storage.db import open_database
from storage.models import (
    AuditLog,
    Bill,
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    ErrorEvent,
    Invoice,
    PaymentLink,
    ProcoreProject,
    Setting,
    SyncRun,
)
from sync.engine.service import SyncService
from sync.settings import Settings
from tests.support.database import sqlite_url

NOW = datetime(2026, 11, 25, 17, 0, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 1, 9, 30, 0, tzinfo=UTC)


def frozen_now() -> datetime:
    return NOW


def fixed_settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=sqlite_url(tmp_path, "console.db"),
        procore_api_base="http://127.0.0.1:9",  # nothing listens: the fixed-data tests never call Procore
        procore_login_base="http://127.0.0.1:9",
        procore_client_id="test-client",
        procore_client_secret="test-secret",
        procore_company_id=1,
        qbwc_password="console-test-password",
        schedule="hourly",
    )


def _payment(
    cf: CompanyFile,
    n: int,
    *,
    kind: str,
    day: date,
    amount: str,
    ref: str | None,
    vendor: str,
    is_void: bool = False,
    pre_existing: bool = False,
    deleted: bool = False,
) -> BillPayment:
    return BillPayment.create(
        company_file=cf,
        txn_id=f"PAY-{n}",
        kind=kind,
        edit_sequence="1732550000",
        txn_number=n,
        time_created=f"{day.isoformat()}T10:00:00-05:00",
        time_modified=f"{day.isoformat()}T10:00:00-05:00",
        vendor_list_id=f"V-{vendor[:3].upper()}",
        vendor_name=vendor,
        txn_date=day,
        amount=Decimal(amount),
        ref_number=ref,
        account_name="Checking" if kind == "check" else "Company Visa",
        memo=None,
        is_void=is_void,
        pre_existing=pre_existing,
        deleted_at=NOW - timedelta(days=3) if deleted else None,
        first_seen_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
    )


def _apply(
    payment: BillPayment,
    bill: Bill,
    amount: str,
    *,
    status: str | None,
    invoice: Invoice | None = None,
    reason: str | None = None,
    procore_id: int | None = None,
    payment_number: int | None = None,
    commitment: Commitment | None = None,
) -> BillPaymentApplication:
    application = BillPaymentApplication.create(
        payment=payment,
        bill_txn_id=bill.txn_id,
        bill_ref_number=bill.ref_number,
        bill_txn_date=bill.txn_date,
        amount=Decimal(amount),
    )
    if status is not None:
        PaymentLink.create(
            application=application,
            origin_id=f"qbd:main:{payment.txn_id}:{bill.txn_id}",
            invoice=invoice,
            commitment=commitment if commitment is not None else (invoice.commitment if invoice else None),
            match_reason="invoice origin_id is the bill's TxnID" if invoice else None,
            erp_status=status,
            status_reason=reason,
            procore_payment_id=procore_id,
            pushed_amount=Decimal(amount) if procore_id else None,
            payment_number=payment_number,
            locked=procore_id is not None,
            updated_at=NOW - timedelta(hours=2),
        )
    return application


def seed_console_data(settings: Settings) -> None:
    """Open the database `settings` names and fill it with the fixed data set."""
    open_database(settings.database_url)
    cf = CompanyFile.create(
        file_key="main",
        company_name="Ridgeline Builders LLC",
        country="US",
        product_name="QuickBooks Enterprise Solutions: Contractor 24.0",
        last_contact_at=NOW - timedelta(minutes=3),
        created_at=NOW - timedelta(days=30),
    )
    for key, value in (
        ("schedule_expression", "hourly"),
        ("schedule_cutoff", CUTOFF.isoformat()),
        ("procore_rate_limit_limit", "3600"),
        ("procore_rate_limit_remaining", "3421"),
    ):
        Setting.create(key=key, value=value, updated_at=NOW)
    project = ProcoreProject.create(id=101, name="Harbor View Medical Office", imported_at=NOW)
    framing = Commitment.create(
        id=2001,
        project=project,
        kind="subcontract",
        number="SC-001",
        title="Framing & drywall",
        vendor_id=501,
        vendor_name="Summit Framing Co.",
        imported_at=NOW,
    )
    electrical = Commitment.create(
        id=2002,
        project=project,
        kind="subcontract",
        number="SC-002",
        title="Electrical",
        vendor_id=502,
        vendor_name="Bright Line Electric",
        imported_at=NOW,
    )
    steel = Commitment.create(
        id=2003,
        project=project,
        kind="purchase_order",
        number="PO-001",
        title="Structural steel",
        vendor_id=503,
        vendor_name="Keystone Steel Supply",
        imported_at=NOW,
    )
    concrete = Commitment.create(
        id=2004,
        project=project,
        kind="subcontract",
        number="SC-003",
        title="Site concrete",
        vendor_id=504,
        vendor_name="Granite Concrete",
        imported_at=NOW,
    )

    def invoice(
        iid: int, commitment: Commitment, number: str, draw: int, amount: str, bill: str | None
    ) -> Invoice:
        return Invoice.create(
            id=iid,
            project=project,
            commitment=commitment,
            number=draw,
            invoice_number=number,
            vendor_id=commitment.vendor_id,
            status="approved",
            erp_status="synced",
            origin_id=bill,
            amount=Decimal(amount),
            billing_date=date(2026, 10, 31) + timedelta(days=draw * 14),
            imported_at=NOW,
        )

    inv1 = invoice(3001, framing, "INV-1001", 1, "48500.00", "BILL-1")
    inv2 = invoice(3002, framing, "INV-1002", 2, "52250.00", "BILL-2")
    inv3 = invoice(3003, electrical, "BLE-220", 1, "31000.00", "BILL-3")
    inv4 = invoice(3004, steel, "KS-7781", 1, "88400.00", "BILL-4")
    invoice(3005, concrete, "GC-01", 1, "12000.00", None)

    def bill(txn: str, ref: str, vendor: str, amount: str) -> Bill:
        return Bill.create(
            company_file=cf,
            txn_id=txn,
            vendor_name=vendor,
            txn_date=date(2026, 11, 2),
            ref_number=ref,
            amount_due=Decimal(amount),
        )

    b1 = bill("BILL-1", "INV-1001", "Summit Framing Co.", "48500.00")
    b2 = bill("BILL-2", "INV-1002", "Summit Framing Co.", "52250.00")
    b3 = bill("BILL-3", "BLE-220", "Bright Line Electric", "31000.00")
    b4 = bill("BILL-4", "KS-7781", "Keystone Steel Supply", "88400.00")
    b5 = bill("BILL-5", "ZZ-999", "Summit Framing Co.", "7300.00")
    b6 = bill("BILL-6", "GC-01", "Granite Concrete", "12000.00")

    summit, bright, keystone = "Summit Framing Co.", "Bright Line Electric", "Keystone Steel Supply"
    p1 = _payment(cf, 1, kind="check", day=date(2026, 11, 10), amount="48500.00", ref="1042", vendor=summit)
    _apply(p1, b1, "48500.00", status="synced", invoice=inv1, procore_id=9001, payment_number=1)
    p2 = _payment(cf, 2, kind="check", day=date(2026, 11, 18), amount="20000.00", ref="1043", vendor=summit)
    _apply(p2, b2, "20000.00", status="synced", invoice=inv2, procore_id=9002)
    # One check paying two bills: one Procore payment per bill (DESIGN rule 3).
    p3 = _payment(cf, 3, kind="check", day=date(2026, 11, 20), amount="25000.00", ref="1044", vendor=bright)
    _apply(p3, b3, "25000.00", status="synced", invoice=inv3, procore_id=9003)
    p4 = _payment(
        cf, 4, kind="credit_card", day=date(2026, 11, 21), amount="5000.00", ref=None, vendor=keystone
    )
    _apply(
        p4,
        b4,
        "5000.00",
        status="failed",
        invoice=inv4,
        reason="Procore refused the payment: the purchase order is not approved. Approve PO-001 in Procore, then sync.",
    )
    p5 = _payment(
        cf,
        5,
        kind="check",
        day=date(2026, 11, 5),
        amount="8400.00",
        ref="1039",
        vendor=keystone,
        is_void=True,
    )
    _apply(
        p5,
        b4,
        "8400.00",
        status="synced",
        invoice=inv4,
        procore_id=9005,
        reason="Voided in QuickBooks; voided in Procore.",
    )
    p6 = _payment(
        cf, 6, kind="check", day=date(2026, 11, 12), amount="3000.00", ref="1040", vendor=bright, deleted=True
    )
    _apply(
        p6,
        b3,
        "3000.00",
        status="deleted_in_quickbooks",
        invoice=inv3,
        procore_id=9006,
        reason="Deleted in QuickBooks on 2026-11-22. Kept in Procore until an Admin retracts it.",
    )
    p7 = _payment(
        cf,
        7,
        kind="check",
        day=date(2026, 10, 28),
        amount="12500.00",
        ref="0990",
        vendor=summit,
        pre_existing=True,
    )
    _apply(
        p7,
        b1,
        "12500.00",
        status="not_synced",
        invoice=inv1,
        reason="Created in QuickBooks before the sync schedule was configured (2026-11-01): pre-existing.",
    )
    p8 = _payment(cf, 8, kind="check", day=date(2026, 11, 23), amount="7300.00", ref="1050", vendor=summit)
    _apply(
        p8,
        b5,
        "7300.00",
        status="needs_attention",
        reason="Needs mapping: no Procore invoice numbered ZZ-999 on a commitment of Summit Framing Co.",
    )
    p9 = _payment(
        cf, 9, kind="credit_card", day=date(2026, 11, 24), amount="2250.00", ref=None, vendor=summit
    )
    _apply(p9, b2, "2250.00", status="waiting", invoice=inv2, reason="Waiting for the next push to Procore.")

    # Pre-existing payments PaySync never links to an invoice: their bills still say where they
    # belong. One has the engine's not-synced link without a commitment (its bill's TxnID is the
    # invoice's origin_id); one has no link at all (its bill number is an invoice number of the vendor).
    p10 = _payment(
        cf,
        10,
        kind="check",
        day=date(2026, 10, 20),
        amount="6000.00",
        ref="0985",
        vendor=bright,
        pre_existing=True,
    )
    _apply(
        p10,
        b3,
        "6000.00",
        status="not_synced",
        reason="Created in QuickBooks before the sync schedule was configured (2026-11-01): pre-existing.",
    )
    p11 = _payment(
        cf,
        11,
        kind="check",
        day=date(2026, 10, 15),
        amount="4000.00",
        ref="0977",
        vendor="Granite Concrete",
        pre_existing=True,
    )
    _apply(p11, b6, "4000.00", status=None)

    SyncRun.create(
        trigger="schedule",
        started_at=NOW - timedelta(minutes=58),
        finished_at=NOW - timedelta(minutes=57),
        status="ok",
        created=3,
        updated=1,
        voided=1,
        flagged=1,
        skipped=1,
        errors=1,
    )
    AuditLog.create(
        at=NOW - timedelta(minutes=57),
        actor="paysync",
        action="procore.create",
        target="qbd:main:PAY-3:BILL-3",
        detail=(
            '{"contract_id": 2002, "fields": {"amount": "25000.00", "check_number": "1044", '
            '"origin_id": "qbd:main:PAY-3:BILL-3"}, "procore_payment_id": 9003, "status": "done", "write_id": 3}'
        ),
    )
    AuditLog.create(
        at=NOW - timedelta(minutes=3), actor="web-connector", action="qbwc.session", target="main"
    )
    ErrorEvent.create(
        at=NOW - timedelta(minutes=57),
        where="procore",
        message="Procore refused the payment on PO-001: the purchase order is not approved.",
    )
    ErrorEvent.create(
        at=NOW - timedelta(minutes=56),
        where="procore",
        message="qbd:main:PAY-4:BILL-4: Procore refused 5000.00 on PO-001: the purchase order is not approved.",
    )


def make_fixed_app(tmp_path: Path, **options: Any) -> PaySyncApp:
    """The console over the fixed data set, with a frozen clock, UTC times, no background refresh,
    and its preferences (console.json, keymap.toml) in tmp_path/config, never the user's own."""
    settings = fixed_settings(tmp_path)
    seed_console_data(settings)
    options.setdefault("display_tz", UTC)
    options.setdefault("preferences_folder", tmp_path / "config")
    return PaySyncApp(
        settings,
        SyncService(settings, actor="console test"),
        now=frozen_now,
        refresh_seconds=None,
        **options,
    )


async def settle(pilot: Pilot[None], rounds: int = 6) -> None:
    """Let workers finish and their messages land; results start further workers, hence the rounds.
    The runtime's worker runs as long as the console, so it is not waited for."""
    for _ in range(rounds):
        try:
            workers = [worker for worker in pilot.app.workers if worker.group != RUNTIME_GROUP]
            if workers:
                await pilot.app.workers.wait_for_complete(workers)
        except (WorkerCancelled, WorkerFailed):
            # An exclusive reload replaced an older one, or a worker failed: failures reach the
            # error modal, which the tests look at.
            pass
        await pilot.pause(0.02)
    # The screen's own inputs (app.query sees only the default screen's): a blinking cursor would
    # make a snapshot depend on the moment it is taken.
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
