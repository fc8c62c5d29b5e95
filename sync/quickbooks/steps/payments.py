"""Bill payments: the check and credit card payment queries, and how a page of payments is stored.

Both queries read everything QuickBooks modified since the watermark (minus the overlap), 100 at a
time through an iterator. A page's payments are upserted by (company file, TxnID); an application
to a bill is one row (one Procore payment each, DESIGN rule 3), updated in place, never deleted.
The bills and vendors a page names are looked up afterwards when PaySync has not read them (their
steps say which ids a page names).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

from storage.db import chunks, write_transaction
from storage.models import BillPayment, BillPaymentApplication, CompanyFile, QuickBooksWork
from storage.vocabulary import WorkKind
from sync.quickbooks.cutoff import is_pre_existing, schedule_cutoff
from sync.quickbooks.ingest import (
    BATCH,
    CurrencyResolver,
    IngestCounts,
    PageOutcome,
    hold_unreadable,
    iterator_finished,
    records_of,
    release_held,
    save_row,
    select_rows,
    upsert_rows,
)
from sync.quickbooks.qbxml.build import build_bill_payment_query
from sync.quickbooks.qbxml.records import BillPaymentRecord, PaymentKind, QueryResponse, UnreadableRecord
from sync.quickbooks.watermarks import later, local_string, query_start

from .base import Context, Step

ZERO = Decimal("0.00")
# json.dumps(..., sort_keys=True) builds an encoder per call; one encoder, the same text.
_CREDITS_JSON = json.JSONEncoder(sort_keys=True).encode
# A payment held unread may be either kind; a readable version of it releases both.
PAYMENT_HELD_TYPES = ("payment_check", "payment_credit_card")


class BillPayments(Step):
    """A payment query: check or credit card bill payments modified since the watermark."""

    payment_kind: ClassVar[PaymentKind]
    priority = 30
    refresh = True
    watermark = True

    def build_request(self, work: QuickBooksWork, request_id: str, context: Context) -> str:
        if work.iterator_id:
            return build_bill_payment_query(
                self.payment_kind,
                request_id=request_id,
                max_returned=context.max_returned,
                iterator="Continue",
                iterator_id=work.iterator_id,
            )
        start = query_start(context.company, self.kind)
        work.modified_from = None if start is None else start.strftime("%Y-%m-%dT%H:%M:%S")
        return build_bill_payment_query(
            self.payment_kind,
            request_id=request_id,
            modified_from=start,
            max_returned=context.max_returned,
            iterator="Start",
        )

    def store_page(self, work: QuickBooksWork, response: QueryResponse, context: Context) -> PageOutcome:
        """Store one page of payments and the item's progress, in one transaction. Records PaySync
        cannot read are held aside; the rest of the page is stored and the watermark moves on."""
        company_file, now = context.company, context.now
        records: list[BillPaymentRecord] = records_of(response, BillPaymentRecord)
        unreadable: list[UnreadableRecord] = records_of(response, UnreadableRecord)
        with write_transaction():
            counts = store_payments(
                company_file, records, cutoff=partial(schedule_cutoff, company_file.file_key), now=now
            )
            held = hold_unreadable(company_file, unreadable, self.held_type, now=now)
            hold_stored_payments(company_file, held, now=now)
            counts.held = len(held)
            release_held(company_file, PAYMENT_HELD_TYPES, (r.txn_id for r in records), now=now)
            latest = work.max_time_modified
            for record in records:
                latest = later(latest, local_string(record.time_modified))
            for unread in unreadable:
                latest = later(latest, local_string(unread.time_modified))
            work.max_time_modified = latest
            work.pages += 1
            work.records += counts.received + len(unreadable)
            finished = iterator_finished(response, len(records) + len(unreadable), context.max_returned)
            if finished:
                self.finish(work, context)
            else:
                work.iterator_id = response.iterator_id
                work.iterator_remaining = response.iterator_remaining
            save_row(work)
        return PageOutcome(counts=counts, finished=finished, records=records)


class CheckPayments(BillPayments):
    kind = WorkKind.PAYMENTS_CHECK
    label = "check bill payments"
    query_name = "check bill payment"
    rs_name = "BillPaymentCheckQueryRs"
    held_type = "payment_check"
    payment_kind = "check"


class CreditCardPayments(BillPayments):
    kind = WorkKind.PAYMENTS_CREDIT_CARD
    label = "credit card bill payments"
    query_name = "credit card bill payment"
    rs_name = "BillPaymentCreditCardQueryRs"
    held_type = "payment_credit_card"
    payment_kind = "credit_card"


# --------------------------------------------------------------------------------------------
# Storing payments
# --------------------------------------------------------------------------------------------


def hold_stored_payments(company_file: CompanyFile, held: list[UnreadableRecord], *, now: datetime) -> None:
    """A stored payment whose newer version is unreadable is held too, so its old version is not
    taken for the truth (nothing is written to Procore for it until QuickBooks sends it readable)."""
    for record in held:
        if record.txn_id:
            BillPayment.update(hold_reason=record.reason, updated_at=now).where(
                (BillPayment.company_file == company_file) & (BillPayment.txn_id == record.txn_id)
            ).execute()


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
                "credits": _CREDITS_JSON(credits) if credits else None,
            }
        else:
            entry["amount"] += applied.amount
            if applied.discount_amount is not None:
                entry["discount_amount"] = (entry["discount_amount"] or ZERO) + applied.discount_amount
            if credits:
                earlier = json.loads(entry["credits"]) if entry["credits"] else []
                entry["credits"] = _CREDITS_JSON(earlier + credits)
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


# What an update of a stored payment sets: everything but what is decided once, at first sight.
_PAYMENT_UPDATED = (
    "kind",
    "edit_sequence",
    "txn_number",
    "time_created",
    "time_modified",
    "vendor_list_id",
    "vendor_name",
    "txn_date",
    "amount",
    "ref_number",
    "memo",
    "account_name",
    "currency_list_id",
    "currency_name",
    "currency",
    "exchange_rate",
    "amount_in_home_currency",
    "hold_reason",
    "is_void",
    "updated_at",
)
_APPLICATION_VALUES = (
    "bill_ref_number",
    "bill_txn_date",
    "amount",
    "balance_remaining",
    "discount_amount",
    "credits",
)
# Payments per batch: one SELECT of what is stored, one upsert of the payments, one of their
# applications (about 22 and 8 parameters a row: well within MAX_PARAMETERS per statement).
PAYMENTS_PER_BATCH = 500


def store_payments(
    company_file: CompanyFile,
    records: list[BillPaymentRecord],
    *,
    cutoff: datetime | None | Callable[[], datetime | None],
    now: datetime,
) -> IngestCounts:
    """Upsert payments by (company file, TxnID): new ones are inserted, those whose EditSequence
    differs are updated, the rest are counted as unchanged. Call inside a transaction.

    Batched (ingest.py, "Batched SQL"): per PAYMENTS_PER_BATCH payments, one SELECT of the stored
    (TxnID, EditSequence), one multi-row upsert of the new and changed payments (RETURNING their
    ids), one SELECT of the changed payments' applications, one multi-row upsert of the applications
    and one UPDATE for those QuickBooks no longer lists. No statement is made per row.

    pre_existing is decided once, when the payment is first stored, and never changed: TimeCreated
    does not change, and a payment once synced must not turn pre-existing (nor the reverse) because
    the cutoff setting was edited by hand (`cutoff` may be given as a function, read only when a
    page brings a new payment). Applications are updated in place, never deleted and
    re-created: a PaymentLink (and the Procore payment it made) hangs off each one with ON DELETE
    CASCADE. An application that QuickBooks no longer lists (the payment was moved to another bill,
    or voided and its applications dropped) is kept with amount 0.00, which the engine sees as "this
    Procore payment must go to zero".
    """
    counts = IngestCounts(received=len(records))
    currency = CurrencyResolver(company_file)
    latest_by_id = {record.txn_id: record for record in records}  # a TxnID twice in a page: the last wins
    counts.unchanged += len(records) - len(latest_by_id)
    company_id = company_file.get_id()  # type: ignore[no-untyped-call]
    read_cutoff = cutoff if callable(cutoff) else None
    known_cutoff = None if callable(cutoff) else cutoff
    for batch in chunks(list(latest_by_id.values()), PAYMENTS_PER_BATCH):
        stored = {
            str(txn_id): (payment_id, edit_sequence)
            for payment_id, txn_id, edit_sequence in select_rows(
                BillPayment,
                ("id", "txn_id", "edit_sequence"),
                {"company_file": company_id},
                "txn_id",
                [record.txn_id for record in batch],
            )
        }
        written: list[dict[str, Any]] = []
        changed_ids: dict[str, Any] = {}
        if read_cutoff is not None and any(record.txn_id not in stored for record in batch):
            known_cutoff, read_cutoff = read_cutoff(), None
        for record in batch:
            found = stored.get(record.txn_id)
            if found is not None and found[1] == record.edit_sequence:
                counts.unchanged += 1
                continue
            if found is None:
                counts.new += 1
            else:
                counts.changed += 1
                changed_ids[record.txn_id] = found[0]
            written.append(
                {
                    "company_file": company_id,
                    "txn_id": record.txn_id,
                    # Only an insert takes these two; an update leaves them as first stored.
                    "pre_existing": found is None and is_pre_existing(record.time_created, known_cutoff),
                    "first_seen_at": now,
                    **_payment_fields(record, now, currency),
                }
            )
        if not written:
            continue
        ids = {
            str(txn_id): payment_id
            for payment_id, txn_id in upsert_rows(
                BillPayment,
                written,
                conflict=("company_file", "txn_id"),
                update=_PAYMENT_UPDATED,
                returning=("id", "txn_id"),
            )
        }
        _store_applications(
            [(ids[row["txn_id"]], latest_by_id[row["txn_id"]]) for row in written], set(changed_ids.values())
        )
    return counts


def _store_applications(payments: list[tuple[Any, BillPaymentRecord]], changed: set[Any]) -> None:
    """Make the applications of these payments (id, record) match their records: new rows inserted,
    rows that differ updated in place, rows QuickBooks no longer lists set to 0.00 (never deleted).
    `changed` names the payments stored before (the others have no applications yet)."""
    stored: dict[tuple[Any, str], tuple[Any, ...]] = {}
    if changed:
        for payment_id, application_id, bill_txn_id, *stored_values in select_rows(
            BillPaymentApplication,
            ("payment", "id", "bill_txn_id", *_APPLICATION_VALUES),
            {},
            "payment",
            sorted(changed),
        ):
            stored[(payment_id, str(bill_txn_id))] = (application_id, *stored_values)
    rows: list[dict[str, Any]] = []
    for payment_id, record in payments:
        for bill_txn_id, values in _bill_applications(record).items():
            found = stored.pop((payment_id, bill_txn_id), None)
            if found is not None and tuple(values[name] for name in _APPLICATION_VALUES) == found[1:]:
                continue  # as stored
            rows.append({"payment": payment_id, "bill_txn_id": bill_txn_id, **values})
    upsert_rows(BillPaymentApplication, rows, conflict=("payment", "bill_txn_id"), update=_APPLICATION_VALUES)
    no_longer_listed = [
        found[0] for found in stored.values() if found[_APPLICATION_VALUES.index("amount") + 1] != ZERO
    ]
    for chunk in chunks(no_longer_listed, BATCH):
        BillPaymentApplication.update(amount=ZERO).where(BillPaymentApplication.id.in_(chunk)).execute()


def store_payment(
    company_file: CompanyFile, record: BillPaymentRecord, *, cutoff: datetime | None, now: datetime
) -> str:
    """Upsert one payment (see store_payments); returns "new", "changed" or "unchanged"."""
    counts = store_payments(company_file, [record], cutoff=cutoff, now=now)
    return "new" if counts.new else "changed" if counts.changed else "unchanged"
