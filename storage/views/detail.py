"""The payment detail view: one application, QuickBooks side against Procore side, or a record
QuickBooks sent that PaySync could not read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from peewee import JOIN

from storage.models import (
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    HeldRecord,
    PaymentAttachment,
    PaymentLink,
    ProcoreWrite,
)
from storage.views.lookups import commitment_labels
from storage.views.payments import PaymentRecord, held_rows, payment_query, payment_row, with_match
from storage.views.placement import placement
from storage.views.rows import PaymentDetail, WriteRow
from storage.views.sql import aware, money, named


class _DetailRecord(NamedTuple):
    """What the detail view shows beyond the PaymentRecord."""

    file_key: str
    payment_total: Decimal | int
    edit_sequence: str
    time_modified: str
    account_name: str | None
    memo: str | None
    bill_txn_id: str
    bill_txn_date: date | None
    origin_id: str | None
    match_reason: str | None
    pushed_amount: Decimal | None
    locked: bool | None
    last_attempt_at: datetime | None
    commitment_number: str | None
    commitment_title: str | None
    exchange_rate: str | None
    amount_in_home_currency: Decimal | None
    discount_amount: Decimal | None
    credits: str | None


def _detail_columns() -> list[Any]:
    return named(
        file_key=CompanyFile.file_key,
        payment_total=BillPayment.amount,
        edit_sequence=BillPayment.edit_sequence,
        time_modified=BillPayment.time_modified,
        account_name=BillPayment.account_name,
        memo=BillPayment.memo,
        bill_txn_id=BillPaymentApplication.bill_txn_id,
        bill_txn_date=BillPaymentApplication.bill_txn_date,
        origin_id=PaymentLink.origin_id,
        match_reason=PaymentLink.match_reason,
        pushed_amount=PaymentLink.pushed_amount,
        locked=PaymentLink.locked,
        last_attempt_at=PaymentLink.last_attempt_at,
        commitment_number=Commitment.number,
        commitment_title=Commitment.title,
        exchange_rate=BillPayment.exchange_rate,
        amount_in_home_currency=BillPayment.amount_in_home_currency,
        discount_amount=BillPaymentApplication.discount_amount,
        credits=BillPaymentApplication.credits,
    )


def _both(values: Mapping[str, Any]) -> tuple[PaymentRecord, _DetailRecord]:
    """One row of the detail query, by column name: the payment's record and the detail's."""
    return (
        PaymentRecord(**{name: values[name] for name in PaymentRecord._fields}),
        _DetailRecord(**{name: values[name] for name in _DetailRecord._fields}),
    )


def company_file_label(file_key: str) -> str | None:
    """ "east · East Builders LLC" when PaySync serves several company files (removed ones aside);
    None with one, where naming it would only be noise."""
    active = CompanyFile.select().where(CompanyFile.removed_at.is_null(True))
    if int(active.count()) < 2:
        return None
    row = CompanyFile.get_or_none(CompanyFile.file_key == file_key)
    name = (row.label or row.company_name) if row is not None else None
    return f"{file_key} · {name}" if name and name != file_key else file_key


def payment_detail(application_id: int) -> PaymentDetail | None:
    """Everything known about one application, for the side-by-side detail view."""
    if application_id < 0:
        return _held_detail(-application_id)
    values = (
        payment_query(_detail_columns())
        .switch(PaymentLink)
        .join(Commitment, JOIN.LEFT_OUTER, on=(Commitment.id == PaymentLink.commitment))
        .where(BillPaymentApplication.id == application_id)
        .dicts()
        .first()
    )
    if values is None:
        return None
    record, detail = _both(values)
    row = payment_row(record)
    attachments: tuple[str, ...] = ()
    writes: tuple[WriteRow, ...] = ()
    if row.link_id is not None:
        attachments = tuple(
            f"{a.filename} ({a.status})"
            for a in PaymentAttachment.select()
            .where(PaymentAttachment.link == row.link_id)
            .order_by(PaymentAttachment.id)
        )
        writes = tuple(
            WriteRow(at=w.created_at, operation=w.operation, status=w.status, error=w.error)
            for w in ProcoreWrite.select()
            .where(ProcoreWrite.link == row.link_id)
            .order_by(ProcoreWrite.id.desc())
            .limit(10)
        )
    commitment_label = None
    match_reason = detail.match_reason
    if detail.commitment_number is not None or detail.commitment_title is not None:
        commitment_label = " ".join(str(p) for p in (detail.commitment_number, detail.commitment_title) if p)
    else:
        placed = placement(BillPaymentApplication.id == application_id).placed.get(application_id)
        if placed is not None:
            match = placed[0]
            row = with_match(row, match)
            commitment_label = commitment_labels([match.commitment_id]).get(match.commitment_id)
            match_reason = f"{match.how} (listed there by its bill; PaySync has not linked it)"
    procore_payment_id = record.procore_payment_id
    return PaymentDetail(
        exchange_rate=str(detail.exchange_rate) if detail.exchange_rate else None,
        amount_in_home_currency=money(detail.amount_in_home_currency),
        home_currency=str(record.home_currency) if record.home_currency else None,
        not_paid=_not_paid(money(detail.discount_amount), detail.credits),
        row=row,
        file_key=str(detail.file_key),
        payment_total=money(detail.payment_total) or Decimal("0.00"),
        edit_sequence=str(detail.edit_sequence),
        time_modified=str(detail.time_modified),
        account_name=str(detail.account_name) if detail.account_name else None,
        memo=str(detail.memo) if detail.memo else None,
        pre_existing=bool(record.pre_existing),
        deleted_at=aware(record.deleted_at, BillPayment.deleted_at),
        bill_txn_id=str(detail.bill_txn_id),
        bill_txn_date=detail.bill_txn_date,
        origin_id=str(detail.origin_id) if detail.origin_id else None,
        match_reason=str(match_reason) if match_reason else None,
        commitment_label=commitment_label,
        procore_payment_id=int(procore_payment_id) if procore_payment_id is not None else None,
        pushed_amount=money(detail.pushed_amount),
        locked=bool(detail.locked),
        last_attempt_at=aware(detail.last_attempt_at, PaymentLink.last_attempt_at),
        attachments=attachments,
        writes=writes,
        company_file_label=company_file_label(str(detail.file_key)),
    )


def _not_paid(discount: Decimal | None, credits: Any) -> tuple[str, ...]:
    """Discounts and vendor credits applied to the bill in the same payment: not money paid."""
    parts = [f"discount {discount:,.2f}"] if discount else []
    try:
        listed = json.loads(credits) if credits else []
    except ValueError:
        listed = []
    for credit in listed if isinstance(listed, list) else []:
        if isinstance(credit, dict):
            try:
                amount = abs(Decimal(str(credit.get("amount"))))
            except ArithmeticError:
                continue
            parts.append(f"vendor credit {credit.get('ref_number') or credit.get('txn_id')} {amount:,.2f}")
    return tuple(parts)


def _held_detail(held_id: int) -> PaymentDetail | None:
    """A held record, as the detail view shows it: the reason and the text QuickBooks sent."""
    held = (
        HeldRecord.select(HeldRecord, CompanyFile.file_key)
        .join(CompanyFile)
        .where(HeldRecord.id == held_id)
        .first()
    )
    if held is None:
        return None
    row = next((r for r in held_rows(10_000) if r.application_id == -held_id), None)
    if row is None:
        return None
    return PaymentDetail(
        row=row,
        file_key=str(held.company_file.file_key),
        payment_total=Decimal("0.00"),
        edit_sequence=str(held.edit_sequence or "—"),
        time_modified="—",
        account_name=None,
        memo=None,
        pre_existing=False,
        deleted_at=None,
        bill_txn_id="—",
        bill_txn_date=None,
        origin_id=None,
        match_reason=None,
        commitment_label=None,
        procore_payment_id=None,
        pushed_amount=None,
        locked=False,
        last_attempt_at=None,
        attachments=(),
        raw_record=str(held.raw_text),
        company_file_label=company_file_label(str(held.company_file.file_key)),
    )
