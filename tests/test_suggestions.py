"""Suggested matches for bills PaySync cannot place (sync/engine/suggestions.py): invoice numbers as
people type them, the ranking among same-vendor decoys, the refusals of `map`/`unmap`, the
mapping carried out once by the push (end to end over loopback: QuickBooks -> Web Connector ->
PaySync -> Procore), `unmap` before a push leaving nothing written, the CLI, and schema 4 -> 5."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from peewee import Database

from console.cli import main
from storage.db import close_database, make_database
from storage.migrations import LATEST_VERSION, current_version, migrate
from storage.models import (
    ALL_MODELS,
    AuditLog,
    BillMapping,
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    Invoice,
    PaymentLink,
    ProcoreProject,
    ProcoreVendor,
    database_proxy,
)
from sync.engine.plan import compute_plan
from sync.engine.snapshot import load_snapshot
from sync.engine.suggestions import (
    MappingRefused,
    confirm_mapping,
    normalise_invoice_number,
    remove_mapping,
    suggestions_for_bill,
    suggestions_for_unmapped_bills,
)
from tests.support.bridge import Bridge, Servers, new_bridge
from tests.support.database import POSTGRES_URL, database_kinds
from tests.support.quickbooks_world import QB

# ---- numbers as people type them ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("INV-0042", "42"),
        ("42", "42"),
        ("0042 ", "42"),
        ("inv 42", "42"),
        ("#0042", "42"),
        ("1001-A", "1001a"),
        ("1001a", "1001a"),
        (" 1001 a ", "1001a"),
        ("ACME-2411", "2411"),
        ("ABC", "abc"),
        ("0", "0"),
        ("", ""),
        (None, ""),
    ],
)
def test_invoice_numbers_normalise_the_forms_people_type(typed: str | None, meant: str) -> None:
    assert normalise_invoice_number(typed) == meant


# ---- ranking, over rows written directly -------------------------------------------------------

PROJECT = 900


def procore_rows() -> None:
    """Acme (linked by ListID V-ACME) with two commitments, one in CAD; Bolt with one; the right
    invoice 42 and decoys of the same amount on Acme's commitments, and 42 on Bolt's too."""
    ProcoreProject.create(id=PROJECT, name="Tower")
    ProcoreVendor.create(id=1, name="Acme Concrete", origin_id="V-ACME")
    ProcoreVendor.create(id=2, name="Bolt Electric", origin_id=None)
    Commitment.create(
        id=10, project=PROJECT, kind="subcontract", number="SC-1", title="Concrete", vendor_id=1
    )
    Commitment.create(
        id=11, project=PROJECT, kind="subcontract", number="SC-2", title="Flatwork", vendor_id=1
    )
    Commitment.create(
        id=12, project=PROJECT, kind="subcontract", number="SC-3", title="Canada", vendor_id=1, currency="CAD"
    )
    Commitment.create(id=20, project=PROJECT, kind="purchase_order", number="PO-1", title="Wire", vendor_id=2)
    for invoice_id, commitment, number, amount, billed in (
        (101, 10, "43", "1250.00", date(2026, 11, 10)),  # decoy: same amount, other number
        (102, 11, "42", "1250.00", date(2026, 11, 10)),  # the right one
        (103, 10, "420", "1250.00", date(2026, 11, 10)),  # decoy: shares the digits "42"
        (104, 10, "1042", "1250.00", date(2026, 9, 1)),  # decoy: contains 42, months off
        (105, 12, "42", "1250.00", date(2026, 11, 10)),  # same number, but a CAD commitment
        (106, 10, "77", "999.00", date(2026, 6, 1)),  # nothing alike
        (201, 20, "42", "1250.00", date(2026, 11, 10)),  # same number and amount, other vendor
    ):
        Invoice.create(
            id=invoice_id,
            project=PROJECT,
            commitment=commitment,
            number=1,
            invoice_number=number,
            amount=Decimal(amount),
            billing_date=billed,
        )


@pytest.fixture
def rows(db: Database) -> QB:
    procore_rows()
    return QB()


def test_the_right_invoice_ranks_first_among_same_vendor_decoys_with_the_same_amount(rows: QB) -> None:
    rows.pay([("BILL-42", "INV-0042", "1250.00")], txn_date=date(2026, 11, 12))

    (bill,) = suggestions_for_unmapped_bills()

    assert (bill.bill_txn_id, bill.ref_number, bill.vendor, bill.amount) == (
        "BILL-42",
        "INV-0042",
        "Acme Concrete",
        Decimal("1250.00"),
    )
    ranked = [s.invoice_id for s in bill.suggestions]
    assert ranked[0] == 102 and len(ranked) == 3
    assert set(ranked) <= {101, 102, 103, 104}  # never 105 (a CAD commitment) nor 201 (Bolt's), nor 106
    best = bill.suggestions[0]
    assert (best.invoice_number, best.commitment_id, best.commitment_label) == ("42", 11, "SC-2 Flatwork")
    assert best.score == 65 and all(s.score == 15 for s in bill.suggestions[1:])
    assert ranked[1:] == [101, 103]  # a tie is broken by the nearer date, then the lower id
    assert best.reasons[0] == (
        "invoice number 42 matches bill number INV-0042 once the prefix and zeros are set aside"
    )
    assert "amount 1,250.00 equals what the payment applied to the bill" in best.reasons
    assert "on SC-2 Flatwork of Acme Concrete, the bill's vendor (linked by origin id)" in best.reasons
    assert suggestions_for_bill("BILL-42") == bill
    assert suggestions_for_bill("NO-SUCH-BILL") is None
    assert len(suggestions_for_unmapped_bills(limit=1)[0].suggestions) == 1


def test_letters_and_dates_and_open_balance_rank_and_say_why(rows: QB) -> None:
    Invoice.create(
        id=110, project=PROJECT, commitment=10, number=2, invoice_number="1001-B", amount=Decimal("600.00")
    )
    Invoice.create(
        id=111,
        project=PROJECT,
        commitment=10,
        number=3,
        invoice_number="1001a",
        amount=Decimal("600.00"),
        billing_date=date(2026, 11, 18),
    )
    payment = rows.pay([("BILL-1001", "1001-A", "400.00")], txn_date=date(2026, 11, 20))
    application = BillPaymentApplication.get(BillPaymentApplication.payment == payment)
    application.bill_txn_date, application.balance_remaining = date(2026, 11, 18), Decimal("200.00")
    application.save()

    (bill,) = suggestions_for_unmapped_bills()

    first, second = bill.suggestions[:2]
    assert (first.invoice_id, second.invoice_id) == (111, 110)
    assert first.reasons[:3] == (
        "invoice number 1001a matches bill number 1001-A once spaces and punctuation are set aside",
        "amount 600.00 equals the bill's open balance",
        "invoice dated 2026-11-18, the bill's date",
    )
    assert (
        second.reasons[0]
        == "invoice number 1001-B has the digits of bill number 1001-A (1001), but other letters"
    )


def test_a_vendor_found_only_by_a_name_alike_is_said_so(rows: QB) -> None:
    rows.pay([("BILL-B", "INV-42", "1250.00")], vendor_list_id="V-OTHER", vendor_name="Bolt Electric, Inc.")

    (bill,) = suggestions_for_unmapped_bills()

    assert [s.invoice_id for s in bill.suggestions] == [201]
    assert "no vendor link between them" in bill.suggestions[0].reasons[-1]


def test_only_bills_that_need_mapping_are_listed(rows: QB) -> None:
    rows.pay([("BILL-OK", "42", "10.00")], vendor_list_id=None, vendor_name="Bolt Electric")  # matches 201
    rows.pay([("BILL-OLD", "INV-0042", "10.00")], pre_existing=True)
    rows.pay([("BILL-42", "INV-0042", "1250.00")])

    assert [b.bill_txn_id for b in suggestions_for_unmapped_bills()] == ["BILL-42"]


def test_map_refuses_another_vendor_another_currency_an_unread_bill_and_a_bill_that_matches(rows: QB) -> None:
    rows.pay([("BILL-42", "INV-0042", "1250.00")])
    rows.pay([("BILL-OK", "43", "10.00")])  # matches invoice 101 by its number

    with pytest.raises(MappingRefused, match="is on a commitment of Bolt Electric, not of the bill's vendor"):
        confirm_mapping("BILL-42", 201, actor="jane")
    with pytest.raises(MappingRefused, match="in USD but Procore commitment SC-3 Canada is in CAD"):
        confirm_mapping("BILL-42", 105, actor="jane")
    with pytest.raises(MappingRefused, match="PaySync has not read a QuickBooks bill with TxnID NOPE"):
        confirm_mapping("NOPE", 102, actor="jane")
    with pytest.raises(MappingRefused, match="no Procore invoice with id 999"):
        confirm_mapping("BILL-42", 999, actor="jane")
    with pytest.raises(MappingRefused, match="already matches invoice 43"):
        confirm_mapping("BILL-OK", 102, actor="jane")
    with pytest.raises(MappingRefused, match="has no confirmed mapping"):
        remove_mapping("BILL-42", actor="jane")
    assert BillMapping.select().count() == 0
    assert AuditLog.select().where(AuditLog.action.startswith("mapping.")).count() == 0


def test_a_confirmed_mapping_overrides_the_number_rule_in_the_plan_and_is_audited(rows: QB) -> None:
    rows.pay([("BILL-42", "INV-0042", "1250.00")])
    assert [a.match_reason or "" for a in compute_plan()][0].startswith("needs mapping")

    said = confirm_mapping("BILL-42", 102, actor="Jane Doe")

    assert "is now mapped to invoice 42 (id 102) on SC-2 Flatwork, confirmed by Jane Doe" in said
    (action,) = compute_plan()
    (same,) = compute_plan(load_snapshot())
    assert (action.action, action.invoice_id, action.commitment_id) == ("create", 102, 11)
    assert action.match_reason == same.match_reason
    assert action.match_reason is not None and action.match_reason.endswith(
        f"confirmed by Jane Doe on {date.today().isoformat()}"
    )
    assert suggestions_for_unmapped_bills() == []  # mapped: no longer listed
    assert "already mapped" in confirm_mapping("BILL-42", 102, actor="Jane Doe")
    with pytest.raises(MappingRefused, match="unmap BILL-42` first"):
        confirm_mapping("BILL-42", 103, actor="Jane Doe")
    (audit,) = AuditLog.select().where(AuditLog.action == "mapping.confirm")
    assert (audit.actor, audit.target) == ("Jane Doe", "bill BILL-42")
    assert json.loads(audit.detail or "{}")["invoice_id"] == 102

    assert "no longer mapped" in remove_mapping("BILL-42", actor="Jane Doe")
    assert compute_plan()[0].action == "skip"
    assert AuditLog.select().where(AuditLog.action == "mapping.remove").count() == 1


# ---- end to end over loopback ------------------------------------------------------------------


def acme_with_decoys(bridge: Bridge) -> str:
    """Acme in both systems; invoice "42" and same-amount decoys in Procore; bill INV-0042 in
    QuickBooks paid by check 7001. Returns the bill's TxnID."""
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    bridge.world.add_commitment("SC-2", "acme")
    for key, commitment, number in (("D-43", "SC-1", "43"), ("R-42", "SC-2", "42"), ("D-420", "SC-1", "420")):
        bridge.world.invoices[key] = bridge.state.add_requisition(
            bridge.world.project_id, bridge.world.commitments[commitment], number, 1, "1250.00"
        )
    bill = bridge.company.add_bill("Acme Concrete", "INV-0042", Decimal("1250.00"))
    bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("1250.00"))], check_number="7001")
    return bill


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path) -> Iterator[Bridge]:
    built = new_bridge(servers, tmp_path, client_options={"timeout": 2.0})
    yield built
    built.state.release_delayed_responses.set()
    close_database()


def test_a_confirmed_mapping_is_pushed_once_and_a_second_push_writes_nothing(bridge: Bridge) -> None:
    bill = acme_with_decoys(bridge)
    first = bridge.sync()
    assert (first.created, first.needs_attention) == (0, 1)
    (listed,) = suggestions_for_unmapped_bills()
    assert listed.bill_txn_id == bill and listed.suggestions[0].invoice_id == bridge.world.invoices["R-42"]

    confirm_mapping(bill, listed.suggestions[0].invoice_id, actor="Jane Doe")
    summary = bridge.service.push(trigger="test")

    assert (summary.created, summary.needs_attention, summary.failed) == (1, 0, 0), summary.as_text()
    (payment,) = bridge.world.payments()
    assert (payment["requisition_id"], payment["invoice_number"], payment["amount"]) == (
        bridge.world.invoices["R-42"],
        "42",
        "1250.00",
    )
    (link,) = PaymentLink.select()
    assert link.erp_status == "synced" and "confirmed by Jane Doe on" in (link.match_reason or "")
    writes = len(bridge.world.writes())
    again = bridge.sync()
    assert (again.created, again.updated) == (0, 0)
    assert len(bridge.world.writes()) == writes  # nothing more written
    with pytest.raises(MappingRefused, match="already in Procore as payment .*retract"):
        remove_mapping(bill, actor="Jane Doe")
    assert BillMapping.select().count() == 1


def test_unmap_before_the_push_leaves_nothing_written(bridge: Bridge) -> None:
    bill = acme_with_decoys(bridge)
    bridge.sync()
    confirm_mapping(bill, bridge.world.invoices["R-42"], actor="Jane Doe")

    remove_mapping(bill, actor="Jane Doe")
    summary = bridge.sync()

    assert bridge.world.payments() == [] and bridge.world.writes() == []
    assert (summary.created, summary.needs_attention) == (0, 1)
    (link,) = PaymentLink.select()
    assert link.erp_status == "needs_attention" and link.procore_payment_id is None
    assert [
        a.action
        for a in AuditLog.select().where(AuditLog.action.startswith("mapping.")).order_by(AuditLog.id)
    ] == [
        "mapping.confirm",
        "mapping.remove",
    ]


def test_the_cli_lists_maps_and_unmaps(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bill = acme_with_decoys(bridge)
    bridge.sync()
    monkeypatch.setenv("PAYSYNC_DATABASE_URL", str(bridge.settings.database_url))
    close_database()

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["--env-file", os.devnull, *args])
        close_database()
        out = capsys.readouterr()
        return status, out.out, out.err

    status, out, _ = run("mappings", "--json")
    (listed,) = json.loads(out)["bills"]
    assert status == 0
    assert {k: listed[k] for k in ("bill_txn_id", "ref_number", "vendor", "amount")} == {
        "bill_txn_id": bill,
        "ref_number": "INV-0042",
        "vendor": "Acme Concrete",
        "amount": "1250.00",
    }
    best = listed["suggestions"][0]
    assert set(best) >= {"invoice_id", "invoice_number", "commitment_id", "score", "reasons"}
    assert best["invoice_id"] == bridge.world.invoices["R-42"] and best["reasons"]
    status, out, _ = run("mappings")
    assert status == 0 and "1 bill needs mapping" in out and "invoice 42" in out

    status, _, err = run("map", bill, "999999")
    assert status == 2 and "no Procore invoice with id 999999" in err
    status, out, _ = run("map", bill, str(best["invoice_id"]))
    assert status == 0 and "is now mapped to invoice 42" in out
    status, out, _ = run("mappings", "--json")
    assert json.loads(out) == {"bills": []}
    status, out, _ = run("unmap", bill)
    assert status == 0 and "no longer mapped" in out
    status, _, err = run("unmap", bill)
    assert status == 2 and "has no confirmed mapping" in err


# ---- schema 4 -> 5 -----------------------------------------------------------------------------


@pytest.fixture(params=database_kinds())
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = POSTGRES_URL if request.param == "postgres" else f"sqlite:///{tmp_path / 'v4.db'}"
    assert url
    db = make_database(url)
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    db.drop_tables(ALL_MODELS, safe=True, cascade=request.param == "postgres")
    try:
        yield db
    finally:
        db.drop_tables(ALL_MODELS, safe=True, cascade=request.param == "postgres")
        close_database()


def test_a_version_4_database_gains_bill_mappings_and_keeps_its_data(empty_db: Database) -> None:
    assert migrate(empty_db, target=4) == [1, 2, 3, 4]
    assert not empty_db.table_exists("bill_mapping")
    payment = QB().pay([("BILL-42", "INV-0042", "1250.00")], txn_id="KEPT-1")

    assert migrate(empty_db) == [5, 6]

    assert current_version(empty_db) == LATEST_VERSION == 6
    assert empty_db.table_exists("bill_mapping")
    assert BillPayment.get(BillPayment.txn_id == "KEPT-1").amount == Decimal("1250.00")
    BillMapping.create(
        company_file=CompanyFile.get(CompanyFile.id == payment.company_file_id),
        bill_txn_id="BILL-42",
        invoice_id=102,
        confirmed_by="jane",
    )
    assert BillMapping.get().bill_txn_id == "BILL-42"
    assert migrate(empty_db) == []
