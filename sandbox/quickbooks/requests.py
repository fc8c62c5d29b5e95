"""Reading and checking request documents as QuickBooks' parser does: well-formed XML without a
DOCTYPE, children in the element order the qbXML 13.0 schema allows, only the attributes it allows,
values of the right type. A violation is the parse error (NOTES §11 shows the XSD rejecting a
misplaced MaxReturned; that QuickBooks itself rejects it the same way is the well-known behaviour,
but (inferred) here). A bad date is not a parse error: status 3020 on that request.

``QueryShape`` is one schema group of query requests (which children, in which order, which
attributes, so whether iterators are allowed); ``read_query`` reads any of them into one ``Query``.
Valid qbXML the sandbox does not emulate (AccountFilter, RefNumberFilter, DateMacro, …) raises
NotImplementedError: failing loudly beats silently ignoring a filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Final

from lxml import etree

from sandbox.quickbooks.clock import STANDARD_OFFSET, epoch_of_wall_clock
from sandbox.quickbooks.errors import InvalidDate, QuickBooksParseError


@dataclass(frozen=True)
class QueryShape:
    """What the 13.0 schema allows in one kind of query request."""

    group: str  # the qbxml130.xsd group or request type it follows
    children: re.Pattern[str]  # the order of its children, over "Name " words
    attributes: frozenset[str]

    @property
    def iterates(self) -> bool:
        return "iterator" in self.attributes


# Children as regular expressions over child names (group TxnFilter; group ListFilter, to which
# VendorListFilter adds TotalBalanceFilter, CurrencyFilter and ClassFilter).
_TXN_FILTER = (
    r"(MaxReturned )?(ModifiedDateRangeFilter |TxnDateRangeFilter )?(EntityFilter )?(AccountFilter )?"
    r"(RefNumberFilter |RefNumberRangeFilter )?(CurrencyFilter )?"
)
_LIST_FILTER = (
    r"(MaxReturned )?(ActiveStatus )?(FromModifiedDate )?(ToModifiedDate )?(NameFilter |NameRangeFilter )?"
)
_TXN_CHOICE = rf"(TxnID )+|(RefNumber )+|(RefNumberCaseSensitive )+|{_TXN_FILTER}"
_ITERATING = frozenset({"requestID", "metaData", "iterator", "iteratorID"})
_NOT_ITERATING = frozenset({"requestID", "metaData"})

TXN_QUERY: Final = QueryShape(
    "TxnQuery",
    re.compile(rf"({_TXN_CHOICE})(IncludeLineItems )?(IncludeRetElement )*(OwnerID )*"),
    _ITERATING,
)
TXN_QUERY_WITH_LINKED_FILTER: Final = QueryShape(
    "TxnQueryWithLinkedFilter",
    re.compile(rf"({_TXN_CHOICE})(IncludeLineItems )?(IncludeLinkedTxns )?(IncludeRetElement )*(OwnerID )*"),
    _ITERATING,
)
BILL_QUERY: Final = QueryShape(  # TxnQueryWithLinkedFilter whose filter adds PaidStatus
    "BillQuery",
    re.compile(
        rf"({_TXN_CHOICE}(PaidStatus )?)(IncludeLineItems )?(IncludeLinkedTxns )?(IncludeRetElement )*(OwnerID )*"
    ),
    _ITERATING,
)
VENDOR_LIST_QUERY: Final = QueryShape(
    "VendorListQuery",
    re.compile(
        rf"((ListID )+|(FullName )+|{_LIST_FILTER}(TotalBalanceFilter )?(CurrencyFilter )?(ClassFilter )?)"
        r"(IncludeRetElement )*(OwnerID )*"
    ),
    _ITERATING,
)
CURRENCY_QUERY: Final = QueryShape(  # group ListQuery; CurrencyQueryRqType has no OwnerID, no iterators
    "CurrencyQueryRqType",
    re.compile(rf"((ListID )+|(FullName )+|{_LIST_FILTER})(IncludeRetElement )*"),
    _NOT_ITERATING,
)
TXN_DELETED_QUERY: Final = QueryShape(
    "TxnDeletedQueryRqType",
    re.compile(r"(TxnDelType )+(DeletedDateRangeFilter )?(IncludeRetElement )*"),
    _NOT_ITERATING,
)
HOST_QUERY: Final = QueryShape(
    "HostQueryRqType", re.compile(r"(IncludeListMetaData )?(IncludeRetElement )*"), frozenset({"requestID"})
)
COMPANY_QUERY: Final = QueryShape(
    "CompanyQueryRqType", re.compile(r"(IncludeRetElement )*(OwnerID )*"), frozenset({"requestID"})
)
_FILTER_CHILD_ORDER: Final[dict[str, re.Pattern[str]]] = {
    "ModifiedDateRangeFilter": re.compile(r"(FromModifiedDate )?(ToModifiedDate )?"),
    "DeletedDateRangeFilter": re.compile(r"(FromDeletedDate )?(ToDeletedDate )?"),
    "TxnDateRangeFilter": re.compile(r"(FromTxnDate )?(ToTxnDate )?|DateMacro "),
    "EntityFilter": re.compile(r"(ListID )+|(FullName )+|ListIDWithChildren |FullNameWithChildren "),
    "NameFilter": re.compile(r"MatchCriterion Name "),
    "NameRangeFilter": re.compile(r"(FromName )?(ToName )?"),
    "CurrencyFilter": re.compile(r"(ListID )+|(FullName )+"),
    "TotalBalanceFilter": re.compile(r"Operator Amount "),
}
TXN_DEL_TYPES: Final = frozenset(
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


def parse_document(request_xml: str) -> etree._Element:
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


def children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def check_children(element: etree._Element, pattern: re.Pattern[str] | None = None) -> list[etree._Element]:
    """The element's children, if their order is one the schema allows (``pattern``; by default
    the pattern of a filter element), else the parse error."""
    found = children(element)
    pattern = pattern or _FILTER_CHILD_ORDER.get(str(element.tag))
    if pattern is not None and not pattern.fullmatch("".join(f"{child.tag} " for child in found)):
        names = ", ".join(str(child.tag) for child in found)
        raise QuickBooksParseError(f"{element.tag}: children ({names}) are not in an order the schema allows")
    return found


def leaf_text(element: etree._Element) -> str:
    if children(element):
        raise QuickBooksParseError(f"{element.tag} must hold text, not elements")
    return (element.text or "").strip()


def _bool(element: etree._Element) -> bool:
    value = leaf_text(element)
    if value not in ("true", "false", ""):
        raise QuickBooksParseError(f"{element.tag}: {value!r} is not a BOOLTYPE")
    return value == "true"


def _positive_int(element: etree._Element) -> int:
    value = leaf_text(element)
    if not re.fullmatch(r"[+]?\d+", value) or int(value) < 1:
        raise QuickBooksParseError(f"{element.tag}: {value!r} is not an integer of at least 1")
    return int(value)


def parse_datetime(element: etree._Element, *, end_of_period: bool) -> int | None:
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
    value = leaf_text(element)
    if value == "":
        return None
    match = _DATETIME_PATTERN.fullmatch(value)
    if match is None:
        raise InvalidDate(str(element.tag), value)
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
            wall_clock = given.astimezone(STANDARD_OFFSET).replace(tzinfo=None)
    except ValueError as exc:
        raise InvalidDate(str(element.tag), value) from exc
    # NOTES §8: QuickBooks accepts 1970-01-02 … 2037-12-31 in modified-date filters.
    if not (datetime(1970, 1, 2) <= wall_clock <= datetime(2037, 12, 31, 23, 59, 59)):
        raise InvalidDate(str(element.tag), value)
    return epoch_of_wall_clock(wall_clock)


def parse_date(element: etree._Element) -> date | None:
    value = leaf_text(element)
    if value == "":
        return None
    if not _DATE_PATTERN.fullmatch(value):
        raise InvalidDate(str(element.tag), value)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidDate(str(element.tag), value) from exc


@dataclass
class Query:
    """One query request, read and checked: the filters of any query kind (a kind's schema group
    decides which can be set). ``ids`` are TxnIDs or ListIDs; ``names`` RefNumbers or FullNames;
    ``time_from`` / ``time_to`` the modified-date range (for deleted transactions, the deleted-date
    range), in epoch seconds."""

    request_type: str
    request_id: str | None
    meta_data: str = "NoMetaData"
    iterator: str | None = None
    iterator_id: str | None = None
    ids: list[str] | None = None
    names: list[str] | None = None
    names_case_sensitive: bool = False  # RefNumberCaseSensitive
    max_returned: int | None = None
    time_from: int | None = None
    time_to: int | None = None
    txn_date_from: date | None = None
    txn_date_to: date | None = None
    entity_list_ids: frozenset[str] | None = None
    entity_names: frozenset[str] | None = None  # case-folded
    paid_status: str = "All"
    active_status: str = "ActiveOnly"  # the schema's default
    name_criterion: str | None = None  # NameFilter: StartsWith | Contains | EndsWith
    name_value: str | None = None  # case-folded, like the NameRangeFilter bounds
    name_from: str | None = None
    name_to: str | None = None
    currency_list_ids: frozenset[str] | None = None
    currency_names: frozenset[str] | None = None  # case-folded
    del_types: frozenset[str] | None = None
    include_line_items: bool = False
    include_linked_txns: bool = False
    include_ret_elements: frozenset[str] | None = None


def read_query(rq: etree._Element, shape: QueryShape) -> Query:
    """Reads a query request of this shape; raises the parse error, InvalidDate, or
    NotImplementedError for a filter the sandbox does not emulate."""
    query = Query(
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
    del_types: set[str] = set()
    for child in check_children(rq, shape.children):
        tag = str(child.tag)
        if tag in ("TxnID", "ListID"):
            query.ids = [*(query.ids or []), leaf_text(child)]
        elif tag in ("RefNumber", "FullName", "RefNumberCaseSensitive"):
            query.names = [*(query.names or []), leaf_text(child)]
            query.names_case_sensitive = tag == "RefNumberCaseSensitive"
        elif tag == "MaxReturned":
            query.max_returned = _positive_int(child)
        elif tag in ("ModifiedDateRangeFilter", "DeletedDateRangeFilter"):
            for bound in check_children(child):
                if bound.tag in ("FromModifiedDate", "FromDeletedDate"):
                    query.time_from = parse_datetime(bound, end_of_period=False)
                else:
                    query.time_to = parse_datetime(bound, end_of_period=True)
        elif tag == "FromModifiedDate":
            query.time_from = parse_datetime(child, end_of_period=False)
        elif tag == "ToModifiedDate":
            query.time_to = parse_datetime(child, end_of_period=True)
        elif tag == "TxnDateRangeFilter":
            for bound in check_children(child):
                if bound.tag == "DateMacro":
                    raise NotImplementedError(
                        "the QuickBooks sandbox does not emulate TxnDateRangeFilter/DateMacro"
                    )
                if bound.tag == "FromTxnDate":
                    query.txn_date_from = parse_date(bound)
                else:
                    query.txn_date_to = parse_date(bound)
        elif tag == "EntityFilter":
            entity_children = check_children(child)
            if entity_children[0].tag == "ListID":
                query.entity_list_ids = frozenset(leaf_text(item) for item in entity_children)
            elif entity_children[0].tag == "FullName":
                query.entity_names = frozenset(leaf_text(item).casefold() for item in entity_children)
            else:
                raise NotImplementedError(
                    f"the QuickBooks sandbox does not emulate EntityFilter/{entity_children[0].tag}"
                )
        elif tag == "PaidStatus":
            query.paid_status = leaf_text(child) or "All"
            if query.paid_status not in ("All", "PaidOnly", "NotPaidOnly"):
                raise QuickBooksParseError(f"PaidStatus: {query.paid_status!r} is not allowed")
        elif tag == "ActiveStatus":
            query.active_status = leaf_text(child) or "ActiveOnly"
            if query.active_status not in ("ActiveOnly", "InactiveOnly", "All"):
                raise QuickBooksParseError(f"ActiveStatus: {query.active_status!r} is not allowed")
        elif tag == "NameFilter":
            criterion, name = check_children(child)
            query.name_criterion = leaf_text(criterion)
            if query.name_criterion not in ("StartsWith", "Contains", "EndsWith"):
                raise QuickBooksParseError(f"MatchCriterion: {query.name_criterion!r} is not allowed")
            query.name_value = leaf_text(name).casefold()
        elif tag == "NameRangeFilter":
            for bound in check_children(child):
                if bound.tag == "FromName":
                    query.name_from = leaf_text(bound).casefold()
                else:
                    query.name_to = leaf_text(bound).casefold()
        elif tag == "CurrencyFilter":
            items = check_children(child)
            if items[0].tag == "ListID":
                query.currency_list_ids = frozenset(leaf_text(item) for item in items)
            else:
                query.currency_names = frozenset(leaf_text(item).casefold() for item in items)
        elif tag == "TxnDelType":
            del_type = leaf_text(child)
            if del_type not in TXN_DEL_TYPES:
                raise QuickBooksParseError(f"TxnDelType {del_type!r} is not allowed")
            del_types.add(del_type)
        elif tag == "IncludeLineItems":
            query.include_line_items = _bool(child)
        elif tag == "IncludeLinkedTxns":
            query.include_linked_txns = _bool(child)
        elif tag == "IncludeRetElement":
            ret_elements.append(leaf_text(child))
        elif tag == "OwnerID":
            pass  # no custom fields (DataExt) in the sandbox, so there is nothing to add
        else:
            # AccountFilter, RefNumberFilter, RefNumberRangeFilter, TotalBalanceFilter, ClassFilter:
            # valid qbXML that the sandbox does not emulate.
            raise NotImplementedError(f"the QuickBooks sandbox does not emulate {rq.tag}/{tag}")
    if ret_elements:
        query.include_ret_elements = frozenset(ret_elements)
    if del_types:
        query.del_types = frozenset(del_types)
    return query
