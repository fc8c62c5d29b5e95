"""The streamed plan (`compute_plan()`, what the preview and the push use) says exactly what the plan
over one whole snapshot says (`compute_plan(load_snapshot())`), action by action and value by value,
over a database with every kind of situation: matched by origin id and by number, needs mapping,
pre-existing, deleted, voided, held, another currency, a bill number from the bill, synced and
unchanged, changed, unlocked, refused before, awaiting unlink, a commitment or an invoice gone from
our copy of Procore, and payments stored after a push. Also: the compact action of an unchanged
payment reads as the full one would, and `PartialMatchIndex` answers as the whole `MatchIndex`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from storage.db import close_database
from storage.models import (
    Bill,
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    Invoice,
    PaymentLink,
    ProcoreProject,
    ProcoreVendor,
    ProcoreWrite,
)
from storage.vocabulary import ErpStatus
from sync.engine.desired import canonical_json
from sync.engine.matching import MatchIndex, PartialMatchIndex, match_bill_to_invoice
from sync.engine.plan import PlannedAction, compute_plan, describe_application, iter_plan
from sync.engine.snapshot import CommitmentRow, InvoiceRow, VendorRow, load_application, load_snapshot
from tests.support.database import database_kinds, open_test_database


@pytest.fixture(params=database_kinds())
def database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    yield open_test_database(tmp_path, request.param)
    close_database()


def _procore_copy() -> None:
    ProcoreProject.create(id=1, name="Tower")
    for vendor_id, name, origin in (
        (10, "Acme Concrete", "V-ACME"),
        (11, "Bolt Electric", None),
        (12, "Twin Co", None),
        (13, "twin  co", None),
    ):
        ProcoreVendor.create(id=vendor_id, name=name, origin_id=origin)
    for commitment_id, vendor_id, currency, updated in (
        (100, 10, None, None),
        (101, 11, "CAD", None),
        (102, 10, None, datetime(2026, 11, 2, tzinfo=UTC)),
        (103, 12, None, None),
        (104, 13, None, None),
        (105, 10, None, None),  # removed from our copy after its payment was written
    ):
        Commitment.create(
            id=commitment_id,
            project=1,
            kind="subcontract",
            number=f"SC-{commitment_id}",
            title="Work",
            vendor_id=vendor_id,
            currency=currency,
            updated_at=updated,
        )
    invoices = [
        (1, 100, "B-1", "INV-1"),
        (2, 100, None, "INV-2"),
        (3, 100, None, " inv-3 "),
        (4, 100, "B-DUP", "DUP-A"),
        (5, 102, "B-DUP", "DUP-B"),
        (6, 101, None, "CAD-1"),
        (7, 100, None, "INV-TWICE"),
        (8, 102, None, "inv-twice"),
        (9, 103, None, "TW-1"),
        (10, 104, None, "TW-1"),
        (11, 100, None, "INV-GONE"),  # removed from our copy after its payment was written
        (12, 105, None, "INV-105"),
        (13, 100, " B-SPACE ", "INV-13"),
        (14, 102, None, "FROM-BILL"),
    ]
    for invoice_id, commitment_id, origin, number in invoices:
        Invoice.create(
            id=1000 + invoice_id,
            project=1,
            commitment=commitment_id,
            number=invoice_id,
            invoice_number=number,
            origin_id=origin,
            vendor_id=None,
        )


_PAYMENTS = 0


def _pay(
    company: CompanyFile,
    bills: list[tuple[str, str | None, str]],
    *,
    kind: str = "check",
    vendor: tuple[str | None, str | None] = ("V-ACME", "Acme Concrete"),
    **payment: object,
) -> BillPayment:
    global _PAYMENTS
    _PAYMENTS += 1
    row = BillPayment.create(
        company_file=company,
        txn_id=f"P-{_PAYMENTS}",
        kind=kind,
        edit_sequence="1",
        time_created="2026-11-20T09:00:00-05:00",
        time_modified="2026-11-20T09:00:00-05:00",
        vendor_list_id=vendor[0],
        vendor_name=vendor[1],
        txn_date=date(2026, 11, 20),
        amount=sum((Decimal(a) for _, _, a in bills), Decimal("0.00")),
        ref_number=str(5000 + _PAYMENTS) if kind == "check" else None,
        **payment,
    )
    for txn_id, ref, amount in bills:
        BillPaymentApplication.create(
            payment=row, bill_txn_id=txn_id, bill_ref_number=ref, amount=Decimal(amount)
        )
    return row


def _quickbooks(company: CompanyFile, prefix: str) -> None:
    """Applications of every kind; `prefix` keeps the bill TxnIDs of a second batch apart."""
    _pay(company, [("B-1", "whatever", "10.00"), (f"{prefix}B-2", "INV-2", "20.05")])
    _pay(company, [(f"{prefix}B-3", "INV-3", "30.00")], kind="credit_card")
    _pay(company, [("B-DUP", "DUP-A", "1.00")])  # two invoices carry the TxnID
    _pay(company, [(f"{prefix}B-4", "INV-TWICE", "2.00")])  # two invoices numbered so
    _pay(company, [(f"{prefix}B-5", "TW-1", "3.00")], vendor=(None, "TWIN CO"))  # two vendors so named
    _pay(company, [(f"{prefix}B-6", "TW-1", "3.50")], vendor=("V-NOBODY", None))  # vendor not in Procore
    _pay(company, [(f"{prefix}B-7", "", "4.00")])  # no bill number, no origin id
    _pay(company, [(f"{prefix}B-8", "NOPE", "5.00")])  # no such invoice
    _pay(company, [(f"{prefix}B-9", "CAD-1", "6.00")], vendor=(None, "Bolt Electric"))  # USD vs CAD
    _pay(company, [(f"{prefix}B-10", "INV-2", "7.00")], pre_existing=True)
    _pay(company, [(f"{prefix}B-11", "INV-2", "8.00")], deleted_at=datetime(2026, 11, 21, tzinfo=UTC))
    _pay(company, [(f"{prefix}B-12", "INV-2", "0.00")], is_void=True)
    _pay(company, [(f"{prefix}B-13", "INV-2", "9.00")], hold_reason="held: the figures do not add up")
    _pay(company, [(f"{prefix}B-14", None, "11.00")])  # its number comes from the bill
    _pay(company, [(f"{prefix}B-15", "INV-GONE", "12.00")])
    _pay(company, [(f"{prefix}B-16", "INV-105", "13.00")])
    _pay(company, [("B-SPACE", None, "14.00")])  # the invoice's origin id has spaces around it
    _pay(company, [(f"{prefix}B-17", "inv-1", "15.00"), (f"{prefix}B-18", "INV-2", "0.00")])
    Bill.create(company_file=company, txn_id=f"{prefix}B-14", ref_number="FROM-BILL")


def _write_links(actions: list[PlannedAction]) -> None:
    """The links a push would leave: created payments synced and locked, the rest as planned."""
    for number, action in enumerate(actions):
        created = action.action == "create"
        PaymentLink.create(
            application=action.application_id,
            origin_id=action.origin_id,
            invoice=action.invoice_id,
            commitment=action.commitment_id,
            match_reason=action.match_reason,
            erp_status=ErpStatus.SYNCED if created else action.erp_status,
            status_reason=None if created else action.reason,
            procore_payment_id=7_000 + number if created else None,
            pushed_fingerprint=canonical_json(action.fields) if created else None,
            locked=created,
        )


def _link(bill_txn_id: str) -> PaymentLink:
    return PaymentLink.get(PaymentLink.origin_id.endswith(f":{bill_txn_id}"))


def _application(bill_txn_id: str) -> BillPaymentApplication:
    return BillPaymentApplication.get(BillPaymentApplication.bill_txn_id == bill_txn_id)


def _later_history(company: CompanyFile) -> None:
    """What happens after the first push: edits, a void, a deletion, a payment number, an unlocked
    payment, a refusal, an awaiting unlink, an invoice and a commitment gone, new payments."""
    edited = _application("B-2")
    BillPaymentApplication.update(amount=Decimal("19.95")).where(
        BillPaymentApplication.id == edited.id
    ).execute()
    BillPayment.update(edit_sequence="2").where(BillPayment.id == edited.payment_id).execute()
    voided = _application("B-3").payment_id
    BillPayment.update(is_void=True, edit_sequence="2").where(BillPayment.id == voided).execute()
    deleted = _application("B-17").payment_id
    BillPayment.update(deleted_at=datetime(2026, 11, 22, tzinfo=UTC)).where(
        BillPayment.id == deleted
    ).execute()
    PaymentLink.update(payment_number=42).where(PaymentLink.id == _link("B-1").id).execute()
    PaymentLink.update(locked=False).where(PaymentLink.id == _link("B-SPACE").id).execute()
    PaymentLink.update(locked=False, held_key="1|100||").where(PaymentLink.id == _link("B-14").id).execute()
    PaymentLink.update(awaiting_unlink=True, status_reason="unlink it in ERP Integrations").where(
        PaymentLink.id == _link("B-4").id
    ).execute()
    gone_link = _link("B-16")
    ProcoreWrite.create(
        link=gone_link,
        origin_id=gone_link.origin_id,
        operation="create",
        project_id=1,
        contract_id=105,
        procore_payment_id=gone_link.procore_payment_id,
        status="done",
    )
    Invoice.delete().where(Invoice.id == 1011).execute()
    Invoice.delete().where(Invoice.commitment == 105).execute()
    Commitment.delete().where(Commitment.id == 105).execute()
    _quickbooks(company, "N")  # stored after the push: not linked yet


def _same(expected: list[PlannedAction], actual: list[PlannedAction]) -> None:
    assert [a.origin_id for a in actual] == [a.origin_id for a in expected]
    for want, got in zip(expected, actual, strict=True):
        assert got == want, f"{got!r}\n!=\n{want!r}"
        assert got.reason == want.reason and got.writes_to_procore == want.writes_to_procore


def test_the_streamed_plan_says_what_the_whole_snapshot_says(database: str) -> None:
    _procore_copy()
    company = CompanyFile.create(file_key="main", company_name="Co", country="US")
    _quickbooks(company, "")

    first = compute_plan(load_snapshot())
    _same(first, compute_plan())
    assert {a.action for a in first} == {"create", "skip"}
    assert sum(a.action == "create" for a in first) >= 8
    _write_links(first)

    steady = compute_plan(load_snapshot())
    _same(steady, compute_plan())
    assert sum(a.reason.endswith(", unchanged") for a in steady) >= 8
    _same(steady, list(iter_plan()))

    _later_history(company)
    later = compute_plan(load_snapshot())
    _same(later, compute_plan())
    _same(compute_plan(load_snapshot(), retry_refused=True), compute_plan(retry_refused=True))
    kinds = {a.action for a in later}
    assert {"create", "update", "void", "flag_deleted", "skip"} <= kinds, kinds


def test_an_unchanged_payment_reads_as_the_full_action(database: str) -> None:
    _procore_copy()
    company = CompanyFile.create(file_key="main", company_name="Co", country="US")
    _pay(company, [("B-14", None, "11.00"), ("B-1", "INV-1", "12.50")], kind="credit_card")
    Bill.create(company_file=company, txn_id="B-14", ref_number="FROM-BILL")
    _write_links(compute_plan())

    actions = compute_plan()
    assert [a.action for a in actions] == ["skip", "skip"]
    for action in actions:
        link = PaymentLink.get_by_id(action.link_id)
        app = load_application(action.application_id)
        assert app is not None
        bill_ref = app.bill_ref_number or ("FROM-BILL" if app.bill_txn_id == "B-14" else None)
        assert action.reason == f"in Procore as payment {link.procore_payment_id}, unchanged"
        assert action.erp_status == ErpStatus.SYNCED and action.fields == {} and action.changes == ()
        assert dict(action.extra) == {
            "label": describe_application(app, bill_ref),
            "previous": (ErpStatus.SYNCED, None, link.invoice_id, link.commitment_id, link.match_reason),
        }
        assert action.extra.get("held_key") is None and action.extra.get("label", "?") != "?"
        assert not action.writes_to_procore
    assert "FROM-BILL" in str(actions[0].extra["label"])


def test_a_partial_index_answers_as_the_whole_one() -> None:
    rng = random.Random(7)
    vendors = [
        VendorRow(id=v, name=rng.choice(["Acme", "acme ", "Bolt", "Cobalt"]), origin_id=f"V-{v % 3}")
        for v in range(6)
    ]
    commitments = {
        c: CommitmentRow(id=c, project_id=1, vendor_id=rng.choice([None, *range(6)]), label=f"SC-{c}")
        for c in range(8)
    }
    numbers = ["INV-1", "inv-1 ", "INV-2", "Straße-3", "STRASSE-3", "", None]
    invoices = [
        InvoiceRow(
            id=i,
            project_id=1,
            commitment_id=rng.randrange(9),  # 8: a commitment not in our copy
            number=i,
            invoice_number=rng.choice(numbers),
            origin_id=rng.choice([None, "", "B-1", " B-2", "B-3"]),
            vendor_id=rng.choice([None, *range(6)]),
        )
        for i in range(60)
    ]
    invoices.append(
        InvoiceRow(
            id=99,
            project_id=1,
            commitment_id=0,
            number=1,
            invoice_number="ONLY-1",
            origin_id="B-ONLY",
            vendor_id=0,
        )
    )
    whole = MatchIndex(invoices, commitments, vendors)
    bills = [(rng.choice(["B-1", "B-2 ", "B-4"]), rng.choice(numbers)) for _ in range(15)]
    partial = PartialMatchIndex(bills, lambda: iter(invoices), commitments, vendors)
    for txn_id, ref in bills:
        for vendor in (("V-0", None), ("V-9", "ACME"), (None, "bolt")):
            expected = match_bill_to_invoice(
                whole,
                bill_txn_id=txn_id,
                bill_ref_number=ref,
                vendor_list_id=vendor[0],
                vendor_name=vendor[1],
            )
            got = match_bill_to_invoice(
                partial.for_bill(txn_id, ref),
                bill_txn_id=txn_id,
                bill_ref_number=ref,
                vendor_list_id=vendor[0],
                vendor_name=vendor[1],
            )
            assert got == expected
    assert not partial.whole
    assert (
        "B-ONLY" in whole.invoices_by_origin
        and "B-ONLY" not in partial.for_bill(*bills[0]).invoices_by_origin
    )
    # A bill not named up front (stored while the plan ran) is matched against every invoice.
    late = partial.for_bill("B-3", "INV-2")
    assert partial.whole and late.invoices_by_vendor_number.keys() == whole.invoices_by_vendor_number.keys()
