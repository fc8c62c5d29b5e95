"""Reading qbXML responses: hand-written documents, each first checked against the 13.0 schema.

No real QuickBooks capture of these responses exists yet (NOTES §13); the documents follow the
schema's element order and the shapes NOTES §2-§8 describe.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sync.quickbooks.qbxml import (
    AppliedBill,
    BillPaymentRecord,
    BillRecord,
    CompanyInfo,
    DeletedTxnRecord,
    HostInfo,
    MalformedXMLError,
    QbXMLContentError,
    QbXMLError,
    QbXMLStatusError,
    QueryResponse,
    parse_hcp_response,
    parse_qb_local,
    parse_response,
    raise_for_status,
)
from sync.quickbooks.qbxml.records import (
    CurrencyRecord,
    LinkedCredit,
    PreferencesInfo,
    UnreadableRecord,
    VendorRecord,
)
from tests.qbxml_schema import assert_valid_qbxml

NO_MATCH = "A query request did not find a matching object in QuickBooks"


def response(*rs: str) -> str:
    return '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n' + "\n".join(rs) + "\n</QBXMLMsgsRs>\n</QBXML>\n"


def parse_valid(doc: str) -> list[QueryResponse]:
    assert_valid_qbxml(doc)
    return parse_response(doc)


def applied(txn_id: str, ref: str, amount: str, balance: str, *, discount: str | None = None) -> str:
    discount_xml = f"<DiscountAmount>{discount}</DiscountAmount>" if discount else ""
    return f"""
      <AppliedToTxnRet>
        <TxnID>{txn_id}</TxnID>
        <TxnType>Bill</TxnType>
        <TxnDate>2024-02-15</TxnDate>
        <RefNumber>{ref}</RefNumber>
        <BalanceRemaining>{balance}</BalanceRemaining>
        <Amount>{amount}</Amount>
        {discount_xml}
      </AppliedToTxnRet>"""


def check_ret(
    *,
    txn_id: str = "B7-1417040299",
    amount: str = "1250.00",
    memo: str = "Progress payment #3",
    applications: str = "",
    edit_sequence: str = "1417040299",
) -> str:
    return f"""
    <BillPaymentCheckRet>
      <TxnID>{txn_id}</TxnID>
      <TimeCreated>2024-07-01T10:00:00-08:00</TimeCreated>
      <TimeModified>2024-07-02T11:30:00-08:00</TimeModified>
      <EditSequence>{edit_sequence}</EditSequence>
      <TxnNumber>412</TxnNumber>
      <PayeeEntityRef><ListID>80000005-1417040000</ListID><FullName>Acme Concrete &amp; Sons</FullName></PayeeEntityRef>
      <APAccountRef><FullName>Accounts Payable</FullName></APAccountRef>
      <TxnDate>2024-07-01</TxnDate>
      <BankAccountRef><ListID>80000001-1417040000</ListID><FullName>Checking</FullName></BankAccountRef>
      <Amount>{amount}</Amount>
      <RefNumber>10452</RefNumber>
      <Memo>{memo}</Memo>
      <IsToBePrinted>false</IsToBePrinted>
      {applications}
    </BillPaymentCheckRet>"""


def check_rs(*rets: str, request_id: str = "bp-1", extra: str = "") -> str:
    return (
        f'<BillPaymentCheckQueryRs requestID="{request_id}" statusCode="0" statusSeverity="Info" '
        f'statusMessage="Status OK"{extra}>' + "".join(rets) + "</BillPaymentCheckQueryRs>"
    )


# ---------------------------------------------------------------------------------------------
# Bill payments


def test_full_check_payment() -> None:
    doc = response(check_rs(check_ret(applications=applied("A1-1417000000", "INV-1001", "1250.00", "0.00"))))
    (rs,) = parse_valid(doc)
    assert (rs.rs_name, rs.request_id, rs.status_code, rs.status_severity) == (
        "BillPaymentCheckQueryRs",
        "bp-1",
        0,
        "Info",
    )
    assert rs.is_ok and not rs.is_retryable and not rs.iterator_lost
    raise_for_status(rs)
    (payment,) = rs.records
    assert payment == BillPaymentRecord(
        kind="check",
        txn_id="B7-1417040299",
        edit_sequence="1417040299",
        txn_number=412,
        time_created="2024-07-01T10:00:00-08:00",
        time_modified="2024-07-02T11:30:00-08:00",
        vendor_list_id="80000005-1417040000",
        vendor_name="Acme Concrete & Sons",
        txn_date=date(2024, 7, 1),
        amount=Decimal("1250.00"),
        ref_number="10452",
        memo="Progress payment #3",
        account_name="Checking",
        applications=(
            AppliedBill(
                bill_txn_id="A1-1417000000",
                txn_type="Bill",
                bill_ref_number="INV-1001",
                bill_txn_date=date(2024, 2, 15),
                amount=Decimal("1250.00"),
                balance_remaining=Decimal("0.00"),
                discount_amount=None,
            ),
        ),
    )
    assert not payment.is_void
    assert isinstance(payment.amount, Decimal)
    # Raw times keep their (possibly DST-wrong) offset; the local wall clock is derived on demand.
    assert parse_qb_local(payment.time_modified).isoformat() == "2024-07-02T11:30:00"


def test_partial_payment_leaves_a_balance() -> None:
    doc = response(
        check_rs(check_ret(amount="500.00", applications=applied("A1-1", "INV-1001", "500.00", "750.00")))
    )
    (payment,) = parse_valid(doc)[0].records
    assert isinstance(payment, BillPaymentRecord)
    (application,) = payment.applications
    assert application.amount == Decimal("500.00")
    assert application.balance_remaining == Decimal("750.00")


def test_multi_bill_payment_has_one_application_per_bill() -> None:
    applications = applied("A1-1", "INV-1001", "1000.00", "0.00") + applied(
        "A2-2", "INV-1002", "250.00", "100.00", discount="5.00"
    )
    doc = response(check_rs(check_ret(amount="1250.00", applications=applications)))
    (payment,) = parse_valid(doc)[0].records
    assert isinstance(payment, BillPaymentRecord)
    assert [a.bill_txn_id for a in payment.applications] == ["A1-1", "A2-2"]
    assert [a.bill_ref_number for a in payment.applications] == ["INV-1001", "INV-1002"]
    assert sum(a.amount for a in payment.applications) == payment.amount
    assert payment.applications[1].discount_amount == Decimal("5.00")


def test_credit_card_payment() -> None:
    doc = response(
        """<BillPaymentCreditCardQueryRs requestID="cc-1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
          <BillPaymentCreditCardRet>
            <TxnID>C3-1718000000</TxnID>
            <TimeCreated>2024-06-10T09:15:00-07:00</TimeCreated>
            <TimeModified>2024-06-10T09:15:00-07:00</TimeModified>
            <EditSequence>1718000000</EditSequence>
            <PayeeEntityRef><FullName>Steel Supply</FullName></PayeeEntityRef>
            <TxnDate>2024-06-10</TxnDate>
            <CreditCardAccountRef><FullName>Amex Business</FullName></CreditCardAccountRef>
            <Amount>99.50</Amount>
            <AppliedToTxnRet><TxnID>A9-9</TxnID><TxnType>Bill</TxnType><Amount>99.50</Amount></AppliedToTxnRet>
          </BillPaymentCreditCardRet>
        </BillPaymentCreditCardQueryRs>"""
    )
    (rs,) = parse_valid(doc)
    (payment,) = rs.records
    assert isinstance(payment, BillPaymentRecord)
    assert payment.kind == "credit_card"
    assert payment.account_name == "Amex Business"
    assert (payment.vendor_list_id, payment.vendor_name) == (None, "Steel Supply")
    assert (payment.txn_number, payment.ref_number, payment.memo) == (None, None, None)
    (application,) = payment.applications
    assert (application.bill_ref_number, application.bill_txn_date, application.balance_remaining) == (
        None,
        None,
        None,
    )
    assert application.amount == Decimal("99.50")


def test_void_payment() -> None:
    doc = response(
        check_rs(
            check_ret(
                amount="0.00",
                memo="VOID: Progress payment #3",
                applications=applied("A1-1", "INV-1001", "0.00", "1250.00"),
                edit_sequence="1720000000",
            )
        )
    )
    (payment,) = parse_valid(doc)[0].records
    assert isinstance(payment, BillPaymentRecord)
    assert payment.is_void
    assert payment.amount == Decimal("0.00")


def _payment(amount: str, memo: str | None, *applied_amounts: str) -> BillPaymentRecord:
    return BillPaymentRecord(
        kind="check",
        txn_id="1-1",
        edit_sequence="1",
        txn_number=None,
        time_created="2024-01-01T00:00:00",
        time_modified="2024-01-01T00:00:00",
        vendor_list_id=None,
        vendor_name=None,
        txn_date=date(2024, 1, 1),
        amount=Decimal(amount),
        ref_number=None,
        memo=memo,
        account_name=None,
        applications=tuple(
            AppliedBill("B-1", "Bill", None, None, Decimal(value), None, None) for value in applied_amounts
        ),
    )


@pytest.mark.parametrize(
    ("payment", "is_void"),
    [
        (
            _payment("0.00", "VOID: paid twice", "1250.00"),
            True,
        ),  # memo says void, even if applications remain
        (_payment("0.00", "  void: lower case", "1250.00"), True),
        (_payment("0.00", "Voided", "0.00"), True),
        (_payment("0.00", None, "0.00", "0.00"), True),  # no memo, but nothing applied anywhere
        (_payment("0.00", None), True),  # applications removed by the void
        (_payment("0.00", "Vendor credit applied", "1250.00"), False),  # credit-only payment: real, not void
        (_payment("1250.00", "VOID: memo left over", "1250.00"), False),  # money moved: not void
        (_payment("0.00", "Avoid late fee", "100.00"), False),
    ],
)
def test_is_void_rule(payment: BillPaymentRecord, is_void: bool) -> None:
    assert payment.is_void is is_void


def test_two_payments_and_missing_optional_elements() -> None:
    minimal = """
    <BillPaymentCheckRet>
      <TxnID>M-1</TxnID><TimeCreated>2024-01-02T03:04:05</TimeCreated><TimeModified>2024-01-02T03:04:05</TimeModified>
      <EditSequence>1</EditSequence><TxnDate>2024-01-02</TxnDate><Amount>100</Amount>
    </BillPaymentCheckRet>"""
    doc = response(check_rs(check_ret(), minimal))
    records = parse_valid(doc)[0].records
    assert [r.txn_id for r in records if isinstance(r, BillPaymentRecord)] == ["B7-1417040299", "M-1"]
    last = records[1]
    assert isinstance(last, BillPaymentRecord)
    assert last.amount == Decimal("100.00") and str(last.amount) == "100.00"
    assert (last.vendor_name, last.account_name, last.memo, last.applications) == (None, None, None, ())


def test_status_1_no_match_is_ok_and_empty() -> None:
    doc = response(
        f'<BillPaymentCheckQueryRs requestID="bp-9" statusCode="1" statusSeverity="Info" statusMessage="{NO_MATCH}" />'
    )
    (rs,) = parse_valid(doc)
    assert rs.is_ok and rs.records == [] and rs.status_message == NO_MATCH
    raise_for_status(rs)


def test_iterator_attributes() -> None:
    doc = response(
        check_rs(
            check_ret(),
            extra=' retCount="1" iteratorRemainingCount="42" iteratorID="{eb05f701-e727-472f-8ade-6753c4f0d4ad}"',
        )
    )
    (rs,) = parse_valid(doc)
    assert (rs.ret_count, rs.iterator_remaining, rs.iterator_id) == (
        1,
        42,
        "{eb05f701-e727-472f-8ade-6753c4f0d4ad}",
    )


def test_rs_without_request_id_and_without_optional_attributes() -> None:
    (rs,) = parse_valid(response('<BillQueryRs statusCode="1" statusSeverity="Info" />'))
    assert (rs.request_id, rs.status_message, rs.ret_count, rs.iterator_id, rs.iterator_remaining) == (
        None,
        "",
        None,
        None,
        None,
    )


def _error_rs(code: int, message: str, severity: str = "Error") -> str:
    return (
        f'<BillPaymentCheckQueryRs requestID="bp-1" statusCode="{code}" statusSeverity="{severity}" '
        f'statusMessage="{message}" />'
    )


def test_status_3175_is_retryable() -> None:
    (rs,) = parse_valid(response(_error_rs(3175, "There was an error when starting a transaction.")))
    assert rs.is_retryable and not rs.is_ok and not rs.iterator_lost
    with pytest.raises(QbXMLStatusError) as raised:
        raise_for_status(rs)
    assert raised.value.code == 3175
    assert "retried" in str(raised.value)


def test_status_3391_means_the_iterator_is_lost() -> None:
    (rs,) = parse_valid(response(_error_rs(3391, "Could not find the iterator with the given iteratorID.")))
    assert rs.iterator_lost and not rs.is_retryable and not rs.is_ok
    with pytest.raises(QbXMLStatusError, match="3391"):
        raise_for_status(rs)


def test_error_3120_raises_a_clear_status_error() -> None:
    message = 'Object "12-1700000000" specified in the request cannot be found.'
    (rs,) = parse_valid(response(_error_rs(3120, message.replace('"', "&quot;"))))
    with pytest.raises(QbXMLStatusError) as raised:
        raise_for_status(rs)
    error = raised.value
    assert isinstance(error, QbXMLError)
    assert (error.code, error.severity, error.message, error.rs_name) == (
        3120,
        "Error",
        message,
        "BillPaymentCheckQueryRs",
    )
    text = str(error)
    assert text.startswith("QuickBooks refused BillPaymentCheckQueryRq with Error 3120: ")
    assert message in text and "not found" in text


def test_warnings_do_not_raise_but_stay_visible() -> None:
    (rs,) = parse_valid(response(_error_rs(500, "The query request has not been fully completed.", "Warn")))
    raise_for_status(rs)
    assert rs.is_warning and not rs.is_ok and rs.status_severity == "Warn"


def test_missing_severity_is_derived_from_the_code() -> None:
    # statusSeverity is required by the schema; tolerate its absence anyway.
    (rs,) = parse_response(response('<BillQueryRs statusCode="3120" />'))
    assert rs.status_severity == "Error"


# ---------------------------------------------------------------------------------------------
# Bills, deletions, mixed messages


BILL_RS = """<BillQueryRs requestID="b-1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
  <BillRet>
    <TxnID>A1-1417000000</TxnID>
    <TimeCreated>2024-02-15T08:00:00-08:00</TimeCreated>
    <TimeModified>2024-07-01T10:00:00-08:00</TimeModified>
    <EditSequence>1719853200</EditSequence>
    <TxnNumber>77</TxnNumber>
    <VendorRef><ListID>80000005-1417040000</ListID><FullName>Acme Concrete &amp; Sons</FullName></VendorRef>
    <TxnDate>2024-02-15</TxnDate>
    <AmountDue>1250.00</AmountDue>
    <RefNumber>INV-1001</RefNumber>
    <IsPaid>false</IsPaid>
    <LinkedTxn>
      <TxnID>B7-1417040299</TxnID><TxnType>BillPaymentCheck</TxnType><TxnDate>2024-07-01</TxnDate>
      <RefNumber>10452</RefNumber><LinkType>AMTTYPE</LinkType><Amount>-500.00</Amount>
    </LinkedTxn>
    <OpenAmount>750.00</OpenAmount>
  </BillRet>
</BillQueryRs>"""

DELETED_RS = """<TxnDeletedQueryRs requestID="d-1" statusCode="0" statusSeverity="Info" statusMessage="Status OK" retCount="2">
  <TxnDeletedRet><TxnDelType>BillPaymentCheck</TxnDelType><TxnID>B7-1417040299</TxnID>
    <TimeCreated>2024-07-01T10:00:00-08:00</TimeCreated><TimeDeleted>2024-07-05T16:20:00-08:00</TimeDeleted>
    <RefNumber>10452</RefNumber></TxnDeletedRet>
  <TxnDeletedRet><TxnDelType>BillPaymentCreditCard</TxnDelType><TxnID>C3-1718000000</TxnID></TxnDeletedRet>
</TxnDeletedQueryRs>"""


def test_bill_response() -> None:
    (rs,) = parse_valid(response(BILL_RS))
    assert rs.records == [
        BillRecord(
            txn_id="A1-1417000000",
            edit_sequence="1719853200",
            time_modified="2024-07-01T10:00:00-08:00",
            vendor_list_id="80000005-1417040000",
            vendor_name="Acme Concrete & Sons",
            txn_date=date(2024, 2, 15),
            ref_number="INV-1001",
            amount_due=Decimal("1250.00"),
            open_amount=Decimal("750.00"),
            is_paid=False,
        )
    ]


def test_deleted_response() -> None:
    (rs,) = parse_valid(response(DELETED_RS))
    assert rs.ret_count == 2
    assert rs.records == [
        DeletedTxnRecord(
            txn_del_type="BillPaymentCheck",
            txn_id="B7-1417040299",
            time_created="2024-07-01T10:00:00-08:00",
            time_deleted="2024-07-05T16:20:00-08:00",
            ref_number="10452",
        ),
        DeletedTxnRecord("BillPaymentCreditCard", "C3-1718000000", None, None, None),
    ]


def test_mixed_message_keeps_document_order() -> None:
    doc = response(
        check_rs(check_ret(), request_id="r1"),
        BILL_RS,
        f'<BillPaymentCreditCardQueryRs requestID="r3" statusCode="1" statusSeverity="Info" statusMessage="{NO_MATCH}"/>',
        check_rs(check_ret(txn_id="B8-1"), request_id="r4"),
        DELETED_RS,
    )
    responses = parse_valid(doc)
    assert [(rs.rs_name, rs.request_id) for rs in responses] == [
        ("BillPaymentCheckQueryRs", "r1"),
        ("BillQueryRs", "b-1"),
        ("BillPaymentCreditCardQueryRs", "r3"),
        ("BillPaymentCheckQueryRs", "r4"),
        ("TxnDeletedQueryRs", "d-1"),
    ]
    assert [len(rs.records) for rs in responses] == [1, 1, 0, 1, 2]


def test_bytes_input_is_accepted() -> None:
    doc = response(check_rs(check_ret(memo="Café ✓")))
    (rs,) = parse_response(doc.encode("utf-8"))
    (payment,) = rs.records
    assert isinstance(payment, BillPaymentRecord) and payment.memo == "Café ✓"


# ---------------------------------------------------------------------------------------------
# Host, company and the Web Connector's HCP response


def hcp_response(country: str, product: str) -> str:
    versions = "".join(f"<SupportedQBXMLVersion>{v}</SupportedQBXMLVersion>" for v in ("1.0", "2.0", "13.0"))
    return response(
        f"""<HostQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
          <HostRet><ProductName>{product}</ProductName><MajorVersion>24</MajorVersion><MinorVersion>0</MinorVersion>
            <Country>{country}</Country>{versions}<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode>
          </HostRet></HostQueryRs>""",
        """<CompanyQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
          <CompanyRet><IsSampleCompany>false</IsSampleCompany><CompanyName>Rock Castle Construction</CompanyName>
            <LegalCompanyName>Rock Castle Construction LLC</LegalCompanyName></CompanyRet></CompanyQueryRs>""",
        """<PreferencesQueryRs requestID="2" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
          <PreferencesRet><AccountingPreferences><IsUsingAccountNumbers>false</IsUsingAccountNumbers>
            <IsRequiringAccounts>true</IsRequiringAccounts><IsUsingClassTracking>false</IsUsingClassTracking>
            <IsUsingAuditTrail>true</IsUsingAuditTrail><IsAssigningJournalEntryNumbers>true</IsAssigningJournalEntryNumbers>
          </AccountingPreferences></PreferencesRet></PreferencesQueryRs>""",
    )


@pytest.mark.parametrize(
    ("country", "product"),
    [("US", "QuickBooks Pro 2014"), ("CA", "QuickBooks Premier Canadian Edition 2014")],
)
def test_hcp_response(country: str, product: str) -> None:
    doc = hcp_response(country, product)
    assert_valid_qbxml(doc)
    host, company = parse_hcp_response(doc)
    assert host == HostInfo(
        product_name=product,
        major_version="24",
        minor_version="0",
        country=country,
        supported_versions=("1.0", "2.0", "13.0"),
        file_mode="SingleUser",
    )
    assert company == CompanyInfo(company_name="Rock Castle Construction", is_sample_company=False)


def test_hcp_response_reads_the_multicurrency_preferences() -> None:
    responses = parse_response(hcp_response("US", "QuickBooks Pro 2014"))
    assert [rs.rs_name for rs in responses] == ["HostQueryRs", "CompanyQueryRs", "PreferencesQueryRs"]
    assert responses[2].is_ok
    # This capture has no MultiCurrencyPreferences: nothing is known, so nothing is assumed.
    assert responses[2].records == [
        PreferencesInfo(multicurrency=None, home_currency_list_id=None, home_currency_name=None)
    ]


@pytest.mark.parametrize("empty", ["", "   \n"])
def test_empty_hcp_response(empty: str) -> None:
    assert parse_hcp_response(empty) == (None, None)


def test_host_query_answer_from_build_host_query() -> None:
    doc = response(
        '<HostQueryRs requestID="s1-host" statusCode="0" statusSeverity="Info"><HostRet><Country>US</Country></HostRet></HostQueryRs>',
        '<CompanyQueryRs requestID="s1-company" statusCode="0" statusSeverity="Info"><CompanyRet>'
        "<CompanyName>Sample</CompanyName></CompanyRet></CompanyQueryRs>",
    )
    host_rs, company_rs = parse_valid(doc)
    assert host_rs.records == [HostInfo(None, None, None, "US", (), None)]
    assert company_rs.records == [CompanyInfo("Sample", None)]


# ---------------------------------------------------------------------------------------------
# Documents that are not what we expect


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("<html><body>Bad gateway</body></html>", "root element QBXML, got html"),
        (response('<BillQueryRs requestID="x" />'), "no statusCode"),
        (response('<BillQueryRs statusCode="zero" statusSeverity="Info" />'), "not a whole number"),
    ],
)
def test_unexpected_content_is_a_clear_error(doc: str, message: str) -> None:
    with pytest.raises(QbXMLContentError, match=message):
        parse_response(doc)


GOOD_CHECK = check_ret().replace("B7-1417040299", "B8-1417040300").replace("10452", "10453")


@pytest.mark.parametrize(
    ("bad", "reason_starts"),
    [
        (check_ret(amount="12.5"), "QuickBooks sent `12.5` as the amount of check 10452."),
        (check_ret(amount="1,250.00"), "QuickBooks sent `1,250.00` as the amount of check 10452."),
        (
            check_ret().replace("<TxnID>B7-1417040299</TxnID>", ""),
            "QuickBooks sent check 10452 without the transaction ID (TxnID).",
        ),
        (
            check_ret().replace("<EditSequence>1417040299</EditSequence>", ""),
            "QuickBooks sent check 10452 without the edit sequence (EditSequence).",
        ),
        (
            check_ret().replace("2024-07-01</TxnDate>", "07/01/2024</TxnDate>"),
            "QuickBooks sent `07/01/2024` as the date of check 10452.",
        ),
        (
            check_ret().replace("<TxnNumber>412<", "<TxnNumber>four<"),
            "QuickBooks sent `four` as the transaction number of check 10452.",
        ),
        (
            check_ret().replace("B7-1417040299", "B7-" + "9" * 40),
            f"QuickBooks sent `B7-{'9' * 40}` as the transaction ID of check 10452.",
        ),
        (
            check_ret().replace("<TimeModified>2024-07-02T11:30:00-08:00", "<TimeModified>yesterday"),
            "QuickBooks sent `yesterday` as the time modified of check 10452.",
        ),
    ],
)
def test_an_unreadable_record_is_held_and_the_rest_of_the_page_is_read(bad: str, reason_starts: str) -> None:
    (rs,) = parse_response(response(check_rs(bad + GOOD_CHECK)))
    held, good = rs.records
    assert isinstance(held, UnreadableRecord)
    assert held.reason.startswith(reason_starts), held.reason
    assert "Correct it in QuickBooks and save: PaySync reads it again at the next sync." in held.reason
    assert held.label == "check 10452"
    assert held.raw.startswith("<BillPaymentCheckRet>") and "10452" in held.raw
    assert isinstance(good, BillPaymentRecord) and good.txn_id == "B8-1417040300"


def test_a_held_record_keeps_its_identity_when_the_identity_is_readable() -> None:
    (rs,) = parse_response(response(check_rs(check_ret(amount="1,234.50"))))
    (held,) = rs.records
    assert isinstance(held, UnreadableRecord)
    assert (held.record_key, held.txn_id, held.edit_sequence) == (
        "B7-1417040299",
        "B7-1417040299",
        "1417040299",
    )
    assert held.time_modified == "2024-07-02T11:30:00-08:00"


def test_an_overlong_txn_id_has_no_usable_identity() -> None:
    long_id = "B7-" + "9" * 40
    (rs,) = parse_response(response(check_rs(check_ret().replace("B7-1417040299", long_id))))
    (held,) = rs.records
    assert isinstance(held, UnreadableRecord)
    assert held.record_key == long_id and held.txn_id is None


@pytest.mark.parametrize("text", ["99999999999999999999999", "-3", "many"])
def test_an_iterator_count_no_table_can_hold_is_unknown_not_an_error(text: str) -> None:
    doc = response(check_rs(GOOD_CHECK, extra=f' iteratorRemainingCount="{text}" iteratorID="{{A}}"'))
    (rs,) = parse_response(doc)
    assert rs.iterator_remaining is None
    assert rs.iterator_remaining_unreadable == text
    assert len(rs.records) == 1


@pytest.mark.parametrize(
    "doc",
    [
        "",
        "not xml",
        "<QBXML><QBXMLMsgsRs>",
        response(check_rs(check_ret()))[:-40],
        "<QBXML>&undefined;</QBXML>",
    ],
)
def test_malformed_xml_is_a_clear_error(doc: str) -> None:
    with pytest.raises(MalformedXMLError, match="QuickBooks|not well-formed"):
        parse_response(doc)


# ---------------------------------------------------------------------------------------------
# Multicurrency files, discounts and vendor credits


def test_a_multicurrency_check_with_a_discount_and_a_vendor_credit() -> None:
    applications = """
      <AppliedToTxnRet>
        <TxnID>A1-1417000000</TxnID><TxnType>Bill</TxnType><TxnDate>2024-02-15</TxnDate>
        <RefNumber>INV-1001</RefNumber><BalanceRemaining>0.00</BalanceRemaining><Amount>930.00</Amount>
        <DiscountAmount>20.00</DiscountAmount>
        <DiscountAccountRef><FullName>Discounts Taken</FullName></DiscountAccountRef>
        <LinkedTxn><TxnID>C3-1417000100</TxnID><TxnType>VendorCredit</TxnType><TxnDate>2024-02-20</TxnDate>
          <RefNumber>VC-7</RefNumber><LinkType>AMTTYPE</LinkType><Amount>-50.00</Amount></LinkedTxn>
      </AppliedToTxnRet>"""
    ret = check_ret(amount="930.00", applications=applications).replace(
        "<Amount>930.00</Amount>\n      <RefNumber>10452",
        "<Amount>930.00</Amount><CurrencyRef><ListID>8000000C-1</ListID><FullName>Canadian Dollar"
        "</FullName></CurrencyRef><ExchangeRate>0.73</ExchangeRate>"
        "<AmountInHomeCurrency>678.90</AmountInHomeCurrency>\n      <RefNumber>10452",
    )
    (rs,) = parse_valid(response(check_rs(ret)))
    (payment,) = rs.records
    assert isinstance(payment, BillPaymentRecord)
    assert (payment.currency_list_id, payment.currency_name) == ("8000000C-1", "Canadian Dollar")
    assert (payment.exchange_rate, payment.amount_in_home_currency) == ("0.73", Decimal("678.90"))
    (bill,) = payment.applications
    assert (bill.amount, bill.discount_amount) == (Decimal("930.00"), Decimal("20.00"))
    assert bill.credits == (LinkedCredit("C3-1417000100", "VendorCredit", "VC-7", Decimal("-50.00")),)
    assert payment.applied_total == payment.amount


def test_a_file_without_multicurrency_sends_no_currency() -> None:
    (rs,) = parse_valid(response(check_rs(check_ret())))
    (payment,) = rs.records
    assert isinstance(payment, BillPaymentRecord)
    assert (payment.currency_list_id, payment.currency_name, payment.exchange_rate) == (None, None, None)


def test_vendor_and_currency_lists() -> None:
    doc = response(
        '<VendorQueryRs requestID="v-1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<VendorRet><ListID>80000005-1</ListID><TimeModified>2024-07-02T11:30:00-08:00</TimeModified>"
        "<EditSequence>17</EditSequence><Name>Maple Framing</Name><IsUsingEstimates>false</IsUsingEstimates>"
        "<IsUsingProgressInvoicing>false</IsUsingProgressInvoicing>"
        "<IsPrintingItemsWithZeroAmounts>false</IsPrintingItemsWithZeroAmounts>"
        "<CurrencyRef><ListID>8000000C-1</ListID><FullName>Canadian Dollar</FullName></CurrencyRef>"
        "</VendorRet></VendorQueryRs>",
        '<CurrencyQueryRs requestID="c-1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<CurrencyRet><ListID>8000000C-1</ListID><Name>Dollars canadiens</Name><IsActive>true</IsActive>"
        "<CurrencyCode>cad</CurrencyCode></CurrencyRet></CurrencyQueryRs>",
    )
    vendors, currencies = parse_response(doc)
    assert vendors.records == [
        VendorRecord("80000005-1", "Maple Framing", "17", "8000000C-1", "Canadian Dollar")
    ]
    assert currencies.records == [CurrencyRecord("8000000C-1", "Dollars canadiens", "CAD")]
