"""Deleted payments: TxnDeletedQuery for both bill payment kinds since the watermark. A payment
deleted in QuickBooks is recorded and its stored row flagged, never deleted (DESIGN rule 6)."""

from __future__ import annotations

from storage.db import write_transaction
from storage.models import BillPayment, QuickBooksDeletion, QuickBooksWork
from storage.vocabulary import WorkKind
from sync.quickbooks.ingest import IngestCounts, PageOutcome, hold_unreadable, records_of, release_held
from sync.quickbooks.qbxml.build import build_deleted_query
from sync.quickbooks.qbxml.records import DeletedTxnRecord, QueryResponse, UnreadableRecord
from sync.quickbooks.watermarks import later, local_string, query_start

from .base import Context, Step


class DeletedPayments(Step):
    kind = WorkKind.DELETED
    label = "deleted payments"
    query_name = "deleted payment"
    priority = 20
    refresh = True
    rs_name = "TxnDeletedQueryRs"
    held_type = "deletion"
    watermark = True

    def build_request(self, work: QuickBooksWork, request_id: str, context: Context) -> str:
        start = query_start(context.company, self.kind)
        work.modified_from = None if start is None else start.strftime("%Y-%m-%dT%H:%M:%S")
        return build_deleted_query(request_id=request_id, deleted_from=start)

    def store_page(self, work: QuickBooksWork, response: QueryResponse, context: Context) -> PageOutcome:
        """Record deleted payments and flag the stored ones (TxnDeletedQuery has no iterator: one page)."""
        company_file, now = context.company, context.now
        counts = IngestCounts()
        with write_transaction():
            latest = work.max_time_modified
            records = records_of(response, DeletedTxnRecord)
            counts.held = len(
                hold_unreadable(company_file, records_of(response, UnreadableRecord), self.held_type, now=now)
            )
            for record in records:
                latest = later(latest, local_string(record.time_deleted))
                row = QuickBooksDeletion.get_or_none(
                    (QuickBooksDeletion.company_file == company_file)
                    & (QuickBooksDeletion.txn_id == record.txn_id)
                )
                if row is None:
                    QuickBooksDeletion.create(
                        company_file=company_file,
                        txn_del_type=record.txn_del_type,
                        txn_id=record.txn_id,
                        time_created=record.time_created,
                        time_deleted=record.time_deleted,
                        ref_number=record.ref_number,
                        recorded_at=now,
                    )
                flagged = (
                    BillPayment.update(deleted_at=now, time_deleted=record.time_deleted, updated_at=now)
                    .where(
                        (BillPayment.company_file == company_file)
                        & (BillPayment.txn_id == record.txn_id)
                        & BillPayment.deleted_at.is_null()
                    )
                    .execute()
                )
                if row is None or flagged:
                    counts.deletions += 1
            release_held(company_file, self.held_type, (r.txn_id for r in records), now=now)
            work.max_time_modified = latest
            work.pages += 1
            work.records += len(records)
            self.finish(work, context)
            work.save()
        return PageOutcome(counts=counts, finished=True)
