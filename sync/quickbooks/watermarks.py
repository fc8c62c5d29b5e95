"""How far each QuickBooks query has read: its watermark (DESIGN rule 2).

A watermark is the latest TimeModified (or TimeDeleted) a query has stored, as QuickBooks' local
wall clock without an offset. It moves only in the transaction that stores a query's last page, so
a session that dies midway leaves it where it was and the next session reads the same range again.
The next query starts ten minutes before it (the overlap), or, before any, a day before the cutoff;
rows read twice are recognised by (TxnID, EditSequence).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from storage.models import CompanyFile, Watermark
from sync.quickbooks.cutoff import schedule_cutoff
from sync.quickbooks.qbxml.times import format_qb_datetime, parse_qb_local

log = logging.getLogger(__name__)

WATERMARK_OVERLAP = timedelta(minutes=10)  # DESIGN rule 2 / NOTES §8: overlap, then dedupe by EditSequence
CUTOFF_MARGIN = timedelta(days=1)  # covers any U.S. offset between UTC and QuickBooks' local clock


def watermark_value(company_file: CompanyFile, kind: str) -> str | None:
    row = Watermark.get_or_none((Watermark.company_file == company_file) & (Watermark.kind == kind))
    return None if row is None else str(row.value)


def query_start(company_file: CompanyFile, kind: str) -> datetime | None:
    """Where a query starts: the watermark minus the overlap, else the cutoff minus a day, else everything."""
    mark = watermark_value(company_file, kind)
    if mark is not None:
        return parse_qb_local(mark) - WATERMARK_OVERLAP
    cutoff = schedule_cutoff(str(company_file.file_key))
    if cutoff is None:
        return None
    # QuickBooks reads filter times in its own local time; a day earlier in UTC wall-clock terms
    # is earlier than the cutoff in every U.S. zone. Payments before the cutoff are marked
    # pre-existing on arrival, so reading a little too much is harmless.
    return (cutoff.astimezone(UTC) - CUTOFF_MARGIN).replace(tzinfo=None)


def local_string(raw: str | None) -> str | None:
    """QuickBooks-local wall clock without the offset, as stored in watermarks (DESIGN rule 2)."""
    if not raw:
        return None
    try:
        return format_qb_datetime(parse_qb_local(raw))
    except ValueError:
        log.warning("ignoring an unreadable QuickBooks time %r", raw)
        return None


def later(a: str | None, b: str | None) -> str | None:
    # Both are YYYY-MM-DDTHH:MM:SS, so text order is time order.
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def move_watermark(company_file: CompanyFile, kind: str, value: str | None, now: datetime) -> None:
    """Move the watermark forward to `value` (never back); call in the transaction of the last page.

    One statement (an upsert that only ever raises the value), in plain SQL: it runs at the end of
    every query, whose last page may hold a single payment (docs/performance.md)."""
    if value is None:
        return
    database = Watermark._meta.database
    mark = database.param
    database.execute_sql(
        'INSERT INTO "watermark" ("company_file_id", "kind", "value", "updated_at") '
        f"VALUES ({mark}, {mark}, {mark}, {mark}) "
        'ON CONFLICT ("company_file_id", "kind") DO UPDATE SET "value" = EXCLUDED."value", '
        '"updated_at" = EXCLUDED."updated_at" WHERE "watermark"."value" < EXCLUDED."value"',
        (company_file.id, kind, value, Watermark.updated_at.db_value(now)),
    )
