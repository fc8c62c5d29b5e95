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
  QuickBooks refusing the connection;
- real-world variety: multicurrency company files (currency list, vendor currencies, exchange
  rates, CurrencyQueryRq / VendorQueryRq), early-payment discounts and vendor credits used in a
  bill payment, older QuickBooks versions that refuse newer qbXML (hresult 0x80040428), and records
  a person typed badly (``corrupt_field``) or hostile iterator counts
  (``inject_iterator_remaining``).

Answers list every Ret element's children in the exact order of the qbXML 13.0 schema; the tests
validate them against ``qbxmlops130.xsd``.
"""

from __future__ import annotations

import bisect
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
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
    "VERSION_ERROR_HRESULT",
    "VERSION_ERROR_MESSAGE",
    "BillSnapshot",
    "DeletedPaymentSnapshot",
    "PaymentKind",
    "PaymentSnapshot",
    "QuickBooksConnectionError",
    "QuickBooksParseError",
    "QuickBooksVersionError",
    "SandboxCompanyFile",
]

PaymentKind = Literal["check", "credit_card"]

PARSE_ERROR_HRESULT: Final = "0x80040400"
PARSE_ERROR_MESSAGE: Final = "QuickBooks found an error when parsing the provided XML text stream."
CONNECTION_ERROR_HRESULT: Final = "0x80040401"
CONNECTION_ERROR_MESSAGE: Final = "Could not access QuickBooks."
# What the Web Connector reports when QuickBooks' request processor refuses the requested qbXML
# version (the text is QBXMLRP2's error message for this HRESULT).
VERSION_ERROR_HRESULT: Final = "0x80040428"
VERSION_ERROR_MESSAGE: Final = "The version of QBXML that was requested is not supported or is unknown."

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
DEFAULT_PRODUCT_YEAR: Final = 2024
_OLDEST_PRODUCT_YEAR: Final = 2002  # the first QuickBooks with the SDK (qbXML 1.0)
_US_QBXML_VERSIONS: Final = tuple(
    ["1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1"] + [f"{major}.0" for major in range(5, 17)]
)
# Canada and UK editions prefix the country (NOTES §1, consolibyte `_version()`); which numbers
# they list is not documented, so this list is (inferred).
_NON_US_QBXML_VERSIONS: Final = tuple(f"{major}.0" for major in range(2, 17))


def highest_qbxml_version_of(product_year: int) -> str:
    """The newest qbXML version a QuickBooks of that year supports (the last SupportedQBXMLVersion).

    Anchors: QuickBooks 2014 lists 1.0 … 13.0 (NOTES §5 capture); SDK 3.0, 4.0, 5.0 and 6.0 shipped
    with QuickBooks 2004, 2005, 2006 and 2007 (Intuit's SDK release notes), so one version a year up
    to 13.0 in 2014. No qbXML 14.0 existed until early 2021 (jsgoupil/quickbooks-sync issue #49),
    15.0 followed a year later and 16.0 by early 2023, so 2015-2020 stay at 13.0, 2021 is 14.0,
    2022 is 15.0 and 2023 on are 16.0. The point releases (1.1 for 2002, 2.1 for 2003, 4.1 for
    2005) and the years after 2014 are (inferred).
    """
    if product_year < _OLDEST_PRODUCT_YEAR:
        raise ValueError(f"QuickBooks {product_year} predates the QuickBooks SDK (2002 onwards)")
    fixed = {2002: "1.1", 2003: "2.1", 2004: "3.0", 2005: "4.1", 2021: "14.0", 2022: "15.0"}
    if product_year in fixed:
        return fixed[product_year]
    if product_year <= 2014:
        return f"{product_year - 2001}.0"
    if product_year <= 2020:
        return "13.0"
    return "16.0"


def _version_number(version: str) -> tuple[int, int]:
    """ "13.0" -> (13, 0); "CA13.0" -> (13, 0)."""
    major, minor = re.sub(r"^[A-Z]+", "", version).split(".")
    return int(major), int(minor)


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
_ZERO: Final = Decimal("0.00")
_APPLICATION_TXN_TYPE: Final = "Bill"
_CREDIT_TXN_TYPE: Final = "VendorCredit"
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
_MAX_CURRENCY_NAME = 64  # CurrencyRet/Name

# QuickBooks' built-in currency list: the name QuickBooks gives each one and its ISO code. Users can
# rename a currency (rename_currency); the code stays. Only a few of QuickBooks' ~150 are modelled.
_DEFAULT_CURRENCIES: Final = (
    ("US Dollar", "USD"),
    ("Canadian Dollar", "CAD"),
    ("Euro", "EUR"),
    ("British Pound Sterling", "GBP"),
    ("Mexican Peso", "MXN"),
    ("Australian Dollar", "AUD"),
    ("Japanese Yen", "JPY"),
    ("Swiss Franc", "CHF"),
)
# Status 3250 is "feature not enabled" (NOTES §8); the wording is a (sandbox choice).
MULTICURRENCY_OFF_MESSAGE: Final = (
    "This feature is not enabled: the multicurrency feature is not turned on in this company file."
)


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


class QuickBooksVersionError(Exception):
    """QuickBooks does not support the qbXML version the request asked for (too new for it).

    QuickBooks' request processor refuses the whole document before reading it, and the Web
    Connector reports ``hresult`` 0x80040428 with the message below to receiveResponseXML, not the
    generic parse error. ``detail`` says which version was refused, for test output.
    """

    hresult = VERSION_ERROR_HRESULT

    def __init__(self, detail: str) -> None:
        super().__init__(VERSION_ERROR_MESSAGE)
        self.message = VERSION_ERROR_MESSAGE
        self.detail = detail

    def __str__(self) -> str:
        return f"{VERSION_ERROR_MESSAGE} ({self.detail})"


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
    currency: str = "USD"  # ISO code of the vendor's currency
    exchange_rate: Decimal = Decimal("1")
    discounts: tuple[tuple[str, Decimal], ...] = ()  # (bill TxnID, discount taken)
    credits: tuple[tuple[str, str, Decimal], ...] = ()  # (bill TxnID, credit TxnID, amount used)


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
    currency: str = "USD"
    exchange_rate: Decimal = Decimal("1")


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
class _Vendor(_ListObject):
    currency: str = "USD"  # ISO code; the vendor's bills, credits and payments use it
    time_created: int = 0
    time_modified: int = 0
    edit_sequence: str = "0"


@dataclass
class _Currency:
    list_id: str
    name: str
    code: str
    time_created: int
    time_modified: int
    edit_sequence: str
    exchange_rate: Decimal | None = None  # home currency units per unit; None = never set
    as_of: date | None = None


@dataclass
class _Bill:
    txn_id: str
    txn_number: int
    vendor: _Vendor
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
    currency: str = "USD"
    exchange_rate: Decimal = Decimal("1")  # the rate in force when the bill was entered
    # payment TxnID -> discount taken + vendor credits used on this bill in that payment
    reduced_by: dict[str, Decimal] = field(default_factory=dict)

    @property
    def open_amount(self) -> Decimal:
        paid = sum(self.applied_by.values(), _ZERO) + sum(self.reduced_by.values(), _ZERO)
        return self.amount_due - paid


@dataclass
class _Application:
    bill_txn_id: str
    amount: Decimal  # cash
    discount: Decimal = _ZERO
    credits: list[tuple[str, Decimal]] = field(default_factory=list)  # (credit TxnID, amount used)

    @property
    def reduction(self) -> Decimal:
        """What this application takes off the bill besides cash."""
        return self.discount + sum((used for _credit, used in self.credits), _ZERO)


@dataclass
class _VendorCredit:
    txn_id: str
    txn_number: int
    vendor: _Vendor
    ref_number: str
    amount: Decimal
    txn_date: date
    time_created: int
    currency: str
    exchange_rate: Decimal
    used_by: dict[str, Decimal] = field(default_factory=dict)  # payment TxnID -> amount used

    @property
    def remaining(self) -> Decimal:
        return self.amount - sum(self.used_by.values(), _ZERO)


@dataclass
class _Payment:
    txn_id: str
    kind: PaymentKind
    txn_number: int
    vendor: _Vendor
    txn_date: date
    ref_number: str | None
    memo: str | None
    applications: list[_Application]
    time_created: int
    time_modified: int
    edit_sequence: str
    is_voided: bool = False
    currency: str = "USD"
    exchange_rate: Decimal = Decimal("1")  # the rate in force when the payment was entered

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
    matches: list[str]  # TxnIDs (ListIDs) in answer order, fixed when the iterator started (inferred)
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


def _float_text(value: Decimal) -> str:
    """A FLOATTYPE as QuickBooks prints an exchange rate: no exponent, no trailing zeros ("0.73",
    "1"). How many decimals QuickBooks itself prints is not captured (inferred)."""
    return format(value.normalize(), "f")


def _in_home_currency(amount: Decimal, rate: Decimal) -> Decimal:
    # AmountInHomeCurrency = amount x ExchangeRate, rounded half-up to cents (inferred).
    return (amount * rate).quantize(_CENT, rounding=ROUND_HALF_UP)


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
    iterator_remaining: int | str | None = None,
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
        parts.append(f' iteratorRemainingCount="{_attribute(str(iterator_remaining))}"')
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
    iterator_remaining: int | str | None = None,
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
# group ListFilter (qbxml130.xsd); VendorListFilter adds TotalBalanceFilter, CurrencyFilter, ClassFilter.
_LIST_FILTER = (
    r"(MaxReturned )?(ActiveStatus )?(FromModifiedDate )?(ToModifiedDate )?(NameFilter |NameRangeFilter )?"
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
    # group VendorListQuery and group ListQuery (CurrencyQueryRqType has no OwnerID).
    "VendorQueryRq": re.compile(
        rf"((ListID )+|(FullName )+|{_LIST_FILTER}(TotalBalanceFilter )?(CurrencyFilter )?(ClassFilter )?)"
        r"(IncludeRetElement )*(OwnerID )*"
    ),
    "CurrencyQueryRq": re.compile(rf"((ListID )+|(FullName )+|{_LIST_FILTER})(IncludeRetElement )*"),
    "NameFilter": re.compile(r"MatchCriterion Name "),
    "NameRangeFilter": re.compile(r"(FromName )?(ToName )?"),
    "CurrencyFilter": re.compile(r"(ListID )+|(FullName )+"),
    "TotalBalanceFilter": re.compile(r"Operator Amount "),
}
_CHILD_ORDER["BillPaymentCreditCardQueryRq"] = _CHILD_ORDER["BillPaymentCheckQueryRq"]

_ALLOWED_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    "BillPaymentCheckQueryRq": frozenset({"requestID", "metaData", "iterator", "iteratorID"}),
    "BillPaymentCreditCardQueryRq": frozenset({"requestID", "metaData", "iterator", "iteratorID"}),
    "BillQueryRq": frozenset({"requestID", "metaData", "iterator", "iteratorID"}),
    "TxnDeletedQueryRq": frozenset({"requestID", "metaData"}),
    "HostQueryRq": frozenset({"requestID"}),
    "CompanyQueryRq": frozenset({"requestID"}),
    "VendorQueryRq": frozenset({"requestID", "metaData", "iterator", "iteratorID"}),
    "CurrencyQueryRq": frozenset({"requestID", "metaData"}),  # no iterators in CurrencyQueryRqType
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


@dataclass
class _ListQuery:
    """One VendorQueryRq or CurrencyQueryRq, read and checked."""

    request_type: str
    request_id: str | None
    meta_data: str
    iterator: str | None
    iterator_id: str | None
    list_ids: list[str] | None = None
    full_names: list[str] | None = None
    max_returned: int | None = None
    active_status: str = "ActiveOnly"  # the schema's default
    modified_from: int | None = None
    modified_to: int | None = None
    name_criterion: str | None = None  # NameFilter: StartsWith | Contains | EndsWith
    name_value: str | None = None
    name_from: str | None = None  # NameRangeFilter
    name_to: str | None = None
    currency_list_ids: frozenset[str] | None = None
    currency_names: frozenset[str] | None = None
    include_ret_elements: frozenset[str] | None = None


def _read_list_query(rq: etree._Element) -> _ListQuery:
    query = _ListQuery(
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
        if tag == "ListID":
            query.list_ids = [*(query.list_ids or []), _leaf_text(child)]
        elif tag == "FullName":
            query.full_names = [*(query.full_names or []), _leaf_text(child)]
        elif tag == "MaxReturned":
            query.max_returned = _positive_int(child)
        elif tag == "ActiveStatus":
            query.active_status = _leaf_text(child) or "ActiveOnly"
            if query.active_status not in ("ActiveOnly", "InactiveOnly", "All"):
                raise QuickBooksParseError(f"ActiveStatus: {query.active_status!r} is not allowed")
        elif tag == "FromModifiedDate":
            query.modified_from = _parse_datetime(child, end_of_period=False)
        elif tag == "ToModifiedDate":
            query.modified_to = _parse_datetime(child, end_of_period=True)
        elif tag == "NameFilter":
            criterion, name = _check_children(child)
            query.name_criterion = _leaf_text(criterion)
            if query.name_criterion not in ("StartsWith", "Contains", "EndsWith"):
                raise QuickBooksParseError(f"MatchCriterion: {query.name_criterion!r} is not allowed")
            query.name_value = _leaf_text(name).casefold()
        elif tag == "NameRangeFilter":
            for bound in _check_children(child):
                if bound.tag == "FromName":
                    query.name_from = _leaf_text(bound).casefold()
                else:
                    query.name_to = _leaf_text(bound).casefold()
        elif tag == "CurrencyFilter":
            items = _check_children(child)
            if items[0].tag == "ListID":
                query.currency_list_ids = frozenset(_leaf_text(item) for item in items)
            else:
                query.currency_names = frozenset(_leaf_text(item).casefold() for item in items)
        elif tag == "IncludeRetElement":
            ret_elements.append(_leaf_text(child))
        elif tag == "OwnerID":
            pass  # no custom fields (DataExt) in the sandbox
        else:
            # TotalBalanceFilter, ClassFilter: valid qbXML that the sandbox does not emulate.
            raise NotImplementedError(f"the QuickBooks sandbox does not emulate {rq.tag}/{tag}")
    if ret_elements:
        query.include_ret_elements = frozenset(ret_elements)
    return query


def _passes_list_filter(query: _ListQuery, name: str, time_modified: int) -> bool:
    """ListFilter for objects that are all active (the sandbox has no inactive list objects)."""
    if query.active_status == "InactiveOnly":
        return False
    if query.modified_from is not None and time_modified < query.modified_from:
        return False
    if query.modified_to is not None and time_modified > query.modified_to:
        return False
    # Name matching is case-insensitive like the rest of QuickBooks' name lookups (inferred).
    folded = name.casefold()
    if query.name_value is not None:
        if query.name_criterion == "StartsWith" and not folded.startswith(query.name_value):
            return False
        if query.name_criterion == "Contains" and query.name_value not in folded:
            return False
        if query.name_criterion == "EndsWith" and not folded.endswith(query.name_value):
            return False
    if query.name_from is not None and folded < query.name_from:
        return False
    return query.name_to is None or folded <= query.name_to


AnyQuery = _TxnQuery | _ListQuery


# --------------------------------------------------------------------------------------------


class SandboxCompanyFile:
    """An in-memory QuickBooks Desktop company file with a simulated clock.

    Thread-safe: the Web Connector emulator, the project's server thread and the test may all
    touch it. Every change stamps TimeModified with the clock and gives the object a new
    EditSequence; call :meth:`advance` to move time on between changes.

    ``multicurrency`` turns QuickBooks' multicurrency feature on (a currency list, a currency per
    vendor, exchange rates on every transaction); ``home_currency`` is the ISO code of the home
    currency. ``product_year`` makes the file act as that year's QuickBooks: its ProductName,
    MajorVersion and the qbXML versions it supports (:func:`highest_qbxml_version_of`).
    """

    def __init__(
        self,
        country: str = "US",
        company_name: str = "Summit Builders LLC",
        product_name: str | None = None,
        clock_start: datetime = datetime(2026, 11, 2, 8, 0, 0),
        *,
        file_name: str | None = None,
        multicurrency: bool = False,
        home_currency: str = "USD",
        product_year: int = DEFAULT_PRODUCT_YEAR,
    ) -> None:
        self.country = country.upper()
        self.company_name = company_name
        self.product_year = product_year
        self._highest_version = highest_qbxml_version_of(product_year)
        self.product_name = product_name or _default_product_name(self.country, product_year)
        self._file_name = file_name or _default_file_name(company_name)
        if clock_start.tzinfo is not None:
            clock_start = clock_start.astimezone(QUICKBOOKS_TIME_ZONE).replace(tzinfo=None)
        self._now = _epoch_of_wall_clock(clock_start)
        self._lock = threading.RLock()
        self._next_txn_counter = 0x1A2B
        self._next_list_counter = 0x80000001
        self._next_txn_number = 1
        self._vendors_by_id: dict[str, _Vendor] = {}
        self._vendors_by_name: dict[str, _Vendor] = {}
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
        self._injected_remaining: list[str] = []
        self._corruptions: dict[str, dict[str, str | None]] = {}
        self._refusal: tuple[str, str] | None = None
        self._credits: dict[str, _VendorCredit] = {}
        self.connection_open = False
        self.connections_opened = 0
        self.ap_account = self._new_list_object("Accounts Payable")
        self.bank_account = self._new_list_object("Checking")
        self.credit_card_account = self._new_list_object("Company Credit Card")
        self.expense_account = self._new_list_object("Job Expenses:Subcontractors")
        # Made on first use, so files without discounts keep today's ListIDs (sandbox choice).
        self._discount_account: _ListObject | None = None
        # The currency list. Its ListIDs come from their own counter so that adding it did not
        # shift the ListIDs of vendors and accounts (sandbox choice; real ids are not captured).
        self.multicurrency = multicurrency
        self._currencies: dict[str, _Currency] = {}
        for index, (name, code) in enumerate(_DEFAULT_CURRENCIES):
            self._currencies[code] = _Currency(
                list_id=f"{0x40000001 + index:X}-{self._now}",
                name=name,
                code=code,
                time_created=self._now,
                time_modified=self._now,
                edit_sequence=str(self._now),
            )
        home_currency = home_currency.upper()
        if home_currency not in self._currencies:
            raise ValueError(f"unknown currency code {home_currency!r}")
        self.home_currency = home_currency

    # ---- identity ------------------------------------------------------------------------

    @property
    def company_file_path(self) -> str:
        return "C:\\Users\\Public\\Documents\\Intuit\\QuickBooks\\Company Files\\" + self._file_name

    @property
    def qbxml_country(self) -> str:
        return self.country

    @property
    def supported_qbxml_versions(self) -> list[str]:
        return [v for v in self._known_qbxml_versions() if _version_number(v) <= self.highest_qbxml_version]

    @property
    def highest_qbxml_version(self) -> tuple[int, int]:
        """(major, minor) of the newest qbXML this QuickBooks supports, e.g. (16, 0) or (12, 0)."""
        return _version_number(self._highest_version)

    @property
    def product_major_version(self) -> str:
        """HostRet/MajorVersion: 24 for QuickBooks 2014 (NOTES §5), so year - 1990 (inferred
        for other years; 2024 gives the module's PRODUCT_MAJOR_VERSION, 34)."""
        return str(self.product_year - 1990)

    def _known_qbxml_versions(self) -> list[str]:
        """Every version of this country's qbXML that any QuickBooks knows."""
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

    def add_vendor(self, name: str, currency: str | None = None) -> str:
        """Adds a vendor and returns its ListID.

        ``currency`` is the vendor's ISO currency code (default: the home currency). Only a
        multicurrency file accepts a foreign currency; the vendor's bills, credits and payments are
        all in its currency, as in QuickBooks.
        """
        name = name.strip()
        if not name or len(name) > _MAX_VENDOR_NAME:
            raise ValueError(f"a vendor name must have 1 to {_MAX_VENDOR_NAME} characters: {name!r}")
        with self._lock:
            code = self.home_currency if currency is None else currency.upper()
            if code not in self._currencies:
                raise ValueError(f"unknown currency code {currency!r}")
            if code != self.home_currency and not self.multicurrency:
                raise ValueError(
                    f"a vendor in {code} needs multicurrency; this file's only currency is {self.home_currency}"
                )
            if name.casefold() in self._vendors_by_name:
                raise ValueError(f"the name {name!r} is already in use (QuickBooks status 3100)")
            vendor = _Vendor(
                list_id=self._new_list_id(),
                full_name=name,
                currency=code,
                time_created=self._now,
                time_modified=self._now,
                edit_sequence=str(self._now),
            )
            self._vendors_by_id[vendor.list_id] = vendor
            self._vendors_by_name[name.casefold()] = vendor
            return vendor.list_id

    def rename_currency(self, code: str, new_name: str) -> None:
        """Gives a currency another name (users can edit currency names in QuickBooks). Every
        CurrencyRef then carries the new name; the ISO code stays."""
        new_name = new_name.strip()
        if not new_name or len(new_name) > _MAX_CURRENCY_NAME:
            raise ValueError(f"a currency name must have 1 to {_MAX_CURRENCY_NAME} characters")
        with self._lock:
            currency = self._currency(code)
            for other in self._currencies.values():
                if other is not currency and other.name.casefold() == new_name.casefold():
                    raise ValueError(f"the name {new_name!r} is already in use (QuickBooks status 3100)")
            currency.name = new_name
            self._stamp_currency(currency)

    def set_exchange_rate(self, code: str, rate: Decimal) -> None:
        """Sets a foreign currency's exchange rate (units of home currency per unit of it). Bills,
        credits and payments entered afterwards keep the rate in force when they were entered;
        earlier ones keep theirs, as QuickBooks keeps an ExchangeRate per transaction."""
        if not isinstance(rate, Decimal):
            raise TypeError(f"an exchange rate must be a Decimal, not {type(rate).__name__}")
        if not rate.is_finite() or rate <= 0:
            raise ValueError(f"an exchange rate must be positive: {rate}")
        with self._lock:
            if not self.multicurrency:
                raise ValueError("exchange rates need multicurrency, which is off in this file")
            currency = self._currency(code)
            if currency.code == self.home_currency:
                if rate != 1:
                    raise ValueError("the home currency's exchange rate is always 1")
                return
            currency.exchange_rate = rate
            currency.as_of = self.now.date()
            self._stamp_currency(currency)

    def exchange_rate(self, code: str) -> Decimal:
        """The rate now in force: 1 for the home currency and for a rate never set (inferred)."""
        with self._lock:
            currency = self._currency(code)
            if currency.code == self.home_currency or currency.exchange_rate is None:
                return Decimal("1")
            return currency.exchange_rate

    def currency_list_id(self, code: str) -> str:
        with self._lock:
            return self._currency(code).list_id

    def add_vendor_credit(
        self, vendor: str, ref_number: str, amount: Decimal, txn_date: date | None = None
    ) -> str:
        """Adds a vendor credit (in the vendor's currency) that a later payment can use; returns
        its TxnID. ``vendor`` is the vendor's name or ListID."""
        if len(ref_number) > _MAX_BILL_REF:
            raise ValueError(f"a credit RefNumber has at most {_MAX_BILL_REF} characters: {ref_number!r}")
        amount = _checked_amount(amount)
        with self._lock:
            found_vendor = self._vendor(vendor)
            credit = _VendorCredit(
                txn_id=self._new_txn_id(),
                txn_number=self._new_txn_number(),
                vendor=found_vendor,
                ref_number=ref_number,
                amount=amount,
                txn_date=txn_date or self.now.date(),
                time_created=self._now,
                currency=found_vendor.currency,
                exchange_rate=self.exchange_rate(found_vendor.currency),
            )
            self._credits[credit.txn_id] = credit
            return credit.txn_id

    def vendor_credit_remaining(self, txn_id: str) -> Decimal:
        """What is left of a vendor credit after the payments that used it."""
        with self._lock:
            return self._credit(txn_id).remaining

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
                currency=found_vendor.currency,
                exchange_rate=self.exchange_rate(found_vendor.currency),
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
        *,
        discounts: dict[str, Decimal] | None = None,
        credits: dict[str, list[tuple[str, Decimal]]] | None = None,
    ) -> str:
        """Enters a bill payment (Pay Bills) and returns its TxnID.

        ``applications`` lists (bill TxnID, cash applied); an amount below the bill's open
        balance is a partial payment, several bills make a multi-bill payment. ``check_number`` is
        the RefNumber (for a card payment, its reference). A check without a number is "to be
        printed".

        ``discounts`` maps a bill TxnID to the early-payment discount taken on it, ``credits`` maps
        a bill TxnID to the vendor credits used on it, as (credit TxnID, amount). Both take the
        bill's open balance down with the cash, but the payment's Amount is the cash only. A bill
        settled entirely by a discount or credits may have 0.00 cash.
        """
        if kind not in _PAYMENT_TXN_TYPES:
            raise ValueError(f"kind must be 'check' or 'credit_card', not {kind!r}")
        _check_payment_fields(check_number, memo)
        with self._lock:
            found_vendor = self._vendor(vendor)
            checked = self._checked_applications(
                found_vendor, applications, replacing=None, discounts=discounts, credits=credits
            )
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
                currency=found_vendor.currency,
                exchange_rate=self.exchange_rate(found_vendor.currency),
            )
            self._payments[payment.txn_id] = payment
            self._payment_index[kind].touch(payment.txn_id, payment.time_modified)
            self._apply(payment)
            for application in checked:
                self._stamp_bill(self._bills[application.bill_txn_id])
            return payment.txn_id

    def void_payment(self, txn_id: str) -> None:
        """Voids a payment the way QuickBooks does (NOTES §7): it stays, with Amount 0.00 and the
        memo prefixed "VOID: "; its applications stay with Amount 0.00 (one of the two
        possibilities NOTES names, (inferred)); the bills it paid are open again. Discounts and
        vendor credits it used are released: the applications lose them and the credits can be
        used again (inferred)."""
        with self._lock:
            payment = self._payment(txn_id)
            if payment.is_voided:
                raise ValueError(f"payment {txn_id} is already void")
            payment.is_voided = True
            payment.memo = f"VOID: {payment.memo}" if payment.memo else "VOID:"
            for application in payment.applications:
                for credit_txn_id, _used in application.credits:
                    self._credits[credit_txn_id].used_by.pop(payment.txn_id, None)
                application.amount = Decimal("0.00")
                application.discount = _ZERO
                application.credits = []
                bill = self._bills[application.bill_txn_id]
                bill.applied_by[payment.txn_id] = Decimal("0.00")
                bill.reduced_by.pop(payment.txn_id, None)
                self._stamp_bill(bill)
            self._stamp_payment(payment)

    def edit_payment(
        self,
        txn_id: str,
        applications: list[tuple[str, Decimal]] | None = None,
        check_number: str | None = None,
        txn_date: date | None = None,
        memo: str | None = None,
        *,
        discounts: dict[str, Decimal] | None = None,
        credits: dict[str, list[tuple[str, Decimal]]] | None = None,
    ) -> None:
        """Edits a payment in place: same TxnID, new EditSequence and TimeModified. Arguments left
        as None stay unchanged; ``applications`` replaces the whole list, together with its
        ``discounts`` and ``credits`` (as in :meth:`pay_bills`; omitted = none)."""
        _check_payment_fields(check_number, memo)
        if applications is None and (discounts is not None or credits is not None):
            raise ValueError("discounts and credits can only change together with the applications")
        with self._lock:
            payment = self._payment(txn_id)
            if payment.is_voided:
                raise ValueError(f"payment {txn_id} is void; the sandbox does not edit void payments")
            if applications is not None:
                checked = self._checked_applications(
                    payment.vendor, applications, replacing=payment, discounts=discounts, credits=credits
                )
                touched_bills = {application.bill_txn_id for application in payment.applications}
                self._unapply(payment)
                payment.applications = checked
                self._apply(payment)
                for application in checked:
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
            self._unapply(payment)
            for application in payment.applications:
                self._stamp_bill(self._bills[application.bill_txn_id])
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

    def corrupt_field(self, txn_id: str, element: str, raw_text: str | None) -> None:
        """A record a person typed badly (or a QuickBooks bug): every answer that carries this
        payment's or bill's Ret (or a vendor's VendorRet, by ListID) shows ``raw_text`` as the text
        of ``element`` instead of the real value, until :meth:`clear_corruption`.

        ``element`` is a child of the Ret ("TxnDate", "Amount", "TxnID") or a path below it
        ("PayeeEntityRef/FullName", "AppliedToTxnRet/Amount": every match). ``raw_text`` is sent as
        is, with no length or format check ("X" * 40 gives a 40-character TxnID); None leaves the
        element out entirely (e.g. a missing TxnID or TxnDate). An element the Ret does not carry
        (IncludeRetElement left it out, a check without a RefNumber…) stays absent. The answers
        that hold such a Ret are deliberately not schema-valid.
        """
        if not element or element.startswith("/") or element.endswith("/"):
            raise ValueError(f"not an element path: {element!r}")
        with self._lock:
            if (
                txn_id not in self._payments
                and txn_id not in self._bills
                and txn_id not in self._vendors_by_id
            ):
                raise KeyError(f"no payment, bill or vendor {txn_id}")
            self._corruptions.setdefault(txn_id, {})[element] = raw_text

    def clear_corruption(self, txn_id: str) -> None:
        """Answers carry that record's true values again."""
        with self._lock:
            self._corruptions.pop(txn_id, None)

    def inject_iterator_remaining(self, text: str, times: int = 1) -> None:
        """The next ``times`` iterator pages (Start or Continue, of any query) carry
        ``iteratorRemainingCount="<text>"`` (e.g. "99999999999999999999999", "-3", "many")
        instead of the true count. The iterator itself goes on working: the next Continue gets the
        next page as usual."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._injected_remaining.extend([text] * times)

    # ---- qbXML ---------------------------------------------------------------------------

    def hcp_response(self) -> str:
        """strHCPResponse: what QBWC sends on the first sendRequestXML of a session — QuickBooks'
        answer to a Host, Company and Preferences query in one message (NOTES §9)."""
        with self._lock:
            lines = ['<?xml version="1.0" ?>', "<QBXML>", "<QBXMLMsgsRs>"]
            lines.extend(self._host_rs("0"))
            lines.extend(self._company_rs("1"))
            lines.append(f"<PreferencesQueryRs{_status_attributes('2', 0, STATUS_OK_MESSAGE)}>")
            lines.extend(self._preferences_ret())
            lines.append("</PreferencesQueryRs>")
            lines.extend(["</QBXMLMsgsRs>", "</QBXML>", ""])
            return "\n".join(lines)

    def handle_qbxml(self, request_xml: str) -> str:
        """Answers one qbXML request document, as QuickBooks' ProcessRequest does.

        Raises QuickBooksParseError for anything QuickBooks would refuse to parse: malformed XML,
        a DOCTYPE, a missing or unknown ``<?qbxml version?>``, or elements out of schema order.
        Raises QuickBooksVersionError for a real qbXML version of this country that is too new for
        this QuickBooks (13.0 on QuickBooks 2013). Raises NotImplementedError for valid qbXML the
        sandbox does not emulate.
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
            # A real version of this country that this (older) QuickBooks does not have is refused
            # by the request processor with its own HRESULT 0x80040428. Anything else (another
            # country's version, "99.0") stays the parse error, as before (sandbox choice: real
            # QuickBooks may answer 0x80040428 for unknown numbers too, "…or is unknown").
            if version in self._known_qbxml_versions():
                raise QuickBooksVersionError(
                    f"qbXML {version} is newer than {self.product_name} supports "
                    f"(up to {self._highest_version})"
                )
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
        elif tag in ("VendorQueryRq", "CurrencyQueryRq"):
            try:
                _read_list_query(rq)
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
            if tag in ("VendorQueryRq", "CurrencyQueryRq"):
                return self._list_query_rs(_read_list_query(rq)), False
            return self._txn_query_rs(_read_txn_query(rq)), False
        except _InvalidDate as invalid:
            message = f'Invalid date "{invalid.value}" in the field "{invalid.element}". There was an error when converting the date value.'
            return _empty_rs(rs_tag, request_id, 3020, message), True
        except _StatusAnswer as answer:
            return _empty_rs(rs_tag, request_id, answer.code, answer.message), answer.code >= 1000

    def _host_rs(self, request_id: str | None) -> list[str]:
        lines = [f"<HostQueryRs{_status_attributes(request_id, 0, STATUS_OK_MESSAGE)}>", "<HostRet>"]
        lines.append(f"<ProductName>{_text(self.product_name)}</ProductName>")
        lines.append(f"<MajorVersion>{self.product_major_version}</MajorVersion>")
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

    def _preferences_ret(self) -> list[str]:
        if not self.multicurrency:
            return list(_PREFERENCES_RET)
        lines: list[str] = []
        for line in _PREFERENCES_RET:
            if line == "<IsMultiCurrencyOn>false</IsMultiCurrencyOn>":
                home = self._currencies[self.home_currency]
                lines.append("<IsMultiCurrencyOn>true</IsMultiCurrencyOn>")
                lines.append("<HomeCurrencyRef>")
                lines.append(f"<ListID>{_text(home.list_id)}</ListID>")
                lines.append(f"<FullName>{_text(home.name)}</FullName>")
                lines.append("</HomeCurrencyRef>")
            else:
                lines.append(line)
        return lines

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
            return self._continue_iterator(query, rs_tag)

        _check_range(query.modified_from, query.modified_to)
        if query.txn_date_from and query.txn_date_to and query.txn_date_from > query.txn_date_to:
            raise _StatusAnswer(3030, "The date range is invalid: the From date is later than the To date.")
        matches, missing = self._matches(query, payment_kind)
        return self._answer_matches(query, rs_tag, matches, missing)

    def _list_query_rs(self, query: _ListQuery) -> list[str]:
        rs_tag = query.request_type[:-2] + "Rs"
        uses_currencies = query.request_type == "CurrencyQueryRq" or (
            query.currency_list_ids is not None or query.currency_names is not None
        )
        if uses_currencies and not self.multicurrency:
            # Without multicurrency QuickBooks has no Currency list to read or filter by
            # (status 3250 "feature not enabled", NOTES §8; that it answers so is (sandbox choice)).
            raise _StatusAnswer(3250, MULTICURRENCY_OFF_MESSAGE)
        if query.iterator in ("Continue", "Stop"):
            return self._continue_iterator(query, rs_tag)
        _check_range(query.modified_from, query.modified_to)
        if query.request_type == "VendorQueryRq":
            matches, missing = self._vendor_matches(query)
        else:
            matches, missing = self._currency_matches(query)
        return self._answer_matches(query, rs_tag, matches, missing)

    def _continue_iterator(self, query: AnyQuery, rs_tag: str) -> list[str]:
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

    def _answer_matches(
        self, query: AnyQuery, rs_tag: str, matches: list[str], missing: list[str]
    ) -> list[str]:
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
        self, query: AnyQuery, rs_tag: str, iterator_id: str, iterator: _Iterator
    ) -> list[str]:
        page_size = query.max_returned or iterator.page_size
        existing = self._records_of(query.request_type)
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
        # inject_iterator_remaining: the printed count lies; the iterator's own position does not.
        shown: int | str = self._injected_remaining.pop(0) if self._injected_remaining else remaining
        if not page:
            return _empty_rs(
                rs_tag,
                query.request_id,
                1,
                NO_MATCH_MESSAGE,
                iterator_remaining=shown,
                iterator_id=iterator_id,
            )
        return self._rs_with_rets(
            rs_tag,
            query,
            page,
            0,
            STATUS_OK_MESSAGE,
            iterator_remaining=shown,
            iterator_id=iterator_id,
        )

    def _records_of(self, request_type: str) -> Mapping[str, object]:
        if request_type in _PAYMENT_QUERY_KINDS:
            return self._payments
        if request_type == "VendorQueryRq":
            return self._vendors_by_id
        if request_type == "CurrencyQueryRq":
            return {currency.list_id: currency for currency in self._currencies.values()}
        return self._bills

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

    def _vendor_matches(self, query: _ListQuery) -> tuple[list[str], list[str]]:
        """ListIDs of the vendors that answer, and the requested ids/names not found. A filter
        answers in name order, as QuickBooks' lists are shown (inferred)."""
        if query.list_ids is not None:
            wanted = list(dict.fromkeys(query.list_ids))
            return [i for i in wanted if i in self._vendors_by_id], [
                i for i in wanted if i not in self._vendors_by_id
            ]
        if query.full_names is not None:
            wanted = list(dict.fromkeys(query.full_names))
            found = [
                self._vendors_by_name[n.strip().casefold()]
                for n in wanted
                if n.strip().casefold() in self._vendors_by_name
            ]
            missing = [n for n in wanted if n.strip().casefold() not in self._vendors_by_name]
            return list(dict.fromkeys(vendor.list_id for vendor in found)), missing
        currencies = self._currency_filter(query)
        vendors = sorted(self._vendors_by_id.values(), key=lambda v: (v.full_name.casefold(), v.list_id))
        return [
            vendor.list_id
            for vendor in vendors
            if _passes_list_filter(query, vendor.full_name, vendor.time_modified)
            and (currencies is None or vendor.currency in currencies)
        ], []

    def _currency_filter(self, query: _ListQuery) -> set[str] | None:
        """ISO codes a CurrencyFilter allows (None: no filter)."""
        if query.currency_list_ids is not None:
            return {c.code for c in self._currencies.values() if c.list_id in query.currency_list_ids}
        if query.currency_names is not None:
            return {c.code for c in self._currencies.values() if c.name.casefold() in query.currency_names}
        return None

    def _currency_matches(self, query: _ListQuery) -> tuple[list[str], list[str]]:
        by_list_id = {currency.list_id: currency for currency in self._currencies.values()}
        if query.list_ids is not None:
            wanted = list(dict.fromkeys(query.list_ids))
            return [i for i in wanted if i in by_list_id], [i for i in wanted if i not in by_list_id]
        if query.full_names is not None:
            by_name = {currency.name.casefold(): currency for currency in self._currencies.values()}
            wanted = list(dict.fromkeys(query.full_names))
            found = [by_name[n.strip().casefold()].list_id for n in wanted if n.strip().casefold() in by_name]
            return list(dict.fromkeys(found)), [n for n in wanted if n.strip().casefold() not in by_name]
        currencies = sorted(self._currencies.values(), key=lambda c: (c.name.casefold(), c.list_id))
        return [c.list_id for c in currencies if _passes_list_filter(query, c.name, c.time_modified)], []

    def _rs_with_rets(
        self,
        rs_tag: str,
        query: AnyQuery,
        txn_ids: list[str],
        code: int,
        message: str,
        *,
        iterator_remaining: int | str | None = None,
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
        for txn_id in txn_ids:
            corruptions = self._corruptions.get(txn_id)
            ret_lines: list[str] = [] if corruptions else lines
            if isinstance(query, _ListQuery):
                if query.request_type == "VendorQueryRq":
                    self._write_vendor_ret(ret_lines, self._vendors_by_id[txn_id], wanted)
                else:
                    currency = next(c for c in self._currencies.values() if c.list_id == txn_id)
                    self._write_currency_ret(ret_lines, currency, wanted)
            elif query.request_type in _PAYMENT_QUERY_KINDS:
                self._write_payment_ret(ret_lines, self._payments[txn_id], query, wanted)
            else:
                self._write_bill_ret(ret_lines, self._bills[txn_id], query, wanted)
            if corruptions:
                lines.extend(_corrupted(ret_lines, corruptions))
        lines.append(f"</{rs_tag}>")
        return lines

    def _write_currency_lines(
        self,
        lines: list[str],
        wanted: Callable[[str], bool],
        code: str,
        rate: Decimal,
        amount: Decimal,
        amount_tag: str,
    ) -> None:
        """CurrencyRef, ExchangeRate, Amount(Due)InHomeCurrency: in multicurrency files only."""
        if not self.multicurrency:
            return
        currency = self._currencies[code]
        if wanted("CurrencyRef"):
            lines.append("<CurrencyRef>")
            lines.append(f"<ListID>{_text(currency.list_id)}</ListID>")
            lines.append(f"<FullName>{_text(currency.name)}</FullName>")
            lines.append("</CurrencyRef>")
        if wanted("ExchangeRate"):
            lines.append(f"<ExchangeRate>{_float_text(rate)}</ExchangeRate>")
        if wanted(amount_tag):
            lines.append(f"<{amount_tag}>{_money(_in_home_currency(amount, rate))}</{amount_tag}>")

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
        self._write_currency_lines(
            lines, wanted, payment.currency, payment.exchange_rate, payment.amount, "AmountInHomeCurrency"
        )
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
                # The cash part only; a discount and credits are listed after it (inferred from
                # the field names: "Amount" is what THIS payment paid, NOTES §2).
                lines.append(f"<Amount>{_money(application.amount)}</Amount>")
                if application.discount:
                    lines.append(f"<DiscountAmount>{_money(application.discount)}</DiscountAmount>")
                    _ref(lines, "DiscountAccountRef", self._discount_account_ref())
                for credit_txn_id, used in application.credits:
                    self._write_credit_link(lines, self._credits[credit_txn_id], used)
                lines.append("</AppliedToTxnRet>")
        lines.append(f"</{ret_tag}>")

    def _write_credit_link(self, lines: list[str], credit: _VendorCredit, used: Decimal) -> None:
        lines.append("<LinkedTxn>")
        lines.append(f"<TxnID>{credit.txn_id}</TxnID>")
        lines.append(f"<TxnType>{_CREDIT_TXN_TYPE}</TxnType>")
        lines.append(f"<TxnDate>{credit.txn_date.isoformat()}</TxnDate>")
        lines.append(f"<RefNumber>{_text(credit.ref_number)}</RefNumber>")
        lines.append("<LinkType>AMTTYPE</LinkType>")
        # The credit used on this bill, signed from the bill's side like every linked amount the
        # sandbox prints (NOTES §2: the captured ReceivePaymentRet's LinkedTxn is -100.00 against
        # an applied 100.00), so a credit of 50.00 used shows -50.00 (inferred).
        lines.append(f"<Amount>{_money(-used)}</Amount>")
        lines.append("</LinkedTxn>")

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
        self._write_currency_lines(
            lines, wanted, bill.currency, bill.exchange_rate, bill.amount_due, "AmountDueInHomeCurrency"
        )
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
                # Vendor credits that payment used on this bill are linked to the bill too; the
                # discount is not a transaction, so it has no link (inferred).
                for application in payment.applications:
                    if application.bill_txn_id == bill.txn_id:
                        for credit_txn_id, used in application.credits:
                            self._write_credit_link(lines, self._credits[credit_txn_id], used)
        if query.include_line_items and wanted("ExpenseLineRet"):
            lines.append("<ExpenseLineRet>")
            lines.append(f"<TxnLineID>{bill.expense_line_id}</TxnLineID>")
            _ref(lines, "AccountRef", self.expense_account)
            lines.append(f"<Amount>{_money(bill.amount_due)}</Amount>")
            lines.append("</ExpenseLineRet>")
        if wanted("OpenAmount"):
            lines.append(f"<OpenAmount>{_money(bill.open_amount)}</OpenAmount>")
        lines.append("</BillRet>")

    def _write_vendor_ret(self, lines: list[str], vendor: _Vendor, wanted: Callable[[str], bool]) -> None:
        # Element order: qbxml130.xsd VendorRet. Every child is optional in 13.0 (minOccurs 0);
        # the sandbox sends what it knows: ListCore, Name, IsActive, CompanyName, NameOnCheck,
        # IsVendorEligibleFor1099, Balance and, in multicurrency files only, CurrencyRef.
        lines.append("<VendorRet>")
        if wanted("ListID"):
            lines.append(f"<ListID>{_text(vendor.list_id)}</ListID>")
        if wanted("TimeCreated"):
            lines.append(f"<TimeCreated>{_printed_time(vendor.time_created)}</TimeCreated>")
        if wanted("TimeModified"):
            lines.append(f"<TimeModified>{_printed_time(vendor.time_modified)}</TimeModified>")
        if wanted("EditSequence"):
            lines.append(f"<EditSequence>{_text(vendor.edit_sequence)}</EditSequence>")
        if wanted("Name"):
            lines.append(f"<Name>{_text(vendor.full_name)}</Name>")
        if wanted("IsActive"):
            lines.append("<IsActive>true</IsActive>")
        if wanted("CompanyName"):
            lines.append(f"<CompanyName>{_text(vendor.full_name)}</CompanyName>")
        if wanted("NameOnCheck"):
            lines.append(f"<NameOnCheck>{_text(vendor.full_name)}</NameOnCheck>")
        if wanted("IsVendorEligibleFor1099"):
            lines.append("<IsVendorEligibleFor1099>false</IsVendorEligibleFor1099>")
        if wanted("Balance"):
            lines.append(f"<Balance>{_money(self._vendor_balance(vendor))}</Balance>")
        if self.multicurrency and wanted("CurrencyRef"):
            currency = self._currencies[vendor.currency]
            lines.append("<CurrencyRef>")
            lines.append(f"<ListID>{_text(currency.list_id)}</ListID>")
            lines.append(f"<FullName>{_text(currency.name)}</FullName>")
            lines.append("</CurrencyRef>")
        lines.append("</VendorRet>")

    def _write_currency_ret(
        self, lines: list[str], currency: _Currency, wanted: Callable[[str], bool]
    ) -> None:
        # Element order: qbxml130.xsd CurrencyRet.
        lines.append("<CurrencyRet>")
        if wanted("ListID"):
            lines.append(f"<ListID>{_text(currency.list_id)}</ListID>")
        if wanted("TimeCreated"):
            lines.append(f"<TimeCreated>{_printed_time(currency.time_created)}</TimeCreated>")
        if wanted("TimeModified"):
            lines.append(f"<TimeModified>{_printed_time(currency.time_modified)}</TimeModified>")
        if wanted("EditSequence"):
            lines.append(f"<EditSequence>{_text(currency.edit_sequence)}</EditSequence>")
        if wanted("Name"):
            lines.append(f"<Name>{_text(currency.name)}</Name>")
        if wanted("IsActive"):
            lines.append("<IsActive>true</IsActive>")
        if wanted("CurrencyCode"):
            lines.append(f"<CurrencyCode>{currency.code}</CurrencyCode>")
        if wanted("IsUserDefinedCurrency"):
            lines.append("<IsUserDefinedCurrency>false</IsUserDefinedCurrency>")
        # The home currency and a currency whose rate was never set carry no rate (inferred).
        if currency.code != self.home_currency and currency.exchange_rate is not None:
            if wanted("ExchangeRate"):
                lines.append(f"<ExchangeRate>{_float_text(currency.exchange_rate)}</ExchangeRate>")
            if currency.as_of is not None and wanted("AsOfDate"):
                lines.append(f"<AsOfDate>{currency.as_of.isoformat()}</AsOfDate>")
        lines.append("</CurrencyRet>")

    # ---- internals: data -----------------------------------------------------------------

    def _new_txn_id(self) -> str:
        # Like QuickBooks' "B7-1417040299": a hex counter, then the Unix time of creation.
        txn_id = f"{self._next_txn_counter:X}-{self._now}"
        self._next_txn_counter += 1
        return txn_id

    def _new_list_id(self) -> str:
        list_id = f"{self._next_list_counter:X}-{self._now}"
        self._next_list_counter += 1
        return list_id

    def _new_list_object(self, full_name: str) -> _ListObject:
        return _ListObject(list_id=self._new_list_id(), full_name=full_name)

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

    def _stamp_currency(self, currency: _Currency) -> None:
        currency.time_modified = self._now
        currency.edit_sequence = self._next_edit_sequence(currency.edit_sequence)

    def _currency(self, code: str) -> _Currency:
        currency = self._currencies.get(code.upper())
        if currency is None:
            raise ValueError(f"unknown currency code {code!r}")
        return currency

    def _credit(self, txn_id: str) -> _VendorCredit:
        credit = self._credits.get(txn_id)
        if credit is None:
            raise KeyError(f"no vendor credit {txn_id}")
        return credit

    def _discount_account_ref(self) -> _ListObject:
        # Pay Bills asks for a discount account; a contractor file typically books early-payment
        # discounts to an income account like this one (name: sandbox choice).
        if self._discount_account is None:
            self._discount_account = self._new_list_object("Purchase Discounts")
        return self._discount_account

    def _vendor_balance(self, vendor: _Vendor) -> Decimal:
        """Open bills less unused credits, in the vendor's currency (inferred)."""
        owed = sum((b.open_amount for b in self._bills.values() if b.vendor is vendor), _ZERO)
        return owed - sum((c.remaining for c in self._credits.values() if c.vendor is vendor), _ZERO)

    def _apply(self, payment: _Payment) -> None:
        """Records a payment's applications on its bills and the credits it uses."""
        for application in payment.applications:
            bill = self._bills[application.bill_txn_id]
            bill.applied_by[payment.txn_id] = application.amount
            if application.reduction:
                bill.reduced_by[payment.txn_id] = application.reduction
            for credit_txn_id, used in application.credits:
                credit = self._credits[credit_txn_id]
                credit.used_by[payment.txn_id] = credit.used_by.get(payment.txn_id, _ZERO) + used

    def _unapply(self, payment: _Payment) -> None:
        for application in payment.applications:
            bill = self._bills[application.bill_txn_id]
            bill.applied_by.pop(payment.txn_id, None)
            bill.reduced_by.pop(payment.txn_id, None)
            for credit_txn_id, _used in application.credits:
                self._credits[credit_txn_id].used_by.pop(payment.txn_id, None)

    def _vendor(self, name_or_list_id: str) -> _Vendor:
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
        self,
        vendor: _Vendor,
        applications: list[tuple[str, Decimal]],
        *,
        replacing: _Payment | None,
        discounts: dict[str, Decimal] | None = None,
        credits: dict[str, list[tuple[str, Decimal]]] | None = None,
    ) -> list[_Application]:
        if not applications:
            raise ValueError("a bill payment must pay at least one bill")
        discounts = discounts or {}
        credits = credits or {}
        paid_bills = {bill_txn_id for bill_txn_id, _amount in applications}
        for bill_txn_id in [*discounts, *credits]:
            if bill_txn_id not in paid_bills:
                raise ValueError(
                    f"bill {bill_txn_id} has a discount or credit but is not in the applications"
                )
        checked: list[_Application] = []
        seen: set[str] = set()
        credit_totals: dict[str, Decimal] = {}
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
            discount = _checked_amount(discounts[bill_txn_id]) if bill_txn_id in discounts else _ZERO
            used_credits: list[tuple[str, Decimal]] = []
            for credit_txn_id, used in credits.get(bill_txn_id, []):
                credit = self._credit(credit_txn_id)
                if credit.vendor is not vendor:
                    raise ValueError(
                        f"credit {credit_txn_id} belongs to {credit.vendor.full_name}, not {vendor.full_name}"
                    )
                used = _checked_amount(used)
                credit_totals[credit_txn_id] = credit_totals.get(credit_txn_id, _ZERO) + used
                used_credits.append((credit_txn_id, used))
            # Cash may be 0.00 only when a discount or credit settles the bill instead (inferred).
            amount = _checked_amount(amount, allow_zero=bool(discount or used_credits))
            available = bill.open_amount
            if replacing is not None:
                available += bill.applied_by.get(replacing.txn_id, Decimal("0.00"))
                available += bill.reduced_by.get(replacing.txn_id, _ZERO)
            settled = amount + discount + sum((used for _c, used in used_credits), _ZERO)
            if settled > available:
                raise ValueError(
                    f"bill {bill_txn_id} has only {_money(available)} open; cannot apply {_money(settled)}"
                )
            checked.append(
                _Application(bill_txn_id=bill_txn_id, amount=amount, discount=discount, credits=used_credits)
            )
        for credit_txn_id, total in credit_totals.items():
            credit = self._credits[credit_txn_id]
            left = credit.remaining
            if replacing is not None:
                left += credit.used_by.get(replacing.txn_id, _ZERO)
            if total > left:
                raise ValueError(
                    f"credit {credit_txn_id} has only {_money(left)} left; cannot use {_money(total)}"
                )
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
            currency=payment.currency,
            exchange_rate=payment.exchange_rate,
            discounts=tuple((a.bill_txn_id, a.discount) for a in payment.applications if a.discount),
            credits=tuple(
                (a.bill_txn_id, credit_txn_id, used)
                for a in payment.applications
                for credit_txn_id, used in a.credits
            ),
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
            currency=bill.currency,
            exchange_rate=bill.exchange_rate,
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


def _checked_amount(amount: Decimal, *, allow_zero: bool = False) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    try:
        cents = amount.quantize(_CENT)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount}") from exc
    if cents != amount or cents < 0 or (cents == 0 and not allow_zero):
        raise ValueError(f"an amount must be positive, in whole cents: {amount}")
    return cents


def _check_payment_fields(check_number: str | None, memo: str | None) -> None:
    if check_number is not None and len(check_number) > _MAX_PAYMENT_REF:
        raise ValueError(f"a payment RefNumber has at most {_MAX_PAYMENT_REF} characters: {check_number!r}")
    if memo is not None and len(memo) > _MAX_MEMO:
        raise ValueError(f"a memo has at most {_MAX_MEMO} characters")


def _default_product_name(country: str, product_year: int) -> str:
    if product_year == DEFAULT_PRODUCT_YEAR:
        return DEFAULT_PRODUCT_NAMES.get(country, f"QuickBooks Enterprise Solutions {country} 24.0")
    # "QuickBooks Pro 2014" is the captured US form (NOTES §5); the Canadian and UK forms are (inferred).
    edition = {"US": "", "CA": " Canadian Edition", "UK": " UK Edition"}.get(country, f" {country}")
    return f"QuickBooks Pro {product_year}{edition}"


def _corrupted(ret_lines: list[str], corruptions: dict[str, str | None]) -> list[str]:
    """One Ret with corrupt_field's raw values put in (or elements taken out)."""
    ret = etree.fromstring("\n".join(ret_lines).encode("utf-8"))
    for path, raw_text in corruptions.items():
        for target in ret.findall(path):
            parent = target.getparent()
            if parent is None:
                continue
            if raw_text is None:
                parent.remove(target)
            else:
                for child in list(target):
                    target.remove(child)
                target.text = raw_text
    return [etree.tostring(ret, encoding="unicode")]


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
