"""The engine against the sandbox Procore over loopback HTTP, QuickBooks rows inserted directly.

Each test ends by comparing exactly what Procore holds (amount to the cent, date, method, check
number, invoice number, invoice link, origin id) with what QuickBooks says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.db import close_database
from storage.models import AuditLog, ErrorEvent, PaymentLink, ProcoreWrite, SyncRun
from sync.engine.service import SyncService
from tests.support.database import database_kinds, open_test_database
from tests.support.procore_world import ProcoreWorld, procore_view
from tests.support.quickbooks_world import QB, origin


@pytest.fixture(params=database_kinds())
def service(world: ProcoreWorld, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SyncService]:
    url = open_test_database(tmp_path, request.param)
    svc = SyncService(world.settings(url), client_factory=lambda: world.client(), actor="tester")
    svc.refresh_from_procore()
    yield svc
    close_database()


def link_of(origin_id: str) -> Any:
    return PaymentLink.get(PaymentLink.origin_id == origin_id)


def test_push_creates_one_payment_per_application_exactly(world: ProcoreWorld, service: SyncService) -> None:
    qb = QB()
    by_origin = qb.pay([("B-100", "INV-100", "1250.00")], ref_number="5001")
    multi = qb.pay([("B-101", " inv-101 ", "300.10"), ("B-100", "INV-100", "49.90")], ref_number="5002")
    card = qb.pay(
        [("B-7", "BOLT-7", "75.25")],
        kind="credit_card",
        ref_number=None,
        vendor_list_id="V-BOLT",
        vendor_name="bolt electric",
    )

    summary = service.push(trigger="manual")

    assert summary.created == 4 and summary.failed == 0 and summary.needs_attention == 0, summary.as_text()
    inv100, inv101, bolt7 = world.invoices["INV-100"], world.invoices["INV-101"], world.invoices["BOLT-7"]
    assert procore_view(world.payments()) == sorted(
        [
            (origin(by_origin, "B-100"), "1250.00", "2026-11-20", "check", "5001", "INV-100", inv100),
            (origin(multi, "B-101"), "300.10", "2026-11-20", "check", "5002", "INV-101", inv101),
            (origin(multi, "B-100"), "49.90", "2026-11-20", "check", "5002", "INV-100", inv100),
            (origin(card, "B-7"), "75.25", "2026-11-20", "credit_card", None, "BOLT-7", bolt7),
        ]
    )
    by_id = {p["origin_id"]: p for p in world.payments()}
    assert by_id[origin(multi, "B-101")]["contract_id"] == world.commitments["SC-1"]
    assert by_id[origin(card, "B-7")]["contract_id"] == world.commitments["PO-1"]
    assert by_id[origin(multi, "B-101")]["draw_request_number"] == 2
    assert (
        by_id[origin(by_origin, "B-100")]["notes"]
        == "QuickBooks check bill payment 5001 to Acme Concrete; bill INV-100"
    )
    assert all(link.erp_status == "synced" and link.locked for link in PaymentLink.select())
    assert link_of(origin(by_origin, "B-100")).match_reason.startswith(
        "the invoice's origin id is the bill's TxnID"
    )
    assert "vendor matched by name" in link_of(origin(card, "B-7")).match_reason
    run = SyncRun.select().order_by(SyncRun.id.desc()).get()
    assert (run.status, run.created) == ("ok", 4)
    assert AuditLog.select().where(AuditLog.action == "procore.create").count() == 4


def test_second_push_writes_nothing(world: ProcoreWorld, service: SyncService) -> None:
    qb = QB()
    qb.pay([("B-100", "INV-100", "1250.00")])
    qb.pay([("B-101", "INV-101", "10.00")], ref_number="77")
    service.push(trigger="manual")
    before = list(world.payments())
    writes = len(world.writes())

    assert [a.action for a in service.preview()] == ["skip", "skip"]
    summary = service.push(trigger="manual")

    assert (summary.created, summary.updated, summary.skipped) == (0, 0, 2)
    assert len(world.writes()) == writes  # zero POST/PATCH/DELETE
    assert world.payments() == before


def test_unmatched_and_ambiguous_need_attention_and_post_nothing(
    world: ProcoreWorld, service: SyncService
) -> None:
    world.add_invoice("DUP-A", "SC-1", "DUP-9", 3)
    world.add_commitment("SC-2", "acme")
    world.add_invoice("DUP-B", "SC-2", "dup-9", 1)
    service.refresh_from_procore()
    qb = QB()
    missing = qb.pay([("B-404", "INV-404", "10.00")])
    ambiguous = qb.pay([("B-DUP", "DUP-9", "20.00")])
    stranger = qb.pay([("B-X", "X-1", "30.00")], vendor_list_id="V-NOPE", vendor_name="Nobody Ltd")
    no_number = qb.pay([("B-NONE", None, "40.00")])

    summary = service.push(trigger="manual")

    assert world.payments() == []
    assert summary.needs_attention == 4 and summary.created == 0
    reasons = {
        o: link_of(o).status_reason
        for o in (
            origin(missing, "B-404"),
            origin(ambiguous, "B-DUP"),
            origin(stranger, "B-X"),
            origin(no_number, "B-NONE"),
        )
    }
    assert all(link_of(o).erp_status == "needs_attention" for o in reasons)
    assert (
        "no Procore invoice numbered 'INV-404' on a commitment of Acme Concrete"
        in reasons[origin(missing, "B-404")]
    )
    assert "several Procore invoices numbered 'DUP-9'" in reasons[origin(ambiguous, "B-DUP")]
    assert "vendor 'Nobody Ltd' not found in Procore" in reasons[origin(stranger, "B-X")]
    assert "has no bill number" in reasons[origin(no_number, "B-NONE")]


def test_pre_existing_payments_are_never_synced(world: ProcoreWorld, service: SyncService) -> None:
    qb = QB()
    old = qb.pay([("B-100", "INV-100", "500.00")], pre_existing=True)
    new = qb.pay([("B-101", "INV-101", "600.00")])

    summary = service.push(trigger="manual")

    assert [p["origin_id"] for p in world.payments()] == [origin(new, "B-101")]
    link = link_of(origin(old, "B-100"))
    assert link.erp_status == "not_synced"
    assert "before the sync schedule was first configured on 2026-11-01" in link.status_reason
    assert summary.created == 1 and summary.skipped == 1


def test_void_and_edit_change_the_same_procore_payments(world: ProcoreWorld, service: SyncService) -> None:
    qb = QB()
    voided = qb.pay([("B-100", "INV-100", "1250.00")], ref_number="9001")
    edited = qb.pay([("B-101", "INV-101", "300.00"), ("B-100", "INV-100", "5.00")], ref_number="9002")
    service.push(trigger="manual")
    ids_before = {p["origin_id"]: p["id"] for p in world.payments()}

    qb.void(voided)
    qb.edit(edited, applied={"B-101": "275.55"}, ref_number="9002A")
    plan = {a.origin_id: a for a in service.preview()}
    assert plan[origin(voided, "B-100")].action == "void"
    assert plan[origin(edited, "B-101")].action == "update"
    assert "amount 300.00 → 275.55" in plan[origin(edited, "B-101")].reason
    summary = service.push(trigger="manual")

    assert (summary.voided, summary.updated, summary.created) == (1, 2, 0), summary.as_text()
    payments = {p["origin_id"]: p for p in world.payments()}
    assert {o: p["id"] for o, p in payments.items()} == ids_before  # same records, none new
    void_row = payments[origin(voided, "B-100")]
    assert (void_row["amount"], void_row["check_number"]) == ("0.00", "9001")
    assert void_row["notes"].endswith("— VOIDED in QuickBooks")
    assert (
        payments[origin(edited, "B-101")]["amount"],
        payments[origin(edited, "B-101")]["check_number"],
    ) == ("275.55", "9002A")
    assert payments[origin(edited, "B-100")]["check_number"] == "9002A"
    assert all(p["origin_id"] for p in payments.values())  # all locked again
    ops = [
        w.operation
        for w in ProcoreWrite.select()
        .where(ProcoreWrite.origin_id == origin(voided, "B-100"))
        .order_by(ProcoreWrite.id)
    ]
    assert ops == ["create", "unlock", "patch", "relock"]
    assert len(service.preview()) == 3 and all(a.action == "skip" for a in service.preview())


def test_deleted_payment_is_flagged_kept_and_retracted_only_with_confirmation(
    world: ProcoreWorld, service: SyncService
) -> None:
    qb = QB()
    gone = qb.pay([("B-100", "INV-100", "800.00")])
    service.push(trigger="manual")
    qb.delete(gone)

    summary = service.push(trigger="manual")

    assert summary.flagged == 1
    assert [p["amount"] for p in world.payments()] == ["800.00"]
    link = link_of(origin(gone, "B-100"))
    assert link.erp_status == "deleted_in_quickbooks"
    assert ErrorEvent.select().where(ErrorEvent.message.contains("deleted after it was synced")).count() == 1
    assert service.push(trigger="manual").flagged == 0  # flagged once

    with pytest.raises(ValueError, match="confirm"):
        service.retract_payment(link.id, confirm=False)
    assert len(world.payments()) == 1

    service.retract_payment(link.id, confirm=True)

    assert world.payments() == []
    link = link_of(origin(gone, "B-100"))
    assert (link.erp_status, link.procore_payment_id) == ("not_synced", None)
    assert "retracted from Procore by tester" in link.status_reason
    assert AuditLog.select().where(AuditLog.action == "payment.retract").count() == 1
    assert service.push(trigger="manual").created == 0 and world.payments() == []


def test_payment_number_is_validated_then_sent_through_the_lock(
    world: ProcoreWorld, service: SyncService
) -> None:
    qb = QB()
    pay = qb.pay([("B-100", "INV-100", "10.00")])
    service.push(trigger="manual")
    link = link_of(origin(pay, "B-100"))

    for bad in (0, -1, 2**31, "7", 1.5, True):
        with pytest.raises(ValueError, match="whole number from 1 to"):
            service.set_payment_number(link.id, bad)  # type: ignore[arg-type]
    assert link_of(origin(pay, "B-100")).payment_number is None

    service.set_payment_number(link.id, 42)

    (payment,) = world.payments()
    assert (payment["payment_number"], payment["origin_id"]) == (42, origin(pay, "B-100"))
    assert all(a.action == "skip" for a in service.preview())


def test_procore_refusal_needs_attention_with_procores_message_and_others_carry_on(
    world: ProcoreWorld, service: SyncService
) -> None:
    world.state.update_commitment(world.commitments["PO-1"], allow_payments=False)
    qb = QB()
    refused = qb.pay([("B-7", "BOLT-7", "10.00")], vendor_list_id=None, vendor_name="Bolt Electric")
    fine = qb.pay([("B-100", "INV-100", "20.00")])

    summary = service.push(trigger="manual")

    assert [p["origin_id"] for p in world.payments()] == [origin(fine, "B-100")]
    link = link_of(origin(refused, "B-7"))
    assert link.erp_status == "needs_attention"
    assert "does not allow payments" in link.status_reason
    assert summary.needs_attention == 1 and summary.created == 1
