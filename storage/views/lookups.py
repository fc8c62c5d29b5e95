"""Small lookups behind the console's actions and the sync preview (is this file attached already,
the payment number stored now, commitments and invoices by name), and the console's read session."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from storage import models
from storage.models import Commitment, Invoice, PaymentAttachment, PaymentLink
from storage.views.sql import fetch, named


class _CommitmentName(NamedTuple):
    id: int
    number: str | None
    title: str | None


class _InvoiceName(NamedTuple):
    id: int
    invoice_number: str | None


def attachment_on_payment(link_id: int, filename: str, size: int) -> bool:
    """Whether this file (same name and size) is already uploaded to the payment in Procore."""
    return bool(
        PaymentAttachment.select()
        .where(
            (PaymentAttachment.link == link_id)
            & (PaymentAttachment.filename == filename)
            & (PaymentAttachment.size == size)
            & (PaymentAttachment.status == "uploaded")
        )
        .exists()
    )


def payment_number_of(link_id: int) -> int | None:
    """The payment number stored for a payment now (to tell an edit that changes nothing)."""
    value = PaymentLink.select(PaymentLink.payment_number).where(PaymentLink.id == link_id).scalar()
    return int(value) if value is not None else None


def commitment_labels(ids: Iterable[int]) -> dict[int, str]:
    """`SC-001 Framing` for each commitment id, for naming commitments in the preview."""
    wanted = {int(i) for i in ids}
    if not wanted:
        return {}
    found = fetch(
        _CommitmentName,
        Commitment.select(*named(id=Commitment.id, number=Commitment.number, title=Commitment.title)).where(
            Commitment.id.in_(wanted)
        ),
    )
    return {int(c.id): " ".join(str(p) for p in (c.number, c.title) if p) or f"#{c.id}" for c in found}


def invoice_labels(ids: Iterable[int]) -> dict[int, str]:
    """The invoice number for each invoice id (`#id` when it has none)."""
    wanted = {int(i) for i in ids}
    if not wanted:
        return {}
    found = fetch(
        _InvoiceName,
        Invoice.select(*named(id=Invoice.id, invoice_number=Invoice.invoice_number)).where(
            Invoice.id.in_(wanted)
        ),
    )
    return {int(i.id): str(i.invoice_number or f"#{i.id}") for i in found}


def read_session() -> Any:
    """A connection for the calling thread, closed on exit.

    The console reads from short-lived worker threads; peewee keeps one connection per thread,
    so each worker opens its own and closes it here instead of leaking it.
    """
    return models.database_proxy.obj.connection_context()
