"""DESIGN rule 7: which Procore subcontractor invoice a QuickBooks bill belongs to.

1. The invoice whose `origin_id` is the bill's TxnID (what Procore's QuickBooks connector writes
   back after exporting the invoice as a bill).
2. Else the invoice whose `invoice_number` equals the bill's RefNumber (trimmed, case-insensitive)
   on a commitment of the bill's vendor, where the vendor is the Procore vendor whose `origin_id`
   is the QuickBooks vendor ListID, else the Procore vendor(s) with the same name
   (case-insensitive) - if exactly one invoice qualifies.
3. Anything else is *needs mapping*, with a reason a person can act on. Never a guess.

A bill a person placed by hand (`paysync map`, the console: a `BillMapping`, see
sync/engine/suggestions.py) is matched to the invoice they confirmed, whatever its number; the
match reason says who confirmed it and when. An invoice carrying the bill's TxnID as origin id that
is *not* the confirmed one makes it *needs mapping* again (the two disagree: a person decides).

`MatchIndex` is built once per run (dictionaries keyed the way the rules look things up), so
matching 100,000 applications costs 100,000 dictionary lookups. `PartialMatchIndex` builds it over
only the invoices the bills still to be matched can find (a push where nearly everything is already
in Procore keeps a handful of invoices, not our whole copy of Procore), with the same answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from sync.engine.snapshot import CommitmentRow, InvoiceRow, MappingRow, VendorRow

MatchedBy = Literal["origin_id", "invoice_number", "confirmed"]


@dataclass(frozen=True, slots=True)
class MatchResult:
    invoice: InvoiceRow | None
    matched_by: MatchedBy | None
    reason: str  # why it matched, or why it needs mapping

    @property
    def matched(self) -> bool:
        return self.invoice is not None


def normalise_number(text: str | None) -> str:
    """Invoice and bill numbers compare trimmed and case-insensitively."""
    return (text or "").strip().casefold()


def _normalise_name(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


class MatchIndex:
    """Lookup tables over our copy of Procore, built once per run."""

    def __init__(
        self,
        invoices: Iterable[InvoiceRow],
        commitments: dict[int, CommitmentRow],
        vendors: Iterable[VendorRow],
    ) -> None:
        self.commitments = commitments
        self.invoices_by_origin: dict[str, list[InvoiceRow]] = defaultdict(list)
        # (Procore vendor id, normalised invoice number) -> invoices on that vendor's commitments
        self.invoices_by_vendor_number: dict[tuple[int, str], list[InvoiceRow]] = defaultdict(list)
        self.vendors_by_origin: dict[str, list[VendorRow]] = defaultdict(list)
        self.vendors_by_name: dict[str, list[VendorRow]] = defaultdict(list)
        for vendor in vendors:
            if vendor.origin_id and vendor.origin_id.strip():
                self.vendors_by_origin[vendor.origin_id.strip()].append(vendor)
            self.vendors_by_name[_normalise_name(vendor.name)].append(vendor)
        for invoice in invoices:
            if invoice.origin_id and invoice.origin_id.strip():
                self.invoices_by_origin[invoice.origin_id.strip()].append(invoice)
            commitment = commitments.get(invoice.commitment_id)
            vendor_id = commitment.vendor_id if commitment is not None else None
            if vendor_id is None:
                vendor_id = invoice.vendor_id
            number = normalise_number(invoice.invoice_number)
            if vendor_id is not None and number:
                self.invoices_by_vendor_number[(vendor_id, number)].append(invoice)

    def describe(self, invoice: InvoiceRow) -> str:
        commitment = self.commitments.get(invoice.commitment_id)
        where = commitment.label if commitment is not None else f"commitment {invoice.commitment_id}"
        return f"invoice {invoice.invoice_number or '(no number)'} (id {invoice.id}) on {where}"


def confirmed_reason(mapping: MappingRow, where: str) -> str:
    """The match reason of a bill a person placed: "… confirmed by Jane Doe on 2026-11-05"."""
    number = mapping.invoice.invoice_number if mapping.invoice is not None else mapping.invoice_number
    return (
        f"bill mapped to invoice {number or '(no number)'} (id {mapping.invoice_id}) on {where}: "
        f"confirmed by {mapping.confirmed_by} on {mapping.confirmed_at.date().isoformat()}"
    )


def _match_confirmed(index: MatchIndex, bill_txn_id: str, mapping: MappingRow) -> MatchResult:
    by_origin = index.invoices_by_origin.get(bill_txn_id.strip(), [])
    others = [invoice for invoice in by_origin if invoice.id != mapping.invoice_id]
    if others:
        found = "; ".join(index.describe(invoice) for invoice in others)
        return MatchResult(
            None,
            None,
            f"needs mapping: the bill was mapped to invoice id {mapping.invoice_id} by {mapping.confirmed_by}, "
            f"but {found} carries the bill's TxnID {bill_txn_id} as origin id; `paysync unmap {bill_txn_id}` "
            "to follow Procore, or clear that origin id in Procore",
        )
    if mapping.invoice is None:
        return MatchResult(
            None,
            None,
            f"needs mapping: the bill was mapped by {mapping.confirmed_by} to Procore invoice "
            f"{mapping.invoice_number or ''} (id {mapping.invoice_id}), which is no longer in PaySync's copy of "
            f"Procore; refresh from Procore, or `paysync unmap {bill_txn_id}` and map it again",
        )
    commitment = index.commitments.get(mapping.invoice.commitment_id)
    where = commitment.label if commitment is not None else f"commitment {mapping.invoice.commitment_id}"
    return MatchResult(mapping.invoice, "confirmed", confirmed_reason(mapping, where))


def match_bill_to_invoice(
    index: MatchIndex,
    *,
    bill_txn_id: str,
    bill_ref_number: str | None,
    vendor_list_id: str | None,
    vendor_name: str | None,
    confirmed: MappingRow | None = None,
    in_scope: Callable[[InvoiceRow], bool] | None = None,
    vendor_in_scope: Callable[[VendorRow], bool] | None = None,
) -> MatchResult:
    """The Procore invoice a QuickBooks bill belongs to, or why there is none (DESIGN rule 7).
    `confirmed`: the mapping a person confirmed for this bill, which overrides the number rule;
    `in_scope`: with several company files, whether an invoice belongs to this bill's file's
    projects (TxnIDs repeat across files, so another file's invoice is never a candidate);
    `vendor_in_scope`: with files in several Procore companies, whether a vendor is of this bill's
    file's company (ListIDs repeat across files too)."""
    if confirmed is not None:
        return _match_confirmed(index, bill_txn_id, confirmed)
    by_origin = index.invoices_by_origin.get(bill_txn_id.strip(), [])
    if in_scope is not None:
        by_origin = [invoice for invoice in by_origin if in_scope(invoice)]
    if len(by_origin) == 1:
        return MatchResult(
            by_origin[0], "origin_id", f"the invoice's origin id is the bill's TxnID {bill_txn_id}"
        )
    if len(by_origin) > 1:
        found = "; ".join(index.describe(invoice) for invoice in by_origin)
        return MatchResult(
            None,
            None,
            f"needs mapping: several Procore invoices carry the bill's TxnID {bill_txn_id} as origin id "
            f"({found}); clear the origin id on all but one of them in Procore",
        )

    shown_vendor = vendor_name or vendor_list_id or "(no vendor)"
    number = normalise_number(bill_ref_number)
    if not number:
        return MatchResult(
            None,
            None,
            f"needs mapping: the QuickBooks bill {bill_txn_id} has no bill number (RefNumber) and no Procore "
            "invoice carries its TxnID; give the bill the Procore invoice number in QuickBooks",
        )

    vendors: list[VendorRow] = []
    vendor_rule = ""
    by_vendor_origin = _scoped(
        index.vendors_by_origin, vendor_list_id.strip() if vendor_list_id else "", vendor_in_scope
    )
    by_vendor_name = _scoped(index.vendors_by_name, _normalise_name(vendor_name), vendor_in_scope)
    if by_vendor_origin:
        vendors = by_vendor_origin
        vendor_rule = "origin id"
    elif vendor_name and by_vendor_name:
        vendors = by_vendor_name
        vendor_rule = "name"
    if not vendors:
        return MatchResult(
            None,
            None,
            f"needs mapping: vendor {shown_vendor!r} not found in Procore (no Procore vendor has origin id "
            f"{vendor_list_id or '(none)'} or the name {vendor_name or '(none)'}); add or link the vendor "
            "in Procore's directory, then refresh",
        )

    candidates: list[InvoiceRow] = []
    for vendor in vendors:
        candidates.extend(index.invoices_by_vendor_number.get((vendor.id, number), []))
    if in_scope is not None:
        candidates = [invoice for invoice in candidates if in_scope(invoice)]
    shown_number = (bill_ref_number or "").strip()
    if len(candidates) == 1:
        return MatchResult(
            candidates[0],
            "invoice_number",
            f"invoice number {candidates[0].invoice_number} equals bill number {shown_number} "
            f"on a commitment of {vendors[0].name} (vendor matched by {vendor_rule})",
        )
    if not candidates:
        return MatchResult(
            None,
            None,
            f"needs mapping: no Procore invoice numbered {shown_number!r} on a commitment of "
            f"{vendors[0].name}; check the bill number in QuickBooks against the subcontractor invoice",
        )
    found = "; ".join(index.describe(invoice) for invoice in candidates)
    return MatchResult(
        None,
        None,
        f"needs mapping: several Procore invoices numbered {shown_number!r} on commitments of "
        f"{vendors[0].name} ({found}); renumber all but one in Procore",
    )


def _scoped(
    vendors: dict[str, list[VendorRow]], key: str, test: Callable[[VendorRow], bool] | None
) -> list[VendorRow]:
    found = vendors.get(key, []) if key else []
    return found if test is None else [vendor for vendor in found if test(vendor)]


def bill_keys(bill_txn_id: str, bill_ref_number: str | None) -> tuple[str, str]:
    """What matching looks a bill up by: its TxnID (an invoice's origin id) and its normalised
    number ("" when it has none: then no number is looked up)."""
    return bill_txn_id.strip(), normalise_number(bill_ref_number)


class PartialMatchIndex:
    """A `MatchIndex` over the invoices that some bills can match, built when first needed.

    Every lookup `match_bill_to_invoice()` makes for one of these bills reads only invoices whose
    origin id is the bill's TxnID or whose number is the bill's number, so keeping those invoices
    (all of them, whatever their vendor) gives exactly the answers of the whole index. A bill that
    was not named up front (stored while the plan ran) falls back to the whole index.
    """

    def __init__(
        self,
        bills: Iterable[tuple[str, str | None]],
        invoices: Callable[[], Iterable[InvoiceRow]],
        commitments: dict[int, CommitmentRow],
        vendors: Iterable[VendorRow],
    ) -> None:
        self._txn_ids: set[str] = set()
        self._numbers: set[str] = set()
        for txn_id, ref_number in bills:
            txn_key, number_key = bill_keys(txn_id, ref_number)
            self._txn_ids.add(txn_key)
            if number_key:
                self._numbers.add(number_key)
        self._invoices = invoices
        self._commitments = commitments
        self._vendors = list(vendors)
        self._index: MatchIndex | None = None
        self.whole = False  # every invoice is in the index

    def _needed(self, invoice: InvoiceRow) -> bool:
        return bool(
            (invoice.origin_id and invoice.origin_id.strip() in self._txn_ids)
            or normalise_number(invoice.invoice_number) in self._numbers
        )

    def for_bill(self, bill_txn_id: str, bill_ref_number: str | None) -> MatchIndex:
        """The index to match this bill with."""
        txn_key, number_key = bill_keys(bill_txn_id, bill_ref_number)
        if not self.whole and (
            txn_key not in self._txn_ids or (number_key and number_key not in self._numbers)
        ):
            self.whole, self._index = True, None
        if self._index is None:
            invoices = self._invoices()
            kept = invoices if self.whole else (i for i in invoices if self._needed(i))
            self._index = MatchIndex(kept, self._commitments, self._vendors)
        return self._index
