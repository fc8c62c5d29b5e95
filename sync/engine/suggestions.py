"""Suggested matches for bills PaySync cannot place.

A bill behind a *needs mapping* payment (sync/engine/matching.py could not place it) gets up to
three Procore invoices to choose from, ranked by a deterministic score, each with its reasons in
words. Nothing is ever placed by a suggestion: a person confirms one (`confirm_mapping`: `paysync
map BILL_TXN_ID INVOICE_ID`, or the console), which stores a `BillMapping`, audits it, and the next
push places the bill's payments on that invoice (the match reason says who confirmed it and when).
`remove_mapping` (`paysync unmap`) undoes it while nothing of the bill is in Procore yet. Those two
live in sync/engine/mappings.py and are re-exported here, with `MappingRefused` and `mapping_of`.

**Candidates**: the invoices on commitments of the bill's vendor. The vendor is found as matching
finds it (the Procore vendor whose origin id is the QuickBooks ListID, else the same name), and
failing both by names alike once case, punctuation and company suffixes (Inc, LLC, Ltd, Co, Corp…)
are set aside, which the reasons say (sync/engine/bills.py). Invoices on a commitment in another currency than the
payment's are left out (a mapping to them would be refused).

**Score** (0-100, higher is better; ties: the nearer date, then the lower invoice id):

| signal | points |
|---|---|
| invoice number equals the bill number (trimmed, any case) | 60 |
| ... equal once prefixes, zeros, spaces, punctuation and case are set aside (`normalise_invoice_number`) | 50 |
| ... the same digits, other letters (`1001-A` / `1001-B`) | 25 |
| ... one contains the other (3 characters at least) | 15 |
| invoice amount equals the bill's amount | 25 |
| ... else the bill's open balance (before this payment) | 20 |
| ... else the amount the payment applied to the bill | 15 |
| ... else within 1 % of the bill's amount | 5 |
| invoice date the bill's date / within 7 days / within 31 days | 15 / 10 / 5 |
| the invoice is already mapped to another bill | -20 |
| the invoice carries another bill's TxnID as origin id | -30 |

Only invoices scoring above zero are suggested.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from storage.db import chunks, tuple_rows
from storage.models import Bill, BillPaymentApplication, Invoice
from sync.engine.bills import (
    ZERO,
    KnownBill,
    SeveralBills,
    VendorFound,
    as_date,
    as_money,
    currency_refusal,
    find_vendor,
    group_by_bill,
    one_bill,
    read_bills,
)
from sync.engine.mappings import MappingRefused, confirm_mapping, mapping_of, remove_mapping
from sync.engine.matching import MatchIndex, PartialMatchIndex, match_bill_to_invoice, normalise_number
from sync.engine.snapshot import Snapshot, iter_bill_applications, iter_invoices, load_reference

__all__ = [
    "BillSuggestions",
    "MappingRefused",
    "Suggestion",
    "confirm_mapping",
    "mapping_of",
    "normalise_invoice_number",
    "remove_mapping",
    "suggestions_for_bill",
    "suggestions_for_unmapped_bills",
]

# ------------------------------------------------------------------------------------------------
# What the console and the CLI read
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A Procore invoice a bill may belong to, and why."""

    invoice_id: int
    invoice_number: str
    commitment_id: int
    commitment_label: str
    score: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BillSuggestions:
    """A QuickBooks bill and the invoices suggested for it, best first (possibly none)."""

    bill_txn_id: str
    ref_number: str | None
    vendor: str | None
    amount: Decimal
    currency: str | None
    suggestions: tuple[Suggestion, ...]


# ------------------------------------------------------------------------------------------------
# Numbers and names as people type them
# ------------------------------------------------------------------------------------------------

_PREFIX = re.compile(r"^[^\W\d_]+[\s\-_#./:]*(?=\d)")  # letters before the first digit: "INV-", "acme "
_NOT_ALNUM = re.compile(r"[\W_]+")
_LEADING_ZEROS = re.compile(r"^0+(?=\d)")
_DIGITS = re.compile(r"\d+")


def normalise_invoice_number(text: str | None) -> str:
    """An invoice or bill number as people mean it: case, a letter prefix before the digits
    (`INV-`, `ACME `), spaces, punctuation and leading zeros set aside.

    `INV-0042`, `42` and `0042 ` all give `42`; `1001-A` and `1001a` give `1001a`; a number with no
    digits keeps its letters (`ABC` gives `abc`). Only suggestions use this: matching itself keeps
    DESIGN rule 7 (the invoice number equals the bill number, trimmed, in any case).
    """
    value = _PREFIX.sub("", normalise_number(text))  # matching's own trim and case first
    value = _NOT_ALNUM.sub("", value)
    return _LEADING_ZEROS.sub("", value)


def _digits(text: str | None) -> str:
    """The digits of a number once its prefix is set aside, without leading zeros ("" if none)."""
    value = _PREFIX.sub("", (text or "").strip().casefold())
    return _LEADING_ZEROS.sub("", "".join(_DIGITS.findall(value)))


def _set_aside(bill: str, invoice: str) -> str:
    """What normalising set aside, in words: "the prefix and zeros"."""
    parts: list[str] = []
    for number in (bill, invoice):
        value = number.strip().casefold()
        if _PREFIX.match(value) and "the prefix" not in parts:
            parts.append("the prefix")
    stripped = [_NOT_ALNUM.sub("", _PREFIX.sub("", n.strip().casefold())) for n in (bill, invoice)]
    if any(_LEADING_ZEROS.match(value) for value in stripped):
        parts.append("zeros")
    if any(_NOT_ALNUM.search(_PREFIX.sub("", n.strip().casefold())) for n in (bill, invoice)):
        parts.append("spaces and punctuation")
    if not parts and bill.strip() != invoice.strip():
        parts.append("case")
    if not parts:
        return "nothing"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# ------------------------------------------------------------------------------------------------
# Ranking
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: int
    commitment_id: int
    invoice_number: str | None
    amount: Decimal | None
    billing_date: date | None
    origin_id: str | None


def _money_text(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _number_points(bill_ref: str | None, invoice_number: str | None) -> tuple[int, str]:
    shown_bill, shown_invoice = (bill_ref or "").strip(), (invoice_number or "").strip()
    if not shown_bill:
        return 0, "the bill has no number to compare"
    if not shown_invoice:
        return 0, "the invoice has no number"
    if shown_bill.casefold() == shown_invoice.casefold():
        return 60, f"invoice number {shown_invoice} equals bill number {shown_bill}"
    bill_key, invoice_key = normalise_invoice_number(shown_bill), normalise_invoice_number(shown_invoice)
    if bill_key and bill_key == invoice_key:
        aside = _set_aside(shown_bill, shown_invoice)
        verb = "is" if aside in ("case", "the prefix") else "are"
        return (
            50,
            f"invoice number {shown_invoice} matches bill number {shown_bill} once {aside} {verb} set aside",
        )
    bill_digits, invoice_digits = _digits(shown_bill), _digits(shown_invoice)
    if bill_digits and bill_digits == invoice_digits:
        return 25, (
            f"invoice number {shown_invoice} has the digits of bill number {shown_bill} ({bill_digits}), "
            "but other letters"
        )
    shorter, longer = sorted((bill_key, invoice_key), key=len)
    if len(shorter) >= 3 and shorter in longer:
        return 15, f"invoice number {shown_invoice} and bill number {shown_bill} share {shorter!r}"
    return 0, f"invoice number {shown_invoice} does not resemble bill number {shown_bill}"


def _amount_points(bill: KnownBill, amount: Decimal | None) -> tuple[int, str]:
    if amount is None:
        return 0, "Procore gives no amount for the invoice"
    shown = _money_text(amount)
    if bill.amount is not None and amount == bill.amount:
        return 25, f"amount {shown} equals the bill's amount"
    if bill.open_balance is not None and amount == bill.open_balance:
        return 20, f"amount {shown} equals the bill's open balance"
    if bill.applied > ZERO and amount == bill.applied:
        return 15, f"amount {shown} equals what the payment applied to the bill"
    reference = bill.amount if bill.amount is not None else bill.applied
    if reference > ZERO and abs(amount - reference) <= reference / 100:
        return 5, f"amount {shown} is within 1% of the bill's {_money_text(reference)}"
    return 0, f"amount {shown} differs from the bill's {_money_text(reference)}"


def _date_points(bill: KnownBill, billing_date: date | None) -> tuple[int, str | None, int]:
    """(points, reason, days apart: for ties)."""
    if billing_date is None or bill.txn_date is None:
        return 0, None, 10_000
    days = abs((billing_date - bill.txn_date).days)
    shown = f"invoice dated {billing_date.isoformat()}"
    if days == 0:
        return 15, f"{shown}, the bill's date", days
    if days <= 7:
        return (
            10,
            f"{shown}, {days} day{'s' if days != 1 else ''} from the bill's {bill.txn_date.isoformat()}",
            days,
        )
    if days <= 31:
        return 5, f"{shown}, {days} days from the bill's {bill.txn_date.isoformat()}", days
    return 0, f"{shown}, {days} days from the bill's {bill.txn_date.isoformat()}", days


@dataclass
class _Context:
    reference: Snapshot
    invoices_by_vendor: dict[int, list[_Candidate]]
    mapped_to: dict[int, str]  # invoice id -> the bill TxnID mapped to it
    origins: set[str]  # every bill TxnID PaySync knows, to tell an invoice carrying another's


def _commitment_vendor(reference: Snapshot, candidate_commitment: int) -> int | None:
    commitment = reference.commitments.get(candidate_commitment)
    return commitment.vendor_id if commitment is not None else None


def _read_candidates(reference: Snapshot, vendor_ids: set[int] | None) -> dict[int, list[_Candidate]]:
    """The invoices on commitments of these Procore vendors (all vendors when None), by vendor."""
    query = Invoice.select(
        Invoice.id,
        Invoice.commitment,
        Invoice.invoice_number,
        Invoice.amount,
        Invoice.billing_date,
        Invoice.origin_id,
        Invoice.vendor_id,
    )
    if vendor_ids is not None:
        commitments = [c.id for c in reference.commitments.values() if c.vendor_id in vendor_ids]
        if not commitments and not vendor_ids:
            return {}
        query = query.where(Invoice.commitment.in_(commitments) | Invoice.vendor_id.in_(sorted(vendor_ids)))
    found: dict[int, list[_Candidate]] = defaultdict(list)
    for invoice_id, commitment_id, number, amount, billed, origin, vendor_id in tuple_rows(query):
        vendor = _commitment_vendor(reference, int(commitment_id))
        if vendor is None and vendor_id is not None:
            vendor = int(vendor_id)
        if vendor is None:
            continue
        found[vendor].append(
            _Candidate(
                id=int(invoice_id),
                commitment_id=int(commitment_id),
                invoice_number=str(number) if number is not None else None,
                amount=as_money(amount),
                billing_date=as_date(billed),
                origin_id=str(origin).strip() if origin else None,
            )
        )
    return found


def _context(reference: Snapshot, vendor_ids: set[int] | None) -> _Context:
    mapped_to = {m.invoice_id: m.bill_txn_id for m in reference.mappings.values()}
    candidates = _read_candidates(reference, vendor_ids)
    carried = sorted({c.origin_id for found in candidates.values() for c in found if c.origin_id})
    origins: set[str] = set()
    for chunk in chunks(carried):
        origins |= {
            str(txn_id)
            for (txn_id,) in tuple_rows(
                BillPaymentApplication.select(BillPaymentApplication.bill_txn_id)
                .where(BillPaymentApplication.bill_txn_id.in_(chunk))
                .distinct()
            )
        }
        origins |= {
            str(txn_id) for (txn_id,) in tuple_rows(Bill.select(Bill.txn_id).where(Bill.txn_id.in_(chunk)))
        }
    return _Context(reference, candidates, mapped_to, origins)


def _rank(
    bill: KnownBill, vendor: VendorFound | None, context: _Context, limit: int
) -> tuple[Suggestion, ...]:
    if vendor is None or limit <= 0:
        return ()
    reference = context.reference
    scored: list[tuple[int, int, int, Suggestion]] = []
    for vendor_id in sorted(vendor.ids):
        for candidate in context.invoices_by_vendor.get(vendor_id, []):
            commitment = reference.commitments.get(candidate.commitment_id)
            if currency_refusal(bill, commitment, reference) is not None:
                continue  # a mapping to it would be refused
            if commitment is not None and not reference.scope.allows(bill.file_key, commitment.project_id):
                continue  # another company file's project
            label = commitment.label if commitment is not None else f"commitment {candidate.commitment_id}"
            points, number_reason = _number_points(bill.ref_number, candidate.invoice_number)
            reasons = [number_reason]
            more, amount_reason = _amount_points(bill, candidate.amount)
            points += more
            reasons.append(amount_reason)
            more, date_reason, days = _date_points(bill, candidate.billing_date)
            points += more
            if date_reason:
                reasons.append(date_reason)
            other = context.mapped_to.get(candidate.id)
            if other is not None and other != bill.txn_id:
                points -= 20
                reasons.append(f"already mapped to QuickBooks bill {other}")
            if (
                candidate.origin_id
                and candidate.origin_id != bill.txn_id
                and candidate.origin_id in context.origins
            ):
                points -= 30
                reasons.append(
                    f"carries another QuickBooks bill's TxnID ({candidate.origin_id}) as origin id"
                )
            reasons.append(f"on {label} of {vendor.name}, the bill's vendor ({vendor.how})")
            if points <= 0:
                continue
            score = min(points, 100)
            scored.append(
                (
                    -score,
                    days,
                    candidate.id,
                    Suggestion(
                        invoice_id=candidate.id,
                        invoice_number=candidate.invoice_number or "",
                        commitment_id=candidate.commitment_id,
                        commitment_label=label,
                        score=score,
                        reasons=tuple(reasons),
                    ),
                )
            )
    scored.sort(key=lambda item: item[:3])
    return tuple(item[3] for item in scored[:limit])


def _suggest(bill: KnownBill, context: _Context, limit: int) -> BillSuggestions:
    vendor = find_vendor(bill, context.reference.scope.vendors_for(bill.file_key, context.reference.vendors))
    return BillSuggestions(
        bill_txn_id=bill.txn_id,
        ref_number=bill.ref_number,
        vendor=bill.vendor,
        amount=bill.shown_amount,
        currency=bill.currency,
        suggestions=_rank(bill, vendor, context, limit),
    )


def _needs_mapping(bill: KnownBill, index: MatchIndex | PartialMatchIndex, reference: Snapshot) -> bool:
    """Whether the plan would say *needs mapping* for one of the bill's applications (they are not
    pre-existing, not deleted, not in Procore: `iter_bill_applications`)."""
    for app in bill.applications:
        if app.hold_reason:
            continue
        ref = app.bill_ref_number or reference.bill_ref_numbers.get((app.file_key, app.bill_txn_id))
        whole = index if isinstance(index, MatchIndex) else index.for_bill(app.bill_txn_id, ref)
        result = match_bill_to_invoice(
            whole,
            bill_txn_id=app.bill_txn_id,
            bill_ref_number=ref,
            vendor_list_id=app.vendor_list_id,
            vendor_name=app.vendor_name,
            confirmed=reference.mappings.get((app.file_key, app.bill_txn_id)),
            in_scope=reference.scope.for_file(app.file_key),
            vendor_in_scope=reference.scope.vendor_test(app.file_key),
        )
        if result.invoice is None and result.reason.startswith("needs mapping"):
            return True
    return False


# ------------------------------------------------------------------------------------------------
# The API
# ------------------------------------------------------------------------------------------------


def suggestions_for_unmapped_bills(limit: int = 3) -> list[BillSuggestions]:
    """Every bill behind a *needs mapping* payment (and not mapped yet), with up to `limit`
    suggested invoices each, in the order PaySync first stored their payments. Reads only."""
    reference = load_reference(invoices=False)
    bills = {
        key: bill
        for key, bill in group_by_bill(iter_bill_applications()).items()
        if key not in reference.mappings
    }
    if not bills:
        return []
    refs = reference.bill_ref_numbers
    index = PartialMatchIndex(
        (
            (app.bill_txn_id, app.bill_ref_number or refs.get((app.file_key, app.bill_txn_id)))
            for bill in bills.values()
            for app in bill.applications
        ),
        iter_invoices,
        reference.commitments,
        reference.vendors,
    )
    waiting = {key: bill for key, bill in bills.items() if _needs_mapping(bill, index, reference)}
    if not waiting:
        return []
    read_bills(waiting, reference)
    vendor_ids: set[int] = set()
    for bill in waiting.values():
        vendor = find_vendor(bill, reference.scope.vendors_for(bill.file_key, reference.vendors))
        if vendor is not None:
            vendor_ids |= vendor.ids
    context = _context(reference, vendor_ids)
    return [_suggest(bill, context, limit) for bill in waiting.values()]


def suggestions_for_bill(bill_txn_id: str, limit: int = 3) -> BillSuggestions | None:
    """Up to `limit` suggested invoices for one bill PaySync has read (None: it has not), whatever
    its payments' status. Reads only."""
    reference = load_reference(invoices=False)
    try:
        bill = one_bill(bill_txn_id.strip(), reference)
    except SeveralBills:
        return None
    if bill is None:
        return None
    vendor = find_vendor(bill, reference.scope.vendors_for(bill.file_key, reference.vendors))
    context = _context(reference, set(vendor.ids) if vendor is not None else set())
    return _suggest(bill, context, limit)
