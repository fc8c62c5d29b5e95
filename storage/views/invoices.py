"""The invoices pane: a commitment's subcontractor invoices, each with its matched QuickBooks bill
number, its payments and their most urgent status."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from peewee import JOIN, fn

from storage.models import Bill, BillPayment, BillPaymentApplication, Commitment, Invoice, PaymentLink
from storage.views.placement import placed_on
from storage.views.rows import InvoiceRow
from storage.views.sql import applications_of, fetch, home_currency, money, named
from storage.views.statuses import STATUS_RANK, effective_status, rank_of, rank_to_status


class _InvoiceRecord(NamedTuple):
    id: int
    invoice_number: str | None
    draw_number: int | None
    amount: Decimal | None
    billing_date: date | None
    origin_id: str | None
    payments_count: int
    max_rank: int | None
    applied_ref: str | None  # a bill number a linked payment was applied to


class _BillRef(NamedTuple):
    txn_id: str
    ref_number: str | None


class _PlacedPayment(NamedTuple):
    application_id: int
    bill_ref_number: str | None
    status: str


def list_invoices(commitment_id: int, *, file_key: str | None = None) -> tuple[InvoiceRow, ...]:
    """A commitment's subcontractor invoices, each with its matched QuickBooks bill number.

    `file_key` keeps the invoices with at least one payment of that company file, counted and
    ranked by that file's payments only (None: every invoice, every file)."""
    rank = rank_of(PaymentLink.erp_status)
    on_link = PaymentLink.invoice == Invoice.id
    if file_key is not None:
        on_link &= PaymentLink.application.in_(applications_of(file_key))
    query = (
        Invoice.select(
            *named(
                id=Invoice.id,
                invoice_number=Invoice.invoice_number,
                draw_number=Invoice.number,
                amount=Invoice.amount,
                billing_date=Invoice.billing_date,
                origin_id=Invoice.origin_id,
                payments_count=fn.COUNT(PaymentLink.id),
                max_rank=fn.MAX(rank),
                applied_ref=fn.MAX(BillPaymentApplication.bill_ref_number),
            )
        )
        .join(PaymentLink, JOIN.LEFT_OUTER, on=on_link)
        .join(
            BillPaymentApplication,
            JOIN.LEFT_OUTER,
            on=(BillPaymentApplication.id == PaymentLink.application),
        )
        .where(Invoice.commitment == commitment_id)
        .group_by(Invoice.id)
        .order_by(Invoice.number, Invoice.id)
    )
    records = list(fetch(_InvoiceRecord, query))
    commitment_currency = (
        Commitment.select(Commitment.currency).where(Commitment.id == commitment_id).scalar()
    )
    shown_currency = (
        commitment_currency if commitment_currency and commitment_currency != home_currency() else None
    )
    origin_ids = {str(r.origin_id) for r in records if r.origin_id}
    bill_refs: dict[str, str] = {}
    if origin_ids:
        for bill in fetch(
            _BillRef,
            Bill.select(*named(txn_id=Bill.txn_id, ref_number=Bill.ref_number)).where(
                Bill.txn_id.in_(origin_ids)
            ),
        ):
            if bill.ref_number:
                bill_refs[str(bill.txn_id)] = str(bill.ref_number)
    # Payments placed here by their bill (not synced): counted on their invoice too.
    placed = placed_on(commitment_id, file_key=file_key)
    placed_count: dict[int, int] = defaultdict(int)
    placed_rank: dict[int, int] = defaultdict(int)
    placed_ref: dict[int, str] = {}
    if placed:
        for payment in fetch(
            _PlacedPayment,
            BillPaymentApplication.select(
                *named(
                    application_id=BillPaymentApplication.id,
                    bill_ref_number=BillPaymentApplication.bill_ref_number,
                    status=effective_status(),
                )
            )
            .join(BillPayment)
            .switch(BillPaymentApplication)
            .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
            .where(BillPaymentApplication.id.in_(sorted(placed))),
        ):
            invoice_id = placed[int(payment.application_id)].invoice_id
            placed_count[invoice_id] += 1
            placed_rank[invoice_id] = max(placed_rank[invoice_id], STATUS_RANK.get(str(payment.status), 0))
            if payment.bill_ref_number:
                placed_ref.setdefault(invoice_id, str(payment.bill_ref_number))
    rows = []
    for record in records:
        iid = int(record.id)
        if file_key is not None and not record.payments_count and iid not in placed_count:
            continue  # no payment of the chosen company file
        rows.append(
            InvoiceRow(
                id=iid,
                commitment_id=commitment_id,
                invoice_number=str(record.invoice_number or ""),
                bill_ref_number=bill_refs.get(str(record.origin_id))
                or (str(record.applied_ref) if record.applied_ref else None)
                or placed_ref.get(iid),
                draw_number=int(record.draw_number) if record.draw_number is not None else None,
                amount=money(record.amount),
                billing_date=record.billing_date,
                payments_count=int(record.payments_count) + placed_count.get(iid, 0),
                status=rank_to_status(max(int(record.max_rank or 0), placed_rank.get(iid, 0)) or None),
                currency=shown_currency,
            )
        )
    return tuple(rows)
