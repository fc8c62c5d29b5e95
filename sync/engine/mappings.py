"""The mappings a person confirms: a QuickBooks bill placed on a Procore invoice.

Nothing is ever placed by a suggestion (sync/engine/suggestions.py): a person confirms one
(`confirm_mapping`: `paysync map BILL_TXN_ID INVOICE_ID`, or the console), which stores a
`BillMapping`, audits it, and the next push places the bill's payments on that invoice (the match
reason says who confirmed it and when). `remove_mapping` (`paysync unmap`) undoes it while nothing
of the bill is in Procore yet. Both take the push lease while they write, and refuse with
`MappingRefused`, whose message says why and what to do.

A mapping is refused for a bill PaySync has not read (or of several company files), an invoice not
in PaySync's copy of Procore, on another vendor's commitment or in another currency than the bill's
payments, a bill already in Procore, already mapped or already matched by DESIGN rule 7, and while
a push holds the lease.
"""

from __future__ import annotations

import json

from peewee import IntegrityError

from storage.db import write_transaction
from storage.leases import PushLease
from storage.models import (
    AuditLog,
    BillMapping,
    BillPaymentApplication,
    CompanyFile,
    PaymentLink,
    ProcoreWrite,
)
from sync.engine.bills import KnownBill, SeveralBills, currency_refusal, find_vendor, group_by_bill, one_bill
from sync.engine.matching import MatchIndex, match_bill_to_invoice
from sync.engine.snapshot import (
    InvoiceRow,
    LinkRow,
    MappingRow,
    iter_bill_applications,
    iter_invoices,
    load_invoice,
    load_mappings,
    load_reference,
)

LEASE_WAIT_SECONDS = 10.0


class MappingRefused(Exception):
    """A mapping PaySync will not store or remove; the message says why and what to do."""


def _placed_in_procore(bill: KnownBill) -> list[LinkRow]:
    return [link for link in bill.links if link is not None and link.procore_payment_id is not None]


def _unsettled_writes(bill: KnownBill) -> int:
    origins = [app.origin_id for app in bill.applications]
    if not origins:
        return 0
    return int(
        ProcoreWrite.select()
        .where(ProcoreWrite.origin_id.in_(origins), ProcoreWrite.status.in_(("intent", "unknown")))
        .count()
    )


def _describe_invoice(invoice_number: str | None, invoice_id: int, label: str) -> str:
    return f"invoice {invoice_number or '(no number)'} (id {invoice_id}) on {label}"


def _take_lease(actor: str, what: str) -> PushLease:
    lease = PushLease(f"{actor} ({what})")
    if not lease.acquire(wait_seconds=LEASE_WAIT_SECONDS):
        raise MappingRefused(f"Nothing changed: {lease.describe_holder()}. Try again when it has finished.")
    return lease


def confirm_mapping(bill_txn_id: str, invoice_id: int, *, actor: str, file_key: str | None = None) -> str:
    """Place a bill on a Procore invoice, as a person confirmed: stored, audited, used by the next
    push. Returns a sentence for the person; raises MappingRefused with the reason (a bill PaySync
    has not read, an invoice not in our copy of Procore or on another vendor's commitment or in
    another currency, a bill already in Procore or already placed, a push running)."""
    txn_id = bill_txn_id.strip()
    reference = load_reference(invoices=False)
    try:
        bill = one_bill(txn_id, reference, file_key)
    except SeveralBills as several:
        raise MappingRefused(str(several)) from None
    if bill is None:
        raise MappingRefused(
            f"PaySync has not read a QuickBooks bill with TxnID {txn_id}. Only bills of payments the Web "
            "Connector brought can be mapped: check the TxnID (`paysync mappings` lists them)"
        )
    invoice = load_invoice(invoice_id)
    if invoice is None:
        raise MappingRefused(
            f"There is no Procore invoice with id {invoice_id} in PaySync's copy of Procore; check the id, or "
            "refresh from Procore (`paysync sync`) if it is new"
        )
    commitment = reference.commitments.get(invoice.commitment_id)
    label = commitment.label if commitment is not None else f"commitment {invoice.commitment_id}"
    shown_invoice = _describe_invoice(invoice.invoice_number, invoice.id, label)
    vendor = find_vendor(bill, reference.scope.vendors_for(bill.file_key, reference.vendors))
    if vendor is None:
        raise MappingRefused(
            f"The vendor of {bill.shown}, {bill.vendor or '(none)'}, is not in Procore (no Procore vendor has its "
            "ListID as origin id or its name): link the vendor in Procore's Directory first, then refresh"
        )
    invoice_vendor = (
        commitment.vendor_id
        if commitment is not None and commitment.vendor_id is not None
        else invoice.vendor_id
    )
    if invoice_vendor not in vendor.ids:
        owner = next((v.name for v in reference.vendors if v.id == invoice_vendor), "another vendor")
        raise MappingRefused(
            f"Refused: {shown_invoice} is on a commitment of {owner}, not of the bill's vendor {vendor.name}. "
            "A bill can only be mapped to an invoice of its own vendor"
        )
    held = currency_refusal(bill, commitment, reference)
    if held is not None:
        raise MappingRefused(f"Refused: {shown_invoice} cannot take this bill's payments: {held}")
    if not reference.scope.allows(bill.file_key, invoice.project_id):
        raise MappingRefused(
            f"Refused: {shown_invoice} is in Procore project {invoice.project_id}, which belongs to another "
            f"company file than {bill.file_key!r} (`paysync company list`); a bill can only be mapped to an "
            "invoice of its own company file's projects"
        )
    placed = _placed_in_procore(bill)
    if placed:
        raise MappingRefused(
            f"Refused: {bill.shown} is already in Procore (payment {placed[0].procore_payment_id}); a payment in "
            "Procore stays on the invoice it was created for, and a mapping would not move it"
        )
    existing = reference.mappings.get((bill.file_key, txn_id))
    if existing is not None:
        if existing.invoice_id == invoice_id:
            return (
                f"{bill.shown} is already mapped to {shown_invoice} (confirmed by {existing.confirmed_by} on "
                f"{existing.confirmed_at.date().isoformat()}); nothing changed"
            )
        raise MappingRefused(
            f"Refused: {bill.shown} is already mapped to invoice id {existing.invoice_id} (confirmed by "
            f"{existing.confirmed_by}); `paysync unmap {txn_id}` first"
        )
    index = MatchIndex(iter_invoices(), reference.commitments, reference.vendors)
    for app in bill.applications:
        ref = app.bill_ref_number or reference.bill_ref_numbers.get((app.file_key, app.bill_txn_id))
        rule = match_bill_to_invoice(
            index,
            bill_txn_id=app.bill_txn_id,
            bill_ref_number=ref,
            vendor_list_id=app.vendor_list_id,
            vendor_name=app.vendor_name,
            in_scope=reference.scope.for_file(app.file_key),
            vendor_in_scope=reference.scope.vendor_test(app.file_key),
        )
        if rule.invoice is not None and rule.invoice.id == invoice_id:
            return f"{bill.shown} already matches {shown_invoice} ({rule.reason}); no mapping is needed"
        if rule.invoice is not None:
            raise MappingRefused(
                f"Refused: {bill.shown} already matches {index.describe(rule.invoice)} ({rule.reason}); PaySync "
                "places it there without a mapping"
            )
    lease = _take_lease(actor, "map")
    try:
        _store_mapping(bill, txn_id, invoice, vendor.name, actor)
    finally:
        lease.release()
    count = len(bill.applications)
    payments = (
        f"its {count} payment{'s' if count != 1 else ''}" if count else "its payments, when they arrive,"
    )
    return (
        f"{bill.shown} is now mapped to {shown_invoice}, confirmed by {actor}. The next push records {payments} "
        "there."
    )


def _store_mapping(bill: KnownBill, txn_id: str, invoice: InvoiceRow, vendor_name: str, actor: str) -> None:
    """The mapping and its audit entry, in one transaction; a second `map` of the same bill that
    got there first is refused, not overwritten."""
    try:
        with write_transaction():
            company = CompanyFile.get(CompanyFile.file_key == bill.file_key)
            BillMapping.create(
                company_file=company,
                bill_txn_id=txn_id,
                invoice_id=invoice.id,
                invoice_number=invoice.invoice_number,
                commitment_id=invoice.commitment_id,
                confirmed_by=actor,
            )
            AuditLog.create(
                actor=actor,
                action="mapping.confirm",
                target=f"bill {txn_id}",
                detail=json.dumps(
                    {
                        "file_key": bill.file_key,
                        "bill_txn_id": txn_id,
                        "bill_ref_number": bill.ref_number,
                        "invoice_id": invoice.id,
                        "invoice_number": invoice.invoice_number,
                        "commitment_id": invoice.commitment_id,
                        "vendor": vendor_name,
                    }
                ),
            )
    except IntegrityError:
        raise MappingRefused(
            f"Refused: {bill.shown} was mapped by someone else a moment ago; run the same `paysync map` again to see to which invoice"
        ) from None


def remove_mapping(bill_txn_id: str, *, actor: str, file_key: str | None = None) -> str:
    """Undo a confirmed mapping while nothing of the bill is in Procore (audited). Refused once a
    payment of the bill was created in Procore on it, or while a write to Procore is unsettled: the
    Procore payment would stay on that invoice with nothing in PaySync saying why."""
    txn_id = bill_txn_id.strip()
    mappings = load_mappings(file_key=file_key, bill_txn_id=txn_id)
    if not mappings:
        raise MappingRefused(f"QuickBooks bill {txn_id} has no confirmed mapping; nothing to undo")
    if len(mappings) > 1:
        files = ", ".join(sorted(file_key for file_key, _ in mappings))
        raise MappingRefused(
            f"Bills of several company files ({files}) have the TxnID {txn_id}; name the company file with --company KEY"
        )
    ((key, mapping),) = mappings.items()
    rows = group_by_bill(iter_bill_applications(txn_id, unplaced_only=False))
    bill = rows.get(key) or KnownBill(file_key=key[0], txn_id=txn_id)
    placed = _placed_in_procore(bill)
    if placed:
        link = placed[0]
        raise MappingRefused(
            f"Refused: {bill.shown} is already in Procore as payment {link.procore_payment_id}, placed by this "
            "mapping; unmapping would leave it there with nothing in PaySync saying why. A payment in Procore "
            "stays on its invoice: if the mapping was wrong, void or delete the bill payment in QuickBooks (the "
            "next push voids or flags the Procore payment, and an Admin can then retract it), then unmap"
        )
    if _unsettled_writes(bill):
        raise MappingRefused(
            f"Refused: a write to Procore for {bill.shown} has not been settled yet (it may have been created); "
            "run `paysync sync` first, then unmap if it is still not in Procore"
        )
    lease = _take_lease(actor, "unmap")
    try:
        with write_transaction():
            # Looked at again under the lease: a push that ran meanwhile may have created it.
            created = (
                PaymentLink.select()
                .join(BillPaymentApplication)
                .where(
                    BillPaymentApplication.bill_txn_id == txn_id,
                    PaymentLink.procore_payment_id.is_null(False),
                )
                .count()
            )
            if created:
                raise MappingRefused(
                    f"Refused: a push has just recorded {bill.shown} in Procore on this mapping; run "
                    f"`paysync unmap {txn_id}` again to see what to do"
                )
            BillMapping.delete().where(
                BillMapping.bill_txn_id == txn_id,
                BillMapping.company_file
                == CompanyFile.select(CompanyFile.id).where(CompanyFile.file_key == key[0]),
            ).execute()
            AuditLog.create(
                actor=actor,
                action="mapping.remove",
                target=f"bill {txn_id}",
                detail=json.dumps(
                    {
                        "file_key": key[0],
                        "bill_txn_id": txn_id,
                        "invoice_id": mapping.invoice_id,
                        "invoice_number": mapping.invoice_number,
                        "confirmed_by": mapping.confirmed_by,
                        "confirmed_at": mapping.confirmed_at.isoformat(),
                    }
                ),
            )
    finally:
        lease.release()
    return (
        f"{bill.shown} is no longer mapped to invoice {mapping.invoice_number or '(no number)'} (id "
        f"{mapping.invoice_id}); it needs mapping again, and nothing of it is written to Procore until it is placed"
    )


def mapping_of(bill_txn_id: str) -> MappingRow | None:
    """The confirmed mapping of a bill, if any (one company file)."""
    mappings = load_mappings(bill_txn_id=bill_txn_id.strip())
    return next(iter(mappings.values()), None) if len(mappings) == 1 else None
