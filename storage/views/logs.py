"""The log screen: the audit log and the errors a person should see, each payment named as people
know it ("Check 1042 · Summit Framing Co. · 48,500.00") rather than by its origin id."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from storage.db import chunks
from storage.models import AuditLog, BillPayment, BillPaymentApplication, ErrorEvent, PaymentLink, SyncRun
from storage.views.rows import AuditRow, ErrorRow
from storage.views.sql import contains, fetch, home_currency, money, named

ORIGIN_ID_PATTERN = re.compile(r"qbd:[\w.-]+:[\w-]+:[\w-]+")
FAILED_RUN_WHERE = "sync run"


class _PaymentName(NamedTuple):
    origin_id: str
    kind: str
    ref_number: str | None
    vendor_name: str | None
    amount: Decimal | None
    currency: str | None


def payment_names(origin_ids: Iterable[str]) -> dict[str, str]:
    """Each payment origin id as people know the payment: "Check 1042 · Summit Framing Co. · 48,500.00"."""
    wanted = sorted({str(o) for o in origin_ids if o})
    names: dict[str, str] = {}
    home = home_currency() if wanted else "USD"
    for chunk in chunks(wanted):
        for payment in fetch(
            _PaymentName,
            PaymentLink.select(
                *named(
                    origin_id=PaymentLink.origin_id,
                    kind=BillPayment.kind,
                    ref_number=BillPayment.ref_number,
                    vendor_name=BillPayment.vendor_name,
                    amount=BillPaymentApplication.amount,
                    currency=BillPayment.currency,
                )
            )
            .join(BillPaymentApplication, on=(PaymentLink.application == BillPaymentApplication.id))
            .join(BillPayment)
            .where(PaymentLink.origin_id.in_(list(chunk))),
        ):
            kind = str(payment.kind)
            method = {"check": "Check", "credit_card": "Credit card"}.get(kind, kind)
            what = f"{method} {payment.ref_number}" if payment.ref_number else method
            amount = money(payment.amount)
            parts = [what, str(payment.vendor_name or "(no vendor)")]
            if amount is not None:
                currency = payment.currency
                parts.append(f"{amount:,.2f}" + (f" {currency}" if currency and currency != home else ""))
            names[str(payment.origin_id)] = " · ".join(parts)
    return names


def _named(message: str, names: dict[str, str]) -> str:
    return ORIGIN_ID_PATTERN.sub(lambda m: names.get(m.group(0), m.group(0)), message)


def recent_audit(*, limit: int = 200, text: str = "") -> tuple[AuditRow, ...]:
    """The audit log, newest first; `text` matches the action, target, detail, actor, or the vendor
    and check number of the payment the target names (taken literally: `%` and `_` are characters)."""
    query = AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc())
    text = text.strip()
    if text:
        by_payment = (
            PaymentLink.select(PaymentLink.origin_id)
            .join(BillPaymentApplication, on=(PaymentLink.application == BillPaymentApplication.id))
            .join(BillPayment)
            .where(contains(BillPayment.vendor_name, text) | contains(BillPayment.ref_number, text))
        )
        query = query.where(
            contains(AuditLog.action, text)
            | contains(AuditLog.target, text)
            | contains(AuditLog.detail, text)
            | contains(AuditLog.actor, text)
            | AuditLog.target.in_(by_payment)
        )
    rows = list(query.limit(limit))
    names = payment_names(a.target for a in rows if a.target and ORIGIN_ID_PATTERN.fullmatch(a.target))
    return tuple(
        AuditRow(
            at=a.at,
            actor=a.actor,
            action=a.action,
            target=a.target,
            detail=a.detail,
            subject=names.get(a.target or ""),
        )
        for a in rows
    )


def recent_errors(*, limit: int = 200) -> tuple[ErrorRow, ...]:
    """Errors a person should see, newest first: the error events, and every sync run that failed
    (unless an error event at the same time already says the same)."""
    events = list(ErrorEvent.select().order_by(ErrorEvent.at.desc(), ErrorEvent.id.desc()).limit(limit))
    runs = list(
        SyncRun.select()
        .where(SyncRun.status == "failed")
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(limit)
    )
    found = [str(e.message) for e in events]
    found += [str(r.message) for r in runs if r.message]
    names = payment_names(m.group(0) for text in found for m in ORIGIN_ID_PATTERN.finditer(text))
    rows = [
        ErrorRow(at=e.at, where=e.where, message=_named(str(e.message), names), detail=e.detail)
        for e in events
    ]
    for run in runs:
        at = run.finished_at or run.started_at
        message = str(run.message or "").strip()
        if message and any(
            message in str(e.message) and abs((e.at - at).total_seconds()) <= 120 for e in events
        ):
            continue  # the error event says it already
        if not message:
            problems = int(run.errors or 0)
            message = (
                f"{problems} payment{'s' if problems != 1 else ''} need attention or failed (see the Reason column)"
                if problems
                else "no reason was recorded"
            )
        rows.append(
            ErrorRow(
                at=at,
                where=FAILED_RUN_WHERE,
                message=f"Sync ({run.trigger}) failed: {_named(message, names)}",
                detail=None,
            )
        )
    rows.sort(key=lambda row: row.at, reverse=True)
    return tuple(rows[:limit])
