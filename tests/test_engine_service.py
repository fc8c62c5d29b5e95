"""SyncService: the preview writes nothing, on-demand sync needs permission, and the edits a person
may make (payment number, attachments, retract) validate first and store nothing when refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.db import close_database, tuple_rows
from storage.models import ALL_MODELS, AuditLog, PaymentAttachment, PaymentLink, SyncRun
from sync.engine.service import SyncService
from sync.procore.permissions import PermissionDenied
from tests.support.database import open_test_database
from tests.support.procore_world import ProcoreWorld
from tests.support.quickbooks_world import QB, origin


@pytest.fixture
def service(world: ProcoreWorld, tmp_path: Path) -> Iterator[SyncService]:
    url = open_test_database(tmp_path)
    svc = SyncService(world.settings(url), client_factory=lambda: world.client(), actor="tester")
    svc.refresh_from_procore()
    yield svc
    close_database()


def database_rows() -> dict[str, list[str]]:
    return {model.__name__: sorted(map(str, tuple_rows(model.select()))) for model in ALL_MODELS}


def test_the_preview_writes_nothing_anywhere(world: ProcoreWorld, service: SyncService) -> None:
    qb = QB()
    new = qb.pay([("B-100", "INV-100", "10.00")])
    qb.pay([("B-404", "NOPE", "5.00")])
    before, requests = database_rows(), len(world.state.request_log)

    plan = service.preview()

    assert [(a.action, a.erp_status) for a in plan] == [("create", "waiting"), ("skip", "needs_attention")]
    assert plan[0].origin_id == origin(new, "B-100")
    assert (
        plan[0].fields["amount"] == "10.00" and plan[0].fields["requisition_id"] == world.invoices["INV-100"]
    )
    assert database_rows() == before
    assert len(world.state.request_log) == requests  # not even a read from Procore


def test_on_demand_sync_needs_erp_admin_or_an_approver(world: ProcoreWorld, service: SyncService) -> None:
    QB().pay([("B-100", "INV-100", "10.00")])
    world.state.service_account_permissions = {
        world.project_id: {"commitments": "admin", "erp_integrations": "standard"}
    }

    with pytest.raises(PermissionDenied) as refused:
        service.sync_now(trigger="console")

    message = str(refused.value)
    assert "'Admin' on the ERP Integrations tool" in message and f"project {world.project_id}" in message
    assert "PAYSYNC_ACCOUNTING_APPROVERS" in message
    assert world.payments() == []
    (run,) = SyncRun.select()  # the refused sync is on record, with its reason
    assert (run.trigger, run.actor, run.status, run.message) == ("console", "tester", "failed", message)

    login = world.client().get_me()["login"]
    approved = SyncService(
        service.settings.with_overrides(accounting_approvers=(login.upper(),)),
        client_factory=lambda: world.client(),
        actor="tester",
    )
    summary = approved.sync_now(trigger="console")
    assert summary.created == 1 and len(world.payments()) == 1


def test_the_can_push_to_accounting_privilege_also_allows_sync(
    world: ProcoreWorld, service: SyncService
) -> None:
    world.state.service_account_permissions = {
        world.project_id: {"commitments": "admin", "erp_integrations": "standard"}
    }
    QB().pay([("B-100", "INV-100", "10.00")])
    world.state.service_account_can_push_to_accounting = False
    with pytest.raises(PermissionDenied):
        service.check_can_sync()

    world.state.service_account_can_push_to_accounting = True
    service.check_can_sync()  # does not raise

    assert service.sync_now(trigger="console").created == 1
    assert [p["amount"] for p in world.payments()] == ["10.00"]


def test_a_payment_number_goes_through_the_lock_or_with_the_first_push(
    world: ProcoreWorld, service: SyncService
) -> None:
    synced = QB().pay([("B-100", "INV-100", "10.00")])
    service.push(trigger="manual")
    link = PaymentLink.get(PaymentLink.origin_id == origin(synced, "B-100"))

    service.set_payment_number(link.id, 7)
    service.set_payment_number(link.id, 2**31 - 1)

    (payment,) = world.payments()
    assert payment["payment_number"] == 2**31 - 1 and payment["origin_id"] == link.origin_id

    # A payment Procore refused so far: the number is kept and sent with its first successful push.
    world.state.update_commitment(world.commitments["PO-1"], allow_payments=False)
    held = QB().pay([("B-7", "BOLT-7", "20.00")], vendor_list_id=None, vendor_name="Bolt Electric")
    service.push(trigger="manual")
    waiting = PaymentLink.get(PaymentLink.origin_id == origin(held, "B-7"))
    assert waiting.erp_status == "needs_attention"
    service.set_payment_number(waiting.id, 12)
    world.state.update_commitment(world.commitments["PO-1"], allow_payments=True)

    assert service.push(trigger="manual").created == 1
    assert {p["origin_id"]: p["payment_number"] for p in world.payments()} == {
        link.origin_id: 2**31 - 1,
        waiting.origin_id: 12,
    }
    assert AuditLog.select().where(AuditLog.action == "payment_number.set").count() == 3


def test_attachments_are_validated_then_uploaded_to_the_locked_payment(
    world: ProcoreWorld, service: SyncService, tmp_path: Path
) -> None:
    pay = QB().pay([("B-100", "INV-100", "10.00")])
    service.push(trigger="manual")
    link = PaymentLink.get(PaymentLink.origin_id == origin(pay, "B-100"))
    big = tmp_path / "scan.pdf"
    with big.open("wb") as handle:
        handle.truncate(25 * 1024 * 1024 + 1)
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    for path, message in (
        (tmp_path / "missing.pdf", "does not exist"),
        (exe, "cannot be attached. Allowed: csv, doc"),
        (big, "the limit is 25 MB"),
        (empty, "is empty"),
    ):
        with pytest.raises(ValueError, match=message):
            service.add_attachment(link.id, path)
    assert PaymentAttachment.select().count() == 0

    stub = tmp_path / "check-stub.pdf"
    stub.write_bytes(b"%PDF-1.4 check stub")
    service.add_attachment(link.id, stub)

    (payment,) = world.payments()
    assert [(a["filename"], a["size"]) for a in payment["attachments"]] == [("check-stub.pdf", 19)]
    assert payment["origin_id"] == link.origin_id  # attached while locked: no unlock needed
    row = PaymentAttachment.get()
    assert (row.status, row.procore_attachment_id) == ("uploaded", payment["attachments"][0]["id"])


def test_an_attachment_needs_the_payment_in_procore(
    world: ProcoreWorld, service: SyncService, tmp_path: Path
) -> None:
    QB().pay([("B-404", "NOPE", "5.00")])
    service.push(trigger="manual")
    stub = tmp_path / "stub.png"
    stub.write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match="not in Procore yet"):
        service.add_attachment(PaymentLink.get().id, stub)
    assert PaymentAttachment.select().count() == 0


def test_only_a_payment_deleted_in_quickbooks_can_be_retracted(
    world: ProcoreWorld, service: SyncService
) -> None:
    QB().pay([("B-100", "INV-100", "10.00")])
    service.push(trigger="manual")
    with pytest.raises(ValueError, match="Only a payment flagged 'Deleted in QuickBooks'"):
        service.retract_payment(PaymentLink.get().id, confirm=True)
    assert len(world.payments()) == 1


def test_an_edit_seen_before_a_deletion_reaches_procore_before_it_is_flagged(
    world: ProcoreWorld, service: SyncService
) -> None:
    qb = QB()
    pay = qb.pay([("B-100", "INV-100", "500.00")])
    service.push(trigger="manual")
    qb.edit(pay, applied={"B-100": "450.00"})
    qb.delete(pay)

    summary = service.push(trigger="manual")

    assert summary.flagged == 1
    (payment,) = world.payments()
    assert (payment["amount"], payment["origin_id"]) == ("450.00", origin(pay, "B-100"))
    assert PaymentLink.get().erp_status == "deleted_in_quickbooks"


def test_paysync_sync_refreshes_pushes_queues_and_prints_a_summary(
    world: ProcoreWorld,
    service: SyncService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from console.cli import main as paysync_main

    settings = service.settings
    for key, value in {
        "PAYSYNC_DATABASE_URL": str(settings.database_url),
        "PROCORE_API_BASE": world.url,
        "PROCORE_LOGIN_BASE": world.url,
        "PROCORE_CLIENT_ID": str(settings.procore_client_id),
        "PROCORE_CLIENT_SECRET": str(settings.procore_client_secret),
        "PROCORE_COMPANY_ID": str(world.state.company_id),
        "PROCORE_PROJECT_IDS": str(world.project_id),
    }.items():
        monkeypatch.setenv(key, value)
    QB().pay([("B-100", "INV-100", "321.00")])
    world.state.service_account_permissions = {
        world.project_id: {"commitments": "admin", "erp_integrations": "read_only"}
    }

    assert paysync_main(["sync", "--env-file", os.devnull]) == 2  # could not run: no permission
    refused = capsys.readouterr()
    assert "may not sync on demand" in refused.err and "ERP Integrations: Read Only" in refused.err
    assert world.payments() == []

    world.state.service_account_permissions = {
        world.project_id: {"commitments": "admin", "erp_integrations": "admin"}
    }
    assert paysync_main(["sync", "--env-file", os.devnull]) == 0
    printed = capsys.readouterr().out
    assert "Procore payments: 1 created" in printed
    assert "Queued for the Web Connector's next poll: host, payments_check, payments_credit_card" in printed
    assert [p["amount"] for p in world.payments()] == ["321.00"]


def test_pushes_asked_for_while_one_runs_are_coalesced_into_one_more() -> None:
    import threading
    import time

    from sync.runtime.pusher import BackgroundPusher

    started, release = threading.Event(), threading.Event()
    triggers: list[str] = []

    class SlowService:
        def refresh_and_push(self, *, trigger: str, **_: Any) -> Any:
            triggers.append(trigger)
            started.set()
            release.wait(10)
            return type("Summary", (), {"as_text": lambda self: trigger})()

    pusher = BackgroundPusher(SlowService())  # type: ignore[arg-type]
    pusher.request("web_connector")
    assert started.wait(10)
    for trigger in ("schedule", "web_connector", "schedule"):
        pusher.request(trigger)
    release.set()
    deadline = time.monotonic() + 10
    while len(triggers) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    pusher.wait(10)

    assert triggers == ["web_connector", "schedule"]  # one run, then one more for all three asks
