"""The QuickBooks sandbox's real-world behaviours: multicurrency files, discounts and vendor credits in
a bill payment, older QuickBooks versions, and records QuickBooks sends that PaySync cannot read.

Every request built here and every answer that is not deliberately corrupted is checked against the
official qbXML 13.0 schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.quickbooks import (
    PARSE_ERROR_HRESULT,
    VERSION_ERROR_HRESULT,
    VERSION_ERROR_MESSAGE,
    QuickBooksParseError,
    QuickBooksVersionError,
    SandboxCompanyFile,
    highest_qbxml_version_of,
)
from sandbox.webconnector import QBWC_NAMESPACE, SOAP_ENVELOPE_NAMESPACE, WebConnectorEmulator
from tests.conftest import RunningFactory
from tests.qbxml_schema import assert_valid_qbxml, qbxml_errors

CAD_VENDOR = "Maple Leaf Formwork"
USD_VENDOR = "Granite Ridge Concrete"
VENDOR = USD_VENDOR
CURRENCY_ELEMENTS = ("CurrencyRef", "ExchangeRate", "AmountInHomeCurrency", "AmountDueInHomeCurrency")


def qbxml_request(*requests: str, on_error: str = "stopOnError", version: str = "13.0") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}">{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )


def send(company: SandboxCompanyFile, *requests: str, on_error: str = "stopOnError") -> str:
    """Sends schema-valid requests and returns QuickBooks' raw answer."""
    request = qbxml_request(*requests, on_error=on_error)
    assert_valid_qbxml(request)
    return company.handle_qbxml(request)


def ask(company: SandboxCompanyFile, *requests: str, on_error: str = "stopOnError") -> list[etree._Element]:
    """Sends the requests, checks request and answer against the schema, returns the Rs elements."""
    answer = send(company, *requests, on_error=on_error)
    assert_valid_qbxml(answer)
    return list(etree.fromstring(answer.encode()).find("QBXMLMsgsRs"))


def child_names(element: etree._Element) -> list[str]:
    return [str(child.tag) for child in element]


def payment_query(kind: str = "Check", filters: str = "", request_id: str = "p", attributes: str = "") -> str:
    return (
        f'<BillPayment{kind}QueryRq requestID="{request_id}"{attributes}>{filters}'
        f"<IncludeLineItems>true</IncludeLineItems></BillPayment{kind}QueryRq>"
    )


def bill_query(filters: str = "", request_id: str = "b") -> str:
    return (
        f'<BillQueryRq requestID="{request_id}">{filters}<IncludeLineItems>true</IncludeLineItems>'
        "<IncludeLinkedTxns>true</IncludeLinkedTxns></BillQueryRq>"
    )


@pytest.fixture
def multicurrency() -> SandboxCompanyFile:
    company = SandboxCompanyFile(multicurrency=True)
    company.add_vendor(CAD_VENDOR, currency="CAD")
    company.add_vendor(USD_VENDOR)
    return company


@pytest.fixture
def company() -> SandboxCompanyFile:
    company = SandboxCompanyFile()
    company.add_vendor(VENDOR)
    return company


# ---- 1. multicurrency ------------------------------------------------------------------------


def test_a_cad_vendors_bill_and_payments_carry_currency_rate_and_home_amounts(
    multicurrency: SandboxCompanyFile,
) -> None:
    company = multicurrency
    company.set_exchange_rate("CAD", Decimal("0.73"))
    bill = company.add_bill(CAD_VENDOR, "MLF-1", Decimal("1000.00"), date(2026, 10, 1))
    # The rate moves on; the bill keeps the rate it was entered with, the payments get the new one.
    company.advance(minutes=5)
    company.set_exchange_rate("CAD", Decimal("0.5"))
    check = company.pay_bills(CAD_VENDOR, [(bill, Decimal("100.05"))], check_number="501")
    card = company.pay_bills(CAD_VENDOR, [(bill, Decimal("200.00"))], kind="credit_card")

    (bill_rs,) = ask(company, bill_query(f"<TxnID>{bill}</TxnID>"))
    (bill_ret,) = bill_rs
    names = child_names(bill_ret)
    assert names[names.index("AmountDue") : names.index("RefNumber") + 1] == [
        "AmountDue",
        "CurrencyRef",
        "ExchangeRate",
        "AmountDueInHomeCurrency",
        "RefNumber",
    ]
    assert bill_ret.findtext("CurrencyRef/ListID") == company.currency_list_id("CAD")
    assert bill_ret.findtext("CurrencyRef/FullName") == "Canadian Dollar"
    assert bill_ret.findtext("ExchangeRate") == "0.73"
    assert bill_ret.findtext("AmountDueInHomeCurrency") == "730.00"
    assert bill_ret.findtext("OpenAmount") == "699.95"  # in Canadian dollars, like AmountDue

    checks, cards = ask(
        company,
        payment_query(filters=f"<TxnID>{check}</TxnID>"),
        payment_query("CreditCard", f"<TxnID>{card}</TxnID>", request_id="c"),
    )
    (check_ret,) = checks
    assert child_names(check_ret) == [
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
        "CurrencyRef",
        "ExchangeRate",
        "AmountInHomeCurrency",
        "RefNumber",
        "IsToBePrinted",
        "AppliedToTxnRet",
    ]
    assert check_ret.findtext("Amount") == "100.05"
    assert check_ret.findtext("ExchangeRate") == "0.5"
    # 100.05 x 0.5 = 50.025: rounded half-up (banker's rounding would give 50.02).
    assert check_ret.findtext("AmountInHomeCurrency") == "50.03"
    assert check_ret.findtext("AppliedToTxnRet/Amount") == "100.05"  # applications stay in CAD
    (card_ret,) = cards
    assert child_names(card_ret)[8:13] == [
        "CreditCardAccountRef",
        "Amount",
        "CurrencyRef",
        "ExchangeRate",
        "AmountInHomeCurrency",
    ]
    assert (card_ret.findtext("CurrencyRef/FullName"), card_ret.findtext("AmountInHomeCurrency")) == (
        "Canadian Dollar",
        "100.00",
    )
    assert company.payment(check).currency == "CAD" and company.payment(check).exchange_rate == Decimal("0.5")
    assert company.bill(bill).exchange_rate == Decimal("0.73")


def test_a_home_currency_vendor_in_the_same_file_shows_rate_1(multicurrency: SandboxCompanyFile) -> None:
    company = multicurrency
    company.set_exchange_rate("CAD", Decimal("0.73"))
    bill = company.add_bill(USD_VENDOR, "GRC-1", Decimal("812.40"))
    payment = company.pay_bills(USD_VENDOR, [(bill, Decimal("812.40"))], check_number="601")
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    (ret,) = rs
    assert ret.findtext("CurrencyRef/ListID") == company.currency_list_id("USD")
    assert ret.findtext("CurrencyRef/FullName") == "US Dollar"
    assert ret.findtext("ExchangeRate") == "1"
    assert ret.findtext("AmountInHomeCurrency") == ret.findtext("Amount") == "812.40"


def test_a_renamed_currency_is_named_so_in_every_reference(multicurrency: SandboxCompanyFile) -> None:
    company = multicurrency
    bill = company.add_bill(CAD_VENDOR, "MLF-2", Decimal("50.00"))
    company.rename_currency("CAD", "Dollar canadien")
    (rs,) = ask(company, bill_query(f"<TxnID>{bill}</TxnID>"))
    assert rs[0].findtext("CurrencyRef/FullName") == "Dollar canadien"
    # A rate never set is 1 (the CAD rate was not set in this test).
    assert rs[0].findtext("ExchangeRate") == "1"
    with pytest.raises(ValueError):
        company.rename_currency("EUR", "dollar CANADIEN")  # names stay unique
    with pytest.raises(ValueError):
        company.rename_currency("EUR", "E" * 65)


def test_the_hcp_response_says_whether_multicurrency_is_on(multicurrency: SandboxCompanyFile) -> None:
    on = multicurrency.hcp_response()
    assert_valid_qbxml(on)
    preferences = etree.fromstring(on.encode()).find(
        "QBXMLMsgsRs/PreferencesQueryRs/PreferencesRet/MultiCurrencyPreferences"
    )
    assert child_names(preferences) == ["IsMultiCurrencyOn", "HomeCurrencyRef"]
    assert preferences.findtext("IsMultiCurrencyOn") == "true"
    assert preferences.findtext("HomeCurrencyRef/ListID") == multicurrency.currency_list_id("USD")
    assert preferences.findtext("HomeCurrencyRef/FullName") == "US Dollar"

    canadian_home = SandboxCompanyFile(multicurrency=True, home_currency="CAD")
    preferences = etree.fromstring(canadian_home.hcp_response().encode()).find(
        "QBXMLMsgsRs/PreferencesQueryRs/PreferencesRet/MultiCurrencyPreferences"
    )
    assert preferences.findtext("HomeCurrencyRef/FullName") == "Canadian Dollar"

    off = SandboxCompanyFile().hcp_response()
    assert_valid_qbxml(off)
    preferences = etree.fromstring(off.encode()).find(
        "QBXMLMsgsRs/PreferencesQueryRs/PreferencesRet/MultiCurrencyPreferences"
    )
    assert child_names(preferences) == ["IsMultiCurrencyOn"]
    assert preferences.findtext("IsMultiCurrencyOn") == "false"


def test_a_file_without_multicurrency_emits_no_currency_elements(company: SandboxCompanyFile) -> None:
    bill = company.add_bill(VENDOR, "INV-1", Decimal("300.00"))
    company.pay_bills(VENDOR, [(bill, Decimal("100.00"))], check_number="9")
    company.pay_bills(VENDOR, [(bill, Decimal("100.00"))], kind="credit_card")
    answer = send(
        company,
        payment_query(),
        payment_query("CreditCard", request_id="c"),
        bill_query(),
        '<VendorQueryRq requestID="v"/>',
    )
    assert_valid_qbxml(answer)
    for element in CURRENCY_ELEMENTS:
        assert f"<{element}>" not in answer
    assert answer.count("<BillPaymentCheckRet>") == answer.count("<BillPaymentCreditCardRet>") == 1
    assert "<VendorRet>" in answer and "<BillRet>" in answer

    with pytest.raises(ValueError, match="multicurrency"):
        company.add_vendor("Maple Leaf Formwork", currency="CAD")
    company.add_vendor("Home Currency Supply", currency="USD")  # the home currency is fine
    with pytest.raises(ValueError, match="multicurrency"):
        company.set_exchange_rate("CAD", Decimal("0.73"))
    with pytest.raises(ValueError, match="unknown currency"):
        SandboxCompanyFile(multicurrency=True).add_vendor("Nowhere Ltd", currency="XXX")


def test_currency_queries_in_a_file_without_multicurrency_answer_3250(company: SandboxCompanyFile) -> None:
    currencies, host, vendors = ask(
        company,
        '<CurrencyQueryRq requestID="cur"/>',
        '<HostQueryRq requestID="h"/>',
        '<VendorQueryRq requestID="v"><CurrencyFilter><FullName>US Dollar</FullName></CurrencyFilter></VendorQueryRq>',
        on_error="continueOnError",
    )
    assert (currencies.get("requestID"), currencies.get("statusCode"), currencies.get("statusSeverity")) == (
        "cur",
        "3250",
        "Error",
    )
    assert "multicurrency" in currencies.get("statusMessage") and "not enabled" in currencies.get(
        "statusMessage"
    )
    assert len(currencies) == 0
    assert host.get("statusCode") == "0"
    assert vendors.get("statusCode") == "3250"
    # stopOnError: nothing after the refused request is answered.
    assert [
        rs.get("requestID") for rs in ask(company, '<CurrencyQueryRq requestID="x"/>', "<HostQueryRq/>")
    ] == ["x"]


# ---- CurrencyQueryRq -------------------------------------------------------------------------


def test_currency_query_lists_the_currency_list_in_schema_order(multicurrency: SandboxCompanyFile) -> None:
    company = multicurrency
    company.advance(days=1)
    company.set_exchange_rate("CAD", Decimal("0.7312"))
    (rs,) = ask(company, '<CurrencyQueryRq requestID="all"/>')
    assert (rs.get("requestID"), rs.get("statusCode"), rs.get("retCount")) == ("all", "0", str(len(rs)))
    by_code = {ret.findtext("CurrencyCode"): ret for ret in rs}
    assert {code: by_code[code].findtext("Name") for code in ("USD", "CAD", "EUR", "GBP", "MXN", "AUD")} == {
        "USD": "US Dollar",
        "CAD": "Canadian Dollar",
        "EUR": "Euro",
        "GBP": "British Pound Sterling",
        "MXN": "Mexican Peso",
        "AUD": "Australian Dollar",
    }
    names = [ret.findtext("Name") for ret in rs]
    assert names == sorted(names, key=str.casefold)
    assert child_names(by_code["CAD"]) == [
        "ListID",
        "TimeCreated",
        "TimeModified",
        "EditSequence",
        "Name",
        "IsActive",
        "CurrencyCode",
        "IsUserDefinedCurrency",
        "ExchangeRate",
        "AsOfDate",
    ]
    assert (by_code["CAD"].findtext("ExchangeRate"), by_code["CAD"].findtext("AsOfDate")) == (
        "0.7312",
        "2026-11-03",
    )
    assert by_code["CAD"].findtext("TimeModified") == "2026-11-03T08:00:00-05:00"
    assert by_code["USD"].find("ExchangeRate") is None  # the home currency has no rate


def test_currency_query_by_list_id_full_name_filter_and_ret_elements(
    multicurrency: SandboxCompanyFile,
) -> None:
    company = multicurrency
    cad, eur = company.currency_list_id("CAD"), company.currency_list_id("EUR")
    company.rename_currency("GBP", "Pound Sterling")
    by_id, by_name, partly, filtered, trimmed = ask(
        company,
        f'<CurrencyQueryRq requestID="1"><ListID>{eur}</ListID><ListID>{cad}</ListID></CurrencyQueryRq>',
        '<CurrencyQueryRq requestID="2"><FullName>pound sterling</FullName></CurrencyQueryRq>',
        '<CurrencyQueryRq requestID="3"><FullName>Euro</FullName><FullName>Bitcoin</FullName></CurrencyQueryRq>',
        '<CurrencyQueryRq requestID="4"><MaxReturned>1</MaxReturned>'
        "<NameFilter><MatchCriterion>Contains</MatchCriterion><Name>dollar</Name></NameFilter></CurrencyQueryRq>",
        '<CurrencyQueryRq requestID="5"><ListID>' + cad + "</ListID>"
        "<IncludeRetElement>Name</IncludeRetElement><IncludeRetElement>CurrencyCode</IncludeRetElement>"
        "</CurrencyQueryRq>",
        on_error="continueOnError",
    )
    assert [ret.findtext("CurrencyCode") for ret in by_id] == ["EUR", "CAD"]
    assert [ret.findtext("CurrencyCode") for ret in by_name] == ["GBP"]
    assert (partly.get("statusCode"), partly.get("statusSeverity")) == ("500", "Warn")
    assert "Bitcoin" in partly.get("statusMessage")
    assert [ret.findtext("CurrencyCode") for ret in partly] == ["EUR"]
    assert [ret.findtext("Name") for ret in filtered] == ["Australian Dollar"]  # first by name, capped at 1
    assert [child_names(ret) for ret in trimmed] == [["Name", "CurrencyCode"]]


# ---- VendorQueryRq ---------------------------------------------------------------------------


VENDOR_RET_ORDER = [
    "ListID",
    "TimeCreated",
    "TimeModified",
    "EditSequence",
    "Name",
    "IsActive",
    "CompanyName",
    "NameOnCheck",
    "IsVendorEligibleFor1099",
    "Balance",
]


def test_vendor_query_in_a_multicurrency_file_carries_the_vendors_currency(
    multicurrency: SandboxCompanyFile,
) -> None:
    company = multicurrency
    cad_vendor = company.vendor_list_id(CAD_VENDOR)
    bill = company.add_bill(CAD_VENDOR, "MLF-3", Decimal("400.00"))
    company.add_vendor_credit(CAD_VENDOR, "CR-1", Decimal("25.00"))
    company.pay_bills(CAD_VENDOR, [(bill, Decimal("100.00"))])
    by_id, by_name, by_currency = ask(
        company,
        f'<VendorQueryRq requestID="1"><ListID>{cad_vendor}</ListID></VendorQueryRq>',
        f'<VendorQueryRq requestID="2"><FullName>{USD_VENDOR.upper()}</FullName></VendorQueryRq>',
        '<VendorQueryRq requestID="3"><CurrencyFilter><FullName>Canadian Dollar</FullName></CurrencyFilter>'
        "</VendorQueryRq>",
    )
    (ret,) = by_id
    assert child_names(ret) == [*VENDOR_RET_ORDER, "CurrencyRef"]
    assert (ret.findtext("ListID"), ret.findtext("Name")) == (cad_vendor, CAD_VENDOR)
    assert ret.findtext("CurrencyRef/ListID") == company.currency_list_id("CAD")
    assert ret.findtext("CurrencyRef/FullName") == "Canadian Dollar"
    assert ret.findtext("Balance") == "275.00"  # 300.00 open less the unused 25.00 credit, in CAD
    assert ret.findtext("TimeCreated") == "2026-11-02T08:00:00-05:00"
    assert by_name[0].findtext("CurrencyRef/FullName") == "US Dollar"
    assert [r.findtext("Name") for r in by_currency] == [CAD_VENDOR]


def test_vendor_query_without_multicurrency_has_no_currency_and_iterates(company: SandboxCompanyFile) -> None:
    for name in ("Zephyr Drywall", "Apex Steel", "Bolt Electric", "Crane Rentals"):
        company.add_vendor(name)
    (everyone,) = ask(company, '<VendorQueryRq requestID="all"/>')
    names = [ret.findtext("Name") for ret in everyone]
    assert names == ["Apex Steel", "Bolt Electric", "Crane Rentals", VENDOR, "Zephyr Drywall"]
    assert all(child_names(ret) == VENDOR_RET_ORDER for ret in everyone)

    (capped,) = ask(company, '<VendorQueryRq requestID="cap"><MaxReturned>2</MaxReturned></VendorQueryRq>')
    assert [ret.findtext("Name") for ret in capped] == names[:2]

    (starts,) = ask(
        company,
        "<VendorQueryRq><NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>b</Name></NameFilter>"
        "</VendorQueryRq>",
    )
    assert [ret.findtext("Name") for ret in starts] == ["Bolt Electric"]

    company.open_connection()
    seen: list[str] = []
    (rs,) = ask(
        company, '<VendorQueryRq requestID="i1" iterator="Start"><MaxReturned>2</MaxReturned></VendorQueryRq>'
    )
    iterator_id = rs.get("iteratorID")
    remaining = []
    while True:
        seen.extend(ret.findtext("Name") for ret in rs)
        remaining.append(rs.get("iteratorRemainingCount"))
        if rs.get("iteratorRemainingCount") == "0":
            break
        (rs,) = ask(
            company,
            f'<VendorQueryRq requestID="i2" iterator="Continue" iteratorID="{iterator_id}">'
            "<MaxReturned>2</MaxReturned></VendorQueryRq>",
        )
    assert seen == names and remaining == ["3", "1", "0"]

    (missing,) = ask(company, '<VendorQueryRq requestID="m"><FullName>Nobody Inc</FullName></VendorQueryRq>')
    assert (missing.get("statusCode"), len(missing)) == ("500", 0)


@pytest.mark.parametrize(
    "request_xml",
    [
        pytest.param(
            "<VendorQueryRq><IncludeRetElement>Name</IncludeRetElement><ListID>1</ListID></VendorQueryRq>",
            id="vendor-ret-element-before-list-id",
        ),
        pytest.param(
            "<VendorQueryRq><ActiveStatus>All</ActiveStatus><MaxReturned>5</MaxReturned></VendorQueryRq>",
            id="vendor-active-status-before-max-returned",
        ),
        pytest.param(
            "<VendorQueryRq><ListID>1</ListID><FullName>A</FullName></VendorQueryRq>",
            id="vendor-list-id-and-full-name",
        ),
        pytest.param(
            "<VendorQueryRq><NameFilter><Name>A</Name><MatchCriterion>Contains</MatchCriterion></NameFilter>"
            "</VendorQueryRq>",
            id="vendor-name-filter-out-of-order",
        ),
        pytest.param(
            "<VendorQueryRq><CurrencyFilter><FullName>Euro</FullName></CurrencyFilter>"
            "<NameFilter><MatchCriterion>Contains</MatchCriterion><Name>A</Name></NameFilter></VendorQueryRq>",
            id="vendor-currency-filter-before-name-filter",
        ),
        pytest.param('<CurrencyQueryRq iterator="Start"/>', id="currency-iterator"),
        pytest.param("<CurrencyQueryRq><OwnerID>0</OwnerID></CurrencyQueryRq>", id="currency-owner-id"),
        pytest.param(
            "<CurrencyQueryRq><IncludeRetElement>Name</IncludeRetElement><FullName>Euro</FullName>"
            "</CurrencyQueryRq>",
            id="currency-ret-element-first",
        ),
    ],
)
def test_new_requests_out_of_schema_order_are_parse_errors(
    multicurrency: SandboxCompanyFile, request_xml: str
) -> None:
    document = qbxml_request(request_xml)
    assert qbxml_errors(document), "the schema itself must reject this request"
    with pytest.raises(QuickBooksParseError) as raised:
        multicurrency.handle_qbxml(document)
    assert raised.value.hresult == PARSE_ERROR_HRESULT


def test_vendor_query_filters_the_sandbox_does_not_emulate_fail_loudly(company: SandboxCompanyFile) -> None:
    with pytest.raises(NotImplementedError):
        send(
            company,
            "<VendorQueryRq><TotalBalanceFilter><Operator>GreaterThan</Operator><Amount>1.00</Amount>"
            "</TotalBalanceFilter></VendorQueryRq>",
        )


# ---- 2. discounts and vendor credits -----------------------------------------------------------


def test_a_payment_with_a_discount_and_a_vendor_credit(company: SandboxCompanyFile) -> None:
    bill = company.add_bill(VENDOR, "INV-100", Decimal("1000.00"), date(2026, 10, 1))
    credit = company.add_vendor_credit(VENDOR, "CR-7", Decimal("200.00"), date(2026, 10, 15))
    payment = company.pay_bills(
        VENDOR,
        [(bill, Decimal("830.00"))],
        check_number="7001",
        discounts={bill: Decimal("20.00")},
        credits={bill: [(credit, Decimal("150.00"))]},
    )
    assert company.bill(bill).open_amount == Decimal("0.00") and company.bill(bill).is_paid
    assert company.vendor_credit_remaining(credit) == Decimal("50.00")
    snapshot = company.payment(payment)
    assert snapshot.amount == Decimal("830.00")
    assert snapshot.discounts == ((bill, Decimal("20.00")),)
    assert snapshot.credits == ((bill, credit, Decimal("150.00")),)

    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    (ret,) = rs
    assert ret.findtext("Amount") == "830.00"  # the cash only
    applied = ret.find("AppliedToTxnRet")
    assert child_names(applied) == [
        "TxnID",
        "TxnType",
        "TxnDate",
        "RefNumber",
        "BalanceRemaining",
        "Amount",
        "DiscountAmount",
        "DiscountAccountRef",
        "LinkedTxn",
    ]
    assert (applied.findtext("TxnID"), applied.findtext("BalanceRemaining"), applied.findtext("Amount")) == (
        bill,
        "0.00",
        "830.00",
    )
    assert applied.findtext("DiscountAmount") == "20.00"
    assert applied.findtext("DiscountAccountRef/FullName") == "Purchase Discounts"
    assert applied.findtext("DiscountAccountRef/ListID")
    link = applied.find("LinkedTxn")
    assert child_names(link) == ["TxnID", "TxnType", "TxnDate", "RefNumber", "LinkType", "Amount"]
    assert [link.findtext(n) for n in ("TxnID", "TxnType", "TxnDate", "RefNumber", "LinkType", "Amount")] == [
        credit,
        "VendorCredit",
        "2026-10-15",
        "CR-7",
        "AMTTYPE",
        "-150.00",
    ]

    (bills,) = ask(company, bill_query(f"<TxnID>{bill}</TxnID>"))
    links = [
        (x.findtext("TxnID"), x.findtext("TxnType"), x.findtext("Amount"))
        for x in bills[0].findall("LinkedTxn")
    ]
    assert links == [(payment, "BillPaymentCheck", "-830.00"), (credit, "VendorCredit", "-150.00")]
    assert (bills[0].findtext("OpenAmount"), bills[0].findtext("IsPaid")) == ("0.00", "true")


def test_a_credit_cannot_be_used_beyond_what_is_left(company: SandboxCompanyFile) -> None:
    first, second, third = (company.add_bill(VENDOR, f"INV-{n}", Decimal("500.00")) for n in (1, 2, 3))
    credit = company.add_vendor_credit(VENDOR, "CR-1", Decimal("100.00"))
    # One payment may split a credit over two bills.
    company.pay_bills(
        VENDOR,
        [(first, Decimal("440.00")), (second, Decimal("460.00"))],
        credits={first: [(credit, Decimal("60.00"))], second: [(credit, Decimal("40.00"))]},
    )
    assert company.vendor_credit_remaining(credit) == Decimal("0.00")
    with pytest.raises(ValueError, match="only 0.00 left"):
        company.pay_bills(VENDOR, [(third, Decimal("499.99"))], credits={third: [(credit, Decimal("0.01"))]})
    other = company.add_vendor_credit(VENDOR, "CR-2", Decimal("30.00"))
    with pytest.raises(ValueError, match="only 30.00 left"):
        company.pay_bills(
            VENDOR,
            [(third, Decimal("10.00"))],
            credits={third: [(other, Decimal("20.00")), (other, Decimal("20.00"))]},
        )
    with pytest.raises(ValueError, match="only 500.00 open"):
        company.pay_bills(VENDOR, [(third, Decimal("490.00"))], discounts={third: Decimal("20.00")})
    with pytest.raises(ValueError, match="not in the applications"):
        company.pay_bills(VENDOR, [(third, Decimal("10.00"))], discounts={first: Decimal("1.00")})
    company.add_vendor("Somebody Else")
    stranger = company.add_vendor_credit("Somebody Else", "CR-X", Decimal("5.00"))
    with pytest.raises(ValueError, match="belongs to"):
        company.pay_bills(VENDOR, [(third, Decimal("10.00"))], credits={third: [(stranger, Decimal("5.00"))]})
    assert company.bill(third).open_amount == Decimal("500.00")  # nothing half-applied


def test_a_credit_only_payment_is_zero_but_not_void_and_a_void_releases_the_credit(
    company: SandboxCompanyFile,
) -> None:
    bill = company.add_bill(VENDOR, "INV-9", Decimal("75.00"))
    credit = company.add_vendor_credit(VENDOR, "CR-9", Decimal("100.00"))
    payment = company.pay_bills(
        VENDOR, [(bill, Decimal("0.00"))], credits={bill: [(credit, Decimal("75.00"))]}
    )
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    assert rs[0].findtext("Amount") == "0.00"  # like a void, but it is not one
    assert rs[0].find("Memo") is None
    assert company.bill(bill).is_paid
    with pytest.raises(ValueError, match="positive"):
        company.pay_bills(VENDOR, [(bill, Decimal("0.00"))])  # zero cash needs a discount or credit

    company.advance(minutes=1)
    company.void_payment(payment)
    assert company.bill(bill).open_amount == Decimal("75.00")
    assert company.vendor_credit_remaining(credit) == Decimal("100.00")
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    applied = rs[0].find("AppliedToTxnRet")
    assert child_names(applied) == ["TxnID", "TxnType", "TxnDate", "RefNumber", "BalanceRemaining", "Amount"]


def test_editing_or_deleting_a_payment_gives_its_discount_and_credits_back(
    company: SandboxCompanyFile,
) -> None:
    bill = company.add_bill(VENDOR, "INV-5", Decimal("500.00"))
    credit = company.add_vendor_credit(VENDOR, "CR-5", Decimal("50.00"))
    payment = company.pay_bills(
        VENDOR,
        [(bill, Decimal("400.00"))],
        discounts={bill: Decimal("10.00")},
        credits={bill: [(credit, Decimal("50.00"))]},
    )
    # The same credit can be re-used by the edit of the payment that holds it.
    company.edit_payment(
        payment, applications=[(bill, Decimal("450.00"))], credits={bill: [(credit, Decimal("50.00"))]}
    )
    assert company.bill(bill).open_amount == Decimal("0.00")
    assert company.payment(payment).discounts == ()
    company.delete_payment(payment)
    assert company.bill(bill).open_amount == Decimal("500.00")
    assert company.vendor_credit_remaining(credit) == Decimal("50.00")
    with pytest.raises(ValueError):
        company.edit_payment(company.pay_bills(VENDOR, [(bill, Decimal("1.00"))]), credits={bill: []})


def test_discounts_and_credits_in_a_multicurrency_file(multicurrency: SandboxCompanyFile) -> None:
    company = multicurrency
    company.set_exchange_rate("CAD", Decimal("0.74"))
    bill = company.add_bill(CAD_VENDOR, "MLF-9", Decimal("1000.00"))
    credit = company.add_vendor_credit(CAD_VENDOR, "MCR-1", Decimal("100.00"))
    payment = company.pay_bills(
        CAD_VENDOR,
        [(bill, Decimal("880.00"))],
        discounts={bill: Decimal("20.00")},
        credits={bill: [(credit, Decimal("100.00"))]},
    )
    (rs,) = ask(company, payment_query(filters=f"<TxnID>{payment}</TxnID>"))
    # Home amount of the cash only: 880.00 x 0.74.
    assert (rs[0].findtext("Amount"), rs[0].findtext("AmountInHomeCurrency")) == ("880.00", "651.20")
    assert rs[0].findtext("AppliedToTxnRet/LinkedTxn/Amount") == "-100.00"


# ---- 3. older QuickBooks versions -------------------------------------------------------------


def host_ret(company: SandboxCompanyFile) -> etree._Element:
    (rs,) = ask(company, '<HostQueryRq requestID="h"/>')
    return rs.find("HostRet")


def test_quickbooks_2013_describes_itself_and_supports_up_to_12_0() -> None:
    qb2013 = SandboxCompanyFile(product_year=2013)
    hcp = qb2013.hcp_response()
    assert_valid_qbxml(hcp)
    host = etree.fromstring(hcp.encode()).find("QBXMLMsgsRs/HostQueryRs/HostRet")
    assert host.findtext("ProductName") == "QuickBooks Pro 2013"
    assert (host.findtext("MajorVersion"), host.findtext("MinorVersion"), host.findtext("Country")) == (
        "23",
        "0",
        "US",
    )
    versions = [v.text for v in host.findall("SupportedQBXMLVersion")]
    assert versions[:7] == ["1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1"]
    assert versions[-1] == "12.0" and "13.0" not in versions
    assert qb2013.highest_qbxml_version == (12, 0)
    # A 12.0 request is answered.
    answer = qb2013.handle_qbxml(qbxml_request('<HostQueryRq requestID="h"/>', version="12.0"))
    assert_valid_qbxml(answer)


def test_product_year_mapping() -> None:
    qb2014 = host_ret(SandboxCompanyFile(product_year=2014))
    assert (qb2014.findtext("ProductName"), qb2014.findtext("MajorVersion")) == ("QuickBooks Pro 2014", "24")
    assert qb2014.findall("SupportedQBXMLVersion")[-1].text == "13.0"  # NOTES §5 capture
    default = host_ret(SandboxCompanyFile())
    assert default.findtext("MajorVersion") == "34"
    assert default.findall("SupportedQBXMLVersion")[-1].text == "16.0"
    assert {
        year: highest_qbxml_version_of(year)
        for year in (2002, 2005, 2007, 2013, 2014, 2019, 2021, 2022, 2023)
    } == {
        2002: "1.1",
        2005: "4.1",
        2007: "6.0",
        2013: "12.0",
        2014: "13.0",
        2019: "13.0",
        2021: "14.0",
        2022: "15.0",
        2023: "16.0",
    }
    canada = SandboxCompanyFile(country="CA", product_year=2013)
    assert canada.supported_qbxml_versions[-1] == "CA12.0"
    assert canada.product_name == "QuickBooks Pro 2013 Canadian Edition"
    with pytest.raises(ValueError):
        SandboxCompanyFile(product_year=2001)


def test_a_version_too_new_for_quickbooks_2013_is_refused_with_0x80040428() -> None:
    qb2013 = SandboxCompanyFile(product_year=2013)
    request = qbxml_request('<HostQueryRq requestID="h"/>', version="13.0")
    assert_valid_qbxml(request)
    with pytest.raises(QuickBooksVersionError) as raised:
        qb2013.handle_qbxml(request)
    assert raised.value.hresult == VERSION_ERROR_HRESULT == "0x80040428"
    assert raised.value.message == VERSION_ERROR_MESSAGE
    assert VERSION_ERROR_MESSAGE == "The version of QBXML that was requested is not supported or is unknown."
    assert not isinstance(raised.value, QuickBooksParseError)
    # Versions no QuickBooks of this country has stay the parse error (sandbox choice).
    for version in ("99.0", "CA12.0"):
        with pytest.raises(QuickBooksParseError):
            qb2013.handle_qbxml(qbxml_request('<HostQueryRq requestID="h"/>', version=version))


@dataclass
class MiniQbwcService:
    """Just enough of a QBWC web service: canned requests, every call's parameters recorded."""

    requests: list[str]
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/qbwc", self.endpoint, methods=["POST"])])

    def of(self, method: str) -> list[dict[str, str]]:
        return [params for name, params in self.calls if name == method]

    async def endpoint(self, request: Request) -> Response:
        envelope = etree.fromstring(
            await request.body(), etree.XMLParser(resolve_entities=False, no_network=True)
        )
        operation = envelope.find(f"{{{SOAP_ENVELOPE_NAMESPACE}}}Body")[0]
        method = etree.QName(operation).localname
        self.calls.append((method, {etree.QName(child).localname: child.text or "" for child in operation}))
        results: dict[str, str | list[str]] = {
            "authenticate": ["TICKET-7", ""],
            "sendRequestXML": self.requests.pop(0) if method == "sendRequestXML" and self.requests else "",
            "receiveResponseXML": "100",
            "closeConnection": "OK",
            "connectionError": "done",
        }
        result = results.get(method, "")
        inner = (
            "".join(f"<string>{_escape(item)}</string>" for item in result)
            if isinstance(result, list)
            else _escape(result)
        )
        return Response(
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<soap:Envelope xmlns:soap="{SOAP_ENVELOPE_NAMESPACE}"><soap:Body>'
            f'<{method}Response xmlns="{QBWC_NAMESPACE}"><{method}Result>{inner}</{method}Result></{method}Response>'
            "</soap:Body></soap:Envelope>",
            media_type="text/xml; charset=utf-8",
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture
def host_query_13() -> Iterator[str]:
    request = qbxml_request('<HostQueryRq requestID="h"/>', version="13.0")
    assert_valid_qbxml(request)
    yield request


def test_the_web_connector_reports_0x80040428_for_a_13_0_request_to_quickbooks_2013(
    running: RunningFactory, host_query_13: str
) -> None:
    qb2013 = SandboxCompanyFile(product_year=2013)
    service = MiniQbwcService(requests=[host_query_13])
    with running(service.app()) as server:
        report = WebConnectorEmulator(f"{server.url}/qbwc", "paysync", "pw", qb2013).run_session()
    (send_request,) = service.of("sendRequestXML")
    # QBWC tells the service the newest version this QuickBooks supports: 12.0.
    assert (send_request["qbXMLMajorVers"], send_request["qbXMLMinorVers"], send_request["qbXMLCountry"]) == (
        "12",
        "0",
        "US",
    )
    assert "<SupportedQBXMLVersion>12.0</SupportedQBXMLVersion>" in send_request["strHCPResponse"]
    (received,) = service.of("receiveResponseXML")
    assert received == {
        "ticket": "TICKET-7",
        "response": "",
        "hresult": "0x80040428",
        "message": "The version of QBXML that was requested is not supported or is unknown.",
    }
    assert report.hresults == [("0x80040428", VERSION_ERROR_MESSAGE)]
    assert report.outcome == "done"


@pytest.mark.parametrize(
    ("company_options", "emulator_version", "expected"),
    [
        pytest.param({}, None, ("13", "0"), id="2024-file-default-capped-at-13"),
        pytest.param({"product_year": 2014}, None, ("13", "0"), id="2014-file"),
        pytest.param({"product_year": 2009}, None, ("8", "0"), id="2009-file"),
        pytest.param({}, (16, 0), ("16", "0"), id="explicit-override"),
    ],
)
def test_the_web_connector_reports_the_files_qbxml_version(
    running: RunningFactory,
    company_options: dict[str, int],
    emulator_version: tuple[int, int] | None,
    expected: tuple[str, str],
) -> None:
    company = SandboxCompanyFile(**company_options)  # type: ignore[arg-type]
    service = MiniQbwcService(requests=[])
    with running(service.app()) as server:
        emulator = WebConnectorEmulator(
            f"{server.url}/qbwc", "paysync", "pw", company, qbxml_version=emulator_version
        )
        emulator.run_session()
    (send_request,) = service.of("sendRequestXML")
    assert (send_request["qbXMLMajorVers"], send_request["qbXMLMinorVers"]) == expected


def test_a_13_0_request_to_quickbooks_2014_through_the_web_connector_is_answered(
    running: RunningFactory, host_query_13: str
) -> None:
    service = MiniQbwcService(requests=[host_query_13])
    with running(service.app()) as server:
        report = WebConnectorEmulator(
            f"{server.url}/qbwc", "paysync", "pw", SandboxCompanyFile(product_year=2014)
        ).run_session()
    assert report.hresults == [("", "")]
    assert_valid_qbxml(report.responses[0])
    assert "<ProductName>QuickBooks Pro 2014</ProductName>" in report.responses[0]


# ---- 4. records typed badly, hostile numbers --------------------------------------------------


def test_corrupt_field_replaces_or_drops_elements_until_cleared(company: SandboxCompanyFile) -> None:
    bill = company.add_bill(VENDOR, "INV-1", Decimal("1250.00"), date(2026, 10, 1))
    other_bill = company.add_bill(VENDOR, "INV-2", Decimal("10.00"), date(2026, 10, 1))
    payment = company.pay_bills(VENDOR, [(bill, Decimal("1250.00"))], check_number="1001")
    healthy = company.pay_bills(VENDOR, [(other_bill, Decimal("10.00"))], check_number="1002")

    company.corrupt_field(payment, "TxnDate", "2026-02-30")
    company.corrupt_field(payment, "Amount", "1,250.00")
    company.corrupt_field(payment, "RefNumber", None)  # a required-looking element left out
    company.corrupt_field(payment, "AppliedToTxnRet/Amount", "1250.001")
    company.corrupt_field(payment, "PayeeEntityRef", "Granite Ridge Concrete")  # text instead of a ref
    for _ in range(2):  # every time it is answered
        answer = send(company, payment_query())
        assert qbxml_errors(answer)  # deliberately not schema-valid
        corrupted, untouched = etree.fromstring(answer.encode()).find("QBXMLMsgsRs/BillPaymentCheckQueryRs")
        assert corrupted.findtext("TxnID") == payment
        assert corrupted.findtext("TxnDate") == "2026-02-30"
        assert corrupted.findtext("Amount") == "1,250.00"
        assert corrupted.find("RefNumber") is None
        assert corrupted.findtext("AppliedToTxnRet/Amount") == "1250.001"
        assert corrupted.find("PayeeEntityRef").text == "Granite Ridge Concrete"
        assert len(corrupted.find("PayeeEntityRef")) == 0
        assert child_names(corrupted)[:8] == [
            "TxnID",
            "TimeCreated",
            "TimeModified",
            "EditSequence",
            "TxnNumber",
            "PayeeEntityRef",
            "APAccountRef",
            "TxnDate",
        ]
        assert untouched.findtext("TxnID") == healthy
        assert untouched.findtext("Amount") == "10.00"

    company.clear_corruption(payment)
    (rs,) = ask(company, payment_query())  # valid again
    assert rs[0].findtext("Amount") == "1250.00" and rs[0].findtext("RefNumber") == "1001"


def test_corrupt_field_over_long_and_missing_ids(company: SandboxCompanyFile) -> None:
    bill = company.add_bill(VENDOR, "INV-1", Decimal("100.00"))
    payment = company.pay_bills(VENDOR, [(bill, Decimal("100.00"))], kind="credit_card")
    company.corrupt_field(payment, "TxnID", "X" * 40)
    answer = send(company, payment_query("CreditCard"))
    assert f"<TxnID>{'X' * 40}</TxnID>" in answer
    assert any("TxnID" in error for error in qbxml_errors(answer))

    company.corrupt_field(payment, "TxnID", None)
    company.corrupt_field(payment, "TxnDate", None)
    ret = etree.fromstring(send(company, payment_query("CreditCard")).encode()).find(
        "QBXMLMsgsRs/BillPaymentCreditCardQueryRs/BillPaymentCreditCardRet"
    )
    assert ret.find("TxnID") is None and ret.find("TxnDate") is None
    assert ret.findtext("AppliedToTxnRet/TxnID") == bill  # only the Ret's own TxnID went

    company.corrupt_field(bill, "OpenAmount", "-0.00.5")
    company.corrupt_field(bill, "RefNumber", "INV-" + "9" * 30)  # over the 20-character limit
    answer = send(company, bill_query())
    assert "<OpenAmount>-0.00.5</OpenAmount>" in answer
    assert f"<RefNumber>INV-{'9' * 30}</RefNumber>" in answer
    assert "<Amount>&lt;script&gt;</Amount>" not in answer
    company.corrupt_field(bill, "ExpenseLineRet/Amount", "<script>")
    assert "<Amount>&lt;script&gt;</Amount>" in send(company, bill_query())  # text, never markup

    with pytest.raises(KeyError):
        company.corrupt_field("NO-SUCH-TXN", "TxnID", "x")
    with pytest.raises(ValueError):
        company.corrupt_field(payment, "", "x")


def test_inject_iterator_remaining_lies_about_the_count_but_the_iterator_works(
    company: SandboxCompanyFile,
) -> None:
    payments = []
    for index in range(7):
        bill = company.add_bill(VENDOR, f"B-{index}", Decimal("10.00"))
        payments.append(company.pay_bills(VENDOR, [(bill, Decimal("10.00"))], check_number=str(100 + index)))
    company.open_connection()
    company.inject_iterator_remaining("99999999999999999999999")
    company.inject_iterator_remaining("-3")

    def page(attributes: str) -> tuple[etree._Element, str]:
        answer = send(company, payment_query(filters="<MaxReturned>3</MaxReturned>", attributes=attributes))
        (rs,) = etree.fromstring(answer.encode()).find("QBXMLMsgsRs")
        return rs, answer

    rs, answer = page(' iterator="Start"')
    iterator_id = rs.get("iteratorID")
    assert rs.get("iteratorRemainingCount") == "99999999999999999999999"
    assert 'iteratorRemainingCount="99999999999999999999999"' in answer
    seen = [ret.findtext("TxnID") for ret in rs]
    rs, _answer = page(f' iterator="Continue" iteratorID="{iterator_id}"')
    assert rs.get("iteratorRemainingCount") == "-3"
    seen += [ret.findtext("TxnID") for ret in rs]
    rs, answer = page(f' iterator="Continue" iteratorID="{iterator_id}"')
    assert rs.get("iteratorRemainingCount") == "0"  # the real count again
    assert_valid_qbxml(answer)
    seen += [ret.findtext("TxnID") for ret in rs]
    assert seen == payments

    company.inject_iterator_remaining("lots", times=2)
    (bills,) = etree.fromstring(
        send(
            company, '<BillQueryRq requestID="b" iterator="Start"><MaxReturned>5</MaxReturned></BillQueryRq>'
        ).encode()
    ).find("QBXMLMsgsRs")
    assert bills.get("iteratorRemainingCount") == "lots" and len(bills) == 5
    (bills,) = etree.fromstring(
        send(
            company,
            f'<BillQueryRq requestID="b" iterator="Continue" iteratorID="{bills.get("iteratorID")}">'
            "<MaxReturned>5</MaxReturned></BillQueryRq>",
        ).encode()
    ).find("QBXMLMsgsRs")
    assert bills.get("iteratorRemainingCount") == "lots" and len(bills) == 2
    with pytest.raises(ValueError):
        company.inject_iterator_remaining("1", times=0)


def test_corruption_and_injection_leave_other_answers_alone(company: SandboxCompanyFile) -> None:
    bill = company.add_bill(VENDOR, "INV-1", Decimal("100.00"))
    payment = company.pay_bills(VENDOR, [(bill, Decimal("100.00"))])
    company.corrupt_field(payment, "Amount", "NaN")
    company.inject_iterator_remaining("-1")
    # A query without an iterator does not use up the injected count, and bills stay valid.
    (bills,) = ask(company, bill_query())
    assert bills.get("iteratorRemainingCount") is None
    assert re.fullmatch(r"\d+\.\d{2}", bills[0].findtext("OpenAmount"))
    (rs,) = etree.fromstring(send(company, payment_query(attributes=' iterator="Start"')).encode()).find(
        "QBXMLMsgsRs"
    )
    assert rs.get("iteratorRemainingCount") == "-1" and rs[0].findtext("Amount") == "NaN"
