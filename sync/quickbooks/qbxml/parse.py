"""Read qbXML responses into typed records.

How large responses are handled: QuickBooks answers can be tens of MB. The document is streamed
through libxml2 (safe.pull_elements: no DOCTYPE, no entities, no network), and only the elements
PaySync reads cross into Python: each *Ret (BillPaymentCheckRet, BillRet, ...) the instant its end
tag is read, and the QBXMLMsgsRs at the end. A *Ret is turned into the same plain dict xmltodict
would make of it (`_element_value`), read by its reader into a frozen record, and removed from the
tree; each *Rs becomes a QueryResponse in document order. So the only element alive is the one *Ret
being read: peak memory is the records themselves plus one element, and a str input is not copied
whole either (it is fed to the parser in UTF-8 slices). (The children of an *Rs PaySync has no
reader for stay until the end of the document; PaySync never asks QuickBooks for one.)

Why libxml2 rather than xmltodict's expat callbacks (measured, bench/bench_ingest.py): xmltodict calls
Python for every start tag, end tag and piece of text, and reading a page through it cost 1.2 to 2.2
times what xmltodict.parse alone costs. libxml2 builds the elements in C and hands over only the
*Ret elements, so the whole read, typed records included, costs about half of xmltodict.parse alone
on the same bytes (0.4 to 0.6 from 100 to 20,000 payments).

Long because it holds one reader per *Ret element next to the streaming that feeds them, so a new
field is read where its element is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import xmltodict

from .errors import QbXMLContentError, QbXMLStatusError
from .fields import ID_CHARS, MAX_INT32, Fields, Shared
from .records import (
    AppliedBill,
    BillPaymentRecord,
    BillRecord,
    CompanyInfo,
    CurrencyRecord,
    DeletedTxnRecord,
    HostInfo,
    LinkedCredit,
    PaymentKind,
    PreferencesInfo,
    QueryResponse,
    UnreadableRecord,
    VendorRecord,
)
from .safe import pull_elements
from .times import parse_qb_local

_ZERO_AMOUNT = Decimal("0.00")
# Schema limits (qbxmltypes130.xsd / qbxml130.xsd) of the values PaySync stores and sends on.
_EDIT_SEQUENCE_CHARS = 16
_PAYMENT_REF_CHARS = 11  # BillPaymentCheckRet / BillPaymentCreditCardRet RefNumber
_BILL_REF_CHARS = 20  # BillRet and AppliedToTxnRet RefNumber
_RAW_KEPT_CHARS = 20_000


# ---------------------------------------------------------------------------------------------
# One reader per *Ret element


def _read_linked_credit(linked: Fields) -> LinkedCredit:
    return LinkedCredit(
        txn_id=linked.required_limited_text("TxnID", ID_CHARS),
        txn_type=linked.required_shared_text("TxnType"),
        ref_number=linked.text("RefNumber"),
        amount=linked.required_amount("Amount"),
    )


def _read_applied_bill(applied: Fields) -> AppliedBill:
    bill_txn_id = applied.required_limited_text("TxnID", ID_CHARS)
    amount = applied.amount("Amount")
    return AppliedBill(
        bill_txn_id=bill_txn_id,
        txn_type=applied.required_shared_text("TxnType"),
        bill_ref_number=applied.limited_text("RefNumber", _BILL_REF_CHARS),
        bill_txn_date=applied.calendar_date("TxnDate"),
        # Amount is optional in the schema; with no Amount, none of this payment went to the bill [I].
        amount=_ZERO_AMOUNT if amount is None else amount,
        balance_remaining=applied.optional_amount("BalanceRemaining"),
        discount_amount=applied.amount("DiscountAmount"),
        credits=tuple(_read_linked_credit(linked) for linked in applied.each("LinkedTxn")),
    )


def _payment_reader(
    kind: PaymentKind, ret_name: str, account_ref: str
) -> Callable[[Fields], BillPaymentRecord]:
    def read(ret: Fields) -> BillPaymentRecord:
        txn_id, ret = ret.with_txn_id(ret_name)
        payee = ret.ref("PayeeEntityRef")
        currency = ret.ref("CurrencyRef")
        return BillPaymentRecord(
            kind=kind,
            txn_id=txn_id,
            edit_sequence=ret.required_limited_text("EditSequence", _EDIT_SEQUENCE_CHARS),
            txn_number=ret.small_integer("TxnNumber"),
            time_created=ret.required_time("TimeCreated"),
            time_modified=ret.required_time("TimeModified"),
            vendor_list_id=payee.limited_text("ListID", ID_CHARS),
            vendor_name=payee.shared_text("FullName"),
            txn_date=ret.required_calendar_date("TxnDate"),
            amount=ret.required_amount("Amount"),
            ref_number=ret.limited_text("RefNumber", _PAYMENT_REF_CHARS),
            memo=ret.text("Memo"),
            account_name=ret.ref(account_ref).shared_text("FullName"),
            applications=tuple(_read_applied_bill(applied) for applied in ret.each("AppliedToTxnRet")),
            currency_list_id=currency.limited_text("ListID", ID_CHARS),
            currency_name=currency.shared_text("FullName"),
            exchange_rate=ret.rate("ExchangeRate"),
            amount_in_home_currency=ret.optional_amount("AmountInHomeCurrency"),
        )

    return read


def _read_bill(ret: Fields) -> BillRecord:
    txn_id, ret = ret.with_txn_id("BillRet")
    vendor = ret.ref("VendorRef")
    currency = ret.ref("CurrencyRef")
    return BillRecord(
        txn_id=txn_id,
        edit_sequence=ret.required_limited_text("EditSequence", _EDIT_SEQUENCE_CHARS),
        time_modified=ret.required_time("TimeModified"),
        vendor_list_id=vendor.limited_text("ListID", ID_CHARS),
        vendor_name=vendor.shared_text("FullName"),
        txn_date=ret.calendar_date("TxnDate"),
        ref_number=ret.limited_text("RefNumber", _BILL_REF_CHARS),
        amount_due=ret.amount("AmountDue"),
        open_amount=ret.amount("OpenAmount"),
        is_paid=ret.boolean("IsPaid"),
        currency_list_id=currency.limited_text("ListID", ID_CHARS),
        currency_name=currency.shared_text("FullName"),
        exchange_rate=ret.rate("ExchangeRate"),
        amount_due_in_home_currency=ret.optional_amount("AmountDueInHomeCurrency"),
    )


def _read_deleted_txn(ret: Fields) -> DeletedTxnRecord:
    txn_id, ret = ret.with_txn_id("TxnDeletedRet")
    if len(txn_id) > ID_CHARS:
        raise ret.problem(
            "TxnID", f"is {len(txn_id)} characters long; qbXML allows at most {ID_CHARS}", txn_id
        )
    return DeletedTxnRecord(
        txn_del_type=ret.required_shared_text("TxnDelType"),
        txn_id=txn_id,
        time_created=ret.text("TimeCreated"),
        time_deleted=ret.text("TimeDeleted"),
        ref_number=ret.text("RefNumber"),
    )


def _read_vendor(ret: Fields) -> VendorRecord:
    list_id = ret.required_limited_text("ListID", ID_CHARS)
    ret = ret.renamed(f"VendorRet {list_id}")
    currency = ret.ref("CurrencyRef")
    return VendorRecord(
        list_id=list_id,
        name=ret.text("Name"),
        edit_sequence=ret.limited_text("EditSequence", _EDIT_SEQUENCE_CHARS),
        currency_list_id=currency.limited_text("ListID", ID_CHARS),
        currency_name=currency.shared_text("FullName"),
    )


def _read_currency(ret: Fields) -> CurrencyRecord:
    list_id = ret.required_limited_text("ListID", ID_CHARS)
    ret = ret.renamed(f"CurrencyRet {list_id}")
    code = ret.limited_text("CurrencyCode", 3)
    return CurrencyRecord(
        list_id=list_id, name=ret.required_text("Name"), code=code.upper() if code else None
    )


def _read_preferences(ret: Fields) -> PreferencesInfo:
    multicurrency = ret.ref("MultiCurrencyPreferences")
    home = multicurrency.ref("HomeCurrencyRef")
    return PreferencesInfo(
        multicurrency=multicurrency.boolean("IsMultiCurrencyOn"),
        home_currency_list_id=home.text("ListID"),
        home_currency_name=home.text("FullName"),
    )


def _read_host(ret: Fields) -> HostInfo:
    return HostInfo(
        product_name=ret.text("ProductName"),
        major_version=ret.text("MajorVersion"),
        minor_version=ret.text("MinorVersion"),
        country=ret.text("Country"),
        supported_versions=ret.texts("SupportedQBXMLVersion"),
        file_mode=ret.text("QBFileMode"),
    )


def _read_company(ret: Fields) -> CompanyInfo:
    return CompanyInfo(company_name=ret.text("CompanyName"), is_sample_company=ret.boolean("IsSampleCompany"))


@dataclass(frozen=True)
class _RetReader:
    ret_name: str
    read: Callable[[Fields], object]
    # What an accountant calls one ("check 10045"). A record with a noun is kept aside, rather than
    # failing its whole response, when one field is unreadable (DESIGN rule 11); one without
    # (host, company, preferences) is read whole or not at all.
    noun: str | None = None


# Rs types we read, with the *Ret element each carries: one entry per kind of record. Any other Rs
# is kept with its status and records=[].
_READERS: dict[str, _RetReader] = {
    "BillPaymentCheckQueryRs": _RetReader(
        "BillPaymentCheckRet", _payment_reader("check", "BillPaymentCheckRet", "BankAccountRef"), "check"
    ),
    "BillPaymentCreditCardQueryRs": _RetReader(
        "BillPaymentCreditCardRet",
        _payment_reader("credit_card", "BillPaymentCreditCardRet", "CreditCardAccountRef"),
        "credit card payment",
    ),
    "BillQueryRs": _RetReader("BillRet", _read_bill, "bill"),
    "TxnDeletedQueryRs": _RetReader("TxnDeletedRet", _read_deleted_txn, "deleted payment"),
    "HostQueryRs": _RetReader("HostRet", _read_host),
    "CompanyQueryRs": _RetReader("CompanyRet", _read_company),
    "PreferencesQueryRs": _RetReader("PreferencesRet", _read_preferences),
    "VendorQueryRs": _RetReader("VendorRet", _read_vendor, "vendor"),
    "CurrencyQueryRs": _RetReader("CurrencyRet", _read_currency, "currency"),
}
# What the stream hands over: every *Ret a reader reads, and the message set at the end.
_PULLED: tuple[str, ...] = ("QBXMLMsgsRs", *sorted({reader.ret_name for reader in _READERS.values()}))
_NOUNS: dict[str, str] = {reader.ret_name: reader.noun for reader in _READERS.values() if reader.noun}
_WHAT_IS_READ = {
    "Amount": "the amount",
    "TxnDate": "the date",
    "TxnID": "the transaction ID",
    "ListID": "the list ID",
    "EditSequence": "the edit sequence",
    "TimeCreated": "the time created",
    "TimeModified": "the time modified",
    "TxnNumber": "the transaction number",
    "RefNumber": "the number",
    "TxnType": "the transaction type",
    "DiscountAmount": "the discount",
    "AmountDue": "the amount due",
    "OpenAmount": "the open amount",
    "IsPaid": "the paid flag",
    "TxnDelType": "the deleted transaction type",
    "Name": "the name",
    "CurrencyCode": "the currency code",
}


def _label(ret_name: str, value: object) -> str:
    """How an accountant recognises a record: "check 10045", "credit card payment 77", "bill B-12"."""
    values: Mapping[str, object] = value if isinstance(value, Mapping) else {}

    def text(name: str) -> str | None:
        found = values.get(name)
        if isinstance(found, list):
            found = found[0] if found else None
        return found.strip() if isinstance(found, str) and found.strip() else None

    noun = _NOUNS.get(ret_name, ret_name)
    number = text("RefNumber") or text("Name")
    if number and len(number) <= 40:
        return f"{noun} {number}"
    identity = text("TxnID") or text("ListID")
    if identity:
        shown = identity if len(identity) <= 40 else identity[:37] + "…"
        return f"{noun} with QuickBooks ID {shown}"
    return f"{noun} without a QuickBooks ID"


def _what(element: str | None, ret_name: str) -> str:
    if not element:
        return "a field"
    parts = element.split("/")
    leaf = _WHAT_IS_READ.get(parts[-1], f"the {parts[-1]} field")
    if parts[0] == "AppliedToTxnRet" and len(parts) > 1:
        if parts[-2] == "LinkedTxn":
            return f"{leaf} of a credit applied to a bill"
        return f"{leaf} applied to a bill" if parts[-1] == "Amount" else f"{leaf} of a bill it pays"
    if parts[-1] == "RefNumber":
        return "the check number" if ret_name.startswith("BillPayment") else leaf
    return leaf


def _unreadable(ret_name: str, value: object, error: QbXMLContentError) -> UnreadableRecord:
    """The record kept aside, with the sentence a person reads: what QuickBooks sent and where."""
    values: Mapping[str, object] = value if isinstance(value, Mapping) else {}
    label = _label(ret_name, value)
    what = _what(error.element, ret_name)
    if error.raw is None:
        said = f"QuickBooks sent {label} without {what} ({error.element or 'a required element'})."
    else:
        shown = error.raw if len(error.raw) <= 80 else error.raw[:77] + "…"
        said = f"QuickBooks sent `{shown}` as {what} of {label}."
    problem = error.problem or "is not what qbXML allows"
    if error.raw is not None and problem.startswith(repr(error.raw) + " "):
        problem = problem[len(repr(error.raw)) + 1 :]  # the value is quoted already
    why = "without it" if error.raw is None else f"it {problem}"
    reason = (
        f"{said} PaySync cannot read it: {why}, so this record is held and nothing of it is written to "
        "Procore; the rest was read normally. Correct it in QuickBooks and save: PaySync reads it again at "
        "the next sync."
    )
    try:
        raw = str(xmltodict.unparse({ret_name: value}, full_document=False))
    except Exception:  # a record odd enough not to re-serialise is still kept, as text
        raw = repr(value)
    identity = values.get("TxnID") or values.get("ListID")
    identity_text = identity if isinstance(identity, str) and identity.strip() else None
    time_modified = values.get("TimeModified")
    time_text: str | None = None
    if isinstance(time_modified, str):
        try:
            parse_qb_local(time_modified)
            time_text = time_modified
        except ValueError:
            time_text = None
    edit_sequence = values.get("EditSequence")
    return UnreadableRecord(
        ret_name=ret_name,
        record_key=identity_text[:200] if identity_text else "sha1:" + hashlib.sha1(raw.encode()).hexdigest(),
        txn_id=identity_text if identity_text and len(identity_text) <= ID_CHARS else None,
        edit_sequence=edit_sequence[:64] if isinstance(edit_sequence, str) else None,
        time_modified=time_text,
        label=label,
        reason=reason,
        raw=raw[:_RAW_KEPT_CHARS],
    )


def _element_value(element: Any) -> object:
    """The element as xmltodict makes it: its text (stripped; None when empty) when it has neither
    children nor attributes, else a dict of "@attribute" values, children by name (a list when one
    repeats, in document order) and "#text" for any text around them."""
    attributes = element.items()  # a list: cheaper than the attrib proxy, and empty is falsy
    if len(element) == 0:
        text = element.text
        if text is not None:
            text = text.strip() or None
        if not attributes:
            return text
        value: dict[str, object] = {"@" + name: attribute for name, attribute in attributes}
        if text is not None:
            value["#text"] = text
        return value
    value = {"@" + name: attribute for name, attribute in attributes} if attributes else {}
    pieces = [element.text] if element.text else []
    for child in element:
        name = child.tag
        child_value = _element_value(child)
        if name in value:
            earlier = value[name]
            if type(earlier) is list:
                earlier.append(child_value)
            else:
                value[name] = [earlier, child_value]
        else:
            value[name] = child_value
        if child.tail:
            pieces.append(child.tail)
    if pieces:
        text = "".join(pieces).strip()
        if text:
            value["#text"] = text
    return value


def _read_record(reader: _RetReader, element: Any, shared: Shared) -> object:
    value = _element_value(element)
    try:
        return reader.read(Fields(value, reader.ret_name, shared))
    except QbXMLContentError as error:
        if reader.noun is None:
            raise
        return _unreadable(reader.ret_name, value, error)


_SEVERITY_BY_RANGE = ((499, "Info"), (999, "Warn"))


def _read_query_response(
    rs_name: str, attributes: Mapping[str, str], records: list[object], shared: Shared
) -> QueryResponse:
    rs = Fields({"@" + name: value for name, value in attributes.items()}, rs_name, shared)
    status_code = rs.integer("@statusCode")
    if status_code is None:
        raise QbXMLContentError(
            f"{rs_name} has no statusCode attribute, so its outcome is unknown. "
            "The response does not match qbXML 13.0; check the Web Connector log (QWCLog.txt)."
        )
    severity = rs.text("@statusSeverity") or next(
        (name for limit, name in _SEVERITY_BY_RANGE if status_code <= limit), "Error"
    )
    remaining_text = rs.text("@iteratorRemainingCount")
    remaining = _count(remaining_text)
    return QueryResponse(
        rs_name=rs_name,
        request_id=rs.text("@requestID"),
        status_code=status_code,
        status_severity=severity,
        status_message=rs.text("@statusMessage") or "",
        ret_count=_count(rs.text("@retCount")),
        iterator_id=rs.text("@iteratorID"),
        iterator_remaining=remaining,
        records=records,
        iterator_remaining_unreadable=remaining_text[:100] if remaining_text and remaining is None else None,
    )


def _count(raw: str | None) -> int | None:
    """A count attribute PaySync can store (0 .. 2**31-1); anything else is unknown, not an error."""
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if 0 <= value <= MAX_INT32 else None


# ---------------------------------------------------------------------------------------------
# Public functions


def parse_response(text: str | bytes) -> list[QueryResponse]:
    """Every *Rs in a QBXML/QBXMLMsgsRs document, in document order, with typed records.

    Raises UnsafeXMLError, MalformedXMLError or QbXMLContentError; never raises for a status code
    (see raise_for_status).
    """
    responses: list[QueryResponse] = []
    shared = Shared()
    records_of: dict[Any, list[object]] = {}  # *Rs element -> the records read from it so far
    for element in pull_elements(text, _PULLED):
        parent = element.getparent()
        if parent is None:  # the root, once the whole document is read
            if element.tag != "QBXML":
                local = str(element.tag).rsplit("}", 1)[-1]
                shown = f"{element.prefix}:{local}" if element.prefix else local  # as written: soap:Envelope
                raise QbXMLContentError(
                    f"Expected a qbXML document with root element QBXML, got {shown}. "
                    "The Web Connector passed something that is not a QuickBooks response; check QWCLog.txt."
                )
            continue
        if element.tag == "QBXMLMsgsRs":
            if parent.getparent() is None:  # QBXML / QBXMLMsgsRs: each child is a *Rs, in order
                for rs in element:
                    records = records_of.pop(rs, [])
                    responses.append(_read_query_response(rs.tag, rs.attrib, records, shared))
            continue
        # A *Ret is read where a response carries it (QBXML / QBXMLMsgsRs / *Rs / *Ret); one deeper
        # is part of an enclosing element and stays where it is.
        messages = parent.getparent()
        if messages is None or messages.tag != "QBXMLMsgsRs":
            continue
        root = messages.getparent()
        if root is None or root.getparent() is not None:
            continue
        reader = _READERS.get(parent.tag)
        if reader is not None and reader.ret_name == element.tag:
            records_of.setdefault(parent, []).append(_read_record(reader, element, shared))
        parent.remove(element)  # read (or not ours to read): the element goes, memory stays flat
    return responses


@dataclass(frozen=True)
class HcpFacts:
    """What the Web Connector's strHCPResponse says about QuickBooks and the company file."""

    host: HostInfo | None = None
    company: CompanyInfo | None = None
    preferences: PreferencesInfo | None = None


def parse_hcp(text: str) -> HcpFacts:
    """Host, company and preferences from strHCPResponse (first sendRequestXML of a session).

    It holds HostQueryRs, CompanyQueryRs and PreferencesQueryRs. An empty string (every later call
    of the session) gives no facts, as does a part that QuickBooks answered with an error.
    """
    if not text.strip():
        return HcpFacts()
    found: dict[type, object] = {}
    for rs in parse_response(text):
        if not rs.is_ok:
            continue
        for record in rs.records:
            if isinstance(record, HostInfo | CompanyInfo | PreferencesInfo):
                found.setdefault(type(record), record)
    host, company, preferences = found.get(HostInfo), found.get(CompanyInfo), found.get(PreferencesInfo)
    return HcpFacts(
        host=host if isinstance(host, HostInfo) else None,
        company=company if isinstance(company, CompanyInfo) else None,
        preferences=preferences if isinstance(preferences, PreferencesInfo) else None,
    )


def parse_hcp_response(text: str) -> tuple[HostInfo | None, CompanyInfo | None]:
    """Host and company from strHCPResponse (see parse_hcp for the preferences too)."""
    facts = parse_hcp(text)
    return facts.host, facts.company


def raise_for_status(rs: QueryResponse) -> None:
    """Raise QbXMLStatusError unless the status is 0 (OK), 1 (no match) or a 500-999 warning.

    Warnings (e.g. 500: some of several TxnIDs not found) do not raise; rs.status_severity and
    rs.status_message keep them visible to the caller.
    """
    if rs.is_ok or rs.is_warning:
        return
    raise QbXMLStatusError(rs.status_code, rs.status_severity, rs.status_message, rs.rs_name)
