"""Vendors: in a multicurrency company file each vendor has a currency, which stands in for a
payment that names none. A lookup of the vendors payments name that PaySync has not read yet,
upserted by ListID; its errors only add detail."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage.db import chunks, write_transaction
from storage.models import CompanyFile, QuickBooksVendor, QuickBooksWork
from storage.vocabulary import WorkKind
from sync.quickbooks.ingest import (
    CurrencyResolver,
    IngestCounts,
    PageOutcome,
    hold_unreadable,
    records_of,
    release_held,
)
from sync.quickbooks.qbxml.build import build_vendor_query
from sync.quickbooks.qbxml.records import BillPaymentRecord, QueryResponse, UnreadableRecord, VendorRecord

from .base import Context, Step


class VendorLookup(Step):
    kind = WorkKind.VENDORS
    label = "vendors"
    query_name = "vendor"
    priority = 15
    lookup_key = "list_ids"
    rs_name = "VendorQueryRs"
    held_type = "vendor"
    error_fails_session = False
    reads = "vendors that payments refer to"

    def build_request(self, work: QuickBooksWork, request_id: str, context: Context) -> str:
        list_ids = self.lookup_ids(work)
        if not list_ids:
            raise ValueError("the vendor lookup names no vendors")
        return build_vendor_query(request_id=request_id, list_ids=list_ids)

    def named_in(self, records: Sequence[object]) -> set[str]:
        """The payments' vendors."""
        return {
            record.vendor_list_id
            for record in records
            if isinstance(record, BillPaymentRecord) and record.vendor_list_id
        }

    def wanted_after_page(self, context: Context) -> bool:
        return bool(context.company.multicurrency)

    def not_yet_read(self, company: CompanyFile, ids: Iterable[str]) -> set[str]:
        return unknown_vendor_ids(company, ids)

    def store_page(self, work: QuickBooksWork, response: QueryResponse, context: Context) -> PageOutcome:
        """Vendors (read for their currency in multicurrency files), upserted by ListID."""
        company_file, now = context.company, context.now
        counts = IngestCounts()
        with write_transaction():
            records: list[VendorRecord] = records_of(response, VendorRecord)
            counts.held = len(
                hold_unreadable(company_file, records_of(response, UnreadableRecord), self.held_type, now=now)
            )
            release_held(company_file, self.held_type, (r.list_id for r in records), now=now)
            currency = CurrencyResolver(company_file)
            for record in records:
                values = {
                    "name": record.name,
                    "edit_sequence": record.edit_sequence,
                    "currency_list_id": record.currency_list_id,
                    "currency_name": record.currency_name,
                    "currency": currency(record.currency_name, record.currency_list_id),
                    "updated_at": now,
                }
                updated = (
                    QuickBooksVendor.update(**values)
                    .where(
                        (QuickBooksVendor.company_file == company_file)
                        & (QuickBooksVendor.list_id == record.list_id)
                    )
                    .execute()
                )
                if not updated:
                    QuickBooksVendor.create(company_file=company_file, list_id=record.list_id, **values)
            work.pages += 1
            work.records += len(records)
            self.finish(work, context)
            work.save()
        return PageOutcome(counts=counts, finished=True)


def unknown_vendor_ids(company_file: CompanyFile, list_ids: Iterable[str]) -> set[str]:
    """The vendor ListIDs among `list_ids` that PaySync has not read yet."""
    wanted = set(list_ids)
    known: set[str] = set()
    for chunk in chunks(sorted(wanted), 500):
        known.update(
            row.list_id
            for row in QuickBooksVendor.select(QuickBooksVendor.list_id).where(
                (QuickBooksVendor.company_file == company_file) & QuickBooksVendor.list_id.in_(chunk)
            )
        )
    return wanted - known
