"""Ingest at parser speed without losing a rule: batched pages, paged bill lookups, the streaming reader.

A page is stored in batches (sync/quickbooks/steps/payments.py: one SELECT, one multi-row upsert per
batch); the bills payments name are looked up in requests of at most `ids_per_request` TxnIDs, each
counted in the percent the Web Connector shows; the response is streamed through libxml2 with every
refusal of the hardened reader kept.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from storage.models import Bill, BillPayment, BillPaymentApplication, HeldRecord, QuickBooksWork, Watermark
from sync.quickbooks.qbxml import UnsafeXMLError, parse_response
from sync.quickbooks.steps import payments as payment_steps
from sync.quickbooks.steps.bills import BillLookup
from tests.qbxml_schema import assert_valid_qbxml
from tests.support.database import database_kinds
from tests.support.quickbooks_world import add_vendor_with_bills, applications_of, qbwc_world, stored_payment


def _bill_requests(requests: list[str]) -> list[int]:
    return [index for index, request in enumerate(requests) if "<BillQueryRq" in request]


def test_bill_lookups_are_paged_and_each_page_moves_the_percent_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BillLookup, "ids_per_request", 3)
    with qbwc_world(tmp_path, fetch_unknown_bills=True, max_returned=2) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", *["100.00"] * 8)
        for number in range(4):
            first, second = bills[2 * number], bills[2 * number + 1]
            qb.pay_bills(
                "Acme Concrete",
                [(first, Decimal("100.00")), (second, Decimal("40.00"))],
                check_number=str(9000 + number),
            )

        report = world.sync()

        assert report.outcome == "done"
        asked = _bill_requests(report.requests)
        assert len(asked) == 3  # 8 bills, 3 a request
        per_request = [report.requests[index].count("<TxnID>") for index in asked]
        assert per_request == [3, 3, 2]
        for index in asked:
            assert_valid_qbxml(report.requests[index])
        asked_ids = [
            txn_id
            for index in asked
            for txn_id in report.requests[index].split("<TxnID>")[1:]
            for txn_id in [txn_id.split("</TxnID>")[0]]
        ]
        assert sorted(asked_ids) == sorted(bills)  # each bill asked once
        percents = [report.percents[index] for index in asked]
        assert percents == sorted(percents) and len(set(percents)) == len(percents), percents
        assert percents[-1] == 100
        # The bills are one part of the session, after the payments: the percent goes on from there.
        before_bills = report.percents[asked[0] - 1]
        assert before_bills <= percents[0], report.percents
        assert {str(b.txn_id) for b in Bill.select()} == set(bills)
        assert (
            QuickBooksWork.select()
            .where((QuickBooksWork.kind == "bills") & (QuickBooksWork.status == "done"))
            .count()
            == 3
        )


def test_bills_already_waiting_are_not_queued_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.quickbooks.workqueue import queue_lookup

    monkeypatch.setattr(BillLookup, "ids_per_request", 3)
    with qbwc_world(tmp_path) as world:
        key = world.settings.qbwc_file_key
        queue_lookup(key, "bills", ["a", "b"], requested_by="test")
        queue_lookup(key, "bills", ["b", "c", "d", "e"], requested_by="test")
        assert queue_lookup(key, "bills", ["a", "e"], requested_by="test") is None
        payloads = [
            item.payload
            for item in QuickBooksWork.select()
            .where(QuickBooksWork.kind == "bills")
            .order_by(QuickBooksWork.id)
        ]
        assert payloads == ['{"txn_ids": ["a", "b", "c"]}', '{"txn_ids": ["d", "e"]}']


@pytest.mark.parametrize("database", database_kinds())
def test_a_bad_record_in_a_batched_page_is_held_and_the_others_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    monkeypatch.setattr(payment_steps, "PAYMENTS_PER_BATCH", 2)  # six payments: three batches
    with qbwc_world(tmp_path, database=database) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", *["500.00"] * 6)
        paid = [
            qb.pay_bills("Acme Concrete", [(bill, Decimal("200.00"))], check_number=str(7000 + number))
            for number, bill in enumerate(bills)
        ]
        qb.corrupt_field(paid[2], "Amount", "1,234.50")

        report = world.sync()

        assert report.outcome == "done"
        assert report.close_message == (
            "PaySync: 5 payments received (5 new, 0 changed), 0 deletions; "
            "1 record held aside as unreadable (see paysync status)"
        )
        assert {str(p.txn_id) for p in BillPayment.select()} == set(paid) - {paid[2]}
        held = HeldRecord.get()
        assert (held.txn_id, held.label) == (paid[2], "check 7002")
        assert "<Amount>1,234.50</Amount>" in held.raw_text
        assert Watermark.get(Watermark.kind == "payments_check").value  # the watermark moved on

        # A second read of the same range: nothing new, the held one still held, the rest unchanged.
        qb.advance(minutes=5)
        again = world.sync()
        assert (again.close_message or "").startswith(
            "PaySync: 5 payments received (0 new, 0 changed), 0 deletions"
        )
        assert HeldRecord.select().count() == 1


@pytest.mark.parametrize("database", database_kinds())
def test_a_changed_page_updates_payments_and_applications_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    monkeypatch.setattr(payment_steps, "PAYMENTS_PER_BATCH", 2)
    with qbwc_world(tmp_path, database=database) as world:
        qb = world.company
        bills = add_vendor_with_bills(qb, "Acme Concrete", *["500.00"] * 6)
        moved = qb.pay_bills("Acme Concrete", [(bills[0], Decimal("100.00"))], check_number="1")
        grown = qb.pay_bills(
            "Acme Concrete", [(bills[1], Decimal("100.00")), (bills[2], Decimal("50.00"))], check_number="2"
        )
        same = qb.pay_bills("Acme Concrete", [(bills[3], Decimal("100.00"))], check_number="3")
        assert world.sync().outcome == "done"
        ids = {txn_id: stored_payment(txn_id).id for txn_id in (moved, grown, same)}
        application_ids = {row.bill_txn_id: row.id for row in BillPaymentApplication.select()}

        qb.advance(minutes=20)
        qb.edit_payment(moved, applications=[(bills[4], Decimal("100.00"))])  # moved to another bill
        qb.edit_payment(grown, applications=[(bills[1], Decimal("150.00")), (bills[2], Decimal("50.00"))])
        report = world.sync()

        assert report.close_message == "PaySync: 3 payments received (0 new, 2 changed), 0 deletions"
        assert {txn_id: stored_payment(txn_id).id for txn_id in (moved, grown, same)} == ids
        assert applications_of(moved) == {bills[0]: Decimal("0.00"), bills[4]: Decimal("100.00")}
        assert applications_of(grown) == {bills[1]: Decimal("150.00"), bills[2]: Decimal("50.00")}
        assert stored_payment(grown).amount == Decimal("200.00")
        # Rows kept in place: the same ids, never deleted and re-created.
        after = {row.bill_txn_id: row.id for row in BillPaymentApplication.select()}
        assert {bill: after[bill] for bill in application_ids} == application_ids


# ---------------------------------------------------------------------------------------------
# The streaming reader keeps every refusal


@pytest.mark.parametrize(
    "doc",
    [
        "<!--" + "x" * 3_000_000 + '-->\n<!DOCTYPE QBXML [<!ENTITY a "b">]><QBXML>&a;</QBXML>',
        '<?xml version="1.0"?><?pi data?>\n<!-- c --><!DOCTYPE QBXML SYSTEM "http://127.0.0.1:9/x.dtd"><QBXML/>',
    ],
)
def test_a_doctype_after_a_long_prologue_is_still_refused(doc: str) -> None:
    with pytest.raises(UnsafeXMLError, match="DOCTYPE"):
        parse_response(doc)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32"])
def test_a_doctype_in_bytes_that_are_not_ascii_compatible_is_refused(codec: str) -> None:
    doc = '<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><QBXML>&xxe;</QBXML>'
    with pytest.raises(UnsafeXMLError, match="DOCTYPE"):
        parse_response(doc.encode(codec))


def test_records_outside_a_response_or_nested_deeper_are_not_read_as_records() -> None:
    doc = (
        "<QBXML><Other><BillRet><TxnID>X</TxnID></BillRet></Other><QBXMLMsgsRs>"
        '<BillQueryRs statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<BillRet><TxnID>B1-1</TxnID><EditSequence>1</EditSequence><TimeModified>2024-07-02T11:30:00-08:00"
        "</TimeModified><Memo><BillRet>inside</BillRet></Memo></BillRet>"
        "<VendorRet><ListID>V</ListID></VendorRet>"
        "</BillQueryRs><HostQueryRs statusCode='1' statusSeverity='Info' statusMessage='none'/>"
        "</QBXMLMsgsRs></QBXML>"
    )
    bills, host = parse_response(doc)
    assert [getattr(r, "txn_id", None) for r in bills.records] == ["B1-1"]
    assert (host.rs_name, host.status_code, host.records) == ("HostQueryRs", 1, [])
