"""The QuickBooks sandbox answers like QuickBooks: schema-valid qbXML, iterators, filters, statuses."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from sandbox.quickbooks import (
    NO_MATCH_MESSAGE,
    PARSE_ERROR_HRESULT,
    PARSE_ERROR_MESSAGE,
    QuickBooksConnectionError,
    QuickBooksParseError,
    SandboxCompanyFile,
)
from tests.qbxml_schema import assert_valid_qbxml

VENDOR = "Granite Ridge Concrete"


def qbxml_request(*requests: str, on_error: str = "stopOnError", version: str = "13.0") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}">{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )


def payment_query(
    *,
    kind: str = "Check",
    request_id: str = "1",
    filters: str = "",
    include_line_items: bool = True,
    iterator: str | None = None,
    iterator_id: str | None = None,
) -> str:
    attributes = f' requestID="{request_id}"'
    if iterator:
        attributes += f' iterator="{iterator}"'
    if iterator_id:
        attributes += f' iteratorID="{iterator_id}"'
    line_items = "<IncludeLineItems>true</IncludeLineItems>" if include_line_items else ""
    return f"<BillPayment{kind}QueryRq{attributes}>{filters}{line_items}</BillPayment{kind}QueryRq>"


def ask(company: SandboxCompanyFile, *requests: str, on_error: str = "stopOnError") -> list[etree._Element]:
    """Sends the requests, checks the answer against the schema, returns the Rs elements."""
    answer = company.handle_qbxml(qbxml_request(*requests, on_error=on_error))
    assert answer.startswith('<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n')
    assert_valid_qbxml(answer)
    return list(etree.fromstring(answer.encode()).find("QBXMLMsgsRs"))


def child_names(element: etree._Element) -> list[str]:
    return [str(child.tag) for child in element]


def txn_ids(rs: etree._Element) -> list[str]:
    return [str(ret.findtext("TxnID")) for ret in rs]


@pytest.fixture
def company() -> SandboxCompanyFile:
    company = SandboxCompanyFile()
    company.add_vendor(VENDOR)
    company.add_vendor("Northline Electric")
    return company


def add_bills(company: SandboxCompanyFile, *amounts: str, vendor: str = VENDOR) -> list[str]:
    return [
        company.add_bill(vendor, f"INV-{index + 1:03d}", Decimal(amount), date(2026, 10, 1))
        for index, amount in enumerate(amounts)
    ]


# ---- host, company, HCP ------------------------------------------------------------------


def test_hcp_response_of_a_us_file_is_valid_and_describes_the_file(company: SandboxCompanyFile) -> None:
    hcp = company.hcp_response()
    assert_valid_qbxml(hcp)
    messages = etree.fromstring(hcp.encode()).find("QBXMLMsgsRs")
    host, company_rs, preferences = list(messages)
    assert (host.tag, host.get("requestID")) == ("HostQueryRs", "0")
    assert (company_rs.tag, company_rs.get("requestID")) == ("CompanyQueryRs", "1")
    assert (preferences.tag, preferences.get("requestID"), preferences.get("statusCode")) == (
        "PreferencesQueryRs",
        "2",
        "0",
    )
    host_ret = host.find("HostRet")
    assert child_names(host_ret)[:4] == ["ProductName", "MajorVersion", "MinorVersion", "Country"]
    assert host_ret.findtext("Country") == "US"
    assert host_ret.findtext("ProductName") == "QuickBooks Enterprise Solutions: Contractor 24.0"
    versions = [v.text for v in host_ret.findall("SupportedQBXMLVersion")]
    assert versions[0] == "1.0" and versions[-1] == "16.0" and "13.0" in versions
    assert host_ret.findtext("IsAutomaticLogin") == "false"
    assert host_ret.findtext("QBFileMode") == "SingleUser"
    assert company_rs.findtext("CompanyRet/IsSampleCompany") == "false"
    assert company_rs.findtext("CompanyRet/CompanyName") == "Summit Builders LLC"
    assert company.company_file_path == (
        "C:\\Users\\Public\\Documents\\Intuit\\QuickBooks\\Company Files\\Summit Builders.qbw"
    )


def test_hcp_response_of_a_canadian_file_says_ca_and_lists_ca_versions() -> None:
    canada = SandboxCompanyFile(country="CA", company_name="Maple Leaf Framing Ltd.")
    hcp = canada.hcp_response()
    assert_valid_qbxml(hcp)
    host_ret = etree.fromstring(hcp.encode()).find("QBXMLMsgsRs/HostQueryRs/HostRet")
    assert host_ret.findtext("Country") == "CA"
    versions = [v.text for v in host_ret.findall("SupportedQBXMLVersion")]
    assert versions[:2] == ["CA2.0", "CA3.0"] and all(v.startswith("CA") for v in versions)
    assert canada.qbxml_country == "CA"
    assert canada.company_file_path.endswith("\\Maple Leaf Framing.qbw")


def test_a_canadian_file_refuses_a_us_qbxml_version_as_a_parse_error() -> None:
    canada = SandboxCompanyFile(country="CA")
    with pytest.raises(QuickBooksParseError):
        canada.handle_qbxml(qbxml_request('<HostQueryRq requestID="h"/>'))
    answer = canada.handle_qbxml(qbxml_request('<HostQueryRq requestID="h"/>', version="CA13.0"))
    assert "<Country>CA</Country>" in answer


def test_host_and_company_queries_echo_request_ids(company: SandboxCompanyFile) -> None:
    host, company_rs = ask(company, '<HostQueryRq requestID="host-1"/>', '<CompanyQueryRq requestID="co-1"/>')
    assert (host.get("requestID"), host.get("statusCode"), host.get("statusSeverity")) == (
        "host-1",
        "0",
        "Info",
    )
    assert company_rs.get("requestID") == "co-1"
    assert company_rs.findtext("CompanyRet/CompanyName") == "Summit Builders LLC"


# ---- payments: full, partial, multi-bill, credit card ----------------------------------------


def test_full_check_payment_lists_every_element_in_schema_order(company: SandboxCompanyFile) -> None:
    (bill,) = add_bills(company, "1250.00")
    company.advance(minutes=5)
    payment = company.pay_bills(
        VENDOR, [(bill, Decimal("1250.00"))], check_number="1001", memo="October draw"
    )
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    assert (rs.get("statusCode"), rs.get("retCount")) == ("0", "1")
    (ret,) = rs
    assert child_names(ret) == [
        "TxnID",
        "TimeCreated",
        "TimeModified",
        "EditSequence",
        "TxnNumber",
        "PayeeEntityRef",
        "APAccountRef",
        "TxnDate",
        "BankAccountRef",
        "Amount",
        "RefNumber",
        "Memo",
        "IsToBePrinted",
        "AppliedToTxnRet",
    ]
    assert ret.findtext("TxnID") == payment
    assert ret.findtext("TimeModified") == "2026-11-02T08:05:00-05:00"
    assert ret.findtext("PayeeEntityRef/FullName") == VENDOR
    assert ret.findtext("Amount") == "1250.00"
    assert ret.findtext("RefNumber") == "1001"
    applied = ret.find("AppliedToTxnRet")
    assert child_names(applied) == ["TxnID", "TxnType", "TxnDate", "RefNumber", "BalanceRemaining", "Amount"]
    assert (applied.findtext("TxnID"), applied.findtext("TxnType")) == (bill, "Bill")
    assert (applied.findtext("RefNumber"), applied.findtext("BalanceRemaining")) == ("INV-001", "0.00")
    assert applied.findtext("Amount") == "1250.00"
    assert company.bill(bill).is_paid


def test_partial_and_multi_bill_payments(company: SandboxCompanyFile) -> None:
    first, second = add_bills(company, "1000.00", "400.00")
    partial = company.pay_bills(VENDOR, [(first, Decimal("250.00"))], check_number="2001")
    multi = company.pay_bills(
        VENDOR, [(first, Decimal("700.00")), (second, Decimal("400.00"))], check_number="2002"
    )
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{partial}</TxnID><TxnID>{multi}</TxnID>"))
    partial_ret, multi_ret = rs
    assert partial_ret.findtext("Amount") == "250.00"
    assert multi_ret.findtext("Amount") == "1100.00"
    applications = [
        (a.findtext("TxnID"), a.findtext("Amount"), a.findtext("BalanceRemaining"))
        for a in multi_ret.findall("AppliedToTxnRet")
    ]
    assert applications == [(first, "700.00", "50.00"), (second, "400.00", "0.00")]
    assert company.bill(first).open_amount == Decimal("50.00")
    assert not company.bill(first).is_paid and company.bill(second).is_paid
    with pytest.raises(ValueError, match="only 50.00 open"):
        company.pay_bills(VENDOR, [(first, Decimal("60.00"))])


def test_credit_card_payments_answer_only_the_credit_card_query(company: SandboxCompanyFile) -> None:
    first, second = add_bills(company, "300.00", "200.00")
    check = company.pay_bills(VENDOR, [(first, Decimal("300.00"))], check_number="3001")
    card = company.pay_bills(VENDOR, [(second, Decimal("200.00"))], kind="credit_card", memo="Card")
    checks, cards = ask(
        company, payment_query(kind="Check"), payment_query(kind="CreditCard", request_id="2")
    )
    assert txn_ids(checks) == [check]
    assert txn_ids(cards) == [card]
    (card_ret,) = cards
    assert card_ret.tag == "BillPaymentCreditCardRet"
    assert child_names(card_ret) == [
        "TxnID",
        "TimeCreated",
        "TimeModified",
        "EditSequence",
        "TxnNumber",
        "PayeeEntityRef",
        "APAccountRef",
        "TxnDate",
        "CreditCardAccountRef",
        "Amount",
        "Memo",
        "AppliedToTxnRet",
    ]


def test_without_include_line_items_no_bills_are_listed(company: SandboxCompanyFile) -> None:
    (bill,) = add_bills(company, "100.00")
    company.pay_bills(VENDOR, [(bill, Decimal("100.00"))], check_number="7")
    (rs,) = ask(company, payment_query(include_line_items=False))
    assert rs[0].find("AppliedToTxnRet") is None
    assert rs[0].findtext("Amount") == "100.00"


def test_a_check_without_a_number_is_to_be_printed(company: SandboxCompanyFile) -> None:
    (bill,) = add_bills(company, "100.00")
    company.pay_bills(VENDOR, [(bill, Decimal("100.00"))])
    (rs,) = ask(company, payment_query())
    assert rs[0].find("RefNumber") is None
    assert rs[0].findtext("IsToBePrinted") == "true"


def test_ids_and_edit_sequences_look_like_quickbooks(company: SandboxCompanyFile) -> None:
    bills = add_bills(company, "10.00", "20.00", "30.00")
    payments = [company.pay_bills(VENDOR, [(bill, Decimal("5.00"))]) for bill in bills]
    for txn_id in bills + payments:
        assert re.fullmatch(r"[0-9A-F]+-\d{10}", txn_id), txn_id
    assert len(set(bills + payments)) == 6
    assert re.fullmatch(r"80000[0-9A-F]{3}-\d{10}", company.vendor_list_id(VENDOR))
    assert company.payment(payments[0]).edit_sequence.isdigit()


# ---- voids, edits, deletes -------------------------------------------------------------------


def test_void_keeps_the_payment_with_zero_amounts_and_reopens_the_bills(company: SandboxCompanyFile) -> None:
    first, second = add_bills(company, "500.00", "250.00")
    payment = company.pay_bills(
        VENDOR, [(first, Decimal("500.00")), (second, Decimal("100.00"))], check_number="4001", memo="Nov"
    )
    before = company.payment(payment)
    company.advance(minutes=30)
    company.void_payment(payment)
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    (ret,) = rs
    assert ret.findtext("TxnID") == payment
    assert ret.findtext("Amount") == "0.00"
    assert ret.findtext("Memo") == "VOID: Nov"
    assert ret.findtext("EditSequence") != before.edit_sequence
    assert ret.findtext("TimeModified") == "2026-11-02T08:30:00-05:00"
    assert ret.findtext("TimeCreated") == "2026-11-02T08:00:00-05:00"
    assert [(a.findtext("TxnID"), a.findtext("Amount")) for a in ret.findall("AppliedToTxnRet")] == [
        (first, "0.00"),
        (second, "0.00"),
    ]
    assert company.bill(first).open_amount == Decimal("500.00")
    assert company.bill(second).open_amount == Decimal("250.00")
    assert company.payment(payment).is_voided
    with pytest.raises(ValueError):
        company.void_payment(payment)


def test_edit_changes_edit_sequence_and_applications(company: SandboxCompanyFile) -> None:
    first, second = add_bills(company, "800.00", "200.00")
    payment = company.pay_bills(VENDOR, [(first, Decimal("800.00"))], check_number="5001")
    before = company.payment(payment)
    company.edit_payment(
        payment,
        applications=[(first, Decimal("600.00")), (second, Decimal("200.00"))],
        check_number="5002",
        txn_date=date(2026, 11, 3),
    )
    after = company.payment(payment)
    assert after.edit_sequence != before.edit_sequence
    assert int(after.edit_sequence) > int(before.edit_sequence)  # same second, still changes
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    (ret,) = rs
    assert (ret.findtext("Amount"), ret.findtext("RefNumber"), ret.findtext("TxnDate")) == (
        "800.00",
        "5002",
        "2026-11-03",
    )
    assert [a.findtext("Amount") for a in ret.findall("AppliedToTxnRet")] == ["600.00", "200.00"]
    assert company.bill(first).open_amount == Decimal("200.00")


def test_deleted_payment_disappears_and_is_reported_by_txn_deleted_query(company: SandboxCompanyFile) -> None:
    first, second = add_bills(company, "900.00", "100.00")
    kept = company.pay_bills(VENDOR, [(second, Decimal("100.00"))], check_number="6000")
    deleted = company.pay_bills(VENDOR, [(first, Decimal("900.00"))], check_number="6001")
    company.advance(minutes=90)
    company.delete_payment(deleted)
    assert company.bill(first).open_amount == Decimal("900.00")

    (all_checks,) = ask(company, payment_query())
    assert txn_ids(all_checks) == [kept]
    (by_id,) = ask(company, payment_query(filters=f"<TxnID>{deleted}</TxnID>"))
    assert by_id.get("statusCode") == "500" and by_id.get("statusSeverity") == "Warn"
    assert len(by_id) == 0

    (rs,) = ask(
        company,
        '<TxnDeletedQueryRq requestID="d1"><TxnDelType>BillPaymentCheck</TxnDelType>'
        "<TxnDelType>BillPaymentCreditCard</TxnDelType>"
        "<DeletedDateRangeFilter><FromDeletedDate>2026-11-02T09:00:00</FromDeletedDate></DeletedDateRangeFilter>"
        "</TxnDeletedQueryRq>",
    )
    assert (rs.get("requestID"), rs.get("statusCode"), rs.get("retCount")) == ("d1", "0", "1")
    (ret,) = rs
    assert child_names(ret) == ["TxnDelType", "TxnID", "TimeCreated", "TimeDeleted", "RefNumber"]
    assert (ret.findtext("TxnDelType"), ret.findtext("TxnID")) == ("BillPaymentCheck", deleted)
    assert ret.findtext("TimeDeleted") == "2026-11-02T09:30:00-05:00"

    (later,) = ask(
        company,
        "<TxnDeletedQueryRq><TxnDelType>BillPaymentCheck</TxnDelType>"
        "<DeletedDateRangeFilter><FromDeletedDate>2026-11-02T09:31:00</FromDeletedDate></DeletedDateRangeFilter>"
        "</TxnDeletedQueryRq>",
    )
    assert (later.get("statusCode"), later.get("statusMessage")) == ("1", NO_MATCH_MESSAGE)


# ---- bills ---------------------------------------------------------------------------------


def test_bill_query_by_ref_number_with_linked_payments(company: SandboxCompanyFile) -> None:
    (bill,) = add_bills(company, "1000.00")
    check = company.pay_bills(VENDOR, [(bill, Decimal("400.00"))], check_number="8001")
    card = company.pay_bills(VENDOR, [(bill, Decimal("100.00"))], kind="credit_card")
    (rs,) = ask(
        company,
        '<BillQueryRq requestID="b"><RefNumber>inv-001</RefNumber>'
        "<IncludeLineItems>true</IncludeLineItems><IncludeLinkedTxns>true</IncludeLinkedTxns></BillQueryRq>",
    )
    (ret,) = rs
    assert ret.findtext("TxnID") == bill
    assert (ret.findtext("AmountDue"), ret.findtext("OpenAmount"), ret.findtext("IsPaid")) == (
        "1000.00",
        "500.00",
        "false",
    )
    links = [
        (x.findtext("TxnID"), x.findtext("TxnType"), x.findtext("Amount")) for x in ret.findall("LinkedTxn")
    ]
    assert links == [(check, "BillPaymentCheck", "-400.00"), (card, "BillPaymentCreditCard", "-100.00")]
    assert ret.find("ExpenseLineRet") is not None


def test_bill_query_paid_status_filter(company: SandboxCompanyFile) -> None:
    paid, unpaid = add_bills(company, "10.00", "20.00")
    company.pay_bills(VENDOR, [(paid, Decimal("10.00"))])
    (paid_rs, unpaid_rs) = ask(
        company,
        '<BillQueryRq requestID="p"><PaidStatus>PaidOnly</PaidStatus></BillQueryRq>',
        '<BillQueryRq requestID="u"><PaidStatus>NotPaidOnly</PaidStatus></BillQueryRq>',
    )
    assert txn_ids(paid_rs) == [paid]
    assert txn_ids(unpaid_rs) == [unpaid]


# ---- status codes --------------------------------------------------------------------------


def test_no_match_is_status_1_info_with_an_empty_rs(company: SandboxCompanyFile) -> None:
    (rs,) = ask(company, payment_query(request_id="empty"))
    assert dict(rs.attrib) == {
        "requestID": "empty",
        "statusCode": "1",
        "statusSeverity": "Info",
        "statusMessage": "A query request did not find a matching object in QuickBooks",
    }
    assert len(rs) == 0


def test_a_z_time_is_an_invalid_date_3020(company: SandboxCompanyFile) -> None:
    filters = "<ModifiedDateRangeFilter><FromModifiedDate>2026-11-02T13:00:00Z</FromModifiedDate></ModifiedDateRangeFilter>"
    (rs,) = ask(company, payment_query(filters=filters))
    assert (rs.get("statusCode"), rs.get("statusSeverity")) == ("3020", "Error")
    assert "2026-11-02T13:00:00Z" in rs.get("statusMessage")


def test_stop_on_error_skips_the_rest_and_continue_on_error_does_not(company: SandboxCompanyFile) -> None:
    bad = payment_query(
        request_id="bad",
        filters="<ModifiedDateRangeFilter><FromModifiedDate>2026-11-02T13:00:00Z</FromModifiedDate></ModifiedDateRangeFilter>",
    )
    host = '<HostQueryRq requestID="after"/>'
    assert [rs.get("requestID") for rs in ask(company, bad, host)] == ["bad"]
    assert [rs.get("requestID") for rs in ask(company, bad, host, on_error="continueOnError")] == [
        "bad",
        "after",
    ]


def test_injected_status_answers_the_next_payment_queries_then_clears(company: SandboxCompanyFile) -> None:
    (bill,) = add_bills(company, "10.00")
    company.pay_bills(VENDOR, [(bill, Decimal("10.00"))])
    company.inject_status(3175, times=2)
    for _ in range(2):
        (rs,) = ask(company, payment_query())
        assert (rs.get("statusCode"), rs.get("statusSeverity")) == ("3175", "Error")
        assert rs.get("statusMessage")
    (rs,) = ask(company, payment_query())
    assert (rs.get("statusCode"), rs.get("retCount")) == ("0", "1")
    company.inject_status(3120, message="Object not found")
    (host, rs) = ask(company, '<HostQueryRq requestID="h"/>', payment_query(), on_error="continueOnError")
    assert host.get("statusCode") == "0"  # only payment queries are affected
    assert (rs.get("statusCode"), rs.get("statusMessage")) == ("3120", "Object not found")


# ---- modified-date filter and the DST offset bug ----------------------------------------------


def test_modified_date_filter_is_inclusive_local_wall_clock(company: SandboxCompanyFile) -> None:
    bills = add_bills(company, "10.00", "20.00", "30.00")
    payments = []
    for bill in bills:
        payments.append(company.pay_bills(VENDOR, [(bill, Decimal("1.00"))]))
        company.advance(minutes=10)  # payments at 08:00, 08:10, 08:20

    def modified(from_: str = "", to: str = "") -> list[str]:
        bounds = (f"<FromModifiedDate>{from_}</FromModifiedDate>" if from_ else "") + (
            f"<ToModifiedDate>{to}</ToModifiedDate>" if to else ""
        )
        (rs,) = ask(
            company, payment_query(filters=f"<ModifiedDateRangeFilter>{bounds}</ModifiedDateRangeFilter>")
        )
        return txn_ids(rs)

    assert modified("2026-11-02T08:10:00") == payments[1:]
    assert modified("2026-11-02T08:10:01") == payments[2:]
    assert modified(to="2026-11-02T08:10:00") == payments[:2]
    assert modified("2026-11-02T08:05:00", "2026-11-02T08:15:00") == payments[1:2]
    assert modified("2026-11-02") == payments
    assert modified(to="2026-11-01") == []
    # In November (standard time) an explicit -05:00 and a UTC offset mean the same instant.
    assert modified("2026-11-02T08:10:00-05:00") == payments[1:]
    assert modified("2026-11-02T13:10:00+00:00") == payments[1:]


def test_summer_times_print_the_standard_offset_and_filters_follow_the_bug() -> None:
    summer = SandboxCompanyFile(clock_start=datetime(2026, 7, 1, 10, 0, 0))
    summer.add_vendor(VENDOR)
    bill = summer.add_bill(VENDOR, "S-1", Decimal("100.00"))
    payment = summer.pay_bills(VENDOR, [(bill, Decimal("100.00"))])
    (rs,) = ask(summer, payment_query())
    # 10:00 EDT is 14:00 UTC, but QuickBooks prints the wall clock with the standard offset.
    assert rs[0].findtext("TimeModified") == "2026-07-01T10:00:00-05:00"
    assert summer.payment(payment).time_modified == datetime(2026, 7, 1, 10, 0, 0)

    def found_from(value: str) -> bool:
        filters = (
            f"<ModifiedDateRangeFilter><FromModifiedDate>{value}</FromModifiedDate></ModifiedDateRangeFilter>"
        )
        (rs,) = ask(summer, payment_query(filters=filters))
        return bool(rs.get("statusCode") == "0")

    assert found_from("2026-07-01T10:00:00")  # no offset: local wall clock — correct
    assert found_from("2026-07-01T10:00:00-05:00")  # echoing QuickBooks' own (wrong) offset — correct
    assert not found_from("2026-07-01T10:00:01-05:00")
    # The *correct* summer offset is read through the -05:00 bug: 10:00:01-04:00 -> 09:00:01 local,
    # so a watermark sent with the real offset lands an hour early.
    assert found_from("2026-07-01T10:00:01-04:00")
    assert found_from("2026-07-01T10:59:00-04:00")


def test_the_clock_crosses_the_autumn_dst_change_in_real_time() -> None:
    company = SandboxCompanyFile(clock_start=datetime(2026, 11, 1, 0, 30, 0))
    company.advance(hours=1)
    assert company.now == datetime(2026, 11, 1, 1, 30, 0)  # 01:30 EDT
    company.advance(hours=1)
    assert company.now == datetime(2026, 11, 1, 1, 30, 0)  # 01:30 EST: the same wall clock again
    assert company.now_printed == "2026-11-01T01:30:00-05:00"
    with pytest.raises(ValueError):
        company.advance(minutes=-1)


# ---- iterators -------------------------------------------------------------------------------


def make_payments(company: SandboxCompanyFile, count: int) -> list[str]:
    payments = []
    for index in range(count):
        bill = company.add_bill(VENDOR, f"B-{index}", Decimal("100.00"))
        payments.append(
            company.pay_bills(VENDOR, [(bill, Decimal("75.25"))], check_number=str(10000 + index))
        )
        if index % 7 == 0:
            company.advance(minutes=1)
    return payments


def test_iterator_pages_1000_payments_by_100_in_time_modified_order(company: SandboxCompanyFile) -> None:
    payments = make_payments(company, 1000)
    # Change some early payments: they move to the end of the TimeModified order.
    company.advance(minutes=5)
    moved = payments[:3]
    for txn_id in moved:
        company.edit_payment(txn_id, memo="re-approved")
    expected = payments[3:] + sorted(moved)
    company.open_connection()

    seen: list[str] = []
    remaining_counts: list[int] = []
    (rs,) = ask(company, payment_query(iterator="Start", filters="<MaxReturned>100</MaxReturned>"))
    iterator_id = rs.get("iteratorID")
    assert re.fullmatch(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", iterator_id)
    while True:
        assert rs.get("statusCode") == "0" and rs.get("retCount") == str(len(rs)) == "100"
        assert rs.get("iteratorID") == iterator_id
        seen.extend(txn_ids(rs))
        remaining_counts.append(int(rs.get("iteratorRemainingCount")))
        if remaining_counts[-1] == 0:
            break
        (rs,) = ask(
            company,
            payment_query(
                iterator="Continue", iterator_id=iterator_id, filters="<MaxReturned>100</MaxReturned>"
            ),
        )
    assert remaining_counts == list(range(900, -1, -100))
    assert seen == expected
    # Ordered by TimeModified, then TxnID.
    keys = [(company.payment(t).time_modified, t) for t in seen]
    assert keys == sorted(keys)
    # A finished iterator is gone.
    (rs,) = ask(company, payment_query(iterator="Continue", iterator_id=iterator_id))
    assert rs.get("statusCode") == "3391"


def test_dropped_or_closed_iterators_answer_3391(company: SandboxCompanyFile) -> None:
    make_payments(company, 30)
    company.open_connection()
    (rs,) = ask(company, payment_query(iterator="Start", filters="<MaxReturned>10</MaxReturned>"))
    iterator_id = rs.get("iteratorID")
    assert rs.get("iteratorRemainingCount") == "20"
    company.drop_iterators()
    (rs,) = ask(company, payment_query(request_id="c", iterator="Continue", iterator_id=iterator_id))
    assert (rs.get("requestID"), rs.get("statusCode"), rs.get("statusSeverity")) == ("c", "3391", "Error")
    assert rs.get("statusMessage") == f'The iteratorID "{iterator_id}" is not valid.'
    assert len(rs) == 0

    (rs,) = ask(company, payment_query(iterator="Start", filters="<MaxReturned>10</MaxReturned>"))
    company.close_connection()
    assert company.open_iterator_count == 0
    company.open_connection()
    (rs,) = ask(company, payment_query(iterator="Continue", iterator_id=rs.get("iteratorID")))
    assert rs.get("statusCode") == "3391"


def test_an_injected_failure_does_not_advance_the_iterator(company: SandboxCompanyFile) -> None:
    payments = make_payments(company, 5)
    (rs,) = ask(company, payment_query(iterator="Start", filters="<MaxReturned>2</MaxReturned>"))
    iterator_id = rs.get("iteratorID")
    company.inject_status(3175)
    (failed,) = ask(company, payment_query(iterator="Continue", iterator_id=iterator_id))
    assert failed.get("statusCode") == "3175"
    (rs,) = ask(company, payment_query(iterator="Continue", iterator_id=iterator_id))
    assert txn_ids(rs) == payments[2:4]


def test_max_returned_without_an_iterator_caps_the_answer(company: SandboxCompanyFile) -> None:
    payments = make_payments(company, 5)
    (rs,) = ask(company, payment_query(filters="<MaxReturned>2</MaxReturned>"))
    assert txn_ids(rs) == payments[:2]
    assert rs.get("iteratorID") is None


def test_bill_query_iterates_too(company: SandboxCompanyFile) -> None:
    make_payments(company, 12)
    (rs,) = ask(
        company, '<BillQueryRq requestID="b" iterator="Start"><MaxReturned>5</MaxReturned></BillQueryRq>'
    )
    assert (rs.get("retCount"), rs.get("iteratorRemainingCount")) == ("5", "7")


# ---- parse errors and connections ------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        pytest.param("<QBXML><QBXMLMsgsRq onError=", id="malformed"),
        pytest.param("not xml at all", id="not-xml"),
        pytest.param(
            '<QBXML><QBXMLMsgsRq onError="stopOnError"><HostQueryRq/></QBXMLMsgsRq></QBXML>',
            id="no-qbxml-version",
        ),
        pytest.param(qbxml_request('<HostQueryRq requestID="1"/>', version="99.0"), id="unknown-version"),
        pytest.param(qbxml_request('<HostQueryRq requestID="1"/>', on_error="sometimes"), id="bad-onError"),
        pytest.param(
            qbxml_request(
                "<BillPaymentCheckQueryRq><IncludeLineItems>true</IncludeLineItems>"
                "<MaxReturned>10</MaxReturned></BillPaymentCheckQueryRq>"
            ),
            id="out-of-schema-order",
        ),
        pytest.param(
            qbxml_request("<BillPaymentCheckQueryRq><MaxReturned>0</MaxReturned></BillPaymentCheckQueryRq>"),
            id="max-returned-0",
        ),
        pytest.param(
            qbxml_request(
                '<TxnDeletedQueryRq iterator="Start"><TxnDelType>Bill</TxnDelType></TxnDeletedQueryRq>'
            ),
            id="iterator-on-txn-deleted",
        ),
        pytest.param(
            '<?xml version="1.0"?><?qbxml version="13.0"?>'
            '<!DOCTYPE QBXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            '<QBXML><QBXMLMsgsRq onError="stopOnError"><HostQueryRq requestID="&b;"/></QBXMLMsgsRq></QBXML>',
            id="doctype-with-entities",
        ),
    ],
)
def test_documents_quickbooks_cannot_parse_raise_the_parse_error(
    company: SandboxCompanyFile, document: str
) -> None:
    with pytest.raises(QuickBooksParseError) as raised:
        company.handle_qbxml(document)
    assert raised.value.hresult == PARSE_ERROR_HRESULT == "0x80040400"
    assert raised.value.message == PARSE_ERROR_MESSAGE
    assert PARSE_ERROR_MESSAGE == "QuickBooks found an error when parsing the provided XML text stream."


def test_a_valid_request_the_sandbox_does_not_emulate_fails_loudly(company: SandboxCompanyFile) -> None:
    with pytest.raises(NotImplementedError):
        company.handle_qbxml(qbxml_request("<CustomerQueryRq/>"))


def test_refused_connections(company: SandboxCompanyFile) -> None:
    company.refuse_connections()
    with pytest.raises(QuickBooksConnectionError) as raised:
        company.open_connection()
    assert raised.value.hresult == "0x80040401"
    company.accept_connections()
    company.open_connection()
    assert company.connection_open and company.connections_opened == 1


def test_money_must_be_decimal_in_cents(company: SandboxCompanyFile) -> None:
    with pytest.raises(TypeError):
        company.add_bill(VENDOR, "X-1", 10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        company.add_bill(VENDOR, "X-1", Decimal("10.005"))
    with pytest.raises(ValueError):
        company.add_bill(VENDOR, "X" * 21, Decimal("10.00"))
