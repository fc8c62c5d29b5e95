"""Real-world data, end to end over loopback (sandbox QuickBooks -> Web Connector emulator ->
PaySync /qbwc -> SQLite -> SyncService -> sandbox Procore): several currencies, records typed badly,
an old QuickBooks, and the Procore behaviours its documentation leaves open (API-NOTES §12).

Every test ends by comparing exactly what Procore holds, and checks word for word what a person reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.cli import main as paysync_main
from sandbox.webconnector import WebConnectorEmulator
from storage import views
from storage.db import close_database
from storage.models import (
    BillPayment,
    CompanyFile,
    ErrorEvent,
    HeldRecord,
    PaymentLink,
    QuickBooksCurrency,
    QuickBooksVendor,
    Watermark,
)
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from tests.support.bridge import Bridge, Servers, new_bridge
from tests.support.procore_world import procore_view
from tests.support.quickbooks_world import PASSWORD

PAYMENTS = "/rest/v1.0/contract_payments"
UNLINK = (
    "An accounting approver must unlink it in Procore's ERP Integrations tool (Unlink); PaySync applies "
    "the change by itself once it sees the payment unlinked"
)


def make_bridge(servers: Servers, tmp_path: Path, **company: Any) -> Bridge:
    return new_bridge(servers, tmp_path, client_options={"timeout": 2.0}, company_options=company)


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path) -> Iterator[Bridge]:
    built = make_bridge(servers, tmp_path)
    yield built
    built.state.release_delayed_responses.set()
    close_database()


def writes(bridge: Bridge) -> list[Any]:
    return [
        entry
        for entry in bridge.state.request_log
        if entry.method in ("POST", "PATCH", "DELETE") and entry.path.startswith(PAYMENTS)
    ]


def link_of(payment_txn_id: str) -> Any:
    payment = BillPayment.get(BillPayment.txn_id == payment_txn_id)
    return PaymentLink.get(PaymentLink.origin_id.startswith(f"qbd:main:{payment.txn_id}:"))


def status_json(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    monkeypatch.setenv("PAYSYNC_DATABASE_URL", str(bridge.settings.database_url))
    capsys.readouterr()
    paysync_main(["--env-file", os.devnull, "status", "--json"])
    return dict(json.loads(capsys.readouterr().out))


# ---------------------------------------------------------------------------------------------
# Currencies


def test_each_payment_is_posted_in_its_currency_or_held(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = make_bridge(servers, tmp_path, multicurrency=True)
    qb = bridge.company
    # A person renamed the currency: only the company file's currency list says it is CAD.
    qb.rename_currency("CAD", "Dollars canadiens")
    qb.set_exchange_rate("CAD", Decimal("0.73"))
    bridge.vendor("maple", "Maple Framing", currency="CAD")
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-CAD", "maple", currency_iso_code="CAD", base_currency_iso_code="USD")
    bridge.world.add_commitment("SC-MAPLE-USD", "maple")  # no currency_configuration: the company's (USD)
    bridge.world.add_commitment("SC-ACME", "acme")
    cad_bill = bridge.invoice_and_bill("M-1", "SC-CAD", "Maple Framing", "MF-100", "1000.00", by_origin=True)
    wrong_bill = bridge.invoice_and_bill(
        "M-2", "SC-MAPLE-USD", "Maple Framing", "MF-101", "2000.00", by_origin=True
    )
    usd_bill = bridge.invoice_and_bill("A-1", "SC-ACME", "Acme Concrete", "AC-7", "500.00", by_origin=True)
    cad = qb.pay_bills("Maple Framing", [(cad_bill, Decimal("1000.00"))], check_number="2001")
    held = qb.pay_bills("Maple Framing", [(wrong_bill, Decimal("1500.00"))], check_number="2002")
    usd = qb.pay_bills("Acme Concrete", [(usd_bill, Decimal("500.00"))], check_number="2003")

    summary = bridge.sync()

    assert (summary.created, summary.needs_attention, summary.failed) == (2, 1, 0), summary.as_text()
    assert procore_view(bridge.state.payments()) == sorted(
        [
            bridge.expected(
                cad, cad_bill, "M-1", "1000.00"
            ),  # in CAD, on the CAD commitment: never converted
            bridge.expected(usd, usd_bill, "A-1", "500.00"),
        ]
    )
    assert QuickBooksCurrency.get(QuickBooksCurrency.name == "Dollars canadiens").code == "CAD"
    assert BillPayment.get(BillPayment.txn_id == cad).currency == "CAD"
    assert QuickBooksVendor.select().count() == 2  # the vendors' currencies were read too
    reason = link_of(held).status_reason
    assert reason == (
        "held: the QuickBooks payment is in CAD but Procore commitment SC-MAPLE-USD SC-MAPLE-USD work is in "
        "USD; PaySync never converts currencies, so nothing was written to Procore. Record this payment in "
        "Procore by hand, or pay the bill in USD in QuickBooks; if the commitment's currency is wrong, "
        "correct it in Procore and sync again"
    )
    assert link_of(held).erp_status == "needs_attention"

    # The console shows the currency next to amounts that are not in the home currency.
    rows = {row.payment_txn_id: row for row in views.list_payments(bridge.world.commitments["SC-CAD"]).rows}
    assert rows[cad].amount_text == "1,000.00 CAD"
    usd_rows = views.list_payments(bridge.world.commitments["SC-ACME"]).rows
    assert [row.amount_text for row in usd_rows] == ["500.00"]
    detail = views.payment_detail(rows[cad].application_id)
    assert detail is not None and (detail.exchange_rate, detail.amount_in_home_currency) == (
        "0.73",
        Decimal("730.00"),
    )

    # A second push writes nothing: the held one stays held, without a new attempt.
    before = len(writes(bridge))
    again = bridge.service.refresh_and_push(trigger="test")
    assert len(writes(bridge)) == before and again.needs_attention == 1
    assert status_json(bridge, monkeypatch, capsys)["payments"]["needs_attention"] == 1


def test_discounts_and_vendor_credits_are_named_never_paid(bridge: Bridge) -> None:
    qb = bridge.company
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    bill = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "AC-1", "1000.00", by_origin=True)
    credit = qb.add_vendor_credit("Acme Concrete", "VC-7", Decimal("50.00"))
    payment = qb.pay_bills(
        "Acme Concrete",
        [(bill, Decimal("930.00"))],
        check_number="3001",
        discounts={bill: Decimal("20.00")},
        credits={bill: [(credit, Decimal("50.00"))]},
    )

    summary = bridge.sync()

    assert summary.created == 1, summary.as_text()
    (posted,) = bridge.state.payments()
    assert posted["amount"] == "930.00"  # the cash; the discount and the credit are not money paid
    assert posted["notes"] == (
        "QuickBooks check bill payment 3001 to Acme Concrete; bill AC-1; also applied in QuickBooks, not "
        "paid: discount 20.00, vendor credit VC-7 50.00"
    )
    detail = views.payment_detail(
        views.list_payments(bridge.world.commitments["SC-1"]).rows[0].application_id
    )
    assert detail is not None and detail.not_paid == ("discount 20.00", "vendor credit VC-7 50.00")
    assert payment in {
        row.payment_txn_id for row in views.list_payments(bridge.world.commitments["SC-1"]).rows
    }


# ---------------------------------------------------------------------------------------------
# One unreadable record never blocks the others


def _five_good_and_one_bad(bridge: Bridge) -> tuple[list[str], str, list[str]]:
    qb = bridge.company
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    bills = [
        bridge.invoice_and_bill(
            f"A-{n}", "SC-1", "Acme Concrete", f"AC-{n}", "1000.00", by_origin=True, draw=n
        )
        for n in range(1, 7)
    ]
    payments = [
        qb.pay_bills("Acme Concrete", [(bill, Decimal("1000.00"))], check_number=f"1004{n}")
        for n, bill in enumerate(bills)
    ]
    bad = payments[5]  # check 10045
    qb.corrupt_field(bad, "Amount", "1,234.50")
    return payments[:5], bad, bills


def test_an_unreadable_payment_is_held_and_the_five_beside_it_are_posted_then_it_is_read_when_corrected(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad, bills = _five_good_and_one_bad(bridge)

    summary = bridge.sync()

    assert summary.created == 5, summary.as_text()
    assert {p["origin_id"].split(":")[2] for p in bridge.state.payments()} == set(good)
    held = HeldRecord.get()
    assert held.reason == (
        "QuickBooks sent `1,234.50` as the amount of check 10045. PaySync cannot read it: it is not a qbXML "
        "amount (digits, optionally with two decimals), so this record is held and nothing of it is written to "
        "Procore; the rest was read normally. Correct it in QuickBooks and save: PaySync reads it again at the "
        "next sync."
    )
    assert "<Amount>1,234.50</Amount>" in held.raw_text
    assert Watermark.get(Watermark.kind == "payments_check").value  # the watermark moved on
    status = status_json(bridge, monkeypatch, capsys)
    assert status["payments"]["needs_attention"] == 1
    assert [h["label"] for h in status["held"]] == ["check 10045"]
    assert ErrorEvent.select().where(ErrorEvent.message == held.reason).count() == 1
    # The console lists it with the unmatched payments, needing attention, with the reason.
    (row,) = [r for r in views.list_payments(None).rows if r.held]
    assert (row.status, row.reason, row.amount_text) == ("needs_attention", held.reason, "unreadable")

    # Read again unchanged at the next session: still held, said once.
    bridge.sync()
    assert ErrorEvent.select().where(ErrorEvent.message == held.reason).count() == 1

    # Someone corrects it in QuickBooks (a new EditSequence): it is read normally, the note cleared.
    bridge.company.clear_corruption(bad)
    bridge.company.advance(minutes=5)
    bridge.company.edit_payment(bad, memo="amount fixed")
    summary = bridge.sync()

    assert summary.created == 1, summary.as_text()
    assert HeldRecord.select().count() == 0
    assert {p["origin_id"].split(":")[2] for p in bridge.state.payments()} == {*good, bad}
    assert status_json(bridge, monkeypatch, capsys)["payments"]["needs_attention"] == 0


def test_a_later_unreadable_version_of_a_synced_payment_holds_it(bridge: Bridge) -> None:
    good, bad, bills = _five_good_and_one_bad(bridge)
    bridge.company.clear_corruption(bad)
    bridge.sync()
    bridge.company.advance(minutes=5)
    bridge.company.edit_payment(good[0], txn_date=bridge.company.now.date())
    bridge.company.corrupt_field(good[0], "TxnDate", "31/12/2026")
    before = len(writes(bridge))

    summary = bridge.sync()

    assert len(writes(bridge)) == before  # the old version is not taken for the truth
    assert summary.needs_attention == 1, summary.as_text()
    link = link_of(good[0])
    assert link.erp_status == "needs_attention"
    assert link.status_reason.startswith("QuickBooks sent `31/12/2026` as the date of check 10040.")


def test_a_txn_id_longer_than_the_schema_allows_is_never_posted_beside_the_real_payment(
    bridge: Bridge,
) -> None:
    good, bad, bills = _five_good_and_one_bad(bridge)
    bridge.company.clear_corruption(bad)
    bridge.sync()
    bridge.company.advance(minutes=5)
    bridge.company.edit_payment(good[1], memo="touched")
    bridge.company.corrupt_field(good[1], "TxnID", good[1] + "-" + "9" * 30)

    bridge.sync()

    assert len(bridge.state.payments()) == 6  # no second payment for the same money
    held = HeldRecord.get()
    assert held.txn_id is None and held.record_key.startswith(good[1])
    assert "characters long; qbXML allows at most 36" in held.reason


def test_an_iterator_count_no_integer_holds_does_not_break_the_session(
    servers: Servers, tmp_path: Path
) -> None:
    bridge = make_bridge(servers, tmp_path)
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    bill = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "AC-1", "100000.00", by_origin=True)
    for n in range(250):  # three pages of 100
        bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("10.00"))], check_number=str(5000 + n))
    bridge.company.inject_iterator_remaining("99999999999999999999999999", times=2)

    report = bridge.session()  # asserts the session ended "done": no HTTP 500, no SOAP fault

    assert report.soap_faults == []
    assert BillPayment.select().count() == 250
    close_database()


def test_figures_that_do_not_add_up_hold_the_payment(bridge: Bridge) -> None:
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    bill = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "AC-1", "1000.00", by_origin=True)
    payment = bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("930.00"))], check_number="7001")
    bridge.company.corrupt_field(payment, "Amount", "950.00")  # readable, but not what the bills add up to

    summary = bridge.sync()

    assert summary.created == 0 and bridge.state.payments() == []
    assert link_of(payment).status_reason == (
        "QuickBooks says check 7001 is 950.00, but what it applies to bills adds up to 930.00; PaySync cannot "
        "tell which is the money paid, so nothing of it is written to Procore. Open the payment in "
        "QuickBooks, check the bills it pays, and save it."
    )


# ---------------------------------------------------------------------------------------------
# QuickBooks versions


def test_quickbooks_2013_gets_no_query_and_a_plain_reason(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = make_bridge(servers, tmp_path, product_year=2013)
    queue_quickbooks_refresh("main", requested_by="test")

    report = WebConnectorEmulator(
        bridge.qbwc_url, bridge.settings.qbwc_username, PASSWORD, bridge.company
    ).run_session()

    expected = (
        "QuickBooks Pro 2013 speaks qbXML up to 12.0; PaySync needs qbXML 13.0, which QuickBooks Desktop "
        "2014 and later support, so nothing was asked of this company file. Update QuickBooks Desktop to 2014 "
        "or later (U.S. Pro, Premier, Accountant or Enterprise), then run the Web Connector again. PaySync "
        "itself needs no update."
    )
    assert report.requests == []  # no query was sent
    assert report.last_errors == [expected]
    assert CompanyFile.get().last_error == expected
    status = status_json(bridge, monkeypatch, capsys)
    assert status["web_connector"]["company_files"][0]["last_error"] == expected
    close_database()


def test_the_version_hresult_is_explained_as_a_quickbooks_version_problem(
    servers: Servers, tmp_path: Path
) -> None:
    # A Web Connector that sends no host facts (strHCPResponse empty) and claims 13.0: the request
    # reaches QuickBooks 2013, which refuses its version; the Web Connector reports 0x80040428.
    bridge = make_bridge(servers, tmp_path, product_year=2013)
    queue_quickbooks_refresh("main", requested_by="test")
    emulator = WebConnectorEmulator(
        bridge.qbwc_url, bridge.settings.qbwc_username, PASSWORD, bridge.company, qbxml_version=(13, 0)
    )
    emulator.company_file.hcp_response = lambda: ""  # type: ignore[method-assign]

    report = emulator.run_session()

    assert report.hresults[0][0] == "0x80040428"
    (said,) = report.last_errors
    assert said.startswith(
        "QuickBooks reported 0x80040428: The version of QBXML that was requested is not supported or is "
        "unknown. This QuickBooks is older than PaySync needs: PaySync asks in qbXML 13.0, which QuickBooks "
        "Desktop 2014 and later understand."
    )
    assert "password" in said and "are not the problem" in said
    assert len(report.requests) == 1  # not asked again and again
    close_database()


# ---------------------------------------------------------------------------------------------
# Procore where its documentation is silent (API-NOTES §12)


def _one_synced_payment(bridge: Bridge) -> tuple[str, str]:
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    bill = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "AC-1", "5000.00", by_origin=True)
    payment = bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("4000.00"))], check_number="10452")
    assert bridge.sync().created == 1
    return payment, bill


def test_money_sent_as_json_numbers_is_read_exactly_through_an_edit(bridge: Bridge) -> None:
    bridge.state.money_as_numbers = True
    payment, bill = _one_synced_payment(bridge)
    bridge.company.advance(minutes=5)
    bridge.company.edit_payment(payment, applications=[(bill, Decimal("4100.10"))])

    summary = bridge.sync()

    assert (summary.updated, summary.failed, summary.needs_attention) == (1, 0, 0), summary.as_text()
    (posted,) = bridge.state.payments()
    assert Decimal(str(posted["amount"])) == Decimal("4100.10")
    assert link_of(payment).pushed_amount == Decimal("4100.10")
    before = len(writes(bridge))
    assert bridge.service.refresh_and_push(trigger="test").skipped == 1
    assert len(writes(bridge)) == before  # read exactly: nothing looks changed


@pytest.mark.parametrize("mode", ["stays_locked", "origin_id_frozen"])
@pytest.mark.parametrize("change", ["edit", "void"])
def test_a_procore_that_will_not_unlock_then_an_approver_unlinks_it(
    bridge: Bridge, mode: str, change: str
) -> None:
    payment, bill = _one_synced_payment(bridge)
    bridge.state.erp_unlock_mode = mode  # type: ignore[assignment]
    bridge.company.advance(minutes=5)
    if change == "edit":
        bridge.company.edit_payment(payment, applications=[(bill, Decimal("4250.00"))])
    else:
        bridge.company.void_payment(payment)
    procore_id = link_of(payment).procore_payment_id

    summary = bridge.sync()

    assert summary.needs_attention == 1 and summary.updated + summary.voided == 0, summary.as_text()
    (still,) = bridge.state.payments()
    assert still["amount"] == "4000.00" and still["origin_id"] == link_of(payment).origin_id  # locked again
    link = link_of(payment)
    assert link.awaiting_unlink and link.erp_status == "needs_attention"
    if mode == "stays_locked":
        assert link.status_reason == (
            f"Procore refused to change payment {procore_id} even with its origin id cleared (The Contract "
            "Payment cannot be edited or deleted because it is synced with an ERP system): it still treats it "
            f"as synced with an ERP system. {UNLINK}"
        )
    else:
        assert link.status_reason == (
            f"Procore refused to clear the origin id of payment {procore_id} (The Contract Payment cannot be "
            "edited or deleted because it is synced with an ERP system), so it stays locked as synced with an "
            f"ERP system. {UNLINK}"
        )

    # Until someone unlinks it, runs write nothing and keep the instruction.
    before = len(writes(bridge))
    assert bridge.service.refresh_and_push(trigger="test").needs_attention == 1
    assert len(writes(bridge)) == before

    # An accounting approver unlinks it in ERP Integrations: PaySync applies the change itself.
    bridge.state.unlink_payment(procore_id)
    summary = bridge.service.refresh_and_push(trigger="test")

    assert summary.updated + summary.voided == 1, summary.as_text()
    (done,) = bridge.state.payments()
    assert done["amount"] == ("4250.00" if change == "edit" else "0.00")
    assert done["origin_id"] == link_of(payment).origin_id  # locked again
    link = link_of(payment)
    assert (link.erp_status, link.awaiting_unlink, link.locked) == ("synced", False, True)


def test_later_pages_keep_the_query_when_procore_links_carry_only_the_page(bridge: Bridge) -> None:
    bridge.state.link_mode = "page_only"
    bridge.vendor("acme", "Acme Concrete")
    commitment = bridge.world.add_commitment("SC-1", "acme")
    for n in range(150):  # more than one page (100) of payments keyed into Procore by hand
        bridge.state.add_payment(
            bridge.world.project_id, commitment, "10.00", bridge.company.now.date(), notes=f"hand {n}"
        )
    bill = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "AC-1", "5000.00", by_origin=True)
    payment = bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("4000.00"))], check_number="10452")

    summary = bridge.sync()

    assert summary.created == 1 and summary.failed == 0, summary.as_text()
    pages = [entry for entry in bridge.state.request_log if entry.method == "GET" and entry.path == PAYMENTS]
    assert len(pages) == 2
    assert all(f"contract_id={commitment}" in entry.query and "project_id=" in entry.query for entry in pages)
    assert len(bridge.state.payments()) == 151 and link_of(payment).erp_status == "synced"


@pytest.mark.parametrize("duplicates", ["refuse", "accept"])
def test_a_lost_create_response_never_posts_twice_whatever_procore_says_to_a_duplicate(
    bridge: Bridge, duplicates: str
) -> None:
    bridge.state.duplicate_origin_mode = duplicates  # type: ignore[assignment]
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    bill = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "AC-1", "5000.00", by_origin=True)
    bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("4000.00"))], check_number="10452")
    bridge.state.inject_fault("POST", PAYMENTS, "commit_then_502")

    first = bridge.sync()
    second = bridge.service.refresh_and_push(trigger="test")

    assert first.failed == 1 and second.failed == 0, (first.as_text(), second.as_text())
    assert len(bridge.state.payments()) == 1  # found by the journal's read-back, never sent again
    assert [entry.method for entry in writes(bridge)] == ["POST"]


def test_a_commitment_without_payments_is_held_not_retried_forever(bridge: Bridge) -> None:
    bridge.vendor("acme", "Acme Concrete")
    commitment = bridge.world.add_commitment("SC-1", "acme", payments_enabled=False)
    bill = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "AC-1", "5000.00", by_origin=True)
    payment = bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("4000.00"))], check_number="10452")

    summary = bridge.sync()

    assert summary.needs_attention == 1, summary.as_text()
    reason = link_of(payment).status_reason
    assert reason.startswith("Procore refused it: Procore refused to create a payment on commitment")
    assert reason.endswith(
        "Enable payments (Payments Issued) on this commitment in Procore; PaySync tries again when the "
        "commitment or the payment changes, or when you sync by hand."
    )
    posts = len(writes(bridge))
    for _ in range(2):  # the schedule and the pushes after each session do not repeat it
        assert bridge.service.refresh_and_push(trigger="schedule").needs_attention == 1
    assert len(writes(bridge)) == posts

    bridge.state.advance_clock(120)  # later on, someone enables payments on it in Procore
    bridge.state.update_commitment(commitment, payments_enabled=True)
    summary = bridge.service.refresh_and_push(trigger="schedule")

    assert summary.created == 1, summary.as_text()
    assert link_of(payment).erp_status == "synced" and len(bridge.state.payments()) == 1


def test_status_warns_that_procores_own_payment_sync_must_be_off(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = status_json(bridge, monkeypatch, capsys)
    assert status["warnings"] == [
        "Procore's own QuickBooks Desktop connector must not sync payments too: keep its \"Sync Payments for "
        'Synced Invoices" setting off (Procore > ERP Integrations > QuickBooks settings) wherever PaySync '
        "runs, or every payment is posted twice."
    ]
    monkeypatch.setenv("PAYSYNC_DATABASE_URL", str(bridge.settings.database_url))
    paysync_main(["--env-file", os.devnull, "status"])
    assert "Sync Payments for Synced Invoices" in capsys.readouterr().out
