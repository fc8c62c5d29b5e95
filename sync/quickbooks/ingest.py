"""Store what QuickBooks sent: bill payments, their applications, deletions and bills.

Each page is stored in ONE transaction together with the work item's progress, and the
watermark moves only in the transaction that stores the last page of a query (DESIGN rule 2:
the watermark moves only after the data is committed). A session that dies midway therefore
leaves the watermark where it was, and the next session reads the same range again; rows read
twice are recognised by (TxnID, EditSequence) and counted as unchanged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from peewee import SqliteDatabase

from storage.models import (
    AuditLog,
    Bill,
    BillPayment,
    BillPaymentApplication,
    CompanyFile,
    ErrorEvent,
    HeldRecord,
    QuickBooksCurrency,
    QuickBooksDeletion,
    QuickBooksVendor,
    QuickBooksWork,
    Watermark,
    database_proxy,
)
from sync.qbxml.build import format_qb_datetime, parse_qb_aware, parse_qb_local
from sync.qbxml.currency import currency_code, name_key
from sync.qbxml.records import (
    BillPaymentRecord,
    BillRecord,
    CurrencyRecord,
    DeletedTxnRecord,
    QueryResponse,
    UnreadableRecord,
    VendorRecord,
)

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
WATERMARK_KINDS = ("payments_check", "payments_credit_card", "deleted")


@contextmanager
def write_transaction() -> Iterator[Any]:
    """A transaction that takes SQLite's write lock at BEGIN.

    A deferred SQLite transaction that reads and then writes fails at once with "database is
    locked" when another connection wrote in between; BEGIN IMMEDIATE waits (busy_timeout) instead.
    PostgreSQL needs nothing special.
    """
    db = database_proxy.obj
    if db is None:
        raise RuntimeError("the database is not open; call storage.db.open_database() first")
    context = db.atomic("IMMEDIATE") if isinstance(db, SqliteDatabase) else db.atomic()
    with context as transaction:
        yield transaction


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
    referenced_bill_ids: set[str] = field(default_factory=set)
    referenced_vendor_ids: set[str] = field(default_factory=set)


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


def company_file_for(file_key: str) -> CompanyFile:
    row: CompanyFile | None = CompanyFile.get_or_none(CompanyFile.file_key == file_key)
    if row is None:
        row = CompanyFile.create(file_key=file_key)
    return row


def watermark_value(company_file: CompanyFile, kind: str) -> str | None:
    row = Watermark.get_or_none((Watermark.company_file == company_file) & (Watermark.kind == kind))
    return None if row is None else str(row.value)


def _local_string(raw: str | None) -> str | None:
    """QuickBooks-local wall clock without the offset, as stored in watermarks (DESIGN rule 2)."""
    if not raw:
        return None
    try:
        return format_qb_datetime(parse_qb_local(raw))
    except ValueError:
        log.warning("ignoring an unreadable QuickBooks time %r", raw)
        return None


def _later(a: str | None, b: str | None) -> str | None:
    # Both are YYYY-MM-DDTHH:MM:SS, so text order is time order.
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _move_watermark(company_file: CompanyFile, kind: str, value: str | None, now: datetime) -> None:
    if value is None:
        return
    row = Watermark.get_or_none((Watermark.company_file == company_file) & (Watermark.kind == kind))
    if row is None:
        Watermark.create(company_file=company_file, kind=kind, value=value, updated_at=now)
    elif value > row.value:
        row.value = value
        row.updated_at = now
        row.save()


def is_pre_existing(time_created: str, cutoff: datetime | None) -> bool:
    """Whether QuickBooks created the payment before the schedule was first configured.

    TimeCreated is read with the offset QuickBooks wrote. During daylight saving time that offset
    is an hour off (NOTES §8), so a payment entered within an hour of the cutoff may land on the
    wrong side. That is acceptable: the cutoff is the moment someone configured the schedule, and
    payments typed in that same hour are ambiguous to the accountant too; everything else is hours
    or days away from it.

    With no cutoff yet (no schedule ever configured), every payment counts as pre-existing: it was
    necessarily created before the schedule that is configured later.
    """
    if cutoff is None:
        return True
    try:
        created = parse_qb_aware(time_created)
    except ValueError:
        # No offset: read the wall clock as UTC. U.S. local time is behind UTC, so this errs
        # towards "created later", by at most the zone offset.
        created = parse_qb_local(time_created).replace(tzinfo=UTC)
    return created < cutoff


def _bill_applications(record: BillPaymentRecord) -> dict[str, dict[str, Any]]:
    """The applications to bills, merged per bill (the table allows one row per payment and bill)."""
    merged: dict[str, dict[str, Any]] = {}
    for applied in record.applications:
        if applied.txn_type.strip().lower() != "bill":
            continue  # e.g. a vendor credit linked in the same payment: not a Procore payment
        credits = [
            {"txn_id": c.txn_id, "txn_type": c.txn_type, "ref_number": c.ref_number, "amount": str(c.amount)}
            for c in applied.credits
        ]
        entry = merged.get(applied.bill_txn_id)
        if entry is None:
            merged[applied.bill_txn_id] = {
                "bill_ref_number": applied.bill_ref_number,
                "bill_txn_date": applied.bill_txn_date,
                "amount": applied.amount,
                "balance_remaining": applied.balance_remaining,
                "discount_amount": applied.discount_amount,
                "credits": json.dumps(credits, sort_keys=True) if credits else None,
            }
        else:
            entry["amount"] += applied.amount
            if applied.discount_amount is not None:
                entry["discount_amount"] = (entry["discount_amount"] or ZERO) + applied.discount_amount
            if credits:
                earlier = json.loads(entry["credits"]) if entry["credits"] else []
                entry["credits"] = json.dumps(earlier + credits, sort_keys=True)
    return merged


def figures_problem(record: BillPaymentRecord) -> str | None:
    """Why the payment's own figures cannot be trusted, or None.

    QuickBooks' Amount on a bill payment is the cash paid, and its applications to bills add up to
    it; discounts and vendor credits are reported beside the applied amounts, never inside them
    (NOTES §2, inferred). When they do not add up, PaySync cannot tell which figure is the money
    paid to each bill, so nothing of the payment is posted (DESIGN rule 10: no wrong amount).
    """
    if record.applied_total == record.amount:
        return None
    what = "check" if record.kind == "check" else "credit card payment"
    number = f" {record.ref_number}" if record.ref_number else ""
    return (
        f"QuickBooks says {what}{number} is {record.amount:,.2f}, but what it applies to bills adds up to "
        f"{record.applied_total:,.2f}; PaySync cannot tell which is the money paid, so nothing of it is "
        "written to Procore. Open the payment in QuickBooks, check the bills it pays, and save it."
    )


def _save_applications(
    payment: BillPayment, record: BillPaymentRecord, existing_rows: list[BillPaymentApplication] | None = None
) -> None:
    """Make the payment's applications match the record.

    Rows are updated in place, never deleted and re-created: a PaymentLink (and the Procore payment
    it made) hangs off each one with ON DELETE CASCADE. An application that QuickBooks no longer
    lists (the payment was moved to another bill, or voided and its applications dropped) is kept
    with amount 0.00, which the engine sees as "this Procore payment must go to zero".
    """
    wanted = _bill_applications(record)
    if existing_rows is None:
        existing_rows = list(BillPaymentApplication.select().where(BillPaymentApplication.payment == payment))
    existing = {row.bill_txn_id: row for row in existing_rows}
    for bill_txn_id, values in wanted.items():
        row = existing.pop(bill_txn_id, None)
        if row is None:
            BillPaymentApplication.create(payment=payment, bill_txn_id=bill_txn_id, **values)
            continue
        if any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.save()
    for row in existing.values():
        if row.amount != ZERO:
            row.amount = ZERO
            row.save()


def _payment_fields(
    record: BillPaymentRecord, now: datetime, currency: CurrencyResolver | None = None
) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "edit_sequence": record.edit_sequence,
        "txn_number": record.txn_number,
        "time_created": record.time_created,
        "time_modified": record.time_modified,
        "vendor_list_id": record.vendor_list_id,
        "vendor_name": record.vendor_name,
        "txn_date": record.txn_date,
        "amount": record.amount,
        "ref_number": record.ref_number,
        "memo": record.memo,
        "account_name": record.account_name,
        "currency_list_id": record.currency_list_id,
        "currency_name": record.currency_name,
        "currency": currency(record.currency_name, record.currency_list_id) if currency else None,
        "exchange_rate": record.exchange_rate,
        "amount_in_home_currency": record.amount_in_home_currency,
        # A readable version also ends an earlier hold for an unreadable one.
        "hold_reason": figures_problem(record),
        "is_void": record.is_void,
        "updated_at": now,
    }


def _row_id(row: Any) -> Any:
    return row.get_id()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Rows per multi-row INSERT / ids per IN list: far below SQLite's 32,766 bound variables.
_BATCH = 200


def store_payments(
    company_file: CompanyFile, records: list[BillPaymentRecord], *, cutoff: datetime | None, now: datetime
) -> IngestCounts:
    """Upsert payments by (company file, TxnID): new ones are inserted, those whose EditSequence
    differs are updated, the rest are counted as unchanged. Call inside a transaction.

    Reads and inserts are batched (peewee spends about a millisecond building each statement,
    which dominated when every payment cost four statements).

    pre_existing is decided once, when the payment is first stored, and never changed: TimeCreated
    does not change, and a payment once synced must not turn pre-existing (nor the reverse) because
    the cutoff setting was edited by hand.
    """
    counts = IngestCounts(received=len(records))
    currency = CurrencyResolver(company_file)
    latest_by_id = {record.txn_id: record for record in records}  # a TxnID twice in a page: the last wins
    existing: dict[str, BillPayment] = {}
    for chunk in _chunks(sorted(latest_by_id), _BATCH):
        for stored in BillPayment.select().where(
            (BillPayment.company_file == company_file) & BillPayment.txn_id.in_(chunk)
        ):
            existing[stored.txn_id] = stored
    new_records: list[BillPaymentRecord] = []
    changed: list[tuple[BillPayment, BillPaymentRecord]] = []
    for txn_id, record in latest_by_id.items():
        found = existing.get(txn_id)
        if found is None:
            new_records.append(record)
        elif found.edit_sequence == record.edit_sequence:
            counts.unchanged += 1
        else:
            changed.append((found, record))
    counts.unchanged += len(records) - len(latest_by_id)
    counts.new = len(new_records)
    counts.changed = len(changed)

    for chunk in _chunks(new_records, _BATCH):
        BillPayment.insert_many(
            [
                {
                    "company_file": company_file,
                    "txn_id": record.txn_id,
                    "pre_existing": is_pre_existing(record.time_created, cutoff),
                    "first_seen_at": now,
                    **_payment_fields(record, now, currency),
                }
                for record in chunk
            ]
        ).execute()
    new_ids: dict[str, Any] = {}
    for chunk in _chunks([record.txn_id for record in new_records], _BATCH):
        query = BillPayment.select(BillPayment._meta.primary_key, BillPayment.txn_id).where(
            (BillPayment.company_file == company_file) & BillPayment.txn_id.in_(chunk)
        )
        rows: Any = query.tuples()
        new_ids.update({str(txn_id): payment_id for payment_id, txn_id in rows})
    application_rows = [
        {"payment": new_ids[record.txn_id], "bill_txn_id": bill_txn_id, **values}
        for record in new_records
        for bill_txn_id, values in _bill_applications(record).items()
    ]
    for chunk in _chunks(application_rows, _BATCH):
        BillPaymentApplication.insert_many(chunk).execute()

    if changed:
        rows_by_payment: dict[Any, list[BillPaymentApplication]] = {}
        for chunk in _chunks([_row_id(row) for row, _ in changed], _BATCH):
            for application in BillPaymentApplication.select().where(
                BillPaymentApplication.payment.in_(chunk)
            ):
                # payment_id: the raw foreign key, read without loading the payment row.
                rows_by_payment.setdefault(application.payment_id, []).append(application)  # type: ignore[attr-defined]
        for row, record in changed:
            for name, value in _payment_fields(record, now, currency).items():
                setattr(row, name, value)
            row.save()
            _save_applications(row, record, rows_by_payment.get(_row_id(row), []))
    return counts


def store_payment(
    company_file: CompanyFile, record: BillPaymentRecord, *, cutoff: datetime | None, now: datetime
) -> str:
    """Upsert one payment (see store_payments); returns "new", "changed" or "unchanged"."""
    counts = store_payments(company_file, [record], cutoff=cutoff, now=now)
    return "new" if counts.new else "changed" if counts.changed else "unchanged"


def _records(response: QueryResponse, kind: type[Any]) -> list[Any]:
    return [record for record in response.records if isinstance(record, kind)]


# --------------------------------------------------------------------------------------------
# Records PaySync could not read (DESIGN rule 11)
# --------------------------------------------------------------------------------------------

HELD_RECORD_TYPES: dict[str, str] = {
    "BillPaymentCheckRet": "payment_check",
    "BillPaymentCreditCardRet": "payment_credit_card",
    "BillRet": "bill",
    "TxnDeletedRet": "deletion",
    "VendorRet": "vendor",
    "CurrencyRet": "currency",
}


def hold_unreadable(company_file: CompanyFile, records: Iterable[UnreadableRecord], *, now: datetime) -> int:
    """Keep each unreadable record aside (raw text and reason); a stored payment whose newer version
    is unreadable is held too, so its old version is not taken for the truth. Call in a transaction.
    Returns how many records are newly held (or held for a new reason)."""
    newly = 0
    for record in records:
        record_type = HELD_RECORD_TYPES.get(record.ret_name, record.ret_name)
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
        newly += 1
        ErrorEvent.create(at=now, where="qbwc", message=record.reason, detail=f"held:{record_type}")
        AuditLog.create(
            at=now,
            actor="qbwc",
            action="qbwc.record_held",
            target=record.record_key,
            detail=json.dumps({"record_type": record_type, "label": record.label}),
        )
        if record.txn_id and record_type.startswith("payment_"):
            BillPayment.update(hold_reason=record.reason, updated_at=now).where(
                (BillPayment.company_file == company_file) & (BillPayment.txn_id == record.txn_id)
            ).execute()
    return newly


def release_held(company_file: CompanyFile, record_type: str, keys: Iterable[str], *, now: datetime) -> int:
    """QuickBooks sent these records readable: their held rows go (the note is cleared)."""
    released = 0
    for chunk in _chunks(sorted(set(keys)), _BATCH):
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


def _iterator_finished(response: QueryResponse, records: int, max_returned: int | None) -> bool:
    """Whether the query is complete after this page. An iteratorRemainingCount PaySync cannot use
    (see QueryResponse.iterator_remaining_unreadable) leaves it to the page itself: a page shorter
    than MaxReturned is the last one."""
    if response.iterator_remaining_unreadable is not None and response.iterator_id:
        return max_returned is not None and records < max_returned
    return not response.iterator_remaining  # 0 or absent: the iterator is exhausted


def _finish(work: QuickBooksWork, company_file: CompanyFile, now: datetime) -> None:
    work.status = "done"
    work.finished_at = now
    work.iterator_id = None
    work.iterator_remaining = 0
    if work.kind in WATERMARK_KINDS:
        _move_watermark(company_file, work.kind, work.max_time_modified, now)


def store_payment_page(
    company_file: CompanyFile,
    work: QuickBooksWork,
    response: QueryResponse,
    *,
    cutoff: datetime | None,
    now: datetime,
    max_returned: int | None = None,
) -> PageOutcome:
    """Store one page of a payment query and the item's progress, in one transaction. Records
    PaySync cannot read are held aside; the rest of the page is stored and the watermark moves on."""
    records: list[BillPaymentRecord] = _records(response, BillPaymentRecord)
    unreadable: list[UnreadableRecord] = _records(response, UnreadableRecord)
    referenced: set[str] = set()
    vendors: set[str] = set()
    with write_transaction():
        counts = store_payments(company_file, records, cutoff=cutoff, now=now)
        counts.held = hold_unreadable(company_file, unreadable, now=now)
        for record_type in ("payment_check", "payment_credit_card"):
            release_held(company_file, record_type, (r.txn_id for r in records), now=now)
        latest = work.max_time_modified
        for record in records:
            latest = _later(latest, _local_string(record.time_modified))
            referenced.update(
                a.bill_txn_id for a in record.applications if a.txn_type.strip().lower() == "bill"
            )
            if record.vendor_list_id:
                vendors.add(record.vendor_list_id)
        for held in unreadable:
            latest = _later(latest, _local_string(held.time_modified))
        work.max_time_modified = latest
        work.pages += 1
        work.records += counts.received + len(unreadable)
        finished = _iterator_finished(response, len(records) + len(unreadable), max_returned)
        if finished:
            _finish(work, company_file, now)
        else:
            work.iterator_id = response.iterator_id
            work.iterator_remaining = response.iterator_remaining
        work.save()
    return PageOutcome(
        counts=counts, finished=finished, referenced_bill_ids=referenced, referenced_vendor_ids=vendors
    )


def store_deletions(
    company_file: CompanyFile, work: QuickBooksWork, response: QueryResponse, *, now: datetime
) -> PageOutcome:
    """Record deleted payments and flag the stored ones (never delete them: DESIGN rule 6)."""
    counts = IngestCounts()
    with write_transaction():
        latest = work.max_time_modified
        records = _records(response, DeletedTxnRecord)
        counts.held = hold_unreadable(company_file, _records(response, UnreadableRecord), now=now)
        for record in records:
            latest = _later(latest, _local_string(record.time_deleted))
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
        release_held(company_file, "deletion", (r.txn_id for r in records), now=now)
        work.max_time_modified = latest
        work.pages += 1
        work.records += len(records)
        _finish(work, company_file, now)
        work.save()
    return PageOutcome(counts=counts, finished=True)


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


def store_bills(
    company_file: CompanyFile, work: QuickBooksWork, response: QueryResponse, *, now: datetime
) -> PageOutcome:
    counts = IngestCounts()
    with write_transaction():
        records = _records(response, BillRecord)
        counts.held = hold_unreadable(company_file, _records(response, UnreadableRecord), now=now)
        release_held(company_file, "bill", (r.txn_id for r in records), now=now)
        currency = CurrencyResolver(company_file)
        for record in records:
            row = Bill.get_or_none((Bill.company_file == company_file) & (Bill.txn_id == record.txn_id))
            if row is None:
                Bill.create(
                    company_file=company_file, txn_id=record.txn_id, **_bill_fields(record, now, currency)
                )
                counts.bills += 1
            elif row.edit_sequence != record.edit_sequence:
                for name, value in _bill_fields(record, now, currency).items():
                    setattr(row, name, value)
                row.save()
                counts.bills += 1
        work.pages += 1
        work.records += len(records)
        _finish(work, company_file, now)
        work.save()
    return PageOutcome(counts=counts, finished=True)


def store_vendors(
    company_file: CompanyFile, work: QuickBooksWork, response: QueryResponse, *, now: datetime
) -> PageOutcome:
    """Vendors (read for their currency in multicurrency files), upserted by ListID."""
    counts = IngestCounts()
    with write_transaction():
        records: list[VendorRecord] = _records(response, VendorRecord)
        counts.held = hold_unreadable(company_file, _records(response, UnreadableRecord), now=now)
        release_held(company_file, "vendor", (r.list_id for r in records), now=now)
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
        _finish(work, company_file, now)
        work.save()
    return PageOutcome(counts=counts, finished=True)


def store_currencies(
    company_file: CompanyFile, work: QuickBooksWork, response: QueryResponse, *, now: datetime
) -> PageOutcome:
    """The company file's currency list: QuickBooks' names for currencies and their ISO codes."""
    counts = IngestCounts()
    with write_transaction():
        records: list[CurrencyRecord] = _records(response, CurrencyRecord)
        counts.held = hold_unreadable(company_file, _records(response, UnreadableRecord), now=now)
        for record in records:
            values = {"name": record.name, "code": record.code, "updated_at": now}
            updated = (
                QuickBooksCurrency.update(**values)
                .where(
                    (QuickBooksCurrency.company_file == company_file)
                    & (QuickBooksCurrency.list_id == record.list_id)
                )
                .execute()
            )
            if not updated:
                QuickBooksCurrency.create(company_file=company_file, list_id=record.list_id, **values)
        resolve_stored_currencies(company_file)
        work.pages += 1
        work.records += len(records)
        _finish(work, company_file, now)
        work.save()
    return PageOutcome(counts=counts, finished=True)


def resolve_stored_currencies(company_file: CompanyFile) -> None:
    """Give the ISO code to every stored payment, bill, vendor and home currency of the file whose
    currency name the (newly read) currency list explains. Call inside a transaction."""
    currency = CurrencyResolver(company_file)
    models: tuple[Any, ...] = (BillPayment, Bill, QuickBooksVendor)
    for model in models:
        pairs: Any = (
            model.select(model.currency_list_id, model.currency_name, model.currency)
            .where(
                (model.company_file == company_file)
                & (model.currency_list_id.is_null(False) | model.currency_name.is_null(False))
            )
            .distinct()
            .tuples()
        )
        for list_id, name, code in list(pairs):  # (currency ListID, name, ISO code) as stored
            resolved = currency(name, list_id)
            if resolved is not None and resolved != code:
                model.update(currency=resolved).where(
                    (model.company_file == company_file)
                    & (
                        model.currency_list_id == list_id
                        if list_id is not None
                        else model.currency_list_id.is_null()
                    )
                    & (model.currency_name == name if name is not None else model.currency_name.is_null())
                ).execute()
    home = currency(company_file.home_currency_name, company_file.home_currency_list_id)
    if home is not None and home != company_file.home_currency:
        company_file.home_currency = home
        company_file.save()


def unknown_vendor_ids(company_file: CompanyFile, list_ids: Iterable[str]) -> set[str]:
    """The vendor ListIDs among `list_ids` that PaySync has not read yet."""
    wanted = set(list_ids)
    known: set[str] = set()
    for chunk in _chunks(sorted(wanted), 500):
        known.update(
            row.list_id
            for row in QuickBooksVendor.select(QuickBooksVendor.list_id).where(
                (QuickBooksVendor.company_file == company_file) & QuickBooksVendor.list_id.in_(chunk)
            )
        )
    return wanted - known


def unknown_bill_ids(company_file: CompanyFile, bill_txn_ids: Iterable[str]) -> set[str]:
    """The bill TxnIDs among `bill_txn_ids` that PaySync has not stored a Bill row for."""
    wanted = set(bill_txn_ids)
    if not wanted:
        return set()
    known: set[str] = set()
    ids = sorted(wanted)
    for start in range(0, len(ids), 500):  # keep the IN list well under SQLite's variable limit
        chunk = ids[start : start + 500]
        known.update(
            row.txn_id
            for row in Bill.select(Bill.txn_id).where(
                (Bill.company_file == company_file) & Bill.txn_id.in_(chunk)
            )
        )
    return wanted - known
