"""Read qbXML responses into typed records.

How large responses are handled: QuickBooks answers can be tens of MB. xmltodict builds its dict
bottom-up and calls a `postprocessor` each time it attaches a finished child to its parent. We hook
that moment: each *Ret (BillPaymentCheckRet, BillRet, ...) is converted to a frozen record the
instant its end tag is read, and each *Rs to a QueryResponse appended to a list in document order;
the element's dict is then dropped. So the only dict alive is the one *Ret being read: peak memory
is the records themselves plus one element, never a dict of the whole document, and a str input is
not copied whole either (safe.parse_xml feeds expat UTF-8 slices).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar

from .errors import QbXMLContentError, QbXMLStatusError
from .records import (
    AppliedBill,
    BillPaymentRecord,
    BillRecord,
    CompanyInfo,
    DeletedTxnRecord,
    HostInfo,
    PaymentKind,
    QueryResponse,
)
from .safe import parse_xml

_AMOUNT = re.compile(r"[+-]?\d{1,13}(?:\.\d{2})?")  # AMTTYPE without its empty alternative
_CENTS = Decimal("0.01")
_ZERO_AMOUNT = Decimal("0.00")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # DATETYPE as QuickBooks writes it

# Depths in the xmltodict path (a list of (element name, attributes) from the root).
_RS_DEPTH = 3  # QBXML / QBXMLMsgsRs / *Rs
_RET_DEPTH = 4  # QBXML / QBXMLMsgsRs / *Rs / *Ret

_Path = list[tuple[str, object]]
_V = TypeVar("_V")


@dataclass
class _Shared:
    """Values repeated across records of one response (vendors, accounts, dates, amounts, times).

    expat makes a new str for every occurrence; sharing one immutable object per distinct value keeps
    the records of a large response small, and skips re-parsing the same date or amount.
    """

    strings: dict[str, str] = field(default_factory=dict)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    dates: dict[str, date] = field(default_factory=dict)


class _Fields:
    """Typed, read-only access to the children of one xmltodict element; errors name the record."""

    __slots__ = ("_shared", "_values", "context")

    def __init__(self, value: object, context: str, shared: _Shared) -> None:
        self._values: Mapping[str, object] = value if isinstance(value, Mapping) else {}
        self._shared = shared
        self.context = context  # e.g. "BillPaymentCheckRet 12-1700000000", used in error messages

    def renamed(self, context: str) -> _Fields:
        return _Fields(self._values, context, self._shared)

    def with_txn_id(self, name: str) -> tuple[str, _Fields]:
        """The required TxnID, and these fields renamed "{name} {TxnID}" for error messages."""
        txn_id = self.required_text("TxnID")
        return txn_id, self.renamed(f"{name} {txn_id}")

    def _present(self, child: str, value: _V | None) -> _V:
        if value is None:
            raise self.problem(child, "is missing")
        return value

    def problem(self, child: str, problem: str) -> QbXMLContentError:
        return QbXMLContentError(
            f"{self.context}: {child} {problem}. The QuickBooks response does not match qbXML 13.0; "
            "check the Web Connector log (QWCLog.txt) and report it if QuickBooks really sent this."
        )

    def text(self, child: str) -> str | None:
        value = self._values.get(child)
        if isinstance(value, list):  # repeated where the schema allows one: keep the first
            value = value[0] if value else None
        return self._as_text(child, value)

    def _as_text(self, child: str, value: object) -> str | None:
        if isinstance(value, Mapping):  # an element with attributes keeps its text under "#text"
            value = value.get("#text")
        if value is None or isinstance(value, str):
            return value or None  # <X></X> and <X/> both mean "no value"
        raise self.problem(child, f"has unexpected content {value!r}")

    def shared_text(self, child: str) -> str | None:
        """text(), for values that repeat across records (names, types, times)."""
        value = self.text(child)
        return None if value is None else self._shared.strings.setdefault(value, value)

    def required_shared_text(self, child: str) -> str:
        return self._present(child, self.shared_text(child))

    def texts(self, child: str) -> tuple[str, ...]:
        values = (self._as_text(child, value) for value in _as_list(self._values.get(child)))
        return tuple(value for value in values if value is not None)

    def required_text(self, child: str) -> str:
        return self._present(child, self.text(child))

    def ref(self, child: str) -> _Fields:
        """A ListID/FullName reference such as PayeeEntityRef (empty when absent)."""
        value = self._values.get(child)
        first = value[0] if isinstance(value, list) and value else value
        return _Fields(first, f"{self.context} {child}", self._shared)

    def values(self, child: str) -> list[object]:
        return _as_list(self._values.get(child))

    def each(self, child: str) -> list[_Fields]:
        return [_Fields(value, f"{self.context} {child}", self._shared) for value in self.values(child)]

    def _converted(
        self, child: str, known: dict[str, _V], convert: Callable[[_Fields, str, str], _V]
    ) -> _V | None:
        """The child's text converted once per distinct value of the response (`known` caches it)."""
        raw = self.text(child)
        if raw is None:
            return None
        value = known.get(raw)
        if value is None:
            value = known.setdefault(raw, convert(self, child, raw))
        return value

    def amount(self, child: str) -> Decimal | None:
        return self._converted(child, self._shared.amounts, _to_amount)

    def required_amount(self, child: str) -> Decimal:
        return self._present(child, self.amount(child))

    def calendar_date(self, child: str) -> date | None:
        return self._converted(child, self._shared.dates, _to_date)

    def required_calendar_date(self, child: str) -> date:
        return self._present(child, self.calendar_date(child))

    def integer(self, child: str) -> int | None:
        return _parse_int(self.text(child), lambda problem: self.problem(child, problem))

    def boolean(self, child: str) -> bool | None:
        raw = self.text(child)
        if raw is None:
            return None
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        raise self.problem(child, f"{raw!r} is not true or false")


def _to_amount(fields: _Fields, child: str, raw: str) -> Decimal:
    if _AMOUNT.fullmatch(raw) is None:
        raise fields.problem(child, f"{raw!r} is not a qbXML amount (digits, optionally with two decimals)")
    # "100" and "100.00" both become Decimal("100.00")
    return Decimal(raw).quantize(_CENTS)


def _to_date(fields: _Fields, child: str, raw: str) -> date:
    if _DATE.fullmatch(raw) is None:
        raise fields.problem(child, f"{raw!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise fields.problem(child, f"{raw!r} is not a calendar date") from None


def _as_list(value: object) -> list[object]:
    """xmltodict gives one child as itself and repeated children as a list; always get a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _parse_int(raw: str | None, problem: Callable[[str], QbXMLContentError]) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise problem(f"{raw!r} is not a whole number") from None


# ---------------------------------------------------------------------------------------------
# One reader per *Ret element


def _read_applied_bill(applied: _Fields) -> AppliedBill:
    bill_txn_id, applied = applied.with_txn_id(applied.context)
    amount = applied.amount("Amount")
    return AppliedBill(
        bill_txn_id=bill_txn_id,
        txn_type=applied.required_shared_text("TxnType"),
        bill_ref_number=applied.text("RefNumber"),
        bill_txn_date=applied.calendar_date("TxnDate"),
        # Amount is optional in the schema; with no Amount, none of this payment went to the bill [I].
        amount=_ZERO_AMOUNT if amount is None else amount,
        balance_remaining=applied.amount("BalanceRemaining"),
        discount_amount=applied.amount("DiscountAmount"),
    )


def _payment_reader(
    kind: PaymentKind, ret_name: str, account_ref: str
) -> Callable[[_Fields], BillPaymentRecord]:
    def read(ret: _Fields) -> BillPaymentRecord:
        txn_id, ret = ret.with_txn_id(ret_name)
        payee = ret.ref("PayeeEntityRef")
        return BillPaymentRecord(
            kind=kind,
            txn_id=txn_id,
            edit_sequence=ret.required_text("EditSequence"),
            txn_number=ret.integer("TxnNumber"),
            time_created=ret.required_shared_text("TimeCreated"),
            time_modified=ret.required_shared_text("TimeModified"),
            vendor_list_id=payee.shared_text("ListID"),
            vendor_name=payee.shared_text("FullName"),
            txn_date=ret.required_calendar_date("TxnDate"),
            amount=ret.required_amount("Amount"),
            ref_number=ret.text("RefNumber"),
            memo=ret.text("Memo"),
            account_name=ret.ref(account_ref).shared_text("FullName"),
            applications=tuple(_read_applied_bill(applied) for applied in ret.each("AppliedToTxnRet")),
        )

    return read


def _read_bill(ret: _Fields) -> BillRecord:
    txn_id, ret = ret.with_txn_id("BillRet")
    vendor = ret.ref("VendorRef")
    return BillRecord(
        txn_id=txn_id,
        edit_sequence=ret.required_text("EditSequence"),
        time_modified=ret.required_shared_text("TimeModified"),
        vendor_list_id=vendor.shared_text("ListID"),
        vendor_name=vendor.shared_text("FullName"),
        txn_date=ret.calendar_date("TxnDate"),
        ref_number=ret.text("RefNumber"),
        amount_due=ret.amount("AmountDue"),
        open_amount=ret.amount("OpenAmount"),
        is_paid=ret.boolean("IsPaid"),
    )


def _read_deleted_txn(ret: _Fields) -> DeletedTxnRecord:
    txn_id, ret = ret.with_txn_id("TxnDeletedRet")
    return DeletedTxnRecord(
        txn_del_type=ret.required_shared_text("TxnDelType"),
        txn_id=txn_id,
        time_created=ret.text("TimeCreated"),
        time_deleted=ret.text("TimeDeleted"),
        ref_number=ret.text("RefNumber"),
    )


def _read_host(ret: _Fields) -> HostInfo:
    return HostInfo(
        product_name=ret.text("ProductName"),
        major_version=ret.text("MajorVersion"),
        minor_version=ret.text("MinorVersion"),
        country=ret.text("Country"),
        supported_versions=ret.texts("SupportedQBXMLVersion"),
        file_mode=ret.text("QBFileMode"),
    )


def _read_company(ret: _Fields) -> CompanyInfo:
    return CompanyInfo(company_name=ret.text("CompanyName"), is_sample_company=ret.boolean("IsSampleCompany"))


@dataclass(frozen=True)
class _RetReader:
    ret_name: str
    read: Callable[[_Fields], object]


# Rs types we read, with the *Ret element each carries. Any other Rs (PreferencesQueryRs in the
# Web Connector's HCP response, say) is kept with its status and records=[].
_READERS: dict[str, _RetReader] = {
    "BillPaymentCheckQueryRs": _RetReader(
        "BillPaymentCheckRet", _payment_reader("check", "BillPaymentCheckRet", "BankAccountRef")
    ),
    "BillPaymentCreditCardQueryRs": _RetReader(
        "BillPaymentCreditCardRet",
        _payment_reader("credit_card", "BillPaymentCreditCardRet", "CreditCardAccountRef"),
    ),
    "BillQueryRs": _RetReader("BillRet", _read_bill),
    "TxnDeletedQueryRs": _RetReader("TxnDeletedRet", _read_deleted_txn),
    "HostQueryRs": _RetReader("HostRet", _read_host),
    "CompanyQueryRs": _RetReader("CompanyRet", _read_company),
}

_SEVERITY_BY_RANGE = ((499, "Info"), (999, "Warn"))


def _read_query_response(rs_name: str, value: object, shared: _Shared) -> QueryResponse:
    rs = _Fields(value, rs_name, shared)
    status_code = rs.integer("@statusCode")
    if status_code is None:
        raise QbXMLContentError(
            f"{rs_name} has no statusCode attribute, so its outcome is unknown. "
            "The response does not match qbXML 13.0; check the Web Connector log (QWCLog.txt)."
        )
    severity = rs.text("@statusSeverity") or next(
        (name for limit, name in _SEVERITY_BY_RANGE if status_code <= limit), "Error"
    )
    reader = _READERS.get(rs_name)
    records = rs.values(reader.ret_name) if reader is not None else []
    return QueryResponse(
        rs_name=rs_name,
        request_id=rs.text("@requestID"),
        status_code=status_code,
        status_severity=severity,
        status_message=rs.text("@statusMessage") or "",
        ret_count=rs.integer("@retCount"),
        iterator_id=rs.text("@iteratorID"),
        iterator_remaining=rs.integer("@iteratorRemainingCount"),
        records=records,
    )


# ---------------------------------------------------------------------------------------------
# Public functions


def parse_response(text: str | bytes) -> list[QueryResponse]:
    """Every *Rs in a QBXML/QBXMLMsgsRs document, in document order, with typed records.

    Raises UnsafeXMLError, MalformedXMLError or QbXMLContentError; never raises for a status code
    (see raise_for_status).
    """
    responses: list[QueryResponse] = []
    shared = _Shared()

    def convert_on_close(path: _Path, key: str, value: object) -> tuple[str, object] | None:
        # Called by xmltodict for every attribute and every finished child element, before the
        # child is attached to its parent. Returning None drops the child.
        depth = len(path)
        if depth > _RET_DEPTH:  # inside a *Ret: let xmltodict build its dict (the common, hot case)
            return key, value
        # key != own name: an attribute ("@...") or text ("#text") of the element, not the element itself.
        if depth < _RS_DEPTH or key != path[-1][0] or path[1][0] != "QBXMLMsgsRs":
            return key, value
        rs_name = path[2][0]
        if depth == _RET_DEPTH:
            reader = _READERS.get(rs_name)
            if reader is None or key != reader.ret_name:
                return None  # content we do not read (e.g. PreferencesRet): do not keep it
            return key, reader.read(_Fields(value, key, shared))
        if depth == _RS_DEPTH:
            responses.append(_read_query_response(key, value, shared))
            return None
        return key, value

    document = parse_xml(text, postprocessor=convert_on_close)
    root_names = list(document) if isinstance(document, Mapping) else []
    if root_names != ["QBXML"]:
        raise QbXMLContentError(
            f"Expected a qbXML document with root element QBXML, got {root_names[0] if root_names else 'nothing'}. "
            "The Web Connector passed something that is not a QuickBooks response; check QWCLog.txt."
        )
    return responses


def parse_hcp_response(text: str) -> tuple[HostInfo | None, CompanyInfo | None]:
    """Host and company from the Web Connector's strHCPResponse (first sendRequestXML of a session).

    It holds HostQueryRs, CompanyQueryRs and PreferencesQueryRs. An empty string (every later call
    of the session) gives (None, None), as does a part that QuickBooks answered with an error.
    """
    if not text.strip():
        return None, None
    host: HostInfo | None = None
    company: CompanyInfo | None = None
    for rs in parse_response(text):
        if not rs.is_ok:
            continue
        for record in rs.records:
            if isinstance(record, HostInfo) and host is None:
                host = record
            elif isinstance(record, CompanyInfo) and company is None:
                company = record
    return host, company


def raise_for_status(rs: QueryResponse) -> None:
    """Raise QbXMLStatusError unless the status is 0 (OK), 1 (no match) or a 500-999 warning.

    Warnings (e.g. 500: some of several TxnIDs not found) do not raise; rs.status_severity and
    rs.status_message keep them visible to the caller.
    """
    if rs.is_ok or rs.is_warning:
        return
    raise QbXMLStatusError(rs.status_code, rs.status_severity, rs.status_message, rs.rs_name)
