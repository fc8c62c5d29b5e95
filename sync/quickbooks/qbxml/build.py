"""Build qbXML 13.0 request documents (QuickBooks date-times are read and written by times.py).

Every function returns a complete document: XML declaration, `<?qbxml version="13.0"?>`, then
`<QBXML><QBXMLMsgsRq onError="continueOnError">`. Children are emitted in schema order (the XSD
rejects any other order; NOTES §11). Documents are produced by xmltodict.unparse from ordered
dicts, which escapes `&`, `<`, `>` and quotes, so user text cannot break the XML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import xmltodict

from .records import PaymentKind
from .times import format_qb_datetime

QBXML_VERSION = "13.0"
IteratorMode = Literal["Start", "Continue", "Stop"]

_HEADER = f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{QBXML_VERSION}"?>\n'

_PAYMENT_QUERY_RQ: dict[str, str] = {
    "check": "BillPaymentCheckQueryRq",
    "credit_card": "BillPaymentCreditCardQueryRq",
}

# Limits from the 13.0 schema and QuickBooks (NOTES §2-§3, §8).
_MAX_TXN_ID_CHARS = 36  # IDTYPE
_MAX_BILL_REF_NUMBER_CHARS = 20  # BillRet RefNumber
_EARLIEST_FILTER_YEAR = 1970  # QuickBooks accepts modified/deleted filters 1970-01-02 .. 2037-12-31
_LATEST_FILTER_YEAR = 2037

# Characters XML 1.0 cannot carry at all, even escaped.
_XML_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# ---------------------------------------------------------------------------------------------
# Filter times


def _filter_datetime(dt: datetime, what: str) -> str:
    if not _EARLIEST_FILTER_YEAR <= dt.year <= _LATEST_FILTER_YEAR:
        raise ValueError(
            f"{what} {dt.isoformat()} is outside the range QuickBooks accepts "
            f"({_EARLIEST_FILTER_YEAR}-01-02 to {_LATEST_FILTER_YEAR}-12-31)."
        )
    return format_qb_datetime(dt)


# ---------------------------------------------------------------------------------------------
# Input checks


def _checked_text(value: str, what: str, *, max_chars: int | None = None) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} is empty; QuickBooks needs a value.")
    if _XML_ILLEGAL_CHARS.search(value):
        raise ValueError(f"{what} {value!r} contains control characters that XML cannot carry; remove them.")
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(
            f"{what} {value!r} is {len(value)} characters long; QuickBooks allows at most {max_chars}."
        )
    return value


def _checked_list(values: Sequence[str], what: str, *, max_chars: int) -> list[str]:
    if isinstance(values, str):  # a bare str is a Sequence[str] too: almost certainly a mistake
        raise TypeError(f"{what} must be a sequence of strings, not a single string {values!r}")
    return [_checked_text(value, what, max_chars=max_chars) for value in values]


def _checked_max_returned(max_returned: int) -> int:
    if isinstance(max_returned, bool) or not isinstance(max_returned, int) or max_returned < 1:
        raise ValueError(f"max_returned must be a whole number of at least 1, got {max_returned!r}.")
    return max_returned


def _iterator_attributes(iterator: IteratorMode | None, iterator_id: str | None) -> dict[str, str]:
    if iterator is None:
        if iterator_id is not None:
            raise ValueError("iterator_id was given without iterator='Continue' or 'Stop'.")
        return {}
    if iterator not in ("Start", "Continue", "Stop"):
        raise ValueError(f"iterator must be 'Start', 'Continue', 'Stop' or None, got {iterator!r}.")
    if iterator == "Start":
        if iterator_id is not None:
            raise ValueError("iterator='Start' opens a new iterator; do not pass iterator_id.")
        return {"@iterator": "Start"}
    if iterator_id is None:
        raise ValueError(
            f"iterator={iterator!r} needs the iterator_id QuickBooks returned with iterator='Start'."
        )
    return {"@iterator": iterator, "@iteratorID": _checked_text(iterator_id, "iterator_id")}


# ---------------------------------------------------------------------------------------------
# Documents


def _document(requests: list[tuple[str, dict[str, Any]]]) -> str:
    """Wrap (element name, content) pairs in QBXML/QBXMLMsgsRq, keeping their order."""
    # Repeated element names need a list under one key; the message set only ever mixes distinct
    # request types here, so a dict keeps document order.
    names = [name for name, _ in requests]
    if len(set(names)) != len(names):
        raise ValueError(f"one request of each type per document, got {names}")
    messages: dict[str, Any] = {"@onError": "continueOnError"}
    messages.update(requests)
    body = xmltodict.unparse({"QBXML": {"QBXMLMsgsRq": messages}}, full_document=False)
    return _HEADER + str(body)


def build_host_query(request_id: str) -> str:
    """HostQueryRq + CompanyQueryRq in one message (ids `{request_id}-host` and `{request_id}-company`)."""
    request_id = _checked_text(request_id, "request_id")
    return _document(
        [
            ("HostQueryRq", {"@requestID": f"{request_id}-host"}),
            ("CompanyQueryRq", {"@requestID": f"{request_id}-company"}),
        ]
    )


def build_bill_payment_query(
    kind: PaymentKind,
    *,
    request_id: str,
    modified_from: datetime | None = None,
    max_returned: int = 100,
    iterator: IteratorMode | None = "Start",
    iterator_id: str | None = None,
    txn_ids: Sequence[str] = (),
) -> str:
    """BillPaymentCheckQueryRq (kind "check") or BillPaymentCreditCardQueryRq (kind "credit_card").

    With txn_ids: `TxnID+` only. The schema makes TxnID and TxnFilter a choice, so there is no
    filter, and an iterator makes no sense for a fixed list: the default iterator "Start" is dropped.
    Otherwise: TxnFilter = MaxReturned, then ModifiedDateRangeFilter/FromModifiedDate (inclusive)
    when modified_from is given. IncludeLineItems is always true, or AppliedToTxnRet is missing.
    """
    if kind not in _PAYMENT_QUERY_RQ:
        raise ValueError(f"kind must be 'check' or 'credit_card', got {kind!r}.")
    content: dict[str, Any] = {"@requestID": _checked_text(request_id, "request_id")}
    ids = _checked_list(txn_ids, "txn_ids entry", max_chars=_MAX_TXN_ID_CHARS)
    if ids:
        if modified_from is not None:
            raise ValueError(
                "txn_ids and modified_from cannot be combined: qbXML allows TxnID or a filter, not both."
            )
        if iterator not in ("Start", None) or iterator_id is not None:
            raise ValueError("txn_ids queries return a fixed list and take no iterator.")
        content["TxnID"] = ids
    else:
        content.update(_iterator_attributes(iterator, iterator_id))
        content["MaxReturned"] = str(_checked_max_returned(max_returned))
        if modified_from is not None:
            content["ModifiedDateRangeFilter"] = {
                "FromModifiedDate": _filter_datetime(modified_from, "modified_from")
            }
    content["IncludeLineItems"] = "true"
    return _document([(_PAYMENT_QUERY_RQ[kind], content)])


def build_bill_query(
    *,
    request_id: str,
    txn_ids: Sequence[str] = (),
    ref_numbers: Sequence[str] = (),
    modified_from: datetime | None = None,
    max_returned: int = 100,
    iterator: IteratorMode | None = "Start",
    iterator_id: str | None = None,
) -> str:
    """BillQueryRq by TxnID, by RefNumber (exact, max 20 chars) or by BillFilter (MaxReturned, FromModifiedDate).

    The three are a schema choice, so only one may be given. IncludeLineItems is false (only the
    header is needed) and IncludeLinkedTxns true (the payments linked to each bill).
    """
    content: dict[str, Any] = {"@requestID": _checked_text(request_id, "request_id")}
    ids = _checked_list(txn_ids, "txn_ids entry", max_chars=_MAX_TXN_ID_CHARS)
    refs = _checked_list(ref_numbers, "ref_numbers entry", max_chars=_MAX_BILL_REF_NUMBER_CHARS)
    if ids and refs:
        raise ValueError(
            "Give txn_ids or ref_numbers, not both: qbXML allows only one of them per BillQueryRq."
        )
    if ids or refs:
        if modified_from is not None:
            raise ValueError(
                "modified_from cannot be combined with txn_ids or ref_numbers in one BillQueryRq."
            )
        if iterator not in ("Start", None) or iterator_id is not None:
            raise ValueError("txn_ids / ref_numbers queries return a fixed list and take no iterator.")
        if ids:
            content["TxnID"] = ids
        else:
            content["RefNumber"] = refs
    else:
        content.update(_iterator_attributes(iterator, iterator_id))
        content["MaxReturned"] = str(_checked_max_returned(max_returned))
        if modified_from is not None:
            content["ModifiedDateRangeFilter"] = {
                "FromModifiedDate": _filter_datetime(modified_from, "modified_from")
            }
    content["IncludeLineItems"] = "false"
    content["IncludeLinkedTxns"] = "true"
    return _document([("BillQueryRq", content)])


def build_deleted_query(*, request_id: str, deleted_from: datetime | None = None) -> str:
    """TxnDeletedQueryRq for both bill-payment kinds, optionally from a naive local time (inclusive).

    TxnDeletedQuery has no iterator in qbXML; it returns everything in one answer.
    """
    content: dict[str, Any] = {
        "@requestID": _checked_text(request_id, "request_id"),
        "TxnDelType": ["BillPaymentCheck", "BillPaymentCreditCard"],
    }
    if deleted_from is not None:
        content["DeletedDateRangeFilter"] = {
            "FromDeletedDate": _filter_datetime(deleted_from, "deleted_from")
        }
    return _document([("TxnDeletedQueryRq", content)])


# What PaySync needs of a vendor: who it is and its currency. IncludeRetElement keeps the answer
# small (a VendorRet otherwise carries addresses, contacts and notes).
_VENDOR_RET_ELEMENTS = ("ListID", "TimeModified", "EditSequence", "Name", "CurrencyRef")


def build_vendor_query(*, request_id: str, list_ids: Sequence[str]) -> str:
    """VendorQueryRq for the vendors with these ListIDs (their currency, in multicurrency files)."""
    ids = _checked_list(list_ids, "list_ids entry", max_chars=_MAX_TXN_ID_CHARS)
    if not ids:
        raise ValueError("build_vendor_query needs at least one ListID.")
    content: dict[str, Any] = {
        "@requestID": _checked_text(request_id, "request_id"),
        "ListID": ids,
        "IncludeRetElement": list(_VENDOR_RET_ELEMENTS),
    }
    return _document([("VendorQueryRq", content)])


def build_currency_query(*, request_id: str) -> str:
    """CurrencyQueryRq for every currency of the company file: QuickBooks' names and ISO codes."""
    return _document([("CurrencyQueryRq", {"@requestID": _checked_text(request_id, "request_id")})])
