"""End to end: sandbox QuickBooks -> Web Connector emulator -> our SOAP service -> SQLite.

What an accountant enters in QuickBooks must arrive in PaySync's database to the cent: full,
partial, multi-bill and credit card payments, large volumes through iterators, and later voids,
edits and deletions.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.quickbooks import SandboxCompanyFile
from storage.models import (
    AuditLog,
    BillPayment,
    BillPaymentApplication,
    CompanyFile,
    QuickBooksDeletion,
    QuickBooksWork,
    Watermark,
    WebConnectorSession,
)
from tests.qbxml_schema import qbxml_errors
from tests.support.database import needs_postgres
from tests.support.quickbooks_world import (
    PASSWORD,
    SANDBOX_START_UTC,
    add_vendor_with_bills,
    applications_of,
    qbwc_world,
    stored_payment,
)


def test_full_partial_multi_bill_and_credit_card_payments_arrive_exactly(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        qb = world.company
        concrete = add_vendor_with_bills(qb, "Acme Concrete", "1250.00", "300.10", "49.90")
        steel = add_vendor_with_bills(qb, "Bolt Steel", "12345678901.23")
        full = qb.pay_bills("Acme Concrete", [(concrete[0], Decimal("1250.00"))], check_number="5001")
        partial = qb.pay_bills("Acme Concrete", [(concrete[1], Decimal("100.05"))], check_number="5002")
        multi = qb.pay_bills(
            "Acme Concrete",
            [(concrete[1], Decimal("200.05")), (concrete[2], Decimal("49.90"))],
            check_number="5003",
        )
        card = qb.pay_bills(
            "Bolt Steel", [(steel[0], Decimal("12345678901.23"))], kind="credit_card", check_number="CC-9"
        )

        report = world.sync()

        assert report.outcome == "done", report
        assert report.authenticate_result[1] == ""
        assert report.percents[-1] == 100
        assert all(0 <= p < 100 for p in report.percents[:-1])
        assert report.close_message == "PaySync: 4 payments received (4 new, 0 changed), 0 deletions"
        # Every request PaySync sent is valid qbXML 13.0.
        for request in report.requests:
            assert qbxml_errors(request) == [], request

        assert applications_of(full) == {concrete[0]: Decimal("1250.00")}
        assert applications_of(partial) == {concrete[1]: Decimal("100.05")}
        assert applications_of(multi) == {concrete[1]: Decimal("200.05"), concrete[2]: Decimal("49.90")}
        assert applications_of(card) == {steel[0]: Decimal("12345678901.23")}
        assert stored_payment(multi).amount == Decimal("249.95")
        assert stored_payment(card).kind == "credit_card"
        assert stored_payment(full).kind == "check"
        assert stored_payment(full).ref_number == "5001"
        assert stored_payment(full).vendor_name == "Acme Concrete"
        assert not stored_payment(full).pre_existing
        assert not stored_payment(full).is_void
        partial_row = BillPaymentApplication.get(BillPaymentApplication.bill_txn_id == concrete[2])
        assert partial_row.bill_ref_number == "ACM-3"

        company = CompanyFile.get(CompanyFile.file_key == "main")
        assert company.country == "US"
        assert company.company_name == "Summit Builders LLC"
        assert company.product_name == world.company.product_name  # from the host query
        assert company.last_contact_at == world.clock.now
        assert company.last_error is None
        assert {w.kind for w in Watermark.select()} == {"payments_check", "payments_credit_card"}
        assert QuickBooksWork.select().where(QuickBooksWork.status != "done").count() == 0
        assert world.closed_files.wait_for(1) == ["main"]


def test_a_second_poll_with_nothing_new_changes_nothing_and_does_not_push(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        bills = add_vendor_with_bills(world.company, "Acme Concrete", "500.00")
        world.company.pay_bills("Acme Concrete", [(bills[0], Decimal("500.00"))], check_number="1")
        assert world.sync().outcome == "done"
        world.company.advance(minutes=5)
        stored_before = [
            sorted(map(str, model.select().tuples())) for model in (BillPayment, BillPaymentApplication)
        ]

        again = world.sync()

        assert again.outcome == "done"
        # The ten-minute overlap reads the payment again; (TxnID, EditSequence) shows it is unchanged.
        assert again.close_message == "PaySync: 1 payment received (0 new, 0 changed), 0 deletions"
        assert BillPayment.select().count() == 1
        assert [
            sorted(map(str, model.select().tuples())) for model in (BillPayment, BillPaymentApplication)
        ] == stored_before
        # Only the first session brought changes: wait for a second call that must not come.
        assert world.closed_files.wait_for(2, timeout=0.5) == ["main"]


def test_one_thousand_payments_arrive_in_pages_of_one_hundred(tmp_path: Path) -> None:
    qb = SandboxCompanyFile()
    qb.add_vendor("Acme Concrete")
    txn_ids = []
    for number in range(1000):
        bill = qb.add_bill("Acme Concrete", f"INV-{number}", Decimal("10.00") + number)
        txn_ids.append(
            qb.pay_bills("Acme Concrete", [(bill, Decimal("10.00") + number)], check_number=str(number))
        )
    with qbwc_world(tmp_path, company=qb) as world:
        report = world.sync()

        assert report.outcome == "done", report.last_errors
        check_pages = [r for r in report.requests if "<BillPaymentCheckQueryRq" in r]
        assert len(check_pages) >= 10
        assert 'iterator="Start"' in check_pages[0]
        assert all('iterator="Continue"' in page for page in check_pages[1:])
        assert all("<MaxReturned>100</MaxReturned>" in page for page in check_pages)
        assert BillPayment.select().count() == 1000
        assert BillPaymentApplication.select().count() == 1000
        assert stored_payment(txn_ids[999]).amount == Decimal("1009.00")
        work = QuickBooksWork.get(QuickBooksWork.kind == "payments_check")
        assert (work.status, work.records, work.pages) == ("done", 1000, len(check_pages))
        assert report.percents == sorted(report.percents)  # progress only moves forward
        assert report.close_message == "PaySync: 1000 payments received (1000 new, 0 changed), 0 deletions"


def test_void_and_edit_after_import_are_detected(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", "1000.00", "800.00")
        voided = qb.pay_bills(
            "Acme Concrete", [(bills[0], Decimal("1000.00"))], check_number="7001", memo="May draw"
        )
        edited = qb.pay_bills("Acme Concrete", [(bills[1], Decimal("300.00"))], check_number="7002")
        assert world.sync().outcome == "done"
        before = stored_payment(edited).edit_sequence

        qb.advance(minutes=30)
        qb.void_payment(voided)
        qb.edit_payment(edited, applications=[(bills[1], Decimal("450.25"))], check_number="7002A")
        report = world.sync()

        assert report.outcome == "done"
        assert report.close_message == "PaySync: 2 payments received (0 new, 2 changed), 0 deletions"
        void_row = stored_payment(voided)
        assert void_row.is_void
        assert void_row.amount == Decimal("0.00")
        assert void_row.memo == "VOID: May draw"
        assert applications_of(voided) == {bills[0]: Decimal("0.00")}
        edit_row = stored_payment(edited)
        assert edit_row.edit_sequence != before
        assert edit_row.amount == Decimal("450.25")
        assert edit_row.ref_number == "7002A"
        assert applications_of(edited) == {bills[1]: Decimal("450.25")}
        assert world.closed_files.wait_for(2) == ["main", "main"]


def test_an_application_moved_to_another_bill_keeps_the_old_row_at_zero(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", "100.00", "200.00")
        payment = qb.pay_bills("Acme Concrete", [(bills[0], Decimal("100.00"))], check_number="1")
        world.sync()
        old_row_id = BillPaymentApplication.get(BillPaymentApplication.bill_txn_id == bills[0]).id

        qb.advance(minutes=20)
        qb.edit_payment(payment, applications=[(bills[1], Decimal("100.00"))])
        world.sync()

        # The old row (a Procore payment may hang off it) stays, now at 0.00.
        assert applications_of(payment) == {bills[0]: Decimal("0.00"), bills[1]: Decimal("100.00")}
        assert BillPaymentApplication.get(BillPaymentApplication.bill_txn_id == bills[0]).id == old_row_id


def test_a_payment_deleted_in_quickbooks_is_recorded_and_flagged_not_removed(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", "640.00", "99.00")
        doomed = qb.pay_bills("Acme Concrete", [(bills[0], Decimal("640.00"))], check_number="8001")
        kept = qb.pay_bills("Acme Concrete", [(bills[1], Decimal("99.00"))], check_number="8002")
        world.sync()

        qb.advance(minutes=45)
        qb.delete_payment(doomed)
        report = world.sync()

        assert report.outcome == "done"
        assert report.close_message is not None and report.close_message.endswith("1 deletion")
        deletion = QuickBooksDeletion.get(QuickBooksDeletion.txn_id == doomed)
        assert deletion.txn_del_type == "BillPaymentCheck"
        assert deletion.ref_number == "8001"
        row = stored_payment(doomed)
        assert row.deleted_at == world.clock.now
        assert row.time_deleted == deletion.time_deleted
        assert applications_of(doomed) == {bills[0]: Decimal("640.00")}  # kept, for the Procore side to flag
        assert stored_payment(kept).deleted_at is None
        assert Watermark.get(Watermark.kind == "deleted").value == qb.now.strftime("%Y-%m-%dT%H:%M:%S")

        # Read again through the overlap: not counted twice.
        qb.advance(minutes=1)
        again = world.sync().close_message
        assert again is not None and again.endswith("0 deletions")
        assert QuickBooksDeletion.select().count() == 1


def test_payments_created_before_the_cutoff_are_pre_existing(tmp_path: Path) -> None:
    cutoff = SANDBOX_START_UTC.replace(hour=15)  # 10:00 in QuickBooks' Eastern time
    with qbwc_world(tmp_path, cutoff=cutoff) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", "100.00", "200.00")
        old = qb.pay_bills("Acme Concrete", [(bills[0], Decimal("100.00"))], check_number="1")  # 08:00 EST
        qb.advance(hours=3)  # 11:00 EST = 16:00 UTC, after the cutoff
        new = qb.pay_bills("Acme Concrete", [(bills[1], Decimal("200.00"))], check_number="2")

        report = world.sync()

        assert report.outcome == "done"
        # The first query starts a day before the cutoff, so the old payment is read and marked.
        assert "<FromModifiedDate>2026-11-01T15:00:00</FromModifiedDate>" in report.requests[1]
        assert stored_payment(old).pre_existing
        assert not stored_payment(new).pre_existing

        qb.advance(minutes=30)
        qb.edit_payment(old, memo="still pre-existing after an edit")
        world.sync()
        assert stored_payment(old).memo == "still pre-existing after an edit"
        assert stored_payment(old).pre_existing


def test_the_watermark_drives_the_next_query_with_a_ten_minute_overlap(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", "100.00")
        qb.advance(minutes=7)
        qb.pay_bills("Acme Concrete", [(bills[0], Decimal("100.00"))], check_number="1")  # 08:07 local
        world.sync()
        assert Watermark.get(Watermark.kind == "payments_check").value == "2026-11-02T08:07:00"

        report = world.sync()

        check_query = next(r for r in report.requests if "<BillPaymentCheckQueryRq" in r)
        assert "<FromModifiedDate>2026-11-02T07:57:00</FromModifiedDate>" in check_query


def test_sessions_are_audited_without_passwords_or_qbxml_bodies(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        bills = add_vendor_with_bills(world.company, "Acme Concrete", "100.00")
        world.company.pay_bills("Acme Concrete", [(bills[0], Decimal("100.00"))], check_number="1")
        world.sync()
        world.session(password="not the password")

        actions = [row.action for row in AuditLog.select().order_by(AuditLog.id)]
        assert "qbwc.session_started" in actions
        assert "qbwc.session_closed" in actions
        assert "qbwc.login_failed" in actions
        for row in AuditLog.select():
            text = f"{row.target} {row.detail}"
            assert PASSWORD not in text and "not the password" not in text
            assert "<QBXML" not in text
        session = WebConnectorSession.get(WebConnectorSession.state == "closed")
        assert session.closed_at is not None


def test_bills_that_payments_refer_to_are_read_in_the_same_session(tmp_path: Path) -> None:
    from storage.models import Bill

    with qbwc_world(tmp_path, fetch_unknown_bills=True) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", "1000.00", "250.00")
        qb.pay_bills(
            "Acme Concrete", [(bills[0], Decimal("400.00")), (bills[1], Decimal("250.00"))], check_number="9"
        )

        report = world.sync()

        assert report.outcome == "done"
        bill_queries = [r for r in report.requests if "<BillQueryRq" in r]
        assert len(bill_queries) == 1
        assert all(qbxml_errors(r) == [] for r in bill_queries)
        stored = {row.txn_id: row for row in Bill.select()}
        assert set(stored) == set(bills)
        assert stored[bills[0]].amount_due == Decimal("1000.00")
        assert stored[bills[0]].open_amount == Decimal("600.00")
        assert stored[bills[1]].is_paid is True
        assert stored[bills[0]].ref_number == "ACM-1"

        # Known bills are not asked for again.
        qb.advance(minutes=15)
        again = world.sync()
        assert not [r for r in again.requests if "<BillQueryRq" in r]


@pytest.mark.postgres
@needs_postgres
def test_a_session_stores_payments_in_postgresql(tmp_path: Path) -> None:
    with qbwc_world(tmp_path, database="postgres", fetch_unknown_bills=True) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", "1250.00", "300.10")
        multi = qb.pay_bills(
            "Acme Concrete", [(bills[0], Decimal("1250.00")), (bills[1], Decimal("0.10"))], check_number="1"
        )
        assert world.sync().outcome == "done"
        qb.advance(minutes=20)
        qb.void_payment(multi)
        assert world.sync().close_message == "PaySync: 1 payment received (0 new, 1 changed), 0 deletions"
        assert stored_payment(multi).is_void
        assert applications_of(multi) == {bills[0]: Decimal("0.00"), bills[1]: Decimal("0.00")}
