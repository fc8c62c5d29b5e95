"""Storing what QuickBooks sent: what every step's page has in common.

Each page is stored in ONE transaction together with the work item's progress, and the
watermark moves only in the transaction that stores the last page of a query (DESIGN rule 2:
the watermark moves only after the data is committed; sync/quickbooks/watermarks.py). A session
that dies midway therefore leaves the watermark where it was, and the next session reads the same
range again; rows read twice are recognised by (TxnID, EditSequence) and counted as unchanged.

What each kind of record becomes is its step's business (sync/quickbooks/steps/); here are the
counts and outcome of a page, the company file's currency names, records PaySync could not read
(kept aside, DESIGN rule 11), and how an item finishes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.models import (
    AuditLog,
    CompanyFile,
    ErrorEvent,
    HeldRecord,
    QuickBooksCurrency,
    QuickBooksWork,
)
from sync.quickbooks.qbxml.currency import currency_code, name_key
from sync.quickbooks.qbxml.records import QueryResponse, UnreadableRecord
from sync.quickbooks.watermarks import move_watermark

# Rows per multi-row INSERT / ids per IN list: far below SQLite's 32,766 bound variables.
BATCH = 200


@dataclass
class IngestCounts:
    received: int = 0  # payments read (new + changed + unchanged)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deletions: int = 0  # payments newly recorded as deleted in QuickBooks
    bills: int = 0  # bills stored or updated
    held: int = 0  # records PaySync could not read, kept aside with their reason

    def add(self, other: IngestCounts) -> None:
        self.received += other.received
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.deletions += other.deletions
        self.bills += other.bills
        self.held += other.held

    @property
    def anything_changed(self) -> bool:
        return bool(self.new or self.changed or self.deletions)

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "deletions": self.deletions,
            "bills": self.bills,
            "held": self.held,
        }


@dataclass
class PageOutcome:
    counts: IngestCounts
    finished: bool  # the query is complete: item done, watermark moved
    # The records the page read, for the lookups that follow from it: each lookup step says which
    # ids they name (Step.named_in), and the exchange queues what PaySync has not read yet.
    records: Sequence[object] = ()


class CurrencyResolver:
    """ISO codes for the currencies a company file names (its own currency list first, then
    QuickBooks' default names); read once per page."""

    def __init__(self, company_file: CompanyFile) -> None:
        self.by_list_id: dict[str, str] = {}
        self.by_name: dict[str, str] = {}
        for row in QuickBooksCurrency.select().where(
            (QuickBooksCurrency.company_file == company_file) & QuickBooksCurrency.code.is_null(False)
        ):
            self.by_list_id[str(row.list_id)] = str(row.code).upper()
            self.by_name[name_key(str(row.name))] = str(row.code).upper()

    def __call__(self, name: str | None, list_id: str | None) -> str | None:
        if not name and not list_id:
            return None
        return currency_code(name, list_id, codes_by_list_id=self.by_list_id, codes_by_name=self.by_name)


def records_of(response: QueryResponse, kind: type[Any]) -> list[Any]:
    return [record for record in response.records if isinstance(record, kind)]


def chunks(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------
# Records PaySync could not read (DESIGN rule 11)
# --------------------------------------------------------------------------------------------


def hold_unreadable(
    company_file: CompanyFile, records: Iterable[UnreadableRecord], record_type: str, *, now: datetime
) -> list[UnreadableRecord]:
    """Keep each unreadable record aside (raw text and reason), as a HeldRecord of `record_type`
    (the step's `held_type`). Call in a transaction. Returns the records newly held (or held for a
    new reason): they are said once, as an error event."""
    newly: list[UnreadableRecord] = []
    for record in records:
        row = HeldRecord.get_or_none(
            (HeldRecord.company_file == company_file)
            & (HeldRecord.record_type == record_type)
            & (HeldRecord.record_key == record.record_key)
        )
        if row is None:
            HeldRecord.create(
                company_file=company_file,
                record_type=record_type,
                record_key=record.record_key,
                txn_id=record.txn_id,
                edit_sequence=record.edit_sequence,
                label=record.label,
                reason=record.reason,
                raw_text=record.raw,
                first_seen_at=now,
                updated_at=now,
            )
        elif (row.reason, row.edit_sequence, row.raw_text) != (
            record.reason,
            record.edit_sequence,
            record.raw,
        ):
            row.reason, row.edit_sequence, row.raw_text, row.label = (
                record.reason,
                record.edit_sequence,
                record.raw,
                record.label,
            )
            row.updated_at = now
            row.save()
        else:
            continue  # read again, unchanged: already said
        newly.append(record)
        ErrorEvent.create(at=now, where="qbwc", message=record.reason, detail=f"held:{record_type}")
        AuditLog.create(
            at=now,
            actor="qbwc",
            action="qbwc.record_held",
            target=record.record_key,
            detail=json.dumps({"record_type": record_type, "label": record.label}),
        )
    return newly


def release_held(company_file: CompanyFile, record_type: str, keys: Iterable[str], *, now: datetime) -> int:
    """QuickBooks sent these records readable: their held rows go (the note is cleared)."""
    released = 0
    for chunk in chunks(sorted(set(keys))):
        rows = list(
            HeldRecord.select(HeldRecord.record_key).where(
                (HeldRecord.company_file == company_file)
                & (HeldRecord.record_type == record_type)
                & HeldRecord.record_key.in_(chunk)
            )
        )
        if not rows:
            continue
        found = [row.record_key for row in rows]
        HeldRecord.delete().where(
            (HeldRecord.company_file == company_file)
            & (HeldRecord.record_type == record_type)
            & HeldRecord.record_key.in_(found)
        ).execute()
        for key in found:
            AuditLog.create(
                at=now,
                actor="qbwc",
                action="qbwc.record_released",
                target=key,
                detail=json.dumps({"record_type": record_type}),
            )
        released += len(found)
    return released


# --------------------------------------------------------------------------------------------
# How an item finishes
# --------------------------------------------------------------------------------------------


def iterator_finished(response: QueryResponse, records: int, max_returned: int | None) -> bool:
    """Whether the query is complete after this page. An iteratorRemainingCount PaySync cannot use
    (see QueryResponse.iterator_remaining_unreadable) leaves it to the page itself: a page shorter
    than MaxReturned is the last one."""
    if response.iterator_remaining_unreadable is not None and response.iterator_id:
        return max_returned is not None and records < max_returned
    return not response.iterator_remaining  # 0 or absent: the iterator is exhausted


def finish_work(
    work: QuickBooksWork, company_file: CompanyFile, now: datetime, *, watermark: str | None
) -> None:
    """The query is complete: the item is done and, when the query keeps a `watermark` (its kind),
    the watermark moves to the latest time the item read. Call in the transaction of the last page."""
    work.status = "done"
    work.finished_at = now
    work.iterator_id = None
    work.iterator_remaining = 0
    if watermark is not None:
        move_watermark(company_file, watermark, work.max_time_modified, now)
