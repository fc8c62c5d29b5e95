"""Which records answer a query, in the order QuickBooks answers them, for any query kind.

A TxnID or ListID list answers those ids in the order asked (unknown ones are reported missing);
a FullName list answers list objects in the order asked; a RefNumber list answers every
transaction with such a number, in TimeModified order. Otherwise the kind's order is read within
the modified-date range and each record is held against the filters the query set: transaction
date, entity, paid status, active status, name, currency, deleted-transaction type. A filter reads
one attribute of the record (``txn_date``, ``vendor``, ``open_amount``, ``full_name``, ``currency``,
``del_type``), and the schema lets a query set only filters its records have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sandbox.quickbooks.books import Books, Ordering
from sandbox.quickbooks.queries import QueryKind
from sandbox.quickbooks.requests import Query


def find_matches(kind: QueryKind, books: Books, query: Query) -> tuple[list[str], list[str]]:
    """Ids that answer the query, in answer order, and the requested ids or names not found."""
    records = kind.records(books)
    if query.ids is not None:
        wanted = list(dict.fromkeys(query.ids))
        return [i for i in wanted if i in records], [i for i in wanted if i not in records]
    if query.names is not None:
        if kind.named is not None:
            return _by_full_name(kind.named(books), query.names)
        return _by_ref_number(records, kind.order(books), query.names, query.names_case_sensitive)
    currencies = _currency_codes(books, query)
    return [
        record_id
        for record_id in kind.order(books).ordered(query.time_from, query.time_to)
        if _passes(records[record_id], query, currencies)
    ], []


def _by_full_name(named: Mapping[str, Any], names: list[str]) -> tuple[list[str], list[str]]:
    """List objects by name, case-insensitively, in the order asked (without repeats)."""
    wanted = list(dict.fromkeys(names))
    found = [named[n.strip().casefold()].list_id for n in wanted if n.strip().casefold() in named]
    missing = [n for n in wanted if n.strip().casefold() not in named]
    return list(dict.fromkeys(found)), missing


def _by_ref_number(
    records: Mapping[str, Any], order: Ordering, refs: list[str], case_sensitive: bool
) -> tuple[list[str], list[str]]:
    """Every transaction with one of the numbers, in TimeModified order; RefNumber matches
    regardless of case, RefNumberCaseSensitive exactly."""
    normalise: Callable[[str], str] = (lambda ref: ref) if case_sensitive else str.casefold
    wanted_refs = {normalise(ref) for ref in refs}
    matches = [t for t in order.ordered() if normalise(records[t].ref_number or "") in wanted_refs]
    found_refs = {normalise(records[t].ref_number or "") for t in matches}
    return matches, [ref for ref in refs if normalise(ref) not in found_refs]


def _currency_codes(books: Books, query: Query) -> set[str] | None:
    """ISO codes a CurrencyFilter allows (None: no filter)."""
    currencies = books.currencies.by_code.values()
    if query.currency_list_ids is not None:
        return {c.code for c in currencies if c.list_id in query.currency_list_ids}
    if query.currency_names is not None:
        return {c.code for c in currencies if c.name.casefold() in query.currency_names}
    return None


def _passes(record: Any, query: Query, currencies: set[str] | None) -> bool:
    if query.txn_date_from is not None and record.txn_date < query.txn_date_from:
        return False
    if query.txn_date_to is not None and record.txn_date > query.txn_date_to:
        return False
    if query.entity_list_ids is not None and record.vendor.list_id not in query.entity_list_ids:
        return False
    if query.entity_names is not None and record.vendor.full_name.casefold() not in query.entity_names:
        return False
    if query.paid_status == "PaidOnly" and record.open_amount != 0:
        return False
    if query.paid_status == "NotPaidOnly" and record.open_amount == 0:
        return False
    # The sandbox has no inactive records.
    if query.active_status == "InactiveOnly":
        return False
    # Name matching is case-insensitive like the rest of QuickBooks' name lookups (inferred).
    names_filtered = query.name_value is not None or query.name_from is not None or query.name_to is not None
    if names_filtered and not _name_passes(query, record.full_name.casefold()):
        return False
    if currencies is not None and record.currency not in currencies:
        return False
    return query.del_types is None or record.del_type in query.del_types


def _name_passes(query: Query, folded: str) -> bool:
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
