"""Bills: a lookup of the bills payments name that PaySync has not read yet (their numbers match a
bill to its Procore invoice). Queued after a payment page; its errors only add detail.

Like every other query it is paged: the bills wanted are queued in items of at most
`ids_per_request` TxnIDs (workqueue.queue_lookup), one BillQueryRq each, so no answer holds
QuickBooks long, and each finished item counts in the percent the Web Connector shows. A page of
bills is stored in batches (one SELECT of the stored EditSequences, one multi-row upsert).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from storage.db import chunks, write_transaction
from storage.models import Bill, CompanyFile, QuickBooksWork
from storage.vocabulary import WorkKind
from sync.quickbooks.ingest import (
    CurrencyResolver,
    IngestCounts,
    PageOutcome,
    hold_unreadable,
    records_of,
    release_held,
    select_rows,
    upsert_rows,
)
from sync.quickbooks.qbxml.build import build_bill_query
from sync.quickbooks.qbxml.records import BillPaymentRecord, BillRecord, QueryResponse, UnreadableRecord

from .base import Context, Step


class BillLookup(Step):
    kind = WorkKind.BILLS
    label = "bills"
    query_name = "bill"
    priority = 10
    lookup_key = "txn_ids"
    rs_name = "BillQueryRs"
    held_type = "bill"
    error_fails_session = False
    reads = "bills that payments refer to"

    def build_request(self, work: QuickBooksWork, request_id: str, context: Context) -> str:
        txn_ids = self.lookup_ids(work)
        if not txn_ids:
            raise ValueError("the bill lookup names no bills")
        return build_bill_query(request_id=request_id, txn_ids=txn_ids)

    def named_in(self, records: Sequence[object]) -> set[str]:
        """The bills the payments apply to (a vendor credit linked in the same payment is not one)."""
        return {
            applied.bill_txn_id
            for record in records
            if isinstance(record, BillPaymentRecord)
            for applied in record.applications
            if applied.txn_type.strip().lower() == "bill"
        }

    def wanted_after_page(self, context: Context) -> bool:
        return context.fetch_unknown_bills

    def not_yet_read(self, company: CompanyFile, ids: Iterable[str]) -> set[str]:
        return unknown_bill_ids(company, ids)

    def store_page(self, work: QuickBooksWork, response: QueryResponse, context: Context) -> PageOutcome:
        company_file, now = context.company, context.now
        counts = IngestCounts()
        with write_transaction():
            records = records_of(response, BillRecord)
            counts.held = len(
                hold_unreadable(company_file, records_of(response, UnreadableRecord), self.held_type, now=now)
            )
            release_held(company_file, self.held_type, (r.txn_id for r in records), now=now)
            counts.bills = store_bills(company_file, records, now=now)
            work.pages += 1
            work.records += len(records)
            self.finish(work, context)
            work.save()
        return PageOutcome(counts=counts, finished=True)


def store_bills(company_file: CompanyFile, records: list[BillRecord], *, now: datetime) -> int:
    """Upsert bills by (company file, TxnID), in batches; a bill whose EditSequence is the one stored
    is left alone. Returns how many were stored or updated. Call inside a transaction."""
    currency = CurrencyResolver(company_file)
    company_id = company_file.get_id()  # type: ignore[no-untyped-call]
    latest_by_id = {record.txn_id: record for record in records}
    written = 0
    for batch in chunks(list(latest_by_id.values()), BILLS_PER_BATCH):
        stored = {
            str(txn_id): edit_sequence
            for txn_id, edit_sequence in select_rows(
                Bill,
                ("txn_id", "edit_sequence"),
                {"company_file": company_id},
                "txn_id",
                [r.txn_id for r in batch],
            )
        }
        rows = [
            {"company_file": company_id, "txn_id": record.txn_id, **_bill_fields(record, now, currency)}
            for record in batch
            if record.txn_id not in stored or stored[record.txn_id] != record.edit_sequence
        ]
        upsert_rows(Bill, rows, conflict=("company_file", "txn_id"), update=_BILL_UPDATED)
        written += len(rows)
    return written


def _bill_fields(record: BillRecord, now: datetime, currency: CurrencyResolver) -> dict[str, Any]:
    return {
        "edit_sequence": record.edit_sequence,
        "time_modified": record.time_modified,
        "vendor_list_id": record.vendor_list_id,
        "vendor_name": record.vendor_name,
        "txn_date": record.txn_date,
        "ref_number": record.ref_number,
        "amount_due": record.amount_due,
        "open_amount": record.open_amount,
        "is_paid": record.is_paid,
        "currency_list_id": record.currency_list_id,
        "currency_name": record.currency_name,
        "currency": currency(record.currency_name, record.currency_list_id),
        "exchange_rate": record.exchange_rate,
        "amount_due_in_home_currency": record.amount_due_in_home_currency,
        "updated_at": now,
    }


def unknown_bill_ids(company_file: CompanyFile, bill_txn_ids: Iterable[str]) -> set[str]:
    """The bill TxnIDs among `bill_txn_ids` that PaySync has not stored a Bill row for."""
    wanted = set(bill_txn_ids)
    if not wanted:
        return set()
    company_id = company_file.get_id()  # type: ignore[no-untyped-call]
    known = {
        str(txn_id)
        for (txn_id,) in select_rows(
            Bill, ("txn_id",), {"company_file": company_id}, "txn_id", sorted(wanted)
        )
    }
    return wanted - known


_BILL_UPDATED = (
    "edit_sequence",
    "time_modified",
    "vendor_list_id",
    "vendor_name",
    "txn_date",
    "ref_number",
    "amount_due",
    "open_amount",
    "is_paid",
    "currency_list_id",
    "currency_name",
    "currency",
    "exchange_rate",
    "amount_due_in_home_currency",
    "updated_at",
)
BILLS_PER_BATCH = 500
