"""The queries the sandbox answers: one table entry per kind of query request.

``QUERY_KINDS`` holds every query answered from the company file's records; one request-handling
path (``answers.py``, ``matching.py``) serves them all. An entry names:

- ``ret``: the Ret element each record is written as;
- ``shape``: the request's schema group (``requests.py``): which children it allows, in which
  order, and its attributes; so which filters apply (TxnID / ListID lists, RefNumber / FullName
  lists, modified-date ranges, MaxReturned, IncludeRetElement, …) and whether iterators may be used;
- ``records``: its record collection in the books, by TxnID or ListID;
- ``order``: the order unfiltered answers come in (TimeModified for transactions, name for lists),
  readable within a modified-date range;
- ``named``: for list objects, their index by case-folded FullName (FullName lookups);
- ``write``: how to write one record's children, in 13.0 schema order (``rendering.py``);
- what else the kind takes part in: injected statuses (``inject_status``), the multicurrency gate,
  ``corrupt_field``.

To answer a new kind of record (VendorCreditQueryRq was added this way; ItemReceiptQueryRq would be):

1. ``records.py``: its record, with the attributes the filters read: for a transaction
   ``txn_id``, ``ref_number``, ``txn_date``, ``vendor``, ``currency``, ``time_modified``; for a
   list object ``list_id``, ``full_name``, ``time_modified``.
2. ``books.py``: a dict of them by id and a ``ModifiedIndex``, touched whenever one is made or
   changes (TimeModified order is the answer order and serves modified-date ranges).
3. ``rendering.py``: a writer of its Ret's children in qbxml130.xsd order.
4. Here: one entry naming the Ret, the shape of its request's schema group (``requests.py`` has
   TxnQuery, TxnQueryWithLinkedFilter, BillQuery, VendorListQuery, …; add a ``QueryShape`` there
   only for a group not yet listed), the records, their order and the writer.

No request-handling code changes. A filter the sandbox does not read fails loudly
(NotImplementedError), as does any request type not listed here or in ``FILE_QUERIES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sandbox.quickbooks.books import Books, NameOrder, Ordering
from sandbox.quickbooks.host import FileFacts, company_rs, host_rs
from sandbox.quickbooks.rendering import (
    RetContext,
    write_bill,
    write_bill_payment,
    write_currency,
    write_txn_deleted,
    write_vendor,
    write_vendor_credit,
)
from sandbox.quickbooks.requests import (
    BILL_QUERY,
    COMPANY_QUERY,
    CURRENCY_QUERY,
    HOST_QUERY,
    TXN_DELETED_QUERY,
    TXN_QUERY,
    TXN_QUERY_WITH_LINKED_FILTER,
    VENDOR_LIST_QUERY,
    QueryShape,
)


@dataclass(frozen=True)
class QueryKind:
    """One kind of query answered from the records (see the module docstring)."""

    ret: str
    shape: QueryShape
    records: Callable[[Books], Mapping[str, Any]]
    order: Callable[[Books], Ordering]
    write: Callable[[list[str], Any, RetContext], None]
    named: Callable[[Books], Mapping[str, Any]] | None = None
    takes_injected_status: bool = False  # inject_status answers it in place of the records
    needs_multicurrency: bool = False  # status 3250 when multicurrency is off
    corruptible: bool = True  # corrupt_field may change its Rets


QUERY_KINDS: Final[dict[str, QueryKind]] = {
    "BillPaymentCheckQueryRq": QueryKind(
        ret="BillPaymentCheckRet",
        shape=TXN_QUERY,
        records=lambda books: books.payments_of["check"],
        order=lambda books: books.payment_index["check"],
        write=write_bill_payment,
        takes_injected_status=True,
    ),
    "BillPaymentCreditCardQueryRq": QueryKind(
        ret="BillPaymentCreditCardRet",
        shape=TXN_QUERY,
        records=lambda books: books.payments_of["credit_card"],
        order=lambda books: books.payment_index["credit_card"],
        write=write_bill_payment,
        takes_injected_status=True,
    ),
    "BillQueryRq": QueryKind(
        ret="BillRet",
        shape=BILL_QUERY,
        records=lambda books: books.bills,
        order=lambda books: books.bill_index,
        write=write_bill,
    ),
    "VendorCreditQueryRq": QueryKind(
        ret="VendorCreditRet",
        shape=TXN_QUERY_WITH_LINKED_FILTER,
        records=lambda books: books.credits,
        order=lambda books: books.credit_index,
        write=write_vendor_credit,
    ),
    "VendorQueryRq": QueryKind(
        ret="VendorRet",
        shape=VENDOR_LIST_QUERY,
        records=lambda books: books.vendors_by_id,
        order=lambda books: NameOrder(books.vendors_by_id),
        named=lambda books: books.vendors_by_name,
        write=write_vendor,
    ),
    "CurrencyQueryRq": QueryKind(
        ret="CurrencyRet",
        shape=CURRENCY_QUERY,
        records=lambda books: books.currencies.by_list_id,
        order=lambda books: NameOrder(books.currencies.by_list_id),
        named=lambda books: books.currencies.named(),
        write=write_currency,
        needs_multicurrency=True,
    ),
    "TxnDeletedQueryRq": QueryKind(  # TxnDelType and DeletedDateRangeFilter; no ids, no iterators
        ret="TxnDeletedRet",
        shape=TXN_DELETED_QUERY,
        records=lambda books: books.deleted,
        order=lambda books: books.deletion_log,
        write=write_txn_deleted,
        corruptible=False,
    ),
}


@dataclass(frozen=True)
class FileQuery:
    """A query about the file itself rather than its records: one fixed answer."""

    shape: QueryShape
    answer: Callable[[FileFacts, str | None], list[str]]


FILE_QUERIES: Final[dict[str, FileQuery]] = {
    "HostQueryRq": FileQuery(HOST_QUERY, host_rs),
    "CompanyQueryRq": FileQuery(COMPANY_QUERY, company_rs),
}
