"""A second QuickBooks company file on top of the console's fixed data set (tests/support/console.py):
"east", added with `paysync company add` as East Builders LLC, whose Web Connector last polled two
hours ago and failed. It has its own project and subcontract (SC-EAST, two payments) and one payment
on the fixed set's SC-001, so a filtered commitment shows fewer payments than it does for all files."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from storage.models import (
    Bill,
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    Invoice,
    PaymentLink,
    ProcoreProject,
)
from tests.support.console import NOW

EAST_NAME = "East Builders LLC"
FRAMING_ID = 2001  # SC-001 in the fixed data set: four payments from "main"
EAST_COMMITMENT_ID = 2101


def _east_payment(
    cf: CompanyFile, bill: Bill, n: int, amount: str, *, status: str, invoice: Invoice, day: date
) -> None:
    payment = BillPayment.create(
        company_file=cf,
        txn_id=f"PAY-{n}",  # the same TxnIDs as "main" has: unique only within a file
        kind="check",
        edit_sequence="1732550000",
        txn_number=n,
        time_created=f"{day.isoformat()}T10:00:00-05:00",
        time_modified=f"{day.isoformat()}T10:00:00-05:00",
        vendor_list_id="V-EAST",
        vendor_name=bill.vendor_name,
        txn_date=day,
        amount=Decimal(amount),
        ref_number=f"E{n}",
        account_name="East Checking",
        first_seen_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
    )
    application = BillPaymentApplication.create(
        payment=payment,
        bill_txn_id=bill.txn_id,
        bill_ref_number=bill.ref_number,
        bill_txn_date=bill.txn_date,
        amount=Decimal(amount),
    )
    PaymentLink.create(
        application=application,
        origin_id=f"qbd:east:{payment.txn_id}:{bill.txn_id}",
        invoice=invoice,
        commitment=invoice.commitment,
        match_reason="invoice origin_id is the bill's TxnID",
        erp_status=status,
        procore_payment_id=9100 + n if status == "synced" else None,
        pushed_amount=Decimal(amount) if status == "synced" else None,
        locked=status == "synced",
        updated_at=NOW - timedelta(hours=2),
    )


def add_east_company() -> None:
    """Add the "east" company file and its payments to the open fixed-data database."""
    cf = CompanyFile.create(
        file_key="east",
        company_name=EAST_NAME,
        label=EAST_NAME,
        country="US",
        last_contact_at=NOW - timedelta(hours=2),
        last_error="The Web Connector could not open the company file.",
        last_error_at=NOW - timedelta(hours=2),
        registered_at=NOW - timedelta(days=5),
        created_at=NOW - timedelta(days=5),
    )
    project = ProcoreProject.create(id=102, name="East Yard", imported_at=NOW)
    east = Commitment.create(
        id=EAST_COMMITMENT_ID,
        project=project,
        kind="subcontract",
        number="SC-EAST",
        title="Yard paving",
        vendor_id=601,
        vendor_name="Acme Paving",
        imported_at=NOW,
    )
    east_invoice = Invoice.create(
        id=3101,
        project=project,
        commitment=east,
        number=1,
        invoice_number="AP-1",
        vendor_id=601,
        status="approved",
        erp_status="synced",
        origin_id="EBILL-1",
        amount=Decimal("40000.00"),
        billing_date=date(2026, 11, 14),
        imported_at=NOW,
    )
    framing_invoice = Invoice.get_by_id(3001)  # INV-1001 on SC-001
    bill = Bill.create(
        company_file=cf,
        txn_id="EBILL-1",
        vendor_name="Acme Paving",
        txn_date=date(2026, 11, 3),
        ref_number="AP-1",
        amount_due=Decimal("40000.00"),
    )
    framing_bill = Bill.create(
        company_file=cf,
        txn_id="BILL-1",  # the same TxnID as main's bill: another file's books
        vendor_name="Summit Framing Co.",
        txn_date=date(2026, 11, 3),
        ref_number="INV-1001",
        amount_due=Decimal("1500.00"),
    )
    _east_payment(cf, bill, 1, "15000.00", status="synced", invoice=east_invoice, day=date(2026, 11, 16))
    _east_payment(cf, bill, 2, "10000.00", status="waiting", invoice=east_invoice, day=date(2026, 11, 22))
    _east_payment(
        cf, framing_bill, 3, "1500.00", status="synced", invoice=framing_invoice, day=date(2026, 11, 19)
    )
