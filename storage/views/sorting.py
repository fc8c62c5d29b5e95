"""How the lists sort: the column keys, the direction each sorts in first, numbers in natural order,
and the sort itself (in SQL for a commitment's payments, in Python for lists built in Python)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from peewee import fn

from storage.models import BillPayment, BillPaymentApplication, Invoice, PaymentLink
from storage.views.rows import CommitmentRow, PaymentRow
from storage.views.statuses import STATUS_RANK, effective_status, rank_of

SortOrder = Literal["number", "status", "title", "vendor", "kind", "payments", "project"]
COMMITMENT_SORTS: dict[str, bool] = {  # key -> descending by default
    "number": False,
    "status": True,  # most urgent first
    "title": False,
    "vendor": False,
    "kind": False,
    "payments": True,  # most payments first
    "project": False,
}
PaymentSort = Literal["date", "status", "method", "check", "payment_number", "amount", "invoice"]
PAYMENT_SORTS: dict[str, bool] = {
    "date": True,  # newest first
    "status": True,
    "method": False,
    "check": False,
    "payment_number": False,
    "amount": True,
    "invoice": False,
}


def natural_key(text: str | None) -> tuple[tuple[int, int, str], ...]:
    """Numbers as people sort them: SC-2 before SC-10 (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", (text or "").strip().casefold())
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part) for part in parts if part)


def commitment_sort_key(sort: str) -> Callable[[CommitmentRow], Any]:
    def key(row: CommitmentRow) -> Any:
        number = natural_key(row.number)
        if sort == "status":
            return (STATUS_RANK.get(row.status, 0), number)
        if sort == "payments":
            return (row.payments_count, number)
        if sort == "title":
            return (row.title.casefold(), number)
        if sort == "vendor":
            return (row.vendor_name.casefold(), number)
        if sort == "kind":
            return (row.kind_label.casefold(), number)
        if sort == "project":
            return (row.project_name.casefold(), number)
        return (number, row.project_name.casefold(), row.id or 0)

    return key


def payment_order(sort: str, descending: bool) -> list[Any]:
    """ORDER BY for a payment list; ties newest first."""
    if sort == "status":
        column: Any = rank_of(effective_status())
    elif sort == "method":
        column = BillPayment.kind
    elif sort == "check":
        # Natural order for check numbers: shorter numbers first, then by text (99 before 100).
        length = fn.LENGTH(fn.COALESCE(BillPayment.ref_number, ""))
        return [
            length.desc() if descending else length.asc(),
            BillPayment.ref_number.desc() if descending else BillPayment.ref_number.asc(),
            BillPaymentApplication.id.desc(),
        ]
    elif sort == "payment_number":
        column = PaymentLink.payment_number
    elif sort == "amount":
        column = BillPaymentApplication.amount
    elif sort == "invoice":
        column = fn.COALESCE(Invoice.invoice_number, BillPaymentApplication.bill_ref_number)
    else:
        column = BillPayment.txn_date
    return [column.desc() if descending else column.asc(), BillPaymentApplication.id.desc()]


def payment_sort_key(sort: str) -> Callable[[PaymentRow], Any]:
    """The order of a payment list, for payments listed in Python (the unmatched group)."""

    def key(row: PaymentRow) -> Any:
        if sort == "status":
            return (STATUS_RANK.get(row.status, 0), row.application_id)
        if sort == "method":
            return (row.kind, row.application_id)
        if sort == "check":
            return (natural_key(row.check_number), row.application_id)
        if sort == "payment_number":
            return (row.payment_number or 0, row.application_id)
        if sort == "amount":
            return (row.amount, row.application_id)
        if sort == "invoice":
            return (natural_key(row.invoice_number or row.bill_ref_number), row.application_id)
        return (row.txn_date, row.application_id)

    return key
