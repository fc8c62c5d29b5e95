"""The console's read models (storage/views/) over the fixed data set."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from storage import views
from storage.models import Bill, BillPayment, BillPaymentApplication, Commitment, SyncRun
from storage.vocabulary import StatusCounts
from tests.support.console import NOW, fixed_settings, seed_console_data


@pytest.fixture
def seeded(tmp_path: Path) -> None:
    seed_console_data(fixed_settings(tmp_path))


@pytest.mark.usefixtures("seeded")
def test_payments_are_counted_per_application_and_erp_status() -> None:
    assert views.status_counts() == StatusCounts(
        synced=4, waiting=1, needs_attention=1, failed=1, deleted_in_quickbooks=1, not_synced=3
    )


@pytest.mark.usefixtures("seeded")
def test_commitments_show_their_most_urgent_status_and_the_unmatched_group_comes_first() -> None:
    page = views.list_commitments()
    assert [(r.number, r.status, r.payments_count) for r in page.rows] == [
        ("(unmatched)", "needs_attention", 1),
        ("PO-001", "failed", 2),
        ("SC-001", "waiting", 4),
        ("SC-002", "deleted_in_quickbooks", 3),  # one of them pre-existing, placed by its bill
        ("SC-003", "not_synced", 1),  # only a pre-existing payment, placed by its bill number
    ]
    assert (page.total, page.overall) == (4, 4)
    by_status = views.list_commitments(sort="status")
    assert [r.number for r in by_status.rows][1:] == ["PO-001", "SC-002", "SC-001", "SC-003"]


@pytest.mark.usefixtures("seeded")
def test_filter_by_text_or_status_word_and_paging() -> None:
    assert [r.number for r in views.list_commitments(text="bright").rows] == ["SC-002"]
    assert [r.number for r in views.list_commitments(text="Deleted in QuickBooks").rows] == ["SC-002"]
    # "needs attention" also keeps the unmatched group, which holds the payment needing mapping.
    assert [r.number for r in views.list_commitments(text="needs attention").rows] == ["(unmatched)"]
    second_page = views.list_commitments(limit=2, offset=2)
    assert [r.number for r in second_page.rows] == ["SC-002", "SC-003"]


@pytest.mark.usefixtures("seeded")
def test_invoices_carry_the_matched_quickbooks_bill_number() -> None:
    invoices = views.list_invoices(2003)
    assert [(i.invoice_number, i.bill_ref_number, i.status, i.amount) for i in invoices] == [
        ("KS-7781", "KS-7781", "failed", Decimal("88400.00"))
    ]
    # GC-01 was never exported as a bill, but a pre-existing payment paid a bill numbered GC-01.
    assert views.list_invoices(2004)[0].bill_ref_number == "GC-01"


@pytest.mark.usefixtures("seeded")
def test_payments_of_a_commitment_newest_first_with_reason_and_limit() -> None:
    page = views.list_payments(2003)
    assert [(p.check_number, p.method_label, p.status, p.amount) for p in page.rows] == [
        (None, "Credit card", "failed", Decimal("5000.00")),
        ("1039", "Check", "synced", Decimal("8400.00")),
    ]
    assert page.rows[0].reason is not None and "not approved" in page.rows[0].reason
    limited = views.list_payments(2001, limit=1)
    assert (len(limited.rows), limited.total) == (1, 4)
    assert [p.check_number for p in views.list_payments(None).rows] == ["1050"]


@pytest.mark.usefixtures("seeded")
def test_payment_detail_puts_quickbooks_next_to_procore() -> None:
    application_id = next(
        p.application_id for p in views.list_payments(2002).rows if p.check_number == "1040"
    )
    detail = views.payment_detail(application_id)
    assert detail is not None
    assert detail.row.status == "deleted_in_quickbooks"
    assert detail.deleted_at is not None and detail.procore_payment_id == 9006
    assert detail.commitment_label == "SC-002 Electrical"
    assert detail.origin_id == "qbd:main:PAY-6:BILL-3"
    assert views.payment_detail(999_999) is None


@pytest.mark.usefixtures("seeded")
def test_overview_has_what_the_top_bar_shows() -> None:
    overview = views.overview()
    assert overview.company_files[0].company_name == "Ridgeline Builders LLC"
    assert overview.schedule_expression == "hourly"
    assert overview.rate_limit is not None and overview.rate_limit.remaining == 3421
    assert overview.last_sync is not None and overview.last_sync.created == 3
    assert overview.recent_errors == 2


def test_status_words_a_user_may_type() -> None:
    assert views.status_from_text("Failed") == "failed"
    assert views.status_from_text("deleted") == "deleted_in_quickbooks"
    assert views.status_from_text("not synced") == "not_synced"
    assert views.status_from_text("acme") is None


def _commitment(cid: int, number: str, title: str = "Scope", vendor: str = "Acme") -> None:
    Commitment.create(
        id=cid,
        project=101,
        kind="subcontract",
        number=number,
        title=title,
        vendor_name=vendor,
        imported_at=NOW,
    )


@pytest.mark.usefixtures("seeded")
def test_sort_by_number_is_natural_and_any_column_sorts_both_ways() -> None:
    _commitment(2010, "SC-10")
    _commitment(2011, "SC-2")
    numbers = [r.number for r in views.list_commitments().rows if r.id is not None]
    assert numbers == ["PO-001", "SC-001", "SC-002", "SC-2", "SC-003", "SC-10"]
    backwards = [r.number for r in views.list_commitments(descending=True).rows if r.id is not None]
    assert backwards == list(reversed(numbers))
    by_payments = [r.number for r in views.list_commitments(sort="payments").rows if r.id is not None]
    assert by_payments[:2] == ["SC-001", "SC-002"]  # 4 and 3 payments, most first

    amounts = [p.amount for p in views.list_payments(2001, sort="amount").rows]
    assert amounts == sorted(amounts, reverse=True)
    assert [p.amount for p in views.list_payments(2001, sort="amount", descending=False).rows] == sorted(
        amounts
    )
    checks = [p.check_number for p in views.list_payments(2002, sort="check", descending=False).rows]
    assert checks == ["0985", "1040", "1044"]


@pytest.mark.usefixtures("seeded")
def test_percent_and_underscore_in_a_filter_are_taken_literally() -> None:
    _commitment(2012, "SC-100", title="Retainage 10%_final")
    assert [r.number for r in views.list_commitments(text="%").rows] == ["SC-100"]
    assert [r.number for r in views.list_commitments(text="_").rows] == ["SC-100"]
    assert [r.number for r in views.list_commitments(text="10%_").rows] == ["SC-100"]
    assert views.list_commitments(text="S_-").rows == ()  # "_" is no wildcard: nothing is "S?-"
    assert views.recent_audit(text="%") == ()


@pytest.mark.usefixtures("seeded")
def test_a_vendor_filter_keeps_that_vendors_unmatched_payments() -> None:
    bill = Bill.create(
        company_file=1, txn_id="BILL-9", vendor_name="Bright Line Electric", ref_number="BLE-999"
    )
    payment = BillPayment.create(
        company_file=1,
        txn_id="PAY-99",
        kind="check",
        edit_sequence="1",
        time_created="2026-11-24T10:00:00-05:00",
        time_modified="2026-11-24T10:00:00-05:00",
        vendor_name="Bright Line Electric",
        txn_date=date(2026, 11, 24),
        amount=Decimal("900.00"),
        ref_number="1060",
    )
    BillPaymentApplication.create(
        payment=payment, bill_txn_id=bill.txn_id, bill_ref_number=bill.ref_number, amount=Decimal("900.00")
    )
    assert sorted(p.check_number or "" for p in views.list_payments(None).rows) == ["1050", "1060"]

    page = views.list_commitments(text="bright line")
    assert [(r.number, r.payments_count) for r in page.rows] == [("(unmatched)", 1), ("SC-002", 3)]
    assert [p.check_number for p in views.list_payments(None, text="bright line").rows] == ["1060"]
    assert [r.number for r in views.list_commitments(text="granite").rows] == ["SC-003"]  # nothing unmatched


@pytest.mark.usefixtures("seeded")
def test_pre_existing_payments_are_listed_under_the_invoice_their_bill_matches() -> None:
    # By the bill's TxnID (the invoice's origin_id): the engine's not-synced link has no commitment.
    electrical = {p.check_number: p for p in views.list_payments(2002).rows}
    assert electrical["0985"].status == "not_synced" and electrical["0985"].invoice_number == "BLE-220"
    invoice = views.list_invoices(2002)[0]
    assert [p.check_number for p in views.list_payments(2002, invoice_id=invoice.id).rows] == [
        "1044",
        "1040",
        "0985",
    ]
    # By the bill's number on a commitment of the vendor: no link at all.
    (concrete,) = views.list_payments(2004).rows
    assert (concrete.check_number, concrete.status, concrete.invoice_number) == (
        "0977",
        "not_synced",
        "GC-01",
    )
    detail = views.payment_detail(concrete.application_id)
    assert detail is not None and detail.commitment_label == "SC-003 Site concrete"
    assert detail.match_reason is not None and "GC-01" in detail.match_reason
    # Neither is in the unmatched group any more; the payment that needs mapping still is.
    assert [p.check_number for p in views.list_payments(None).rows] == ["1050"]
    assert [r.number for r in views.list_commitments(text="not synced").rows] == [
        "SC-001",
        "SC-002",
        "SC-003",
    ]


@pytest.mark.usefixtures("seeded")
def test_the_log_names_payments_and_lists_failed_sync_runs() -> None:
    (created,) = [a for a in views.recent_audit() if a.action == "procore.create"]
    assert created.subject == "Check 1044 · Bright Line Electric · 25,000.00"
    assert [a.action for a in views.recent_audit(text="bright line")] == ["procore.create"]

    SyncRun.create(
        trigger="console",
        started_at=NOW - timedelta(minutes=2),
        finished_at=NOW - timedelta(minutes=1),
        status="failed",
        message="Push stopped: Procore sign-in failed (invalid_client)",
    )
    errors = views.recent_errors()
    assert errors[0].where == views.FAILED_RUN_WHERE
    assert errors[0].message == "Sync (console) failed: Push stopped: Procore sign-in failed (invalid_client)"
    named = [e.message for e in errors if "5000.00" in e.message]
    assert named == [
        "Credit card · Keystone Steel Supply · 5,000.00: Procore refused 5000.00 on PO-001: "
        "the purchase order is not approved."
    ]
