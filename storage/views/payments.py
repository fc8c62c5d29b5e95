"""The payments pane: one commitment's (or invoice's) payments, paged and sorted in SQL, and the
unmatched group's. A payment is one bill payment *application* (DESIGN rule 3)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from peewee import JOIN, ModelSelect

from storage.db import chunks
from storage.models import BillPayment, BillPaymentApplication, CompanyFile, HeldRecord, Invoice, PaymentLink
from storage.queries import held_payments_not_stored
from storage.views.placement import BillMatch, held_in_scope, placed_on, placement, unmatched_in_scope
from storage.views.rows import PaymentPage, PaymentRow
from storage.views.sorting import PAYMENT_SORTS, PaymentSort, payment_order, payment_sort_key
from storage.views.sql import company_file_id, fetch, money, named, of_company_file
from storage.views.statuses import effective_status
from storage.vocabulary import ErpStatus


class PaymentRecord(NamedTuple):
    """The columns behind a PaymentRow (payment_columns names them)."""

    application_id: int
    link_id: int | None
    txn_id: str
    kind: str
    txn_date: date | str
    ref_number: str | None
    payment_number: int | None
    amount: Decimal | int
    status: str
    status_reason: str | None
    vendor_name: str | None
    bill_ref_number: str | None
    invoice_id: int | None
    invoice_number: str | None
    is_void: bool
    pre_existing: bool
    deleted_at: datetime | None
    currency: str | None
    currency_name: str | None
    home_currency: str | None
    hold_reason: str | None
    procore_payment_id: int | None


def payment_columns() -> list[Any]:
    """The select list for PaymentRecord, each column named by its field."""
    return named(
        application_id=BillPaymentApplication.id,
        link_id=PaymentLink.id,
        txn_id=BillPayment.txn_id,
        kind=BillPayment.kind,
        txn_date=BillPayment.txn_date,
        ref_number=BillPayment.ref_number,
        payment_number=PaymentLink.payment_number,
        amount=BillPaymentApplication.amount,
        status=effective_status(),
        status_reason=PaymentLink.status_reason,
        vendor_name=BillPayment.vendor_name,
        bill_ref_number=BillPaymentApplication.bill_ref_number,
        invoice_id=Invoice.id,
        invoice_number=Invoice.invoice_number,
        is_void=BillPayment.is_void,
        pre_existing=BillPayment.pre_existing,
        deleted_at=BillPayment.deleted_at,
        currency=BillPayment.currency,
        currency_name=BillPayment.currency_name,
        home_currency=CompanyFile.home_currency,
        hold_reason=BillPayment.hold_reason,
        procore_payment_id=PaymentLink.procore_payment_id,
    )


def payment_query(extra: Iterable[Any] = ()) -> ModelSelect[BillPaymentApplication]:
    """Applications with their payment, company file, link and invoice: PaymentRecord's columns,
    then `extra` (named columns too)."""
    return (
        BillPaymentApplication.select(*payment_columns(), *extra)
        .join(BillPayment)
        .join(CompanyFile)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .join(Invoice, JOIN.LEFT_OUTER, on=(Invoice.id == PaymentLink.invoice))
    )


def _unlinked_reason(pre_existing: bool, deleted: bool) -> str:
    if pre_existing:
        return "Created in QuickBooks before the sync schedule was first configured: never synced."
    if deleted:
        return "Deleted in QuickBooks before it was synced."
    return "Not matched yet: waiting for the next push."


def payment_row(record: PaymentRecord) -> PaymentRow:
    reason = record.status_reason
    if record.hold_reason and str(record.status) == ErpStatus.NEEDS_ATTENTION and not reason:
        reason = record.hold_reason
    if record.link_id is None and not reason:
        reason = _unlinked_reason(bool(record.pre_existing), record.deleted_at is not None)
    amount = money(record.amount)
    shown_currency = record.currency or record.currency_name
    if shown_currency and str(shown_currency).upper() == str(record.home_currency or "USD").upper():
        shown_currency = None
    txn_date = record.txn_date
    return PaymentRow(
        application_id=int(record.application_id),
        link_id=int(record.link_id) if record.link_id is not None else None,
        payment_txn_id=str(record.txn_id),
        kind=str(record.kind),
        txn_date=txn_date if isinstance(txn_date, date) else date.fromisoformat(str(txn_date)),
        check_number=str(record.ref_number) if record.ref_number else None,
        payment_number=int(record.payment_number) if record.payment_number is not None else None,
        amount=amount if amount is not None else Decimal("0.00"),
        status=str(record.status),
        reason=str(reason) if reason else None,
        vendor_name=str(record.vendor_name) if record.vendor_name else None,
        bill_ref_number=str(record.bill_ref_number) if record.bill_ref_number else None,
        invoice_id=int(record.invoice_id) if record.invoice_id is not None else None,
        invoice_number=str(record.invoice_number) if record.invoice_number else None,
        is_void=bool(record.is_void),
        currency=str(shown_currency) if shown_currency else None,
        procore_payment_id=int(record.procore_payment_id) if record.procore_payment_id is not None else None,
    )


def held_query(file_key: str | None = None) -> ModelSelect[HeldRecord]:
    """The payments held unread (of company file `file_key` only, when given)."""
    query = held_payments_not_stored()
    if file_key is not None:
        query = query.where(HeldRecord.company_file == company_file_id(file_key))
    return query


def held_rows(limit: int, file_key: str | None = None) -> list[PaymentRow]:
    """Payments QuickBooks sent that PaySync could not read and has no earlier version of: shown in
    the unmatched group, needing attention, with the reason."""
    rows = []
    for held in held_query(file_key).order_by(HeldRecord.id.desc()).limit(limit):
        rows.append(
            PaymentRow(
                application_id=-int(held.id),
                link_id=None,
                payment_txn_id=str(held.txn_id or held.record_key),
                kind="check" if held.record_type == "payment_check" else "credit_card",
                txn_date=held.first_seen_at.date(),
                check_number=None,
                payment_number=None,
                amount=Decimal("0.00"),
                status=ErpStatus.NEEDS_ATTENTION,
                reason=str(held.reason),
                vendor_name=None,
                bill_ref_number=None,
                invoice_id=None,
                invoice_number=None,
                is_void=False,
                held=True,
            )
        )
    return rows


def with_match(row: PaymentRow, match: BillMatch | None) -> PaymentRow:
    """The row listed under the invoice its bill matches (when the engine has not placed it)."""
    if match is None:
        return row
    return replace(
        row, invoice_id=match.invoice_id, invoice_number=match.invoice_number, matched_by_bill=True
    )


def list_payments(
    commitment_id: int | None,
    *,
    invoice_id: int | None = None,
    limit: int = 500,
    offset: int = 0,
    sort: PaymentSort | str = "date",
    descending: bool | None = None,
    text: str = "",
    file_key: str | None = None,
) -> PaymentPage:
    """The payments of one commitment (or of one of its invoices), newest first unless `sort` says
    otherwise. A payment PaySync has not linked whose bill matches one of the commitment's invoices
    is listed there (Not synced, for a pre-existing one).

    `commitment_id=None` lists the unmatched group; `text` (a commitment filter) keeps the
    unmatched payments of the vendors (or bill numbers) it names. `file_key` keeps the payments
    of that company file only (None: every file).
    """
    down = PAYMENT_SORTS.get(sort, True) if descending is None else descending
    if commitment_id is None:
        return _unmatched_payments(invoice_id is None, limit, offset, sort, down, text, file_key)
    placed = placed_on(commitment_id, invoice_id, file_key=file_key)
    query = payment_query()
    condition = PaymentLink.commitment == commitment_id
    if invoice_id is not None:
        condition &= PaymentLink.invoice == invoice_id
    if placed:
        condition |= BillPaymentApplication.id.in_(sorted(placed))
    of_file = of_company_file(file_key)
    query = query.where(condition if of_file is None else (of_file & condition))
    total = int(query.count())
    page = query.order_by(*payment_order(sort, down)).limit(limit).offset(offset)
    rows = [with_match(payment_row(r), placed.get(int(r.application_id))) for r in fetch(PaymentRecord, page)]
    return PaymentPage(rows=tuple(rows), total=total, limit=limit)


def _unmatched_payments(
    with_held: bool, limit: int, offset: int, sort: str, descending: bool, text: str, file_key: str | None
) -> PaymentPage:
    scope = unmatched_in_scope(placement(of_company_file(file_key)), text)
    ids = sorted({row.application_id for row in scope or ()})
    rows: list[PaymentRow] = []
    for chunk in chunks(ids):
        query = payment_query().where(BillPaymentApplication.id.in_(list(chunk)))
        rows.extend(payment_row(r) for r in fetch(PaymentRecord, query))
    rows.sort(key=payment_sort_key(sort), reverse=descending)
    total = len(rows)
    page = rows[offset : offset + limit]
    if with_held and offset == 0 and held_in_scope(text):
        held = held_rows(limit, file_key)
        page = held + page
        total += len(held)
    return PaymentPage(rows=tuple(page), total=total, limit=limit)
