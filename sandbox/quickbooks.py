"""An in-memory QuickBooks Desktop company file that answers qbXML the way QuickBooks does.

This is a stand-in for the real system. It imports nothing from ``sync``, ``storage`` or
``console`` and has its own small qbXML reader and writer, so the project's code is tested against
something that does not share its assumptions. Facts come from
``shared/reference/qbxml/NOTES.md`` (cited as "NOTES §n"); where NOTES marks a behaviour as
inferred, the choice made here says "(inferred)" so it is easy to find and change.

What it models:
- vendors, bills and bill payments (check and credit card; full, partial, multi-bill), voids,
  edits and deletes, with TxnID / EditSequence / TimeModified behaving like QuickBooks';
- a QuickBooks machine in US Eastern time with the DST offset bug (NOTES §8);
- the queries PaySync needs: HostQueryRq, CompanyQueryRq, BillPaymentCheckQueryRq,
  BillPaymentCreditCardQueryRq, BillQueryRq and TxnDeletedQueryRq, with iterators, status codes and
  the parse-error behaviour (requests that break the schema's element order are rejected);
- fault injection: a status code on the next payment queries, iterators dropped mid-session, and
  QuickBooks refusing the connection.

Answers list every Ret element's children in the exact order of the qbXML 13.0 schema; the tests
validate them against ``qbxmlops130.xsd``.
"""

from __future__ import annotations

import bisect
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo

from lxml import etree

__all__ = [
    "PARSE_ERROR_HRESULT",
    "PARSE_ERROR_MESSAGE",
    "BillSnapshot",
    "DeletedPaymentSnapshot",
    "PaymentKind",
    "PaymentSnapshot",
    "QuickBooksConnectionError",
    "QuickBooksParseError",
    "SandboxCompanyFile",
]

PaymentKind = Literal["check", "credit_card"]

PARSE_ERROR_HRESULT: Final = "0x80040400"
PARSE_ERROR_MESSAGE: Final = "QuickBooks found an error when parsing the provided XML text stream."
CONNECTION_ERROR_HRESULT: Final = "0x80040401"
CONNECTION_ERROR_MESSAGE: Final = "Could not access QuickBooks."

# The QuickBooks machine sits in US Eastern time. NOTES §8 (jsgoupil README, "Handling
# Timestamps"): QuickBooks prints local wall-clock times that follow DST correctly, but the offset
# it prints next to them never does: it is always the *standard* offset. So a change made at
# 10:00 EDT in July is printed "…T10:00:00-05:00" (really 14:00 UTC, not 15:00). Code that
# trusts the offset is an hour off all summer; the project must keep the wall-clock part only.
QUICKBOOKS_TIME_ZONE: Final = ZoneInfo("America/New_York")
PRINTED_OFFSET: Final = "-05:00"
_STANDARD_OFFSET: Final = timezone(timedelta(hours=-5))

STATUS_OK_MESSAGE: Final = "Status OK"
NO_MATCH_MESSAGE: Final = "A query request did not find a matching object in QuickBooks"
DEFAULT_PRODUCT_NAMES: Final = {
    "US": "QuickBooks Enterprise Solutions: Contractor 24.0",
    "CA": "QuickBooks Enterprise Solutions: Accountant Canadian Edition 24.0",
    "UK": "QuickBooks Accountant UK Edition 24.0",
}
# QuickBooks 2014 reports MajorVersion 24 (NOTES §5 capture), so the 2024 ("24.0") products are 34.
PRODUCT_MAJOR_VERSION: Final = "34"
PRODUCT_MINOR_VERSION: Final = "0"
_US_QBXML_VERSIONS: Final = tuple(
    ["1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1"] + [f"{major}.0" for major in range(5, 17)]
)
# Canada and UK editions prefix the country (NOTES §1, consolibyte `_version()`); which numbers
# they list is not documented, so this list is (inferred).
_NON_US_QBXML_VERSIONS: Final = tuple(f"{major}.0" for major in range(2, 17))

# Default messages for injected statuses. QuickBooks' exact wording for these is not captured
# anywhere (NOTES §8 lists the codes only), so the texts are (inferred).
_DEFAULT_STATUS_MESSAGES: Final = {
    500: "The query request has not been fully completed. There was a required element that could not be found in QuickBooks.",
    1000: "There was an internal error in QuickBooks while processing the request.",
    3120: "Object specified in the request cannot be found.  QuickBooks error message: Invalid argument.  The specified record does not exist in the list.",
    3170: "There was an error when modifying the object. It is in use by another user.",
    3175: "There was an error when processing the request. The data is locked by another QuickBooks user or process; try again later.",
    3176: "There was an error when processing the request. QuickBooks could not acquire the lock on the data; try again later.",
    3180: "There was an error when saving the data. QuickBooks error message: the record could not be saved.",
    3250: "This feature is not enabled or not available in this version of QuickBooks.",
    3260: "Insufficient permission level to perform this action.",
}

_CENT: Final = Decimal("0.01")
_APPLICATION_TXN_TYPE: Final = "Bill"
_PAYMENT_TXN_TYPES: Final[dict[PaymentKind, str]] = {
    "check": "BillPaymentCheck",
    "credit_card": "BillPaymentCreditCard",
}
_PAYMENT_QUERY_KINDS: Final[dict[str, PaymentKind]] = {
    "BillPaymentCheckQueryRq": "check",
    "BillPaymentCreditCardQueryRq": "credit_card",
}
_MAX_VENDOR_NAME = 41  # VendorRet/Name max length in the schema
_MAX_BILL_REF = 20  # BillRet/RefNumber
_MAX_PAYMENT_REF = 11  # BillPaymentCheckRet/RefNumber
_MAX_MEMO = 4095


class QuickBooksParseError(Exception):
    """QuickBooks could not parse (or schema-check) a request document.

    QuickBooks answers no qbXML at all then; the Web Connector reports the failure to the service
    as ``hresult`` 0x80040400 with the message below (NOTES §8 HRESULTs). ``detail`` says what the
    sandbox objected to, for the test output; real QuickBooks keeps that in qbsdklog.txt.
    """

    hresult = PARSE_ERROR_HRESULT

    def __init__(self, detail: str) -> None:
        super().__init__(PARSE_ERROR_MESSAGE)
        self.message = PARSE_ERROR_MESSAGE
        self.detail = detail

    def __str__(self) -> str:
        return f"{PARSE_ERROR_MESSAGE} ({self.detail})"


class QuickBooksConnectionError(Exception):
    """The Web Connector could not open a session with QuickBooks (QuickBooks closed, file busy…)."""

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


# --------------------------------------------------------------------------------------------
# Snapshots: read-only views for tests and the demo (the internal records stay private)


@dataclass(frozen=True)
class PaymentSnapshot:
    txn_id: str
    kind: PaymentKind
    vendor_name: str
    txn_date: date
    amount: Decimal
    ref_number: str | None
    memo: str | None
    is_voided: bool
    edit_sequence: str
    time_created: datetime  # naive local wall-clock time on the QuickBooks machine
    time_modified: datetime
    applications: tuple[tuple[str, Decimal], ...]  # (bill TxnID, amount applied)


@dataclass(frozen=True)
class BillSnapshot:
    txn_id: str
    vendor_name: str
    ref_number: str
    txn_date: date
    amount_due: Decimal
    open_amount: Decimal
    is_paid: bool
    edit_sequence: str
    time_modified: datetime


@dataclass(frozen=True)
class DeletedPaymentSnapshot:
    txn_id: str
    kind: PaymentKind
    ref_number: str | None
    time_created: datetime
    time_deleted: datetime


# --------------------------------------------------------------------------------------------
# Internal records


@dataclass
class _ListObject:
    list_id: str
    full_name: str


@dataclass
class _Bill:
    txn_id: str
    txn_number: int
    vendor: _ListObject
    ref_number: str
    amount_due: Decimal
    txn_date: date
    due_date: date
    expense_line_id: str
    time_created: int
    time_modified: int
    edit_sequence: str
    # payment TxnID -> amount that payment applies to this bill (0.00 once the payment is voided)
    applied_by: dict[str, Decimal] = field(default_factory=dict)

    @property
    def open_amount(self) -> Decimal:
        return self.amount_due - sum(self.applied_by.values(), Decimal("0.00"))


@dataclass
class _Application:
    bill_txn_id: str
    amount: Decimal


@dataclass
class _Payment:
    txn_id: str
    kind: PaymentKind
    txn_number: int
    vendor: _ListObject
    txn_date: date
    ref_number: str | None
    memo: str | None
    applications: list[_Application]
    time_created: int
    time_modified: int
    edit_sequence: str
    is_voided: bool = False

    @property
    def amount(self) -> Decimal:
        return sum((application.amount for application in self.applications), Decimal("0.00"))


@dataclass
class _DeletedTxn:
    del_type: str
    txn_id: str
    time_created: int
    time_deleted: int
    ref_number: str | None


@dataclass
class _Iterator:
    request_type: str
    matches: list[str]  # TxnIDs in answer order, fixed when the iterator started (inferred)
    position: int
    page_size: int


class _ModifiedIndex:
    """TxnIDs ordered by (TimeModified, TxnID), for modified-date filters and iterator order.

    Entries are only appended near the end (the clock never goes back), and an entry made stale by
    a later change is skipped when read and dropped at the next compaction, so keeping the index
    costs O(log n) per change instead of a re-sort per query.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[int, str]] = []
        self._current: dict[str, int] = {}
        self._stale = 0

    def __len__(self) -> int:
        return len(self._current)

    def touch(self, txn_id: str, time_modified: int) -> None:
        previous = self._current.get(txn_id)
        if previous == time_modified:
            return
        if previous is not None:
            self._stale += 1
        self._current[txn_id] = time_modified
        bisect.insort(self._entries, (time_modified, txn_id))
        if self._stale > 1024 and self._stale > len(self._current):
            self._compact()

    def discard(self, txn_id: str) -> None:
        if self._current.pop(txn_id, None) is not None:
            self._stale += 1

    def ordered(self, modified_from: int | None = None, modified_to: int | None = None) -> Iterator[str]:
        low = 0 if modified_from is None else bisect.bisect_left(self._entries, (modified_from, ""))
        high = (
            len(self._entries)
            if modified_to is None
            else bisect.bisect_right(self._entries, (modified_to, "\U0010ffff"))
        )
        current = self._current
        entries = self._entries
        for position in range(low, high):
            time_modified, txn_id = entries[position]
            if current.get(txn_id) == time_modified:
                yield txn_id

    def _compact(self) -> None:
        self._entries = sorted((time_modified, txn_id) for txn_id, time_modified in self._current.items())
        self._stale = 0


# --------------------------------------------------------------------------------------------
# Small qbXML writing helpers (the output is built as a list of lines and joined once)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def _money(amount: Decimal) -> str:
    quantized = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return "0.00" if quantized == 0 else f"{quantized:f}"


@lru_cache(maxsize=65536)
def _printed_time(epoch: int) -> str:
    """How QuickBooks prints an instant: correct local wall clock, always the standard offset."""
    local = datetime.fromtimestamp(epoch, QUICKBOOKS_TIME_ZONE)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + PRINTED_OFFSET


@lru_cache(maxsize=4096)
def _local_wall_clock(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, QUICKBOOKS_TIME_ZONE).replace(tzinfo=None)


def _epoch_of_wall_clock(wall_clock: datetime) -> int:
    # fold=0: an ambiguous time in the autumn fall-back hour means its first (daylight) occurrence.
    return int(wall_clock.replace(tzinfo=QUICKBOOKS_TIME_ZONE, fold=0).timestamp())


def _ref(lines: list[str], tag: str, ref: _ListObject) -> None:
    lines.append(f"<{tag}>")
    lines.append(f"<ListID>{_text(ref.list_id)}</ListID>")
    lines.append(f"<FullName>{_text(ref.full_name)}</FullName>")
    lines.append(f"</{tag}>")


def _status_attributes(
    request_id: str | None,
    code: int,
    message: str,
    *,
    ret_count: int | None = None,
    iterator_remaining: int | None = None,
    iterator_id: str | None = None,
) -> str:
    parts = []
    if request_id is not None:
        parts.append(f' requestID="{_attribute(request_id)}"')
    parts.append(
        f' statusCode="{code}" statusSeverity="{_severity(code)}" statusMessage="{_attribute(message)}"'
    )
    if ret_count is not None:
        parts.append(f' retCount="{ret_count}"')
    if iterator_remaining is not None:
        parts.append(f' iteratorRemainingCount="{iterator_remaining}"')
    if iterator_id is not None:
        parts.append(f' iteratorID="{_attribute(iterator_id)}"')
    return "".join(parts)


def _severity(code: int) -> str:
    # NOTES §8: 0-499 Info, 500-999 Warn(ing), 1000+ Error. Captures spell the middle one "Warn".
    if code < 500:
        return "Info"
    if code < 1000:
        return "Warn"
    return "Error"


def _empty_rs(
    tag: str,
    request_id: str | None,
    code: int,
    message: str,
    *,
    ret_count: int | None = None,
    iterator_remaining: int | None = None,
    iterator_id: str | None = None,
) -> list[str]:
    attributes = _status_attributes(
        request_id,
        code,
        message,
        ret_count=ret_count,
        iterator_remaining=iterator_remaining,
        iterator_id=iterator_id,
    )
    return [f"<{tag}{attributes} />"]


# --------------------------------------------------------------------------------------------
# Request checking: the element order the schema allows, as regular expressions over child names.
# QuickBooks validates requests against its schema and answers a violation with the parse error
# (NOTES §11 shows the XSD rejecting a misplaced MaxReturned; that QuickBooks itself rejects it the
# same way is the well-known behaviour, but (inferred) here).

_TXN_FILTER = (
    r"(MaxReturned )?(ModifiedDateRangeFilter |TxnDateRangeFilter )?(EntityFilter )?(AccountFilter )?"
    r"(RefNumberFilter |RefNumberRangeFilter )?(CurrencyFilter )?"
)
_CHILD_ORDER: Final[dict[str, re.Pattern[str]]] = {
    "BillPaymentCheckQueryRq": re.compile(
        rf"((TxnID )+|(RefNumber )+|(RefNumberCaseSensitive )+|{_TXN_FILTER})"
        r"(IncludeLineItems )?(IncludeRetElement )*(OwnerID )*"
    ),
    "BillQueryRq": re.compile(
        rf"((TxnID )+|(RefNumber )+|(RefNumberCaseSensitive )+|{_TXN_FILTER}(PaidStatus )?)"
        r"(IncludeLineItems )?(IncludeLinkedTxns )?(IncludeRetElement )*(OwnerID )*"
    ),
    "TxnDeletedQueryRq": re.compile(r"(TxnDelType )+(DeletedDateRangeFilter )?(IncludeRetElement )*"),
    "HostQueryRq": re.compile(r"(IncludeListMetaData )?(IncludeRetElement )*"),
    "CompanyQueryRq": re.compile(r"(IncludeRetElement )*(OwnerID )*"),
    "ModifiedDateRangeFilter": re.compile(r"(FromModifiedDate )?(ToModifiedDate )?"),
    "DeletedDateRangeFilter": re.compile(r"(FromDeletedDate )?(ToDeletedDate )?"),
    "TxnDateRangeFilter": re.compile(r"(FromTxnDate )?(ToTxnDate )?|DateMacro "),
    "EntityFilter": re.compile(r"(ListID )+|(FullName )+|ListIDWithChildren |FullNameWithChildren "),
}
_CHILD_ORDER["BillPaymentCreditCardQueryRq"] = _CHILD_ORDER["BillPaymentCheckQueryRq"]

_ALLOWED_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    "BillPaymentCheckQueryRq": frozenset({"requestID", "metaData", "iterator", "iteratorID"}),
    "BillPaymentCreditCardQueryRq": frozenset({"requestID", "metaData", "iterator", "iteratorID"}),
    "BillQueryRq": frozenset({"requestID", "metaData", "iterator", "iteratorID"}),
    "TxnDeletedQueryRq": frozenset({"requestID", "metaData"}),
    "HostQueryRq": frozenset({"requestID"}),
    "CompanyQueryRq": frozenset({"requestID"}),
}
# The TxnDelType enumeration of qbxml130.xsd.
_TXN_DEL_TYPES: Final = frozenset(
    {
        "ARRefundCreditCard",
        "Bill",
        "BillPaymentCheck",
        "BillPaymentCreditCard",
        "BuildAssembly",
        "Charge",
        "Check",
        "CreditCardCharge",
        "CreditCardCredit",
        "CreditMemo",
        "Deposit",
        "Estimate",
        "InventoryAdjustment",
        "Invoice",
        "ItemReceipt",
        "JournalEntry",
        "PurchaseOrder",
        "ReceivePayment",
        "SalesOrder",
        "SalesReceipt",
        "SalesTaxPaymentCheck",
        "TimeTracking",
        "TransferInventory",
        "VehicleMileage",
        "VendorCredit",
    }
)

_DATETIME_PATTERN: Final = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:T(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:([+-])(\d{1,2}):(\d{1,2}))?)?)?)?"
)
_DATE_PATTERN: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


class _InvalidDate(Exception):
    def __init__(self, element: str, value: str) -> None:
        super().__init__(value)
        self.element = element
        self.value = value


class _StatusAnswer(Exception):
    """Ends one request with a status and no Ret elements (3020, 3030, 3391, an injected code…)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _check_children(element: etree._Element) -> list[etree._Element]:
    children = _children(element)
    pattern = _CHILD_ORDER.get(str(element.tag))
    if pattern is not None and not pattern.fullmatch("".join(f"{child.tag} " for child in children)):
        names = ", ".join(str(child.tag) for child in children)
        raise QuickBooksParseError(f"{element.tag}: children ({names}) are not in an order the schema allows")
    return children


def _leaf_text(element: etree._Element) -> str:
    if _children(element):
        raise QuickBooksParseError(f"{element.tag} must hold text, not elements")
    return (element.text or "").strip()


def _bool(element: etree._Element) -> bool:
    value = _leaf_text(element)
    if value not in ("true", "false", ""):
        raise QuickBooksParseError(f"{element.tag}: {value!r} is not a BOOLTYPE")
    return value == "true"


def _positive_int(element: etree._Element) -> int:
    value = _leaf_text(element)
    if not re.fullmatch(r"[+]?\d+", value) or int(value) < 1:
        raise QuickBooksParseError(f"{element.tag}: {value!r} is not an integer of at least 1")
    return int(value)


def _parse_datetime(element: etree._Element, *, end_of_period: bool) -> int | None:
    """A DATETIMETYPE filter bound as an instant (epoch seconds); None for an empty value.

    Without an offset the value is the QuickBooks machine's local wall clock (NOTES §8). With an
    offset, QuickBooks does what its DST bug implies: it converts the value to its (always
    standard, -05:00) offset and reads the result as local wall-clock time. So echoing a printed
    TimeModified back ("…T10:00:00-05:00") finds 10:00 local all year, while a *correct* summer
    offset ("…T10:00:00-04:00") lands an hour early, as the jsgoupil README warns. A ``Z`` suffix
    or fractional seconds are not DATETIMETYPE at all and give status 3020.
    A missing time of day means the start of the day for a From bound and its end for a To bound
    (inferred).
    """
    value = _leaf_text(element)
    if value == "":
        return None
    match = _DATETIME_PATTERN.fullmatch(value)
    if match is None:
        raise _InvalidDate(str(element.tag), value)
    year, month, day, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()
    filler = 59 if end_of_period else 0
    try:
        wall_clock = datetime(
            int(year),
            int(month),
            int(day),
            int(hour) if hour is not None else (23 if end_of_period else 0),
            int(minute) if minute is not None else filler,
            int(second) if second is not None else filler,
        )
        if sign is not None:
            offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
            given = wall_clock.replace(tzinfo=timezone(offset if sign == "+" else -offset))
            wall_clock = given.astimezone(_STANDARD_OFFSET).replace(tzinfo=None)
    except ValueError as exc:
        raise _InvalidDate(str(element.tag), value) from exc
    # NOTES §8: QuickBooks accepts 1970-01-02 … 2037-12-31 in modified-date filters.
    if not (datetime(1970, 1, 2) <= wall_clock <= datetime(2037, 12, 31, 23, 59, 59)):
        raise _InvalidDate(str(element.tag), value)
    return _epoch_of_wall_clock(wall_clock)


def _parse_date(element: etree._Element) -> date | None:
    value = _leaf_text(element)
    if value == "":
        return None
    if not _DATE_PATTERN.fullmatch(value):
        raise _InvalidDate(str(element.tag), value)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _InvalidDate(str(element.tag), value) from exc


@dataclass
class _TxnQuery:
    """One BillPayment*QueryRq or BillQueryRq, read and checked."""

    request_type: str
    request_id: str | None
    meta_data: str
    iterator: str | None
    iterator_id: str | None
    txn_ids: list[str] | None = None
    ref_numbers: list[str] | None = None
    ref_numbers_case_sensitive: list[str] | None = None
    max_returned: int | None = None
    modified_from: int | None = None
    modified_to: int | None = None
    txn_date_from: date | None = None
    txn_date_to: date | None = None
    entity_list_ids: frozenset[str] | None = None
    entity_names: frozenset[str] | None = None
    paid_status: str = "All"
    include_line_items: bool = False
    include_linked_txns: bool = False
    include_ret_elements: frozenset[str] | None = None


def _read_txn_query(rq: etree._Element) -> _TxnQuery:
    query = _TxnQuery(
        request_type=str(rq.tag),
        request_id=rq.get("requestID"),
        meta_data=rq.get("metaData", "NoMetaData"),
        iterator=rq.get("iterator"),
        iterator_id=rq.get("iteratorID"),
    )
    if query.iterator not in (None, "Start", "Continue", "Stop"):
        raise QuickBooksParseError(f"{rq.tag}: iterator={query.iterator!r} is not Start, Continue or Stop")
    if query.meta_data not in ("NoMetaData", "MetaDataOnly", "MetaDataAndResponseData"):
        raise QuickBooksParseError(f"{rq.tag}: metaData={query.meta_data!r} is not allowed")
    ret_elements: list[str] = []
    for child in _check_children(rq):
        tag = str(child.tag)
        if tag == "TxnID":
            query.txn_ids = [*(query.txn_ids or []), _leaf_text(child)]
        elif tag == "RefNumber":
            query.ref_numbers = [*(query.ref_numbers or []), _leaf_text(child)]
        elif tag == "RefNumberCaseSensitive":
            query.ref_numbers_case_sensitive = [*(query.ref_numbers_case_sensitive or []), _leaf_text(child)]
        elif tag == "MaxReturned":
            query.max_returned = _positive_int(child)
        elif tag == "ModifiedDateRangeFilter":
            for bound in _check_children(child):
                if bound.tag == "FromModifiedDate":
                    query.modified_from = _parse_datetime(bound, end_of_period=False)
                else:
                    query.modified_to = _parse_datetime(bound, end_of_period=True)
        elif tag == "TxnDateRangeFilter":
            for bound in _check_children(child):
                if bound.tag == "DateMacro":
                    raise NotImplementedError(
                        "the QuickBooks sandbox does not emulate TxnDateRangeFilter/DateMacro"
                    )
                if bound.tag == "FromTxnDate":
                    query.txn_date_from = _parse_date(bound)
                else:
                    query.txn_date_to = _parse_date(bound)
        elif tag == "EntityFilter":
            entity_children = _check_children(child)
            if entity_children[0].tag == "ListID":
                query.entity_list_ids = frozenset(_leaf_text(item) for item in entity_children)
            elif entity_children[0].tag == "FullName":
                query.entity_names = frozenset(_leaf_text(item).casefold() for item in entity_children)
            else:
                raise NotImplementedError(
                    f"the QuickBooks sandbox does not emulate EntityFilter/{entity_children[0].tag}"
                )
        elif tag == "PaidStatus":
            query.paid_status = _leaf_text(child) or "All"
            if query.paid_status not in ("All", "PaidOnly", "NotPaidOnly"):
                raise QuickBooksParseError(f"PaidStatus: {query.paid_status!r} is not allowed")
        elif tag == "IncludeLineItems":
            query.include_line_items = _bool(child)
        elif tag == "IncludeLinkedTxns":
            query.include_linked_txns = _bool(child)
        elif tag == "IncludeRetElement":
            ret_elements.append(_leaf_text(child))
        elif tag == "OwnerID":
            pass  # no custom fields (DataExt) in the sandbox, so there is nothing to add
        else:
            # AccountFilter, RefNumberFilter, RefNumberRangeFilter, CurrencyFilter: valid qbXML
            # that the sandbox does not emulate. Failing loudly beats silently ignoring a filter.
            raise NotImplementedError(f"the QuickBooks sandbox does not emulate {rq.tag}/{tag}")
    if ret_elements:
        query.include_ret_elements = frozenset(ret_elements)
    return query


# --------------------------------------------------------------------------------------------


class SandboxCompanyFile:
    """An in-memory QuickBooks Desktop company file with a simulated clock.

    Thread-safe: the Web Connector emulator, the project's server thread and the test may all
    touch it. Every change stamps TimeModified with the clock and gives the object a new
    EditSequence; call :meth:`advance` to move time on between changes.
    """

    def __init__(
        self,
        country: str = "US",
        company_name: str = "Summit Builders LLC",
        product_name: str | None = None,
        clock_start: datetime = datetime(2026, 11, 2, 8, 0, 0),
        *,
        file_name: str | None = None,
    ) -> None:
        self.country = country.upper()
        self.company_name = company_name
        self.product_name = product_name or DEFAULT_PRODUCT_NAMES.get(
            self.country, f"QuickBooks Enterprise Solutions {self.country} 24.0"
        )
        self._file_name = file_name or _default_file_name(company_name)
        if clock_start.tzinfo is not None:
            clock_start = clock_start.astimezone(QUICKBOOKS_TIME_ZONE).replace(tzinfo=None)
        self._now = _epoch_of_wall_clock(clock_start)
        self._lock = threading.RLock()
        self._next_txn_counter = 0x1A2B
        self._next_list_counter = 0x80000001
        self._next_txn_number = 1
        self._vendors_by_id: dict[str, _ListObject] = {}
        self._vendors_by_name: dict[str, _ListObject] = {}
        self._bills: dict[str, _Bill] = {}
        self._payments: dict[str, _Payment] = {}
        self._deleted: list[_DeletedTxn] = []
        self._deleted_times: list[int] = []  # parallel to _deleted, for bisect
        self._bill_index = _ModifiedIndex()
        self._payment_index: dict[PaymentKind, _ModifiedIndex] = {
            "check": _ModifiedIndex(),
            "credit_card": _ModifiedIndex(),
        }
        self._iterators: dict[str, _Iterator] = {}
        self._injected: list[tuple[int, str]] = []
        self._refusal: tuple[str, str] | None = None
        self.connection_open = False
        self.connections_opened = 0
        self.ap_account = self._new_list_object("Accounts Payable")
        self.bank_account = self._new_list_object("Checking")
        self.credit_card_account = self._new_list_object("Company Credit Card")
        self.expense_account = self._new_list_object("Job Expenses:Subcontractors")

    # ---- identity ------------------------------------------------------------------------

    @property
    def company_file_path(self) -> str:
        return "C:\\Users\\Public\\Documents\\Intuit\\QuickBooks\\Company Files\\" + self._file_name

    @property
    def qbxml_country(self) -> str:
        return self.country

    @property
    def supported_qbxml_versions(self) -> list[str]:
        if self.country == "US":
            return list(_US_QBXML_VERSIONS)
        return [self.country + version for version in _NON_US_QBXML_VERSIONS]

    # ---- clock ---------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The QuickBooks machine's local wall-clock time (naive)."""
        return _local_wall_clock(self._now)

    @property
    def now_printed(self) -> str:
        """The clock as QuickBooks would print it in TimeModified (offset always -05:00)."""
        return _printed_time(self._now)

    def advance(
        self, minutes: float = 0, *, seconds: float = 0, hours: float = 0, days: float = 0
    ) -> datetime:
        """Move the clock forward in real elapsed time (so crossing a DST change moves the wall
        clock by an hour more or less). Returns the new local wall-clock time."""
        step = round(timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds())
        if step < 0:
            raise ValueError("the QuickBooks clock only moves forward")
        with self._lock:
            self._now += step
            return self.now

    # ---- building the company file -------------------------------------------------------

    def add_vendor(self, name: str) -> str:
        """Adds a vendor and returns its ListID."""
        name = name.strip()
        if not name or len(name) > _MAX_VENDOR_NAME:
            raise ValueError(f"a vendor name must have 1 to {_MAX_VENDOR_NAME} characters: {name!r}")
        with self._lock:
            if name.casefold() in self._vendors_by_name:
                raise ValueError(f"the name {name!r} is already in use (QuickBooks status 3100)")
            vendor = self._new_list_object(name)
            self._vendors_by_id[vendor.list_id] = vendor
            self._vendors_by_name[name.casefold()] = vendor
            return vendor.list_id

    def add_bill(self, vendor: str, ref_number: str, amount: Decimal, txn_date: date | None = None) -> str:
        """Adds a bill (as if entered from a Procore subcontractor invoice); returns its TxnID.

        ``vendor`` is the vendor's name or ListID.
        """
        if len(ref_number) > _MAX_BILL_REF:
            raise ValueError(f"a bill RefNumber has at most {_MAX_BILL_REF} characters: {ref_number!r}")
        amount = _checked_amount(amount)
        with self._lock:
            found_vendor = self._vendor(vendor)
            bill_date = txn_date or self.now.date()
            bill = _Bill(
                txn_id=self._new_txn_id(),
                txn_number=self._new_txn_number(),
                vendor=found_vendor,
                ref_number=ref_number,
                amount_due=amount,
                txn_date=bill_date,
                due_date=bill_date + timedelta(days=30),
                expense_line_id=self._new_txn_id(),
                time_created=self._now,
                time_modified=self._now,
                edit_sequence=str(self._now),
            )
            self._bills[bill.txn_id] = bill
            self._bill_index.touch(bill.txn_id, bill.time_modified)
            return bill.txn_id

    def pay_bills(
        self,
        vendor: str,
        applications: list[tuple[str, Decimal]],
        kind: PaymentKind = "check",
        check_number: str | None = None,
        txn_date: date | None = None,
        memo: str | None = None,
    ) -> str:
        """Enters a bill payment (Pay Bills) and returns its TxnID.

        ``applications`` lists (bill TxnID, amount applied); an amount below the bill's open
        balance is a partial payment, several bills make a multi-bill payment. ``check_number`` is
        the RefNumber (for a card payment, its reference). A check without a number is "to be
        printed".
        """
        if kind not in _PAYMENT_TXN_TYPES:
            raise ValueError(f"kind must be 'check' or 'credit_card', not {kind!r}")
        _check_payment_fields(check_number, memo)
        with self._lock:
            found_vendor = self._vendor(vendor)
            checked = self._checked_applications(found_vendor, applications, replacing=None)
            payment = _Payment(
                txn_id=self._new_txn_id(),
                kind=kind,
                txn_number=self._new_txn_number(),
                vendor=found_vendor,
                txn_date=txn_date or self.now.date(),
                ref_number=check_number,
                memo=memo,
                applications=checked,
                time_created=self._now,
                time_modified=self._now,
                edit_sequence=str(self._now),
            )
            self._payments[payment.txn_id] = payment
            self._payment_index[kind].touch(payment.txn_id, payment.time_modified)
            for application in checked:
                bill = self._bills[application.bill_txn_id]
                bill.applied_by[payment.txn_id] = application.amount
                self._stamp_bill(bill)
            return payment.txn_id

    def void_payment(self, txn_id: str) -> None:
        """Voids a payment the way QuickBooks does (NOTES §7): it stays, with Amount 0.00 and the
        memo prefixed "VOID: "; its applications stay with Amount 0.00 (one of the two
        possibilities NOTES names, (inferred)); the bills it paid are open again."""
        with self._lock:
            payment = self._payment(txn_id)
            if payment.is_voided:
                raise ValueError(f"payment {txn_id} is already void")
            payment.is_voided = True
            payment.memo = f"VOID: {payment.memo}" if payment.memo else "VOID:"
            for application in payment.applications:
                application.amount = Decimal("0.00")
                bill = self._bills[application.bill_txn_id]
                bill.applied_by[payment.txn_id] = Decimal("0.00")
                self._stamp_bill(bill)
            self._stamp_payment(payment)

    def edit_payment(
        self,
        txn_id: str,
        applications: list[tuple[str, Decimal]] | None = None,
        check_number: str | None = None,
        txn_date: date | None = None,
        memo: str | None = None,
    ) -> None:
        """Edits a payment in place: same TxnID, new EditSequence and TimeModified. Arguments left
        as None stay unchanged; ``applications`` replaces the whole list."""
        _check_payment_fields(check_number, memo)
        with self._lock:
            payment = self._payment(txn_id)
            if payment.is_voided:
                raise ValueError(f"payment {txn_id} is void; the sandbox does not edit void payments")
            if applications is not None:
                checked = self._checked_applications(payment.vendor, applications, replacing=payment)
                touched_bills = {application.bill_txn_id for application in payment.applications}
                for application in payment.applications:
                    del self._bills[application.bill_txn_id].applied_by[payment.txn_id]
                payment.applications = checked
                for application in checked:
                    self._bills[application.bill_txn_id].applied_by[payment.txn_id] = application.amount
                    touched_bills.add(application.bill_txn_id)
                for bill_txn_id in sorted(touched_bills):
                    self._stamp_bill(self._bills[bill_txn_id])
            if check_number is not None:
                payment.ref_number = check_number
            if txn_date is not None:
                payment.txn_date = txn_date
            if memo is not None:
                payment.memo = memo
            self._stamp_payment(payment)

    def delete_payment(self, txn_id: str) -> None:
        """Deletes a payment: it disappears from queries, TxnDeletedQuery reports it, and the bills
        it paid are open again (NOTES §4)."""
        with self._lock:
            payment = self._payment(txn_id)
            del self._payments[txn_id]
            self._payment_index[payment.kind].discard(txn_id)
            for application in payment.applications:
                bill = self._bills[application.bill_txn_id]
                bill.applied_by.pop(payment.txn_id, None)
                self._stamp_bill(bill)
            self._deleted.append(
                _DeletedTxn(
                    del_type=_PAYMENT_TXN_TYPES[payment.kind],
                    txn_id=payment.txn_id,
                    time_created=payment.time_created,
                    time_deleted=self._now,
                    ref_number=payment.ref_number,
                )
            )
            self._deleted_times.append(self._now)
            # Iterators hold TxnIDs; a deleted one is simply skipped when its page is read.

    # ---- reading the company file (tests, demo) -------------------------------------------

    def payment(self, txn_id: str) -> PaymentSnapshot:
        with self._lock:
            return self._payment_snapshot(self._payment(txn_id))

    def payments(self) -> list[PaymentSnapshot]:
        """Every payment that exists, in TxnID creation order."""
        with self._lock:
            return [self._payment_snapshot(payment) for payment in self._payments.values()]

    def bill(self, txn_id: str) -> BillSnapshot:
        with self._lock:
            bill = self._bills.get(txn_id)
            if bill is None:
                raise KeyError(f"no bill {txn_id}")
            return self._bill_snapshot(bill)

    def bills(self) -> list[BillSnapshot]:
        with self._lock:
            return [self._bill_snapshot(bill) for bill in self._bills.values()]

    def deleted_payments(self) -> list[DeletedPaymentSnapshot]:
        with self._lock:
            return [
                DeletedPaymentSnapshot(
                    txn_id=deleted.txn_id,
                    kind="check" if deleted.del_type == "BillPaymentCheck" else "credit_card",
                    ref_number=deleted.ref_number,
                    time_created=_local_wall_clock(deleted.time_created),
                    time_deleted=_local_wall_clock(deleted.time_deleted),
                )
                for deleted in self._deleted
            ]

    def vendor_list_id(self, name: str) -> str:
        with self._lock:
            return self._vendor(name).list_id

    # ---- connection and fault injection --------------------------------------------------

    def open_connection(self) -> None:
        """The Web Connector opens a QuickBooks session (BeginSession)."""
        with self._lock:
            if self._refusal is not None:
                raise QuickBooksConnectionError(*self._refusal)
            self.connection_open = True
            self.connections_opened += 1

    def close_connection(self) -> None:
        """The session ends; QuickBooks forgets every iterator (NOTES §8 "Iterators")."""
        with self._lock:
            self.connection_open = False
            self._iterators.clear()

    def refuse_connections(
        self, hresult: str = CONNECTION_ERROR_HRESULT, message: str = CONNECTION_ERROR_MESSAGE
    ) -> None:
        """Make :meth:`open_connection` fail (QuickBooks not running, file in use…) until
        :meth:`accept_connections`. The Web Connector then calls connectionError."""
        with self._lock:
            self._refusal = (hresult, message)

    def accept_connections(self) -> None:
        with self._lock:
            self._refusal = None

    def inject_status(self, code: int, times: int = 1, message: str | None = None) -> None:
        """The next ``times`` payment queries (check or credit card) answer only with this status,
        e.g. 3175 (locked; retryable) or 3120. An iterator is not advanced by such an answer."""
        if times < 1:
            raise ValueError("times must be at least 1")
        text = message or _DEFAULT_STATUS_MESSAGES.get(code, f"Sandbox-injected status {code}.")
        with self._lock:
            self._injected.extend([(code, text)] * times)

    def drop_iterators(self) -> None:
        """QuickBooks loses its iterators mid-session: the next Continue gets status 3391."""
        with self._lock:
            self._iterators.clear()

    @property
    def open_iterator_count(self) -> int:
        with self._lock:
            return len(self._iterators)

    # ---- qbXML ---------------------------------------------------------------------------

    def hcp_response(self) -> str:
        """strHCPResponse: what QBWC sends on the first sendRequestXML of a session — QuickBooks'
        answer to a Host, Company and Preferences query in one message (NOTES §9)."""
        with self._lock:
            lines = ['<?xml version="1.0" ?>', "<QBXML>", "<QBXMLMsgsRs>"]
            lines.extend(self._host_rs("0"))
            lines.extend(self._company_rs("1"))
            lines.append(f"<PreferencesQueryRs{_status_attributes('2', 0, STATUS_OK_MESSAGE)}>")
            lines.extend(_PREFERENCES_RET)
            lines.append("</PreferencesQueryRs>")
            lines.extend(["</QBXMLMsgsRs>", "</QBXML>", ""])
            return "\n".join(lines)

    def handle_qbxml(self, request_xml: str) -> str:
        """Answers one qbXML request document, as QuickBooks' ProcessRequest does.

        Raises QuickBooksParseError for anything QuickBooks would refuse to parse: malformed XML,
        a DOCTYPE, a missing or unsupported ``<?qbxml version?>``, or elements out of schema order.
        Raises NotImplementedError for valid qbXML the sandbox does not emulate.
        """
        root = _parse_document(request_xml)
        with self._lock:
            self._check_version(root)
            root_children = _children(root)
            if len(root_children) != 1 or root_children[0].tag != "QBXMLMsgsRq":
                if any(child.tag in ("SignonMsgsRq", "QBXMLSubscriptionMsgsRq") for child in root_children):
                    raise NotImplementedError("the QuickBooks sandbox only answers QBXMLMsgsRq")
                raise QuickBooksParseError("QBXML must hold exactly one QBXMLMsgsRq")
            messages = root_children[0]
            on_error = messages.get("onError")
            if on_error not in ("stopOnError", "continueOnError", "rollbackOnError"):
                raise QuickBooksParseError(f"QBXMLMsgsRq onError={on_error!r} is required and must be valid")
            requests = _children(messages)
            for rq in requests:
                self._check_request_shape(rq)
            lines = ['<?xml version="1.0" ?>', "<QBXML>", "<QBXMLMsgsRs>"]
            for rq in requests:
                answer, failed = self._answer(rq)
                lines.extend(answer)
                # NOTES §1: with stopOnError (and rollbackOnError, for a read-only batch) the
                # requests after a failed one are not processed and get no response.
                if failed and on_error != "continueOnError":
                    break
            lines.extend(["</QBXMLMsgsRs>", "</QBXML>", ""])
            return "\n".join(lines)

    # ---- internals: request handling -----------------------------------------------------

    def _check_version(self, root: etree._Element) -> None:
        version = None
        for sibling in root.itersiblings(preceding=True):
            if isinstance(sibling, etree._ProcessingInstruction) and sibling.target == "qbxml":
                match = re.search(r'version\s*=\s*["\']([^"\']*)["\']', sibling.text or "")
                version = match.group(1) if match else None
        if version is None:
            raise QuickBooksParseError('the <?qbxml version="…"?> processing instruction is missing')
        # A US file answers plain versions only, a Canadian one "CA…" only: a request for the
        # wrong country fails to parse (NOTES §5, Intuit's US_CDN_UK sample).
        if version not in self.supported_qbxml_versions:
            raise QuickBooksParseError(
                f"qbXML version {version!r} is not supported by this {self.country} company file"
            )

    def _check_request_shape(self, rq: etree._Element) -> None:
        tag = str(rq.tag)
        if tag not in _ALLOWED_ATTRIBUTES:
            if tag.endswith("Rq"):
                raise NotImplementedError(f"the QuickBooks sandbox does not answer {tag}")
            raise QuickBooksParseError(f"{tag} is not a request element")
        unexpected = set(rq.attrib) - _ALLOWED_ATTRIBUTES[tag]
        if unexpected:
            raise QuickBooksParseError(f"{tag} does not allow the attribute(s) {sorted(unexpected)}")
        if tag == "TxnDeletedQueryRq":
            for child in _check_children(rq):
                if child.tag == "TxnDelType" and _leaf_text(child) not in _TXN_DEL_TYPES:
                    raise QuickBooksParseError(f"TxnDelType {_leaf_text(child)!r} is not allowed")
                if child.tag == "DeletedDateRangeFilter":
                    _check_children(child)
        elif tag in ("BillPaymentCheckQueryRq", "BillPaymentCreditCardQueryRq", "BillQueryRq"):
            # Reading it raises any parse error now, before anything is answered. A bad date is
            # not a parse error but a status (3020) on that one request, given when it is answered.
            try:
                _read_txn_query(rq)
            except _InvalidDate:
                pass
        else:
            _check_children(rq)

    def _answer(self, rq: etree._Element) -> tuple[list[str], bool]:
        tag = str(rq.tag)
        rs_tag = tag[:-2] + "Rs"
        request_id = rq.get("requestID")
        try:
            if tag == "HostQueryRq":
                return self._host_rs(request_id), False
            if tag == "CompanyQueryRq":
                return self._company_rs(request_id), False
            if tag == "TxnDeletedQueryRq":
                return self._txn_deleted_rs(rq), False
            return self._txn_query_rs(_read_txn_query(rq)), False
        except _InvalidDate as invalid:
            message = f'Invalid date "{invalid.value}" in the field "{invalid.element}". There was an error when converting the date value.'
            return _empty_rs(rs_tag, request_id, 3020, message), True
        except _StatusAnswer as answer:
            return _empty_rs(rs_tag, request_id, answer.code, answer.message), answer.code >= 1000

    def _host_rs(self, request_id: str | None) -> list[str]:
        lines = [f"<HostQueryRs{_status_attributes(request_id, 0, STATUS_OK_MESSAGE)}>", "<HostRet>"]
        lines.append(f"<ProductName>{_text(self.product_name)}</ProductName>")
        lines.append(f"<MajorVersion>{PRODUCT_MAJOR_VERSION}</MajorVersion>")
        lines.append(f"<MinorVersion>{PRODUCT_MINOR_VERSION}</MinorVersion>")
        lines.append(f"<Country>{_text(self.country)}</Country>")
        lines.extend(
            f"<SupportedQBXMLVersion>{v}</SupportedQBXMLVersion>" for v in self.supported_qbxml_versions
        )
        lines.append("<IsAutomaticLogin>false</IsAutomaticLogin>")
        lines.append("<QBFileMode>SingleUser</QBFileMode>")
        lines.extend(["</HostRet>", "</HostQueryRs>"])
        return lines

    def _company_rs(self, request_id: str | None) -> list[str]:
        return [
            f"<CompanyQueryRs{_status_attributes(request_id, 0, STATUS_OK_MESSAGE)}>",
            "<CompanyRet>",
            "<IsSampleCompany>false</IsSampleCompany>",
            f"<CompanyName>{_text(self.company_name)}</CompanyName>",
            f"<LegalCompanyName>{_text(self.company_name)}</LegalCompanyName>",
            "</CompanyRet>",
            "</CompanyQueryRs>",
        ]

    def _txn_deleted_rs(self, rq: etree._Element) -> list[str]:
        request_id = rq.get("requestID")
        del_types: set[str] = set()
        deleted_from: int | None = None
        deleted_to: int | None = None
        ret_elements: set[str] = set()
        for child in _children(rq):
            if child.tag == "TxnDelType":
                del_types.add(_leaf_text(child))
            elif child.tag == "DeletedDateRangeFilter":
                for bound in _check_children(child):
                    if bound.tag == "FromDeletedDate":
                        deleted_from = _parse_datetime(bound, end_of_period=False)
                    else:
                        deleted_to = _parse_datetime(bound, end_of_period=True)
            elif child.tag == "IncludeRetElement":
                ret_elements.add(_leaf_text(child))
        _check_range(deleted_from, deleted_to)
        low = 0 if deleted_from is None else bisect.bisect_left(self._deleted_times, deleted_from)
        high = (
            len(self._deleted) if deleted_to is None else bisect.bisect_right(self._deleted_times, deleted_to)
        )
        found = [deleted for deleted in self._deleted[low:high] if deleted.del_type in del_types]
        if not found:
            return _empty_rs("TxnDeletedQueryRs", request_id, 1, NO_MATCH_MESSAGE)
        if rq.get("metaData") == "MetaDataOnly":
            return _empty_rs("TxnDeletedQueryRs", request_id, 0, STATUS_OK_MESSAGE, ret_count=len(found))
        wanted = _wanted(ret_elements or None)
        lines = [
            f"<TxnDeletedQueryRs{_status_attributes(request_id, 0, STATUS_OK_MESSAGE, ret_count=len(found))}>"
        ]
        for deleted in found:
            lines.append("<TxnDeletedRet>")
            if wanted("TxnDelType"):
                lines.append(f"<TxnDelType>{deleted.del_type}</TxnDelType>")
            if wanted("TxnID"):
                lines.append(f"<TxnID>{deleted.txn_id}</TxnID>")
            if wanted("TimeCreated"):
                lines.append(f"<TimeCreated>{_printed_time(deleted.time_created)}</TimeCreated>")
            if wanted("TimeDeleted"):
                lines.append(f"<TimeDeleted>{_printed_time(deleted.time_deleted)}</TimeDeleted>")
            if deleted.ref_number and wanted("RefNumber"):
                lines.append(f"<RefNumber>{_text(deleted.ref_number)}</RefNumber>")
            lines.append("</TxnDeletedRet>")
        lines.append("</TxnDeletedQueryRs>")
        return lines

    def _txn_query_rs(self, query: _TxnQuery) -> list[str]:
        rs_tag = query.request_type[:-2] + "Rs"
        payment_kind = _PAYMENT_QUERY_KINDS.get(query.request_type)
        if payment_kind is not None and self._injected:
            code, message = self._injected.pop(0)
            raise _StatusAnswer(code, message)

        if query.iterator in ("Continue", "Stop"):
            iterator_id = query.iterator_id or ""
            iterator = self._iterators.get(iterator_id)
            if iterator is None or iterator.request_type != query.request_type:
                raise _StatusAnswer(3391, f'The iteratorID "{iterator_id}" is not valid.')
            if query.iterator == "Stop":
                del self._iterators[iterator_id]
                return _empty_rs(
                    rs_tag,
                    query.request_id,
                    0,
                    STATUS_OK_MESSAGE,
                    ret_count=0,
                    iterator_remaining=0,
                    iterator_id=iterator_id,
                )
            return self._iterator_page(query, rs_tag, iterator_id, iterator)

        _check_range(query.modified_from, query.modified_to)
        if query.txn_date_from and query.txn_date_to and query.txn_date_from > query.txn_date_to:
            raise _StatusAnswer(3030, "The date range is invalid: the From date is later than the To date.")
        matches, missing = self._matches(query, payment_kind)
        warning = None
        if missing:
            # Seen in a real capture for a list query with an unknown name (NOTES §1 qbwc-gem data).
            warning = (
                "The query request has not been fully completed. There was a required element "
                f'("{missing[0]}") that could not be found in QuickBooks.'
            )
        if not matches:
            if warning:
                return _empty_rs(rs_tag, query.request_id, 500, warning)
            return _empty_rs(rs_tag, query.request_id, 1, NO_MATCH_MESSAGE)
        if query.meta_data == "MetaDataOnly":
            return _empty_rs(rs_tag, query.request_id, 0, STATUS_OK_MESSAGE, ret_count=len(matches))

        if query.iterator == "Start":
            iterator_id = "{" + str(uuid.uuid4()).upper() + "}"
            iterator = _Iterator(
                request_type=query.request_type,
                matches=matches,
                position=0,
                page_size=query.max_returned or len(matches),
            )
            self._iterators[iterator_id] = iterator
            return self._iterator_page(query, rs_tag, iterator_id, iterator)

        if query.max_returned is not None:
            matches = matches[: query.max_returned]
        code, message = (500, warning) if warning else (0, STATUS_OK_MESSAGE)
        return self._rs_with_rets(rs_tag, query, matches, code, message)

    def _iterator_page(
        self, query: _TxnQuery, rs_tag: str, iterator_id: str, iterator: _Iterator
    ) -> list[str]:
        page_size = query.max_returned or iterator.page_size
        existing = self._payments if query.request_type in _PAYMENT_QUERY_KINDS else self._bills
        page: list[str] = []
        while len(page) < page_size and iterator.position < len(iterator.matches):
            txn_id = iterator.matches[iterator.position]
            iterator.position += 1
            if txn_id in existing:  # deleted since the iterator started: skipped
                page.append(txn_id)
        remaining = len(iterator.matches) - iterator.position
        if remaining == 0:
            # A finished iterator is gone; continuing it again gets 3391 like an unknown one (inferred).
            del self._iterators[iterator_id]
        if not page:
            return _empty_rs(
                rs_tag,
                query.request_id,
                1,
                NO_MATCH_MESSAGE,
                iterator_remaining=remaining,
                iterator_id=iterator_id,
            )
        return self._rs_with_rets(
            rs_tag,
            query,
            page,
            0,
            STATUS_OK_MESSAGE,
            iterator_remaining=remaining,
            iterator_id=iterator_id,
        )

    def _matches(self, query: _TxnQuery, payment_kind: PaymentKind | None) -> tuple[list[str], list[str]]:
        """TxnIDs that answer the query, in answer order, and the requested ids/refs not found."""
        if payment_kind is not None:
            payments = self._payments
            index = self._payment_index[payment_kind]

            def exists(txn_id: str) -> bool:
                payment = payments.get(txn_id)
                return payment is not None and payment.kind == payment_kind

            def ref_of(txn_id: str) -> str:
                return payments[txn_id].ref_number or ""

            def passes(txn_id: str) -> bool:
                payment = payments[txn_id]
                return _passes_common(query, payment.txn_date, payment.vendor)

        else:
            bills = self._bills
            index = self._bill_index

            def exists(txn_id: str) -> bool:
                return txn_id in bills

            def ref_of(txn_id: str) -> str:
                return bills[txn_id].ref_number

            def passes(txn_id: str) -> bool:
                bill = bills[txn_id]
                if not _passes_common(query, bill.txn_date, bill.vendor):
                    return False
                if query.paid_status == "PaidOnly":
                    return bill.open_amount == 0
                if query.paid_status == "NotPaidOnly":
                    return bill.open_amount != 0
                return True

        if query.txn_ids is not None:
            wanted_ids = list(dict.fromkeys(query.txn_ids))
            return [t for t in wanted_ids if exists(t)], [t for t in wanted_ids if not exists(t)]
        if query.ref_numbers is not None or query.ref_numbers_case_sensitive is not None:
            case_sensitive = query.ref_numbers_case_sensitive is not None
            refs = query.ref_numbers_case_sensitive if case_sensitive else query.ref_numbers
            assert refs is not None
            normalise: Callable[[str], str] = (lambda ref: ref) if case_sensitive else str.casefold
            wanted_refs = {normalise(ref) for ref in refs}
            matches = [t for t in index.ordered() if normalise(ref_of(t)) in wanted_refs]
            found_refs = {normalise(ref_of(t)) for t in matches}
            return matches, [ref for ref in refs if normalise(ref) not in found_refs]
        return [t for t in index.ordered(query.modified_from, query.modified_to) if passes(t)], []

    def _rs_with_rets(
        self,
        rs_tag: str,
        query: _TxnQuery,
        txn_ids: list[str],
        code: int,
        message: str,
        *,
        iterator_remaining: int | None = None,
        iterator_id: str | None = None,
    ) -> list[str]:
        lines = [
            f"<{rs_tag}"
            + _status_attributes(
                query.request_id,
                code,
                message,
                ret_count=len(txn_ids),
                iterator_remaining=iterator_remaining,
                iterator_id=iterator_id,
            )
            + ">"
        ]
        wanted = _wanted(query.include_ret_elements)
        if query.request_type in _PAYMENT_QUERY_KINDS:
            for txn_id in txn_ids:
                self._write_payment_ret(lines, self._payments[txn_id], query, wanted)
        else:
            for txn_id in txn_ids:
                self._write_bill_ret(lines, self._bills[txn_id], query, wanted)
        lines.append(f"</{rs_tag}>")
        return lines

    def _write_payment_ret(
        self, lines: list[str], payment: _Payment, query: _TxnQuery, wanted: Callable[[str], bool]
    ) -> None:
        # Element order: qbxml130.xsd BillPaymentCheckRet / BillPaymentCreditCardRet (NOTES §2).
        is_check = payment.kind == "check"
        ret_tag = "BillPaymentCheckRet" if is_check else "BillPaymentCreditCardRet"
        lines.append(f"<{ret_tag}>")
        if wanted("TxnID"):
            lines.append(f"<TxnID>{payment.txn_id}</TxnID>")
        if wanted("TimeCreated"):
            lines.append(f"<TimeCreated>{_printed_time(payment.time_created)}</TimeCreated>")
        if wanted("TimeModified"):
            lines.append(f"<TimeModified>{_printed_time(payment.time_modified)}</TimeModified>")
        if wanted("EditSequence"):
            lines.append(f"<EditSequence>{payment.edit_sequence}</EditSequence>")
        if wanted("TxnNumber"):
            lines.append(f"<TxnNumber>{payment.txn_number}</TxnNumber>")
        if wanted("PayeeEntityRef"):
            _ref(lines, "PayeeEntityRef", payment.vendor)
        if wanted("APAccountRef"):
            _ref(lines, "APAccountRef", self.ap_account)
        if wanted("TxnDate"):
            lines.append(f"<TxnDate>{payment.txn_date.isoformat()}</TxnDate>")
        if is_check and wanted("BankAccountRef"):
            _ref(lines, "BankAccountRef", self.bank_account)
        if not is_check and wanted("CreditCardAccountRef"):
            _ref(lines, "CreditCardAccountRef", self.credit_card_account)
        if wanted("Amount"):
            lines.append(f"<Amount>{_money(payment.amount)}</Amount>")
        if payment.ref_number and wanted("RefNumber"):
            lines.append(f"<RefNumber>{_text(payment.ref_number)}</RefNumber>")
        if payment.memo and wanted("Memo"):
            lines.append(f"<Memo>{_text(payment.memo)}</Memo>")
        if is_check and wanted("IsToBePrinted"):
            to_be_printed = "true" if not payment.ref_number and not payment.is_voided else "false"
            lines.append(f"<IsToBePrinted>{to_be_printed}</IsToBePrinted>")
        # Without IncludeLineItems QuickBooks is believed to leave the applications out (NOTES §2,
        # (inferred)); the sandbox does, so a client that forgets the flag sees no bills paid.
        if query.include_line_items and wanted("AppliedToTxnRet"):
            for application in payment.applications:
                bill = self._bills[application.bill_txn_id]
                lines.append("<AppliedToTxnRet>")
                lines.append(f"<TxnID>{bill.txn_id}</TxnID>")
                lines.append(f"<TxnType>{_APPLICATION_TXN_TYPE}</TxnType>")
                lines.append(f"<TxnDate>{bill.txn_date.isoformat()}</TxnDate>")
                lines.append(f"<RefNumber>{_text(bill.ref_number)}</RefNumber>")
                # The bill's balance now, not at payment time (NOTES §2 note, (inferred)).
                lines.append(f"<BalanceRemaining>{_money(bill.open_amount)}</BalanceRemaining>")
                lines.append(f"<Amount>{_money(application.amount)}</Amount>")
                lines.append("</AppliedToTxnRet>")
        lines.append(f"</{ret_tag}>")

    def _write_bill_ret(
        self, lines: list[str], bill: _Bill, query: _TxnQuery, wanted: Callable[[str], bool]
    ) -> None:
        # Element order: qbxml130.xsd BillRet (NOTES §3; 13.0 has no IsPending / ClassRef).
        lines.append("<BillRet>")
        if wanted("TxnID"):
            lines.append(f"<TxnID>{bill.txn_id}</TxnID>")
        if wanted("TimeCreated"):
            lines.append(f"<TimeCreated>{_printed_time(bill.time_created)}</TimeCreated>")
        if wanted("TimeModified"):
            lines.append(f"<TimeModified>{_printed_time(bill.time_modified)}</TimeModified>")
        if wanted("EditSequence"):
            lines.append(f"<EditSequence>{bill.edit_sequence}</EditSequence>")
        if wanted("TxnNumber"):
            lines.append(f"<TxnNumber>{bill.txn_number}</TxnNumber>")
        if wanted("VendorRef"):
            _ref(lines, "VendorRef", bill.vendor)
        if wanted("APAccountRef"):
            _ref(lines, "APAccountRef", self.ap_account)
        if wanted("TxnDate"):
            lines.append(f"<TxnDate>{bill.txn_date.isoformat()}</TxnDate>")
        if wanted("DueDate"):
            lines.append(f"<DueDate>{bill.due_date.isoformat()}</DueDate>")
        if wanted("AmountDue"):
            lines.append(f"<AmountDue>{_money(bill.amount_due)}</AmountDue>")
        if wanted("RefNumber"):
            lines.append(f"<RefNumber>{_text(bill.ref_number)}</RefNumber>")
        if wanted("IsPaid"):
            lines.append(f"<IsPaid>{'true' if bill.open_amount == 0 else 'false'}</IsPaid>")
        if query.include_linked_txns and wanted("LinkedTxn"):
            for payment_txn_id, applied in bill.applied_by.items():
                payment = self._payments[payment_txn_id]
                lines.append("<LinkedTxn>")
                lines.append(f"<TxnID>{payment.txn_id}</TxnID>")
                lines.append(f"<TxnType>{_PAYMENT_TXN_TYPES[payment.kind]}</TxnType>")
                lines.append(f"<TxnDate>{payment.txn_date.isoformat()}</TxnDate>")
                if payment.ref_number:
                    lines.append(f"<RefNumber>{_text(payment.ref_number)}</RefNumber>")
                lines.append("<LinkType>AMTTYPE</LinkType>")
                # Signed from the other side's view, as in the captured ReceivePaymentRet (NOTES §2).
                lines.append(f"<Amount>{_money(-applied)}</Amount>")
                lines.append("</LinkedTxn>")
        if query.include_line_items and wanted("ExpenseLineRet"):
            lines.append("<ExpenseLineRet>")
            lines.append(f"<TxnLineID>{bill.expense_line_id}</TxnLineID>")
            _ref(lines, "AccountRef", self.expense_account)
            lines.append(f"<Amount>{_money(bill.amount_due)}</Amount>")
            lines.append("</ExpenseLineRet>")
        if wanted("OpenAmount"):
            lines.append(f"<OpenAmount>{_money(bill.open_amount)}</OpenAmount>")
        lines.append("</BillRet>")

    # ---- internals: data -----------------------------------------------------------------

    def _new_txn_id(self) -> str:
        # Like QuickBooks' "B7-1417040299": a hex counter, then the Unix time of creation.
        txn_id = f"{self._next_txn_counter:X}-{self._now}"
        self._next_txn_counter += 1
        return txn_id

    def _new_list_object(self, full_name: str) -> _ListObject:
        list_id = f"{self._next_list_counter:X}-{self._now}"
        self._next_list_counter += 1
        return _ListObject(list_id=list_id, full_name=full_name)

    def _new_txn_number(self) -> int:
        number = self._next_txn_number
        self._next_txn_number += 1
        return number

    def _next_edit_sequence(self, previous: str) -> str:
        # Real EditSequences are the Unix time of the change (NOTES §7). Two changes in the same
        # second must still differ, so never repeat or go back.
        return str(max(self._now, int(previous) + 1))

    def _stamp_payment(self, payment: _Payment) -> None:
        payment.time_modified = self._now
        payment.edit_sequence = self._next_edit_sequence(payment.edit_sequence)
        self._payment_index[payment.kind].touch(payment.txn_id, payment.time_modified)

    def _stamp_bill(self, bill: _Bill) -> None:
        # Paying a bill changes its OpenAmount / IsPaid, so the bill counts as modified (inferred).
        bill.time_modified = self._now
        bill.edit_sequence = self._next_edit_sequence(bill.edit_sequence)
        self._bill_index.touch(bill.txn_id, bill.time_modified)

    def _vendor(self, name_or_list_id: str) -> _ListObject:
        vendor = self._vendors_by_id.get(name_or_list_id) or self._vendors_by_name.get(
            name_or_list_id.strip().casefold()
        )
        if vendor is None:
            raise KeyError(f"no vendor {name_or_list_id!r}")
        return vendor

    def _payment(self, txn_id: str) -> _Payment:
        payment = self._payments.get(txn_id)
        if payment is None:
            raise KeyError(f"no payment {txn_id}")
        return payment

    def _checked_applications(
        self, vendor: _ListObject, applications: list[tuple[str, Decimal]], *, replacing: _Payment | None
    ) -> list[_Application]:
        if not applications:
            raise ValueError("a bill payment must pay at least one bill")
        checked: list[_Application] = []
        seen: set[str] = set()
        for bill_txn_id, amount in applications:
            bill = self._bills.get(bill_txn_id)
            if bill is None:
                raise KeyError(f"no bill {bill_txn_id}")
            if bill.vendor is not vendor:
                raise ValueError(
                    f"bill {bill_txn_id} belongs to {bill.vendor.full_name}, not {vendor.full_name}"
                )
            if bill_txn_id in seen:
                raise ValueError(f"bill {bill_txn_id} appears twice in one payment")
            seen.add(bill_txn_id)
            amount = _checked_amount(amount)
            available = bill.open_amount
            if replacing is not None:
                available += bill.applied_by.get(replacing.txn_id, Decimal("0.00"))
            if amount > available:
                raise ValueError(
                    f"bill {bill_txn_id} has only {_money(available)} open; cannot apply {_money(amount)}"
                )
            checked.append(_Application(bill_txn_id=bill_txn_id, amount=amount))
        return checked

    def _payment_snapshot(self, payment: _Payment) -> PaymentSnapshot:
        return PaymentSnapshot(
            txn_id=payment.txn_id,
            kind=payment.kind,
            vendor_name=payment.vendor.full_name,
            txn_date=payment.txn_date,
            amount=payment.amount,
            ref_number=payment.ref_number,
            memo=payment.memo,
            is_voided=payment.is_voided,
            edit_sequence=payment.edit_sequence,
            time_created=_local_wall_clock(payment.time_created),
            time_modified=_local_wall_clock(payment.time_modified),
            applications=tuple((a.bill_txn_id, a.amount) for a in payment.applications),
        )

    def _bill_snapshot(self, bill: _Bill) -> BillSnapshot:
        open_amount = bill.open_amount
        return BillSnapshot(
            txn_id=bill.txn_id,
            vendor_name=bill.vendor.full_name,
            ref_number=bill.ref_number,
            txn_date=bill.txn_date,
            amount_due=bill.amount_due,
            open_amount=open_amount,
            is_paid=open_amount == 0,
            edit_sequence=bill.edit_sequence,
            time_modified=_local_wall_clock(bill.time_modified),
        )


# --------------------------------------------------------------------------------------------


def _parse_document(request_xml: str) -> etree._Element:
    # A fresh parser per call: lxml parsers must not be shared between threads. No DTDs, no entity
    # expansion, no network: hostile input is refused like any other unparsable text.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )
    try:
        tree = etree.fromstring(request_xml.encode("utf-8"), parser).getroottree()
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise QuickBooksParseError(f"malformed XML: {exc}") from exc
    if tree.docinfo.doctype:
        raise QuickBooksParseError("a DOCTYPE is not allowed in a qbXML request")
    root = tree.getroot()
    if root.tag != "QBXML":
        raise QuickBooksParseError(f"the root element is {root.tag!r}, not QBXML")
    return root


def _check_range(low: int | None, high: int | None) -> None:
    if low is not None and high is not None and low > high:
        raise _StatusAnswer(3030, "The date range is invalid: the From date is later than the To date.")


def _passes_common(query: _TxnQuery, txn_date: date, vendor: _ListObject) -> bool:
    if query.txn_date_from is not None and txn_date < query.txn_date_from:
        return False
    if query.txn_date_to is not None and txn_date > query.txn_date_to:
        return False
    if query.entity_list_ids is not None and vendor.list_id not in query.entity_list_ids:
        return False
    return query.entity_names is None or vendor.full_name.casefold() in query.entity_names


def _wanted(include_ret_elements: Iterable[str] | None) -> Callable[[str], bool]:
    if include_ret_elements is None:
        return lambda _name: True
    names = frozenset(include_ret_elements)
    return names.__contains__


def _checked_amount(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    try:
        cents = amount.quantize(_CENT)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount}") from exc
    if cents != amount or cents <= 0:
        raise ValueError(f"an amount must be positive, in whole cents: {amount}")
    return cents


def _check_payment_fields(check_number: str | None, memo: str | None) -> None:
    if check_number is not None and len(check_number) > _MAX_PAYMENT_REF:
        raise ValueError(f"a payment RefNumber has at most {_MAX_PAYMENT_REF} characters: {check_number!r}")
    if memo is not None and len(memo) > _MAX_MEMO:
        raise ValueError(f"a memo has at most {_MAX_MEMO} characters")


def _default_file_name(company_name: str) -> str:
    base = re.sub(
        r"[,.]?\s+(LLC|L\.L\.C\.|Inc\.?|Ltd\.?|Corp\.?|Co\.?)$", "", company_name.strip(), flags=re.I
    )
    base = re.sub(r'[\\/:*?"<>|]', "", base) or "Company"
    return f"{base}.qbw"


# A small PreferencesRet that the 13.0 schema accepts (required children of each block only),
# with values a US contractor file typically has; shaped like the captured strHCPResponse in
# qbwc-gem test data (NOTES §9).
_PREFERENCES_RET: Final = (
    "<PreferencesRet>",
    "<AccountingPreferences>",
    "<IsUsingAccountNumbers>false</IsUsingAccountNumbers>",
    "<IsRequiringAccounts>true</IsRequiringAccounts>",
    "<IsUsingClassTracking>false</IsUsingClassTracking>",
    "<IsUsingAuditTrail>true</IsUsingAuditTrail>",
    "<IsAssigningJournalEntryNumbers>true</IsAssigningJournalEntryNumbers>",
    "</AccountingPreferences>",
    "<MultiCurrencyPreferences>",
    "<IsMultiCurrencyOn>false</IsMultiCurrencyOn>",
    "</MultiCurrencyPreferences>",
    "<PurchasesAndVendorsPreferences>",
    "<IsUsingInventory>false</IsUsingInventory>",
    "<DaysBillsAreDue>30</DaysBillsAreDue>",
    "<IsAutomaticallyUsingDiscounts>false</IsAutomaticallyUsingDiscounts>",
    "</PurchasesAndVendorsPreferences>",
    "<CurrentAppAccessRights>",
    "<IsAutomaticLoginAllowed>false</IsAutomaticLoginAllowed>",
    "<IsPersonalDataAccessAllowed>false</IsPersonalDataAccessAllowed>",
    "</CurrentAppAccessRights>",
    "</PreferencesRet>",
)
