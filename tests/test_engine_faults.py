"""Rate limits, server errors, lost responses and crashes: still exactly one Procore payment per
application, with the amounts QuickBooks says. Faults are injected in the sandbox Procore (real
HTTP); a crash is an exception that escapes the push the way a killed process would stop it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from storage.db import close_database
from storage.leases import PushLease
from storage.models import PaymentLink, ProcoreWrite
from sync.engine.service import SyncService
from sync.procore.client import ProcoreClient
from tests.support.database import open_test_database
from tests.support.procore_world import ProcoreWorld, procore_view
from tests.support.quickbooks_world import QB, origin

PAYMENTS = "/rest/v1.0/contract_payments"


@pytest.fixture
def service(world: ProcoreWorld, tmp_path: Path) -> Iterator[SyncService]:
    url = open_test_database(tmp_path)
    # A short read timeout, so a response held back by commit_then_timeout is "lost".
    svc = SyncService(world.settings(url), client_factory=lambda: world.client(timeout=1.0), actor="tester")
    svc.refresh_from_procore()
    yield svc
    close_database()


def two_payments() -> tuple[Any, Any]:
    qb = QB()
    return (
        qb.pay([("B-100", "INV-100", "1250.00")], ref_number="7001"),
        qb.pay([("B-101", "INV-101", "99.99")], ref_number="7002"),
    )


def expected_two(
    world: ProcoreWorld, first: Any, second: Any, first_amount: str = "1250.00"
) -> list[tuple[Any, ...]]:
    return sorted(
        [
            (
                origin(first, "B-100"),
                first_amount,
                "2026-11-20",
                "check",
                "7001",
                "INV-100",
                world.invoices["INV-100"],
            ),
            (
                origin(second, "B-101"),
                "99.99",
                "2026-11-20",
                "check",
                "7002",
                "INV-101",
                world.invoices["INV-101"],
            ),
        ]
    )


@pytest.mark.parametrize(
    ("method", "kind"),
    [("GET", "429"), ("GET", "500"), ("GET", "503"), ("POST", "429")],
)
def test_retried_faults_are_absorbed_in_the_same_run(
    world: ProcoreWorld, service: SyncService, method: str, kind: str
) -> None:
    first, second = two_payments()
    world.state.inject_fault(method, PAYMENTS, kind, times=2, retry_after=0)  # type: ignore[arg-type]

    summary = service.push(trigger="manual")

    assert summary.created == 2 and summary.failed == 0, summary.as_text()
    assert procore_view(world.payments()) == expected_two(world, first, second)
    # Both faults were answered to PaySync and absorbed by its retries.
    refused = [e for e in world.state.log_entries(method, PAYMENTS) if e.status == int(kind)]
    assert len(refused) == 2


@pytest.mark.parametrize("kind", ["500", "503", "commit_then_timeout", "commit_then_502"])
def test_a_write_with_an_unknown_outcome_is_reconciled_never_duplicated(
    world: ProcoreWorld, service: SyncService, kind: str
) -> None:
    first, second = two_payments()
    world.state.inject_fault("POST", PAYMENTS, kind, times=1, delay=1.5)  # type: ignore[arg-type]

    summary = service.push(trigger="manual")

    assert summary.failed == 1 and summary.created == 1, summary.as_text()
    failed = PaymentLink.get(PaymentLink.erp_status == "failed")
    assert "PaySync checks Procore before trying again" in (failed.status_reason or "")
    assert ProcoreWrite.select().where(ProcoreWrite.status == "unknown").count() == 1

    again = service.push(trigger="manual")

    assert again.failed == 0, again.as_text()
    assert procore_view(world.payments()) == expected_two(world, first, second)
    committed = kind.startswith("commit_then")
    assert again.created == (0 if committed else 1)  # adopted when Procore had written it
    assert ProcoreWrite.select().where(ProcoreWrite.status.in_(("intent", "unknown"))).count() == 0
    assert {link.erp_status for link in PaymentLink.select()} == {"synced"}
    posts = [e for e in world.state.log_entries("POST", PAYMENTS) if e.status == 201]
    assert len(posts) == 2


class FaultOnUpdate:
    """Forwards to a real client, arming a sandbox fault just before the chosen PATCH."""

    def __init__(self, client: ProcoreClient, world: ProcoreWorld, on_update: int, kind: str) -> None:
        self._client, self._world, self._on, self._kind = client, world, on_update, kind
        self._updates = 0

    def update_contract_payment(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._updates += 1
        if self._updates == self._on:
            self._world.state.inject_fault("PATCH", PAYMENTS, self._kind, times=1, delay=1.5)  # type: ignore[arg-type]
        return self._client.update_contract_payment(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("step", [1, 2, 3])  # unlock, field patch, relock
@pytest.mark.parametrize("kind", ["commit_then_timeout", "503"])
def test_a_lost_answer_in_the_middle_of_unlock_patch_relock_is_repaired(
    world: ProcoreWorld, service: SyncService, step: int, kind: str
) -> None:
    first, second = two_payments()
    service.push(trigger="manual")
    QB().void(first)
    faulty = SyncService(
        service.settings,
        client_factory=lambda: FaultOnUpdate(world.client(timeout=1.0), world, step, kind),  # type: ignore[arg-type,return-value]
        actor="tester",
    )

    summary = faulty.push(trigger="manual")

    assert summary.failed == 1 and summary.voided == 0, summary.as_text()
    assert PaymentLink.get(PaymentLink.origin_id == origin(first, "B-100")).locked is False

    again = service.push(trigger="manual")

    # A relock that Procore applied before its answer was lost leaves nothing to redo.
    relocked = step == 3 and kind == "commit_then_timeout"
    assert again.failed == 0 and again.voided + again.updated == (0 if relocked else 1), again.as_text()
    assert procore_view(world.payments()) == expected_two(world, first, second, first_amount="0.00")
    assert all(p["origin_id"] for p in world.payments())  # locked again
    assert all(a.action == "skip" for a in service.preview())


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the push catches it."""


class CrashingClient:
    """Forwards to a real client; on the chosen update, the request reaches Procore and then the
    process 'dies' before the answer is recorded."""

    def __init__(self, client: ProcoreClient, crash_on_update: int) -> None:
        self._client = client
        self._updates = 0
        self._crash_on = crash_on_update

    def update_contract_payment(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = self._client.update_contract_payment(*args, **kwargs)
        self._updates += 1
        if self._updates == self._crash_on:
            raise Crash()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("crash_on", [1, 2, 3])
def test_a_crash_between_unlock_and_relock_is_repaired_by_the_next_run(
    world: ProcoreWorld, tmp_path: Path, service: SyncService, crash_on: int
) -> None:
    first, second = two_payments()
    service.push(trigger="manual")
    QB().edit(first, applied={"B-100": "1000.01"})
    crashing = SyncService(
        service.settings,
        client_factory=lambda: cast(ProcoreClient, CrashingClient(world.client(), crash_on)),
        actor="tester",
    )

    with pytest.raises(Crash):
        crashing.push(trigger="manual")
    assert ProcoreWrite.select().where(ProcoreWrite.status == "intent").count() == 1

    summary = service.push(trigger="manual")

    assert summary.failed == 0, summary.as_text()
    assert procore_view(world.payments()) == expected_two(world, first, second, first_amount="1000.01")
    assert all(p["origin_id"] for p in world.payments())
    assert all(a.action == "skip" for a in service.preview())


def test_a_crash_right_after_a_create_was_sent_does_not_post_twice(
    world: ProcoreWorld, service: SyncService
) -> None:
    first, second = two_payments()

    class CrashAfterCreate(CrashingClient):
        def create_contract_payment(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            self._client.create_contract_payment(*args, **kwargs)
            raise Crash()

    crashing = SyncService(
        service.settings,
        client_factory=lambda: cast(ProcoreClient, CrashAfterCreate(world.client(), 0)),
        actor="t",
    )
    with pytest.raises(Crash):
        crashing.push(trigger="manual")
    assert len(world.payments()) == 1

    summary = service.push(trigger="manual")

    assert summary.created == 1 and summary.failed == 0, summary.as_text()
    assert procore_view(world.payments()) == expected_two(world, first, second)


def test_when_procore_cannot_be_asked_about_an_open_intent_nothing_is_retried(
    world: ProcoreWorld, service: SyncService
) -> None:
    first, second = two_payments()
    world.state.inject_fault("POST", PAYMENTS, "commit_then_timeout", times=1, delay=1.5)
    service.push(trigger="manual")
    # Procore's listing keeps failing during the next run.
    world.state.inject_fault("GET", PAYMENTS, "500", times=50)
    posts_before = len(world.state.log_entries("POST", PAYMENTS))

    summary = service.push(trigger="manual")

    assert summary.failed == 1 and summary.created == 0, summary.as_text()
    assert len(world.state.log_entries("POST", PAYMENTS)) == posts_before  # not even tried again
    assert len(world.payments()) == 2  # the lost create was not posted again
    assert ProcoreWrite.select().where(ProcoreWrite.status.in_(("intent", "unknown"))).count() == 1
    world.state.clear_faults()
    final = service.push(trigger="manual")
    assert final.failed == 0, final.as_text()
    assert procore_view(world.payments()) == expected_two(world, first, second)


def test_only_one_push_runs_at_a_time(world: ProcoreWorld, service: SyncService) -> None:
    two_payments()
    held = PushLease("someone else")
    assert held.try_acquire()
    service.lease_wait_seconds = 0.3
    try:
        summary = service.push(trigger="manual")
    finally:
        held.release()

    assert world.payments() == []
    assert "another push is running (someone else" in summary.errors[0]
    assert service.push(trigger="manual").created == 2


def test_when_procore_is_down_the_push_stops_early_and_the_next_one_finishes(
    world: ProcoreWorld, service: SyncService
) -> None:
    qb = QB()
    made = [qb.pay([("B-101", "INV-101", f"{n}.00")], ref_number=str(n)) for n in range(1, 8)]
    world.state.inject_fault("GET", PAYMENTS, "500", times=1000)

    summary = service.push(trigger="manual")

    assert any("the push stopped early" in e for e in summary.errors), summary.as_text()
    statuses = sorted(link.erp_status for link in PaymentLink.select())
    assert statuses == ["failed"] * 5 + ["waiting"] * 2
    listing_attempts = len(world.state.log_entries("GET", PAYMENTS))
    assert listing_attempts == 5  # one listing, retried by the client (max_retries=4), not one per item
    assert world.payments() == []

    world.state.clear_faults()
    again = service.push(trigger="manual")

    assert again.created == 7 and again.failed == 0, again.as_text()
    assert sorted(p["origin_id"] for p in world.payments()) == sorted(origin(p, "B-101") for p in made)
