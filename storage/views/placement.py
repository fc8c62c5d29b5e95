"""Payments the engine has not placed on a commitment, placed by their bill (DESIGN rule 7).

A pre-existing payment is never linked to an invoice (it is never synced), yet it paid a bill
that matches a Procore invoice: it belongs under that invoice, Not synced, rather than in the
unmatched group. The rule is the engine's (sync/engine/matching.py), approximated on the tables:
the invoice whose origin_id is the bill's TxnID; else the one invoice whose number is the bill's
RefNumber on a commitment of the payment's vendor (by the Procore vendor's origin_id = ListID,
else by name). A payment the engine judged (needs mapping, failed) stays where the engine put it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from peewee import JOIN, fn

from storage.db import chunks
from storage.models import (
    BillPayment,
    BillPaymentApplication,
    Commitment,
    Invoice,
    PaymentLink,
    ProcoreVendor,
)
from storage.views.sql import fetch, named, of_company_file
from storage.views.statuses import effective_status, status_from_text
from storage.vocabulary import ErpStatus

_PLACEABLE_STATUSES = (ErpStatus.NOT_SYNCED, ErpStatus.WAITING, ErpStatus.DELETED_IN_QUICKBOOKS)


@dataclass(frozen=True, slots=True)
class BillMatch:
    """The Procore invoice a bill belongs to, and why."""

    invoice_id: int
    commitment_id: int
    invoice_number: str
    how: str


@dataclass(frozen=True, slots=True)
class _Bill:
    txn_id: str
    ref_number: str | None
    vendor_list_id: str | None
    vendor_name: str | None


@dataclass(frozen=True, slots=True)
class Unplaced:
    """One payment application with no commitment from the engine."""

    application_id: int
    bill: _Bill
    status: str
    placeable: bool


@dataclass(frozen=True, slots=True)
class Placement:
    placed: dict[int, tuple[BillMatch, str]]  # application id -> (match, status)
    unmatched: list[Unplaced]


# The rows the queries below read, by column name.


class _InvoiceByOrigin(NamedTuple):
    id: int
    commitment_id: int
    invoice_number: str | None
    origin_id: str


class _InvoiceByNumber(NamedTuple):
    id: int
    commitment_id: int
    invoice_number: str | None
    vendor_id: int | None
    vendor_name: str | None


class _VendorKey(NamedTuple):
    id: int
    key: str | None  # the vendor's origin id (a QuickBooks ListID), or its name


class _UnplacedRecord(NamedTuple):
    application_id: int
    bill_txn_id: str
    bill_ref_number: str | None
    vendor_list_id: str | None
    vendor_name: str | None
    status: str
    link_id: int | None
    link_status: str | None
    hold_reason: str | None


class _CommitmentInvoice(NamedTuple):
    id: int
    invoice_number: str | None
    origin_id: str | None


def _name_key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _number_key(text: str | None) -> str:
    return (text or "").strip().casefold()


def _match_bills(bills: Iterable[_Bill]) -> dict[str, BillMatch]:
    """The Procore invoice each bill belongs to (bill TxnID -> match), when exactly one qualifies."""
    wanted = {bill.txn_id: bill for bill in bills}
    if not wanted:
        return {}
    by_origin: dict[str, list[_InvoiceByOrigin]] = defaultdict(list)
    for chunk in chunks(sorted(wanted)):
        for invoice in fetch(
            _InvoiceByOrigin,
            Invoice.select(
                *named(
                    id=Invoice.id,
                    commitment_id=Invoice.commitment,
                    invoice_number=Invoice.invoice_number,
                    origin_id=Invoice.origin_id,
                )
            ).where(Invoice.origin_id.in_(list(chunk))),
        ):
            by_origin[str(invoice.origin_id).strip()].append(invoice)
    numbers = sorted({_number_key(b.ref_number) for b in wanted.values() if _number_key(b.ref_number)})
    by_number: dict[str, list[_InvoiceByNumber]] = defaultdict(list)
    for chunk in chunks(numbers):
        for candidate in fetch(
            _InvoiceByNumber,
            Invoice.select(
                *named(
                    id=Invoice.id,
                    commitment_id=Invoice.commitment,
                    invoice_number=Invoice.invoice_number,
                    vendor_id=Commitment.vendor_id,
                    vendor_name=Commitment.vendor_name,
                )
            )
            .join(Commitment)
            .where(fn.LOWER(fn.TRIM(Invoice.invoice_number)).in_(list(chunk))),
        ):
            by_number[_number_key(candidate.invoice_number)].append(candidate)
    vendors_by_list: dict[str, set[int]] = defaultdict(set)
    vendors_by_name: dict[str, set[int]] = defaultdict(set)
    list_ids = sorted(
        {b.vendor_list_id.strip() for b in wanted.values() if b.vendor_list_id and b.vendor_list_id.strip()}
    )
    for chunk in chunks(list_ids):
        for vendor in fetch(
            _VendorKey,
            ProcoreVendor.select(*named(id=ProcoreVendor.id, key=ProcoreVendor.origin_id)).where(
                ProcoreVendor.origin_id.in_(list(chunk))
            ),
        ):
            vendors_by_list[str(vendor.key).strip()].add(int(vendor.id))
    names = sorted({_name_key(b.vendor_name) for b in wanted.values() if _name_key(b.vendor_name)})
    for chunk in chunks(names):
        for vendor in fetch(
            _VendorKey,
            ProcoreVendor.select(*named(id=ProcoreVendor.id, key=ProcoreVendor.name)).where(
                fn.LOWER(ProcoreVendor.name).in_(list(chunk))
            ),
        ):
            vendors_by_name[_name_key(vendor.key)].add(int(vendor.id))
    matches: dict[str, BillMatch] = {}
    for txn_id, bill in wanted.items():
        found = by_origin.get(txn_id.strip(), [])
        if len(found) == 1:
            matches[txn_id] = BillMatch(
                int(found[0].id),
                int(found[0].commitment_id),
                str(found[0].invoice_number or ""),
                f"the invoice's origin id is the bill's TxnID {txn_id}",
            )
            continue
        number_key = _number_key(bill.ref_number)
        if found or not number_key:
            continue  # several invoices claim the bill, or the bill has no number: no guess
        vendor_ids = vendors_by_list.get((bill.vendor_list_id or "").strip()) or vendors_by_name.get(
            _name_key(bill.vendor_name)
        )
        candidates = [
            candidate
            for candidate in by_number.get(number_key, [])
            if (
                (int(candidate.vendor_id) if candidate.vendor_id is not None else None) in vendor_ids
                if vendor_ids
                else _name_key(candidate.vendor_name) == _name_key(bill.vendor_name)
            )
        ]
        if len(candidates) == 1:
            chosen = candidates[0]
            number = str(chosen.invoice_number or "")
            matches[txn_id] = BillMatch(
                int(chosen.id),
                int(chosen.commitment_id),
                number,
                f"invoice number {number} equals bill number {(bill.ref_number or '').strip()} "
                f"on a commitment of {str(chosen.vendor_name or '') or bill.vendor_name}",
            )
    return matches


def unmatched_condition() -> Any:
    """SQL: the application has no link, or a link with no commitment."""
    return PaymentLink.id.is_null(True) | PaymentLink.commitment.is_null(True)


def _unplaced(extra_condition: Any = None) -> list[Unplaced]:
    query = (
        BillPaymentApplication.select(
            *named(
                application_id=BillPaymentApplication.id,
                bill_txn_id=BillPaymentApplication.bill_txn_id,
                bill_ref_number=BillPaymentApplication.bill_ref_number,
                vendor_list_id=BillPayment.vendor_list_id,
                vendor_name=BillPayment.vendor_name,
                status=effective_status(),
                link_id=PaymentLink.id,
                link_status=PaymentLink.erp_status,
                hold_reason=BillPayment.hold_reason,
            )
        )
        .join(BillPayment)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .where(unmatched_condition())
    )
    if extra_condition is not None:
        query = query.where(extra_condition)
    rows = []
    for record in fetch(_UnplacedRecord, query):
        placeable = not record.hold_reason and (
            record.link_id is None or str(record.link_status) in _PLACEABLE_STATUSES
        )
        ref = record.bill_ref_number
        rows.append(
            Unplaced(
                int(record.application_id),
                _Bill(
                    str(record.bill_txn_id),
                    str(ref) if ref else None,
                    record.vendor_list_id,
                    record.vendor_name,
                ),
                str(record.status),
                placeable,
            )
        )
    return rows


def placement(extra_condition: Any = None) -> Placement:
    """The applications with no commitment from the engine (those `extra_condition` keeps), each
    placed on an invoice by its bill or left unmatched."""
    rows = _unplaced(extra_condition)
    matches = _match_bills(row.bill for row in rows if row.placeable)
    placed: dict[int, tuple[BillMatch, str]] = {}
    unmatched: list[Unplaced] = []
    for row in rows:
        match = matches.get(row.bill.txn_id) if row.placeable else None
        if match is not None:
            placed[row.application_id] = (match, row.status)
        else:
            unmatched.append(row)
    return Placement(placed, unmatched)


def placed_on(
    commitment_id: int, invoice_id: int | None = None, *, file_key: str | None = None
) -> dict[int, BillMatch]:
    """Applications placed on one commitment (or invoice) by their bill: application id -> match;
    with `file_key`, of that company file's payments only."""
    query = Invoice.select(
        *named(id=Invoice.id, invoice_number=Invoice.invoice_number, origin_id=Invoice.origin_id)
    ).where(Invoice.commitment == commitment_id)
    invoices = list(fetch(_CommitmentInvoice, query))
    if invoice_id is not None:
        invoices = [i for i in invoices if int(i.id) == invoice_id]
    origins = sorted({str(i.origin_id).strip() for i in invoices if i.origin_id and str(i.origin_id).strip()})
    numbers = sorted({_number_key(i.invoice_number) for i in invoices if _number_key(i.invoice_number)})
    if not origins and not numbers:
        return {}
    condition = BillPaymentApplication.bill_txn_id.in_(origins) if origins else None
    if numbers:
        by_number = fn.LOWER(fn.TRIM(BillPaymentApplication.bill_ref_number)).in_(numbers)
        condition = by_number if condition is None else (condition | by_number)
    of_file = of_company_file(file_key)
    if of_file is not None:
        condition = of_file & condition
    return {
        app_id: match
        for app_id, (match, _) in placement(condition).placed.items()
        if match.commitment_id == commitment_id and (invoice_id is None or match.invoice_id == invoice_id)
    }


def _names_the_group(text: str) -> bool:
    """No filter, or one the group's own name "(unmatched)" contains."""
    return not text.strip() or text.strip().lower() in "(unmatched)"


def unmatched_in_scope(placement: Placement, text: str) -> list[Unplaced] | None:
    """The unmatched payments the filter keeps; None when the filter leaves the group out."""
    text = text.strip()
    wanted_status = status_from_text(text)
    if wanted_status is not None:
        return [row for row in placement.unmatched if row.status == wanted_status]
    if _names_the_group(text):
        return placement.unmatched
    wanted = text.casefold()
    return [
        row
        for row in placement.unmatched
        if wanted in (row.bill.vendor_name or "").casefold()
        or wanted in (row.bill.ref_number or "").casefold()
    ]


def held_in_scope(text: str) -> bool:
    """Whether the filter keeps the records QuickBooks sent that PaySync could not read (they are in
    the unmatched group, needing attention)."""
    wanted_status = status_from_text(text)
    return wanted_status == ErpStatus.NEEDS_ATTENTION or (wanted_status is None and _names_the_group(text))
