"""`paysync doctor --probe` against every sandbox mode of Procore's undocumented behaviours: the right
finding is recorded, and nothing is left behind (or exactly what is left is reported); and the engine
uses the finding: with "stays_locked" stored, a void needs attention without an unlock request."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.db import close_database
from storage.models import PaymentLink
from sync.doctor.probes import ProbeCouldNotRun, find_probe_target, run_probes
from sync.engine.erp_lock import UNLINK_INSTRUCTION
from sync.engine.probe_findings import ProbeFindings, store_findings, stored_findings
from sync.engine.service import SyncService
from tests.support.database import database_kinds, open_test_database
from tests.support.procore_world import PAYMENTS, ProcoreWorld
from tests.support.quickbooks_world import FILE_KEY, QB, origin

UNLOCK_FINDING = {
    "clearing_origin_unlocks": "works",
    "stays_locked": "stays_locked",
    "origin_id_frozen": "origin_id_frozen",
}
MODES = list(
    itertools.product(UNLOCK_FINDING, ("refuse", "accept"), ("full_query", "page_only"), (False, True))
)


@pytest.mark.parametrize(("unlock_mode", "duplicate_mode", "link_mode", "money_as_numbers"), MODES)
def test_probes_record_what_this_procore_does_and_clean_up(
    world: ProcoreWorld,
    db: Any,
    db_url: str,
    unlock_mode: str,
    duplicate_mode: str,
    link_mode: str,
    money_as_numbers: bool,
) -> None:
    state = world.state
    state.erp_unlock_mode = unlock_mode  # type: ignore[assignment]
    state.duplicate_origin_mode = duplicate_mode  # type: ignore[assignment]
    state.link_mode = link_mode  # type: ignore[assignment]
    state.money_as_numbers = money_as_numbers
    contract = world.commitments["SC-1"]
    with world.client() as client:
        target = find_probe_target(client, world.settings(db_url), contract)
        findings = run_probes(client, target, file_key=FILE_KEY)

    assert findings.unlock == UNLOCK_FINDING[unlock_mode]
    assert findings.duplicate_origin == ("refused" if duplicate_mode == "refuse" else "accepted")
    assert findings.link == link_mode
    assert stored_findings() == findings  # kept for the engine and the next `paysync doctor`
    left_in_procore = state.payments(contract)
    if unlock_mode == "clearing_origin_unlocks":
        assert left_in_procore == [] and findings.left_behind == []
    else:
        # Procore keeps them locked: each is named, with its amount and how to find it.
        assert sorted(int(item.split()[1]) for item in findings.left_behind) == sorted(
            int(p["id"]) for p in left_in_procore
        )
        assert len(left_in_procore) == (1 if duplicate_mode == "refuse" else 2)
        assert all("check number PAYSYNC-DOCTOR" in item for item in findings.left_behind)
        assert all(p["check_number"] == "PAYSYNC-DOCTOR" for p in left_in_procore)


def test_a_commitment_without_payments_enabled_is_refused_before_anything_is_written(
    world: ProcoreWorld, db: Any, db_url: str
) -> None:
    contract = world.commitments["SC-1"]
    world.state.update_commitment(contract, allow_payments=False)
    with world.client() as client, pytest.raises(ProbeCouldNotRun, match="Payments Issued enabled"):
        find_probe_target(client, world.settings(db_url), contract)
    with world.client() as client, pytest.raises(ProbeCouldNotRun, match="No commitment 999"):
        find_probe_target(client, world.settings(db_url), 999)
    assert [e for e in world.state.request_log if e.method != "GET" and PAYMENTS in e.path] == []


@pytest.fixture(params=database_kinds())
def service(world: ProcoreWorld, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SyncService]:
    url = open_test_database(tmp_path, request.param)
    svc = SyncService(world.settings(url), client_factory=lambda: world.client(), actor="tester")
    svc.refresh_from_procore()
    yield svc
    close_database()


def test_with_stays_locked_found_a_void_needs_attention_without_an_unlock_request(
    world: ProcoreWorld, service: SyncService
) -> None:
    qb = QB()
    voided = qb.pay([("B-100", "INV-100", "1250.00")], ref_number="9001")
    assert service.push(trigger="manual").created == 1
    world.state.erp_unlock_mode = "stays_locked"
    store_findings(
        ProbeFindings(
            probed_at="2026-11-30T10:00:00Z",
            project_id=world.project_id,
            commitment_id=world.commitments["SC-1"],
            unlock="stays_locked",
        )
    )
    qb.void(voided)
    requests_before = len(world.state.request_log)

    summary = service.push(trigger="manual")

    assert (summary.needs_attention, summary.voided) == (1, 0), summary.as_text()
    sent = world.state.request_log[requests_before:]
    assert [e for e in sent if e.method in ("PATCH", "POST", "DELETE")] == []  # no unlock tried
    link = PaymentLink.get(PaymentLink.origin_id == origin(voided, "B-100"))
    assert link.awaiting_unlink and link.erp_status == "needs_attention"
    reason = str(link.status_reason)
    assert reason.endswith(UNLINK_INSTRUCTION) and "paysync doctor --probe" in reason
    (still,) = world.payments()
    assert still["amount"] == "1250.00"

    # An accounting approver unlinks it: the next push applies the void, and locks it again.
    assert link.procore_payment_id is not None
    world.state.unlink_payment(int(link.procore_payment_id))
    summary = service.push(trigger="manual")
    assert summary.voided == 1, summary.as_text()
    (done,) = world.payments()
    assert (done["amount"], done["origin_id"]) == ("0.00", origin(voided, "B-100"))
