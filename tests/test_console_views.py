"""The console's read models (storage/views.py) over the fixed data set."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from storage import views
from storage.views import StatusCounts
from tests.console_support import fixed_settings, seed_console_data


@pytest.fixture
def seeded(tmp_path: Path) -> None:
    seed_console_data(fixed_settings(tmp_path))


@pytest.mark.usefixtures("seeded")
def test_payments_are_counted_per_application_and_erp_status() -> None:
    assert views.status_counts() == StatusCounts(
        synced=4, waiting=1, needs_attention=1, failed=1, deleted_in_quickbooks=1, not_synced=1
    )


@pytest.mark.usefixtures("seeded")
def test_commitments_show_their_most_urgent_status_and_the_unmatched_group_comes_first() -> None:
    page = views.list_commitments()
    assert [(r.number, r.status, r.payments_count) for r in page.rows] == [
        ("(unmatched)", "needs_attention", 1),
        ("PO-001", "failed", 2),
        ("SC-001", "waiting", 4),
        ("SC-002", "deleted_in_quickbooks", 2),
        ("SC-003", "none", 0),
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
    assert views.list_invoices(2004)[0].bill_ref_number is None  # no bill in QuickBooks for it


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
    assert overview.recent_errors == 1


def test_status_words_a_user_may_type() -> None:
    assert views.status_from_text("Failed") == "failed"
    assert views.status_from_text("deleted") == "deleted_in_quickbooks"
    assert views.status_from_text("not synced") == "not_synced"
    assert views.status_from_text("acme") is None
