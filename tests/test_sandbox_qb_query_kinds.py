"""The QuickBooks sandbox answers every query kind from one table (sandbox/quickbooks/queries.py).

VendorCreditQueryRq was added as one table entry; these tests prove it answers like QuickBooks:
every request and answer is validated against the official qbXML 13.0 schema, and each
VendorCreditRet's children are checked against the order qbxml130.xsd gives them. The table itself
is held against the schema: each kind's Ret is what its Rs holds, and each kind allows exactly the
attributes (so the iterators) its request type has.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache

import pytest
from lxml import etree

from sandbox.quickbooks import SandboxCompanyFile
from sandbox.quickbooks.queries import QUERY_KINDS
from tests.qbxml_schema import assert_valid_qbxml
from tests.shared_reference import qbxml_xsd_path, require_shared_file

VENDOR = "Granite Ridge Concrete"
OTHER_VENDOR = "Keystone Rebar Supply"
CAD_VENDOR = "Maple Leaf Formwork"
XS = "{http://www.w3.org/2001/XMLSchema}"


def ask(company: SandboxCompanyFile, *requests: str) -> list[etree._Element]:
    """Sends the requests; checks request and answer against the schema; returns the Rs elements."""
    request = (
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="continueOnError">{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )
    assert_valid_qbxml(request)
    answer = company.handle_qbxml(request)
    assert_valid_qbxml(answer)
    return list(etree.fromstring(answer.encode()).find("QBXMLMsgsRs"))


def credit_query(
    filters: str = "",
    *,
    details: bool = True,
    ret_elements: tuple[str, ...] = (),
    attributes: str = "",
    request_id: str = "c",
) -> str:
    """A VendorCreditQueryRq; ``details`` asks for IncludeLineItems and IncludeLinkedTxns."""
    flags = (
        "<IncludeLineItems>true</IncludeLineItems><IncludeLinkedTxns>true</IncludeLinkedTxns>"
        if details
        else ""
    )
    wanted = "".join(f"<IncludeRetElement>{name}</IncludeRetElement>" for name in ret_elements)
    return (
        f'<VendorCreditQueryRq requestID="{request_id}"{attributes}>{filters}{flags}{wanted}'
        "</VendorCreditQueryRq>"
    )


def child_names(element: etree._Element) -> list[str]:
    return [str(child.tag) for child in element]


# ---- the order qbxml130.xsd gives ------------------------------------------------------------


@lru_cache(maxsize=1)
def _definitions() -> etree._ElementTree:
    path = require_shared_file(qbxml_xsd_path().parent / "qbxml130.xsd", "the qbXML 13.0 element definitions")
    return etree.parse(str(path))


def schema_child_order(element_name: str) -> list[str]:
    """The children an element of qbxml130.xsd may have, in the order its content model lists them
    (groups such as TxnCore expanded in place)."""
    root = _definitions().getroot()
    groups = {group.get("name"): group for group in root.iter(f"{XS}group") if group.get("name")}
    element = root.find(f"{XS}element[@name='{element_name}']")
    assert element is not None, f"{element_name} is not defined in qbxml130.xsd"
    names: list[str] = []

    def walk(node: etree._Element) -> None:
        for child in node:
            if child.tag == f"{XS}element":
                names.append(child.get("name") or child.get("ref") or "")
            elif child.tag == f"{XS}group" and child.get("ref"):
                walk(groups[child.get("ref")])
            elif child.tag in (f"{XS}complexType", f"{XS}sequence", f"{XS}choice"):
                walk(child)

    walk(element)
    return names


def assert_in_schema_order(ret: etree._Element) -> None:
    order = schema_child_order(str(ret.tag))
    names = child_names(ret)
    assert set(names) <= set(order), f"{ret.tag} has children the schema does not define: {names}"
    positions = [order.index(name) for name in names]
    assert positions == sorted(positions), f"{ret.tag} children {names} are not in the order {order}"


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def company() -> SandboxCompanyFile:
    company = SandboxCompanyFile()
    company.add_vendor(VENDOR)
    company.add_vendor(OTHER_VENDOR)
    return company


@pytest.fixture
def credits_in_use(company: SandboxCompanyFile) -> tuple[str, str, str]:
    """A bill paid partly with a vendor credit, and a second credit left unused: (bill, used, unused)."""
    bill = company.add_bill(VENDOR, "INV-1", Decimal("1000.00"), date(2026, 10, 1))
    used = company.add_vendor_credit(VENDOR, "CR-1", Decimal("150.00"), date(2026, 10, 5))
    unused = company.add_vendor_credit(VENDOR, "CR-2", Decimal("40.00"), date(2026, 10, 6))
    company.advance(minutes=5)
    company.pay_bills(
        VENDOR, [(bill, Decimal("800.00"))], check_number="1001", credits={bill: [(used, Decimal("100.00"))]}
    )
    return bill, used, unused


# ---- VendorCreditQueryRq ----------------------------------------------------------------------


def test_vendor_credits_answer_in_schema_order_with_links_and_lines(
    company: SandboxCompanyFile, credits_in_use: tuple[str, str, str]
) -> None:
    bill, used, unused = credits_in_use
    (rs,) = ask(company, credit_query())
    assert rs.tag == "VendorCreditQueryRs"
    assert (rs.get("requestID"), rs.get("statusCode"), rs.get("retCount")) == ("c", "0", "2")
    # TimeModified order: using the credit in a payment modified it (its OpenAmount changed).
    assert [ret.findtext("TxnID") for ret in rs] == [unused, used]
    for ret in rs:
        assert ret.tag == "VendorCreditRet"
        assert_in_schema_order(ret)
    unused_ret, used_ret = rs
    assert child_names(used_ret) == [
        "TxnID",
        "TimeCreated",
        "TimeModified",
        "EditSequence",
        "TxnNumber",
        "VendorRef",
        "APAccountRef",
        "TxnDate",
        "CreditAmount",
        "RefNumber",
        "LinkedTxn",
        "ExpenseLineRet",
        "OpenAmount",
    ]
    assert used_ret.findtext("VendorRef/FullName") == VENDOR
    assert used_ret.findtext("VendorRef/ListID") == company.vendor_list_id(VENDOR)
    assert used_ret.findtext("TxnDate") == "2026-10-05"
    assert (used_ret.findtext("CreditAmount"), used_ret.findtext("OpenAmount")) == ("150.00", "50.00")
    assert used_ret.findtext("TimeModified") == company.now_printed
    assert [
        used_ret.findtext(f"LinkedTxn/{name}") for name in ("TxnID", "TxnType", "RefNumber", "Amount")
    ] == [
        bill,
        "Bill",
        "INV-1",
        "-100.00",
    ]
    assert used_ret.findtext("ExpenseLineRet/Amount") == "150.00"
    assert "LinkedTxn" not in child_names(unused_ret)
    assert unused_ret.findtext("OpenAmount") == "40.00"
    assert company.vendor_credit_remaining(used) == Decimal("50.00")

    # Without IncludeLineItems and IncludeLinkedTxns, neither links nor lines.
    (plain,) = ask(company, credit_query(f"<TxnID>{used}</TxnID>", details=False))
    assert "LinkedTxn" not in child_names(plain[0]) and "ExpenseLineRet" not in child_names(plain[0])


def test_vendor_credit_filters(company: SandboxCompanyFile, credits_in_use: tuple[str, str, str]) -> None:
    _bill, used, unused = credits_in_use
    by_ids, by_ref, exact_ref, modified, entity, other_entity, dated, first, only, counted = ask(
        company,
        credit_query(f"<TxnID>{used}</TxnID><TxnID>NO-SUCH-TXN</TxnID>", request_id="1"),
        credit_query("<RefNumber>cr-2</RefNumber>", request_id="2"),
        credit_query("<RefNumberCaseSensitive>cr-2</RefNumberCaseSensitive>", request_id="3"),
        credit_query(
            "<ModifiedDateRangeFilter>"
            f"<FromModifiedDate>{company.now.strftime('%Y-%m-%dT%H:%M:%S')}</FromModifiedDate>"
            "</ModifiedDateRangeFilter>",
            request_id="4",
        ),
        credit_query(f"<EntityFilter><FullName>{VENDOR}</FullName></EntityFilter>", request_id="5"),
        credit_query(f"<EntityFilter><FullName>{OTHER_VENDOR}</FullName></EntityFilter>", request_id="6"),
        credit_query(
            "<TxnDateRangeFilter><FromTxnDate>2026-10-06</FromTxnDate></TxnDateRangeFilter>", request_id="7"
        ),
        credit_query("<MaxReturned>1</MaxReturned>", request_id="8"),
        credit_query(f"<TxnID>{used}</TxnID>", ret_elements=("TxnID", "OpenAmount"), request_id="9"),
        credit_query(attributes=' metaData="MetaDataOnly"', request_id="10"),
    )
    # An unknown TxnID: status 500 with the credits that were found.
    assert (by_ids.get("statusCode"), [ret.findtext("TxnID") for ret in by_ids]) == ("500", [used])
    assert '"NO-SUCH-TXN"' in by_ids.get("statusMessage", "")
    assert [ret.findtext("TxnID") for ret in by_ref] == [unused]
    # RefNumberCaseSensitive: "cr-2" is not "CR-2"; a number asked for and not found is status 500.
    assert (exact_ref.get("statusCode"), len(exact_ref)) == ("500", 0)
    assert [ret.findtext("TxnID") for ret in modified] == [used]
    assert [ret.findtext("TxnID") for ret in entity] == [unused, used]
    assert (other_entity.get("statusCode"), len(other_entity)) == ("1", 0)
    assert [ret.findtext("TxnID") for ret in dated] == [unused]
    assert [ret.findtext("TxnID") for ret in first] == [unused]
    assert child_names(only[0]) == ["TxnID", "OpenAmount"]
    assert (counted.get("retCount"), len(counted)) == ("2", 0)


def test_vendor_credits_iterate(company: SandboxCompanyFile) -> None:
    credits = [
        company.add_vendor_credit(VENDOR, f"CR-{n}", Decimal("10.00"), date(2026, 10, n)) for n in (1, 2, 3)
    ]
    (start,) = ask(company, credit_query("<MaxReturned>2</MaxReturned>", attributes=' iterator="Start"'))
    iterator_id = start.get("iteratorID")
    assert (start.get("retCount"), start.get("iteratorRemainingCount")) == ("2", "1")
    (rest,) = ask(company, credit_query(attributes=f' iterator="Continue" iteratorID="{iterator_id}"'))
    assert (rest.get("iteratorRemainingCount"), [ret.findtext("TxnID") for ret in rest]) == ("0", credits[2:])
    assert [ret.findtext("TxnID") for ret in start] == credits[:2]
    (gone,) = ask(company, credit_query(attributes=f' iterator="Continue" iteratorID="{iterator_id}"'))
    assert gone.get("statusCode") == "3391"


def test_a_void_gives_the_credit_back_and_modifies_it(
    company: SandboxCompanyFile, credits_in_use: tuple[str, str, str]
) -> None:
    _bill, used, _unused = credits_in_use
    (payment,) = [p.txn_id for p in company.payments()]
    company.advance(minutes=1)
    company.void_payment(payment)
    (rs,) = ask(company, credit_query(f"<TxnID>{used}</TxnID>"))
    (ret,) = rs
    assert (ret.findtext("OpenAmount"), ret.findtext("TimeModified")) == ("150.00", company.now_printed)
    assert "LinkedTxn" not in child_names(ret)


def test_vendor_credits_in_a_multicurrency_file() -> None:
    company = SandboxCompanyFile(multicurrency=True)
    company.add_vendor(CAD_VENDOR, currency="CAD")
    company.add_vendor(VENDOR)
    company.set_exchange_rate("CAD", Decimal("0.73"))
    cad = company.add_vendor_credit(CAD_VENDOR, "MLF-CR-1", Decimal("200.00"))
    company.add_vendor_credit(VENDOR, "GRC-CR-1", Decimal("50.00"))
    (everything, canadian) = ask(
        company,
        credit_query(request_id="all"),
        credit_query(
            "<CurrencyFilter><FullName>Canadian Dollar</FullName></CurrencyFilter>", request_id="cad"
        ),
    )
    for ret in everything:
        assert_in_schema_order(ret)
    (cad_ret,) = canadian
    assert cad_ret.findtext("TxnID") == cad
    names = child_names(cad_ret)
    assert names[names.index("CreditAmount") : names.index("RefNumber") + 1] == [
        "CreditAmount",
        "CurrencyRef",
        "ExchangeRate",
        "CreditAmountInHomeCurrency",
        "RefNumber",
    ]
    assert (cad_ret.findtext("CurrencyRef/FullName"), cad_ret.findtext("ExchangeRate")) == (
        "Canadian Dollar",
        "0.73",
    )
    assert cad_ret.findtext("CreditAmountInHomeCurrency") == "146.00"


def test_a_currency_filter_without_multicurrency_answers_3250(company: SandboxCompanyFile) -> None:
    company.add_vendor_credit(VENDOR, "CR-1", Decimal("10.00"))
    (rs,) = ask(company, credit_query("<CurrencyFilter><FullName>US Dollar</FullName></CurrencyFilter>"))
    assert (rs.get("statusCode"), len(rs)) == ("3250", 0)


def test_a_vendor_credit_can_be_corrupted_like_any_record(company: SandboxCompanyFile) -> None:
    credit = company.add_vendor_credit(VENDOR, "CR-1", Decimal("10.00"))
    company.corrupt_field(credit, "CreditAmount", "ten dollars")
    request = (
        '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        f"{credit_query()}</QBXMLMsgsRq></QBXML>"
    )
    answer = etree.fromstring(company.handle_qbxml(request).encode())
    assert answer.findtext(".//VendorCreditRet/CreditAmount") == "ten dollars"


# ---- what is not emulated fails loudly ---------------------------------------------------------


@pytest.mark.parametrize(
    "request_xml",
    [
        pytest.param("<ItemReceiptQueryRq/>", id="a-query-kind-not-in-the-table"),
        pytest.param(
            "<VendorCreditQueryRq><AccountFilter><FullName>Accounts Payable</FullName></AccountFilter>"
            "</VendorCreditQueryRq>",
            id="a-filter-not-emulated",
        ),
    ],
)
def test_what_the_sandbox_does_not_answer_fails_loudly(company: SandboxCompanyFile, request_xml: str) -> None:
    request = (
        '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        f"{request_xml}</QBXMLMsgsRq></QBXML>"
    )
    assert_valid_qbxml(request)
    with pytest.raises(NotImplementedError):
        company.handle_qbxml(request)


# ---- the table against the schema -----------------------------------------------------------


@lru_cache(maxsize=1)
def _operations() -> etree._ElementTree:
    return etree.parse(str(qbxml_xsd_path()))


@pytest.mark.parametrize("request_type", sorted(QUERY_KINDS))
def test_each_query_kind_matches_its_request_and_response_types(request_type: str) -> None:
    kind = QUERY_KINDS[request_type]
    root = _operations().getroot()
    request_element = root.find(f".//{XS}element[@name='{request_type}']")
    assert request_element is not None
    request_type_def = root.find(f"{XS}complexType[@name='{request_element.get('type')}']")
    assert request_type_def is not None
    attributes = {attribute.get("name") for attribute in request_type_def.iter(f"{XS}attribute")}
    assert attributes == set(kind.shape.attributes), "the shape allows the request type's attributes"
    response_type_def = root.find(f"{XS}complexType[@name='{request_type[:-2]}RsType']")
    assert response_type_def is not None
    rets = [element.get("ref") for element in response_type_def.iter(f"{XS}element")]
    assert rets == [kind.ret], f"{request_type[:-2]}Rs holds {rets}"
