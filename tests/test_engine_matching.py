"""DESIGN rule 7: a QuickBooks bill is matched to a Procore subcontractor invoice by the invoice's
origin id, else by invoice number on a commitment of the bill's vendor - if exactly one - and
anything else is 'needs mapping' with a reason, never a guess."""

from __future__ import annotations

from sync.engine.matching import MatchIndex, MatchResult, match_bill_to_invoice
from sync.engine.snapshot import CommitmentRow, InvoiceRow, VendorRow

VENDORS = [
    VendorRow(1, "Acme Concrete", "80000001-1700000001"),
    VendorRow(2, "Bolt Electric", None),
    VendorRow(3, "Twin Supply", None),
    VendorRow(4, "twin supply", None),  # same name, different Procore vendor
]
COMMITMENTS = {
    10: CommitmentRow(10, 100, 1, "SC-001 Concrete"),
    11: CommitmentRow(11, 100, 1, "SC-002 Flatwork"),
    20: CommitmentRow(20, 100, 2, "PO-001 Electrical"),
    30: CommitmentRow(30, 100, 3, "PO-002 Supplies"),
    40: CommitmentRow(40, 100, 4, "PO-003 Supplies"),
}
INVOICES = [
    InvoiceRow(1000, 100, 10, 1, "ACME-2411", "1A2B-1700000001", None),
    InvoiceRow(1001, 100, 10, 2, "ACME-2438", None, None),
    InvoiceRow(1002, 100, 11, 1, "ACME-2438", None, None),  # same number, other commitment, same vendor
    InvoiceRow(1003, 100, 11, 2, "ACME-9000", None, None),
    InvoiceRow(2000, 100, 20, 1, "BLE-10234", None, None),
    InvoiceRow(3000, 100, 30, 1, "TS-1", None, None),
    InvoiceRow(4000, 100, 40, 1, "TS-2", None, None),
    InvoiceRow(5000, 100, 20, 2, "dup-origin", "SAME-TXN", None),
    InvoiceRow(5001, 100, 10, 3, "dup-origin-2", "SAME-TXN", None),
]
INDEX = MatchIndex(INVOICES, COMMITMENTS, VENDORS)


def match(
    txn: str = "NO-SUCH-TXN", ref: str | None = None, list_id: str | None = None, name: str | None = None
) -> MatchResult:
    return match_bill_to_invoice(
        INDEX, bill_txn_id=txn, bill_ref_number=ref, vendor_list_id=list_id, vendor_name=name
    )


def test_the_invoice_carrying_the_bill_txn_id_wins_over_everything() -> None:
    found = match("1A2B-1700000001", ref="SOMETHING-ELSE", list_id="unknown", name="Nobody")
    assert (found.invoice and found.invoice.id, found.matched_by) == (1000, "origin_id")


def test_invoice_number_matches_trimmed_and_case_insensitive_on_the_vendors_commitments() -> None:
    found = match(ref="  acme-9000 ", list_id="80000001-1700000001", name="Renamed In QuickBooks")
    assert (found.invoice and found.invoice.id, found.matched_by) == (1003, "invoice_number")
    assert "vendor matched by origin id" in found.reason


def test_vendor_falls_back_to_the_same_name_case_insensitive() -> None:
    found = match(ref="BLE-10234", list_id="80000009-1", name="BOLT  electric")
    assert found.invoice is not None and found.invoice.id == 2000
    assert "vendor matched by name" in found.reason


def test_the_same_number_on_another_vendors_commitment_does_not_match() -> None:
    found = match(ref="BLE-10234", list_id="80000001-1700000001")
    assert found.invoice is None
    assert "no Procore invoice numbered 'BLE-10234' on a commitment of Acme Concrete" in found.reason


def test_two_invoices_with_the_number_need_mapping_and_name_both() -> None:
    found = match(ref="ACME-2438", list_id="80000001-1700000001")
    assert found.invoice is None
    assert found.reason.startswith("needs mapping: several Procore invoices numbered 'ACME-2438'")
    assert "id 1001" in found.reason and "id 1002" in found.reason


def test_same_named_vendors_are_pooled_and_one_invoice_still_matches() -> None:
    assert match(ref="TS-2", name="Twin Supply").invoice.id == 4000  # type: ignore[union-attr]


def test_unknown_vendor_needs_mapping() -> None:
    found = match(ref="ACME-2411", list_id="NOPE", name="Stranger LLC")
    assert found.invoice is None
    assert "vendor 'Stranger LLC' not found in Procore" in found.reason


def test_a_bill_without_a_number_needs_mapping() -> None:
    found = match(ref="   ", list_id="80000001-1700000001")
    assert found.invoice is None and "has no bill number" in found.reason


def test_two_invoices_carrying_the_same_origin_id_need_mapping() -> None:
    found = match("SAME-TXN", ref="dup-origin", name="Bolt Electric")
    assert found.invoice is None
    assert "several Procore invoices carry the bill's TxnID SAME-TXN" in found.reason
