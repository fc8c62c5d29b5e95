"""Reconciliation end to end over loopback (sandbox QuickBooks -> Web Connector -> /qbwc -> database ->
engine -> sandbox Procore): what someone else does to Payments Issued in Procore (deletes one of
PaySync's payments, changes an amount, adds one by hand) is reported per commitment with the exact
difference and kind, the untouched commitments stay reconciled; `paysync reconcile` (exit status,
JSON, the table); and `resend_missing` followed by a push recreates a deleted payment exactly once."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from storage.db import close_database
from storage.models import AuditLog, PaymentLink
from storage.settings_store import get_setting, procore_payments_listed
from sync.engine.reconcile import (
    AMOUNT_DIFFERS,
    EXTRA_IN_PROCORE,
    MISSING_IN_PROCORE,
    CommitmentReconciliation,
    ReconcileItem,
    Reconciliation,
)
from tests.support.bridge import Bridge, Servers, new_bridge

PAYMENTS = "/rest/v1.0/contract_payments"
D = Decimal


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    built = new_bridge(servers, tmp_path, client_options={"timeout": 2.0})
    settings = built.settings
    for key, value in {
        "PAYSYNC_DATABASE_URL": str(settings.database_url),
        "QBWC_FILE_KEY": settings.qbwc_file_key,
        "PROCORE_API_BASE": built.world.url,
        "PROCORE_LOGIN_BASE": built.world.url,
        "PROCORE_CLIENT_ID": str(settings.procore_client_id),
        "PROCORE_CLIENT_SECRET": str(settings.procore_client_secret),
        "PROCORE_COMPANY_ID": str(built.state.company_id),
        "PROCORE_PROJECT_IDS": str(built.world.project_id),
    }.items():
        monkeypatch.setenv(key, value)
    yield built
    built.state.release_delayed_responses.set()
    close_database()


def four_commitments(bridge: Bridge) -> dict[str, str]:
    """Acme on SC-1 (two bills), Bolt on PO-1, Cole on SC-2, Dune on SC-3; every bill paid and synced.
    Returns the origin ids by bill key."""
    bridge.vendor("acme", "Acme Concrete")
    bridge.vendor("bolt", "Bolt Electric", link_origin=False)
    bridge.vendor("cole", "Cole Steel")
    bridge.vendor("dune", "Dune Glass")
    bridge.world.add_commitment("SC-1", "acme")
    bridge.world.add_commitment("PO-1", "bolt", kind="purchase_order")
    bridge.world.add_commitment("SC-2", "cole")
    bridge.world.add_commitment("SC-3", "dune")
    plan = [
        ("A-1", "SC-1", "Acme Concrete", "ACME-1", "5000.00", True, 1),
        ("A-2", "SC-1", "Acme Concrete", "ACME-2", "3500.50", False, 2),
        ("B-1", "PO-1", "Bolt Electric", "BOLT-1", "899.99", False, 1),
        ("C-1", "SC-2", "Cole Steel", "COLE-1", "1200.00", True, 1),
        ("D-1", "SC-3", "Dune Glass", "DUNE-1", "700.00", True, 1),
    ]
    origins: dict[str, str] = {}
    for number, (key, commitment, vendor, ref, amount, by_origin, draw) in enumerate(plan):
        bill = bridge.invoice_and_bill(
            key, commitment, vendor, ref, "100000.00", by_origin=by_origin, draw=draw
        )
        payment = bridge.company.pay_bills(vendor, [(bill, D(amount))], check_number=f"{9000 + number}")
        origins[key] = f"qbd:{bridge.settings.qbwc_file_key}:{payment}:{bill}"
        bridge.company.advance(minutes=2)
    summary = bridge.sync()
    assert summary.created == 5 and summary.failed == 0, summary.as_text()
    return origins


def procore_id(bridge: Bridge, origin: str) -> int:
    (found,) = [p for p in bridge.state.payments() if p["origin_id"] == origin]
    return int(found["id"])


def by_label(result: Reconciliation) -> dict[str, CommitmentReconciliation]:
    return {c.label.split()[0]: c for c in result.commitments}


def figures(c: CommitmentReconciliation) -> tuple[str, Decimal, Decimal, Decimal, Decimal, str]:
    return (c.currency, c.quickbooks, c.procore_paysync, c.procore_other, c.difference, c.status)


def reads_and_writes(bridge: Bridge) -> tuple[int, int]:
    log = [e for e in bridge.state.request_log if e.path.startswith(PAYMENTS)]
    return (
        sum(1 for e in log if e.method == "GET"),
        sum(1 for e in log if e.method in ("POST", "PATCH", "DELETE")),
    )


def test_outside_changes_are_reported_exactly_and_untouched_commitments_stay_reconciled(
    bridge: Bridge,
) -> None:
    origins = four_commitments(bridge)
    calls: list[tuple[int, int]] = []
    before = reads_and_writes(bridge)
    clean = bridge.service.reconcile(progress=lambda done, total: calls.append((done, total)))
    assert (clean.reconciled, clean.off) == (4, 0)
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert reads_and_writes(bridge) == (before[0] + 4, before[1])  # one list per commitment, no write
    assert figures(by_label(clean)["SC-1"]) == (
        "USD",
        D("8500.50"),
        D("8500.50"),
        D("0.00"),
        D("0.00"),
        "reconciled",
    )

    # Someone else, in Procore: deletes A-1's payment, changes B-1's amount, adds a payment by hand.
    deleted_id = procore_id(bridge, origins["A-1"])
    bridge.state.delete_payment_by_hand(deleted_id)
    changed_id = procore_id(bridge, origins["B-1"])
    bridge.state.edit_payment(changed_id, amount=D("850.00"))
    sc2 = bridge.world.commitments["SC-2"]
    added_id = bridge.state.add_payment(
        bridge.world.project_id,
        sc2,
        D("250.00"),
        bridge.company.payment(origins["C-1"].split(":")[2]).txn_date,
        check_number="HAND-1",
    )

    result = bridge.service.reconcile()
    assert (result.reconciled, result.off) == (1, 3)
    commitments = by_label(result)
    assert figures(commitments["SC-1"]) == ("USD", D("8500.50"), D("3500.50"), D("0.00"), D("5000.00"), "off")
    (missing,) = commitments["SC-1"].items
    assert (missing.kind, missing.origin_id, missing.procore_payment_id) == (
        MISSING_IN_PROCORE,
        origins["A-1"],
        deleted_id,
    )
    assert (missing.quickbooks_amount, missing.procore_amount) == (D("5000.00"), None)
    assert "deleted in Procore" in missing.label

    assert figures(commitments["PO-1"]) == ("USD", D("899.99"), D("850.00"), D("0.00"), D("49.99"), "off")
    assert commitments["PO-1"].items == (
        ReconcileItem(
            AMOUNT_DIFFERS,
            origins["B-1"],
            changed_id,
            D("899.99"),
            D("850.00"),
            commitments["PO-1"].items[0].label,
        ),
    )

    assert figures(commitments["SC-2"]) == (
        "USD",
        D("1200.00"),
        D("1200.00"),
        D("250.00"),
        D("-250.00"),
        "off",
    )
    (extra,) = commitments["SC-2"].items
    assert (extra.kind, extra.origin_id, extra.procore_payment_id) == (EXTRA_IN_PROCORE, None, added_id)
    assert (extra.quickbooks_amount, extra.procore_amount) == (None, D("250.00"))
    assert "not written by PaySync" in extra.label and "HAND-1" in extra.label

    assert figures(commitments["SC-3"]) == (
        "USD",
        D("700.00"),
        D("700.00"),
        D("0.00"),
        D("0.00"),
        "reconciled",
    )
    assert commitments["SC-3"].items == ()
    assert result.missing_origin_ids() == (origins["A-1"],)

    only = bridge.service.reconcile(project_id=bridge.world.project_id + 999)
    assert only.commitments == ()


def test_a_payment_not_pushed_yet_is_missing_until_the_push(bridge: Bridge) -> None:
    origins = four_commitments(bridge)
    bill = bridge.invoice_and_bill("D-2", "SC-3", "Dune Glass", "DUNE-2", "100000.00", by_origin=True, draw=2)
    payment = bridge.company.pay_bills("Dune Glass", [(bill, D("123.45"))], check_number="9100")
    bridge.session()  # in PaySync's database, not pushed yet
    bridge.service.refresh_from_procore()  # our copy of Procore knows the invoice: the bill is placed
    sc3 = by_label(bridge.service.reconcile())["SC-3"]
    assert figures(sc3) == ("USD", D("823.45"), D("700.00"), D("0.00"), D("123.45"), "off")
    (item,) = sc3.items
    assert (item.kind, item.origin_id, item.procore_payment_id, item.quickbooks_amount) == (
        MISSING_IN_PROCORE,
        f"qbd:{bridge.settings.qbwc_file_key}:{payment}:{bill}",
        None,
        D("123.45"),
    )
    assert "next push" in item.label
    assert (
        bridge.service.resend_missing([item.origin_id or ""], actor="tester") == 0
    )  # the push sends it anyway
    bridge.service.push(trigger="test")
    assert bridge.service.reconcile().off == 0
    # A void counts 0.00 on both sides.
    bridge.company.void_payment(origins["D-1"].split(":")[2])
    bridge.sync()
    sc3 = by_label(bridge.service.reconcile())["SC-3"]
    assert figures(sc3) == ("USD", D("123.45"), D("123.45"), D("0.00"), D("0.00"), "reconciled")


def test_resend_missing_then_push_recreates_a_deleted_payment_exactly_once(bridge: Bridge) -> None:
    origins = four_commitments(bridge)
    deleted_id = procore_id(bridge, origins["A-1"])
    bridge.state.delete_payment_by_hand(deleted_id)
    sc1 = bridge.world.commitments["SC-1"]
    assert get_setting(procore_payments_listed(sc1)) is not None

    # B-1 is in Procore: only A-1 is marked; nothing is written to Procore by marking.
    writes_before = reads_and_writes(bridge)[1]
    assert bridge.service.resend_missing([origins["A-1"], origins["B-1"], "qbd:nope"], actor="ann") == 1
    assert reads_and_writes(bridge)[1] == writes_before
    link = PaymentLink.get(PaymentLink.origin_id == origins["A-1"])
    assert (link.procore_payment_id, link.erp_status, link.locked) == (None, "waiting", False)
    assert get_setting(procore_payments_listed(sc1)) is None  # the push lists before creating
    audit = AuditLog.get(AuditLog.action == "payment.resend")
    assert (audit.actor, audit.target) == ("ann", origins["A-1"])
    assert json.loads(str(audit.detail))["was_procore_payment_id"] == deleted_id

    preview = [a for a in bridge.service.preview() if a.action != "skip"]
    assert [(a.action, a.origin_id) for a in preview] == [("create", origins["A-1"])]
    summary = bridge.service.push(trigger="test")
    assert (summary.created, summary.updated, summary.failed) == (1, 0, 0), summary.as_text()
    assert [p["amount"] for p in bridge.state.payments(sc1) if p["origin_id"] == origins["A-1"]] == [
        "5000.00"
    ]
    assert bridge.service.reconcile().off == 0
    # Marking it again finds it in Procore: nothing marked, and the next push writes nothing.
    assert bridge.service.resend_missing([origins["A-1"]], actor="ann") == 0
    writes_before = reads_and_writes(bridge)[1]
    quiet = bridge.service.push(trigger="test")
    assert (quiet.created, quiet.updated) == (0, 0) and reads_and_writes(bridge)[1] == writes_before


def test_a_payment_restored_after_marking_is_adopted_not_posted_twice(bridge: Bridge) -> None:
    origins = four_commitments(bridge)
    deleted_id = procore_id(bridge, origins["A-1"])
    bridge.state.delete_payment_by_hand(deleted_id)
    assert bridge.service.resend_missing([origins["A-1"]], actor="ann") == 1
    # Before the push, someone enters it again in Procore with PaySync's origin id.
    sc1 = bridge.world.commitments["SC-1"]
    restored = bridge.state.add_payment(
        bridge.world.project_id,
        sc1,
        D("5000.00"),
        bridge.company.payment(origins["A-1"].split(":")[2]).txn_date,
        origin_id=origins["A-1"],
    )
    posts_before = sum(
        1 for e in bridge.state.request_log if e.method == "POST" and e.path.startswith(PAYMENTS)
    )
    bridge.service.push(trigger="test")
    posts_after = sum(
        1 for e in bridge.state.request_log if e.method == "POST" and e.path.startswith(PAYMENTS)
    )
    assert posts_after == posts_before
    assert [p["id"] for p in bridge.state.payments(sc1) if p["origin_id"] == origins["A-1"]] == [restored]
    assert PaymentLink.get(PaymentLink.origin_id == origins["A-1"]).procore_payment_id == restored


# -- the command ------------------------------------------------------------------------------


def reconcile_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["--env-file", os.devnull, "reconcile", *args])
    close_database()
    captured = capsys.readouterr()
    return status, captured.out, captured.err


MONEY = re.compile(r"^-?\d+\.\d\d$")


def test_cli_exit_status_json_and_table(bridge: Bridge, capsys: pytest.CaptureFixture[str]) -> None:
    origins = four_commitments(bridge)
    close_database()

    status, out, err = reconcile_cli(capsys, "--json")
    assert status == 0, out + err
    assert "4/4 commitments" in err
    payload: dict[str, Any] = json.loads(out)
    assert (payload["reconciled"], payload["off"], len(payload["commitments"])) == (4, 0, 4)

    bridge.state.delete_payment_by_hand(procore_id(bridge, origins["A-1"]))
    status, out, err = reconcile_cli(capsys, "--json")
    assert status == 1, out + err
    payload = json.loads(out)
    assert set(payload) == {"commitments", "reconciled", "off"}
    assert (payload["reconciled"], payload["off"]) == (3, 1)
    for commitment in payload["commitments"]:
        assert set(commitment) == {
            "commitment_id",
            "project_id",
            "label",
            "currency",
            "quickbooks",
            "procore_paysync",
            "procore_other",
            "difference",
            "status",
            "items",
        }
        for name in ("quickbooks", "procore_paysync", "procore_other", "difference"):
            assert MONEY.match(commitment[name]), commitment
    (off,) = [c for c in payload["commitments"] if c["status"] == "off"]
    assert (off["quickbooks"], off["procore_paysync"], off["procore_other"], off["difference"]) == (
        "8500.50",
        "3500.50",
        "0.00",
        "5000.00",
    )
    (item,) = off["items"]
    assert {k: item[k] for k in ("kind", "origin_id", "quickbooks_amount", "procore_amount")} == {
        "kind": "missing_in_procore",
        "origin_id": origins["A-1"],
        "quickbooks_amount": "5000.00",
        "procore_amount": None,
    }

    status, out, err = reconcile_cli(capsys)
    assert status == 1, out + err
    header = out.splitlines()[0]
    for name in (
        "Commitment",
        "Currency",
        "QuickBooks",
        "Procore (PaySync)",
        "Procore (other)",
        "Difference",
        "Status",
    ):
        assert name in header
    assert re.search(r"^SC-1 .*USD\s+8500\.50\s+3500\.50\s+0\.00\s+5000\.00\s+off$", out, re.M), out
    assert re.search(r"^SC-3 .*700\.00\s+700\.00\s+0\.00\s+0\.00\s+reconciled$", out, re.M), out
    assert f"[missing in Procore] {origins['A-1']}: QuickBooks 5000.00, Procore -" in out
    assert "Reconciled: 3  Off: 1" in out

    status, out, err = reconcile_cli(capsys, "--json", "--project", str(bridge.world.project_id + 1))
    assert status == 0 and json.loads(out) == {"commitments": [], "reconciled": 0, "off": 0}


def test_cli_exit_2_when_procore_cannot_be_asked(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    four_commitments(bridge)
    close_database()
    monkeypatch.setenv("PROCORE_CLIENT_SECRET", "wrong")
    status, out, err = reconcile_cli(capsys, "--json")
    assert status == 2 and out == "" and err.strip().splitlines()[-1].startswith("paysync: "), (out, err)
