"""Several QuickBooks company files on one PaySync (sync/quickbooks/companies.py), end to end over loopback:
two files whose TxnIDs and ListIDs collide, each paying the same subcontractor on its own project,
served by one Web Connector endpoint; a file removed and added again; the CLI."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from sandbox.procore import ProcoreState
from sandbox.quickbooks import SandboxCompanyFile
from storage.db import close_database
from storage.fields import utc_now
from storage.models import QuickBooksWork
from sync.doctor.procore import procore_checks
from sync.engine.mappings import MappingRefused, confirm_mapping
from sync.procore.auth import MemoryTokenStore
from sync.quickbooks.companies import CompanyError, add_company, list_companies, remove_company
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.runtime.cutoff import change_cutoff, parse_cutoff
from tests.support.bridge import Bridge, Servers, new_bridge
from tests.support.procore_world import CLIENT_ID, CLIENT_SECRET
from tests.support.quickbooks_world import PASSWORD, TEST_ITERATIONS, emulator

EAST_PASSWORD = "east-books-password"
CLOCK_START = datetime(2026, 11, 2, 8, 0, 0)


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path) -> Iterator[Bridge]:
    built = new_bridge(servers, tmp_path, clock_start=CLOCK_START)
    yield built
    close_database()


def two_entities(bridge: Bridge) -> dict[str, Any]:
    """Summit (the .env file, project Harbor Point) and East (added, project East Yard) both pay
    Acme Concrete. The two files were set up the same way, so QuickBooks gave their vendor, bills and
    payments the same ListIDs and TxnIDs; Procore has one Acme (origin id that ListID), a
    subcontract on each project, and on each an invoice that carries the colliding bill TxnID."""
    east_project = bridge.state.add_project("East Yard")
    bridge.state.service_account_permissions[east_project] = {
        "commitments": "admin",
        "erp_integrations": "admin",
    }
    bridge.settings = bridge.settings.with_overrides(
        procore_project_ids=(bridge.world.project_id, east_project)
    )
    bridge.service.settings = bridge.settings
    east = SandboxCompanyFile(clock_start=CLOCK_START)
    acme = bridge.vendor("acme", "Acme Concrete")
    assert east.add_vendor("Acme Concrete") == acme  # ListIDs collide
    bridge.world.add_commitment("SC-MAIN", "acme")
    east_commitment = bridge.state.add_commitment(
        east_project, "subcontract", "SC-EAST", "SC-EAST work", bridge.world.vendors["acme"]
    )
    bridge.world.commitments["SC-EAST"] = east_commitment
    main_bill = bridge.company.add_bill("Acme Concrete", "INV-1", Decimal("10000.00"))
    east_bill = east.add_bill("Acme Concrete", "INV-1", Decimal("10000.00"))
    assert main_bill == east_bill  # TxnIDs collide
    bridge.world.add_invoice("MAIN-1", "SC-MAIN", "INV-1", 1, origin_id=main_bill)
    east_invoice = bridge.state.add_requisition(
        east_project, east_commitment, "INV-1", 1, "100000.00", main_bill
    )
    bridge.world.invoices["EAST-1"] = east_invoice
    add_company(
        bridge.settings,
        "east",
        name="East Builders LLC",
        password=EAST_PASSWORD,
        actor="tester",
        procore_project_ids=[east_project],
        password_iterations=TEST_ITERATIONS,
    )
    # Go-live for East: its own cutoff, before its payments (`paysync cutoff --company east --set`).
    change_cutoff(parse_cutoff("2026-11-01"), "tester", file_key="east")
    return {"east": east, "bill": main_bill, "east_project": east_project}


def east_session(bridge: Bridge, east: SandboxCompanyFile, *, password: str = EAST_PASSWORD) -> Any:
    queue_quickbooks_refresh("east", requested_by="test")
    return emulator(bridge.qbwc_url, east, username="paysync-east", password=password).run_session()


def by_origin(bridge: Bridge) -> dict[str, tuple[int, str]]:
    """Every payment in Procore: origin id -> (its commitment, amount)."""
    found: dict[str, tuple[int, str]] = {}
    for commitment in bridge.world.commitments.values():
        for payment in bridge.state.payments(commitment):
            assert str(payment["origin_id"]) not in found
            found[str(payment["origin_id"])] = (commitment, str(payment["amount"]))
    return found


def test_two_company_files_with_colliding_txn_ids_each_land_once_on_their_own_commitment(
    bridge: Bridge,
) -> None:
    world = two_entities(bridge)
    east: SandboxCompanyFile = world["east"]
    bill = world["bill"]
    main_payment = bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("1000.00"))], check_number="501")
    east_payment = east.pay_bills("Acme Concrete", [(bill, Decimal("2500.00"))], check_number="501")
    assert main_payment == east_payment

    bridge.session()  # Summit's Web Connector, as QBWC_USERNAME
    report = east_session(bridge, east)  # East's, as its own user, on the same endpoint
    assert report.outcome == "done", (report.outcome, report.last_errors)
    summary = bridge.service.refresh_and_push(trigger="test")

    assert summary.created == 2 and summary.needs_attention == 0 and summary.failed == 0, summary.as_text()
    assert by_origin(bridge) == {
        f"qbd:main:{main_payment}:{bill}": (bridge.world.commitments["SC-MAIN"], "1000.00"),
        f"qbd:east:{east_payment}:{bill}": (bridge.world.commitments["SC-EAST"], "2500.00"),
    }

    # Both files polled again and pushed again: nothing is written twice.
    bridge.session()
    east_session(bridge, east)
    again = bridge.service.refresh_and_push(trigger="test")
    assert again.created == 0 and len(bridge.state.payments()) == 2, again.as_text()

    # Each file is on its own in the status figures.
    entries = {entry.file_key: entry for entry in list_companies(bridge.settings)}
    assert entries["east"].name == "East Builders LLC" and entries["east"].username == "paysync-east"
    assert entries["east"].cutoff is not None and entries["main"].default


def test_a_removed_company_file_is_refused_and_added_again_continues_without_duplicates(
    bridge: Bridge,
) -> None:
    world = two_entities(bridge)
    east: SandboxCompanyFile = world["east"]
    bill = world["bill"]
    first = east.pay_bills("Acme Concrete", [(bill, Decimal("2500.00"))], check_number="501")
    assert east_session(bridge, east).outcome == "done"
    assert bridge.service.refresh_and_push(trigger="test").created == 1

    queue_quickbooks_refresh("east", requested_by="test")
    with pytest.raises(
        CompanyError, match="still has 2 QuickBooks queries waiting|QuickBooks queries waiting"
    ):
        remove_company(bridge.settings, "east", actor="tester")
    removal = remove_company(bridge.settings, "east", actor="tester", force=True)
    assert removal.cancelled_queries >= 1
    assert (
        not QuickBooksWork.select()
        .where((QuickBooksWork.file_key == "east") & (QuickBooksWork.status == "queued"))
        .exists()
    )

    # Removed: its Web Connector user is refused, and a push leaves its payments alone.
    east.advance(minutes=10)
    second = east.pay_bills("Acme Concrete", [(bill, Decimal("700.00"))], check_number="502")
    refused = emulator(bridge.qbwc_url, east, username="paysync-east", password=EAST_PASSWORD).run_session()
    assert refused.outcome == "not_valid_user"
    assert bridge.service.refresh_and_push(trigger="test").created == 0
    assert [e.file_key for e in list_companies(bridge.settings, include_removed=False)] == ["main"]

    # Added again, with a new password: it continues where it stopped.
    add_company(
        bridge.settings,
        "east",
        name="East Builders LLC",
        password="a-new-east-password",
        actor="tester",
        procore_project_ids=[world["east_project"]],
        password_iterations=TEST_ITERATIONS,
    )
    assert east_session(bridge, east, password="a-new-east-password").outcome == "done"
    summary = bridge.service.refresh_and_push(trigger="test")
    assert summary.created == 1, summary.as_text()
    east_commitment = bridge.world.commitments["SC-EAST"]
    assert by_origin(bridge) == {
        f"qbd:east:{first}:{bill}": (east_commitment, "2500.00"),
        f"qbd:east:{second}:{bill}": (east_commitment, "700.00"),
    }


def test_a_bill_is_never_matched_against_another_files_projects(bridge: Bridge) -> None:
    """East's bill carries the same TxnID as an invoice on Summit's project only: without its own
    invoice it needs mapping, rather than landing on Summit's commitment."""
    world = two_entities(bridge)
    east: SandboxCompanyFile = world["east"]
    lonely = east.add_bill("Acme Concrete", "EAST-ONLY-9", Decimal("300.00"))
    bridge.world.add_invoice("MAIN-9", "SC-MAIN", "EAST-ONLY-9", 2, origin_id=lonely)
    paid = east.pay_bills("Acme Concrete", [(lonely, Decimal("300.00"))], check_number="900")
    assert east_session(bridge, east).outcome == "done"
    summary = bridge.service.refresh_and_push(trigger="test")
    assert summary.created == 0 and summary.needs_attention == 1, summary.as_text()
    assert f"qbd:east:{paid}:{lonely}" not in by_origin(bridge)


def _run(capsys: pytest.CaptureFixture[str], env_file: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--env-file", str(env_file), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_company_commands(
    clean_env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = clean_env(
        QBWC_PASSWORD=PASSWORD,
        PROCORE_COMPANY_ID="42",
        PAYSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'paysync.db'}",
    )

    monkeypatch.setattr("sys.stdin", io.StringIO("west-password\n"))
    code, out, _ = _run(
        capsys, env_file, "company", "add", "west", "--name", "West LLC", "--procore-project-ids", "11,12"
    )
    assert code == 0 and "Added company file west (West LLC); Web Connector user paysync-west" in out
    assert "paysync qwc --company west" in out

    refusals = [
        (
            ["company", "add", "north", "--name", "N", "--procore-project-ids", "12"],
            "already belongs to company file 'west'",
        ),
        (["company", "add", "main", "--name", "M"], "configured in .env"),
        (["company", "add", "bad key!", "--name", "B", "--procore-project-ids", "5"], "up to 32 letters"),
        (["company", "add", "short", "--name", "S", "--procore-project-ids", "5"], "at least 8 characters"),
        (
            ["company", "add", "sched", "--name", "S", "--procore-project-ids", "6", "--schedule", "often"],
            "PAYSYNC_SCHEDULE",
        ),
        (["company", "remove", "main"], "configured in .env"),
        (["company", "remove", "nowhere"], "No company file 'nowhere'"),
    ]
    for args, message in refusals:
        monkeypatch.setattr("sys.stdin", io.StringIO("north-password\n" if "short" not in args else "abc\n"))
        code, _, err = _run(capsys, env_file, *args)
        assert code == 2 and message in err, (args, err)
        assert "Traceback" not in err

    # Another Procore company: alone there, the file needs no project list.
    monkeypatch.setattr("sys.stdin", io.StringIO("other-password\n"))
    code, out, err = _run(
        capsys, env_file, "company", "add", "other", "--name", "O", "--procore-company-id", "99"
    )
    assert code == 0 and "Its payments go to Procore company 99" in out, err
    monkeypatch.setattr("sys.stdin", io.StringIO("other-password\n"))
    code, _, err = _run(
        capsys, env_file, "company", "add", "more", "--name", "M", "--procore-company-id", "99"
    )
    assert code == 2 and "'other' already matches against every Procore project" in err

    code, out, _ = _run(capsys, env_file, "company", "list", "--json")
    listed = {entry["file_key"]: entry for entry in json.loads(out)["company_files"]}
    assert set(listed) == {"main", "west", "other"}
    assert listed["west"]["procore_project_ids"] == [11, 12] and listed["west"]["active"] is True
    assert listed["main"]["default"] is True and listed["west"]["cutoff"] is None
    assert [listed[key]["procore_company_id"] for key in ("main", "west", "other")] == [42, 42, 99]
    code, out, _ = _run(capsys, env_file, "company", "list")
    assert "Procore company 99; projects: all unclaimed" in out

    code, out, _ = _run(capsys, env_file, "company", "remove", "west")
    assert code == 0 and "Removed company file west" in out
    code, out, _ = _run(capsys, env_file, "company", "list")
    assert "west West LLC (removed)" in out
    code, _, err = _run(capsys, env_file, "qwc", "--company", "west")
    assert code == 2 and "was removed" in err


def test_a_mapping_names_its_company_file_when_txn_ids_repeat(bridge: Bridge) -> None:
    world = two_entities(bridge)
    east: SandboxCompanyFile = world["east"]
    main_bill = bridge.company.add_bill("Acme Concrete", "TYPO-1", Decimal("400.00"))
    east_bill = east.add_bill("Acme Concrete", "TYPO-1", Decimal("400.00"))
    assert main_bill == east_bill
    east.pay_bills("Acme Concrete", [(east_bill, Decimal("400.00"))], check_number="777")
    bridge.company.pay_bills("Acme Concrete", [(main_bill, Decimal("400.00"))], check_number="777")
    bridge.session()
    assert east_session(bridge, east).outcome == "done"
    assert bridge.service.refresh_and_push(trigger="test").needs_attention == 2

    with pytest.raises(MappingRefused, match="--company KEY"):
        confirm_mapping(east_bill, bridge.world.invoices["EAST-1"], actor="tester")
    with pytest.raises(MappingRefused, match="belongs to another company file"):
        confirm_mapping(east_bill, bridge.world.invoices["MAIN-1"], actor="tester", file_key="east")
    confirm_mapping(east_bill, bridge.world.invoices["EAST-1"], actor="tester", file_key="east")
    summary = bridge.service.refresh_and_push(trigger="test")
    assert summary.created == 1 and summary.needs_attention == 1, summary.as_text()
    placed = [origin for origin in by_origin(bridge) if origin.startswith("qbd:east:")]
    assert len(placed) == 1 and placed[0].endswith(f":{east_bill}")
    assert by_origin(bridge)[placed[0]] == (bridge.world.commitments["SC-EAST"], "400.00")


def test_status_shows_each_company_file(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = two_entities(bridge)
    east: SandboxCompanyFile = world["east"]
    east.pay_bills("Acme Concrete", [(world["bill"], Decimal("2500.00"))], check_number="501")
    assert east_session(bridge, east).outcome == "done"
    bridge.service.refresh_and_push(trigger="test")
    for key, value in {
        "PAYSYNC_DATABASE_URL": str(bridge.settings.database_url),
        "PROCORE_CLIENT_ID": str(bridge.settings.procore_client_id),
        "PROCORE_CLIENT_SECRET": str(bridge.settings.procore_client_secret),
        "PROCORE_COMPANY_ID": str(bridge.settings.procore_company_id),
        "PROCORE_API_BASE": bridge.settings.procore_api_base,
        "PROCORE_LOGIN_BASE": bridge.settings.procore_login_base,
    }.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    main(["--env-file", os.devnull, "status", "--json"])
    status = json.loads(capsys.readouterr().out)
    files = {entry["file_key"]: entry for entry in status["web_connector"]["company_files"]}
    assert files["east"]["name"] == "East Builders LLC" and files["east"]["username"] == "paysync-east"
    assert files["east"]["payments"]["synced"] == 1 and files["main"]["payments"]["synced"] == 0
    assert files["east"]["cutoff"] == "2026-11-01T00:00:00Z" and files["east"]["active"] is True
    main(["--env-file", os.devnull, "status"])
    text = capsys.readouterr().out
    assert "company file east — East Builders LLC (US)" in text
    assert "user paysync-east;" in text and "payments: 1 synced, 0 need attention, 0 failed" in text


def test_two_company_files_in_their_own_procore_companies_each_land_in_their_own_company(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Summit writes to the Procore company of PROCORE_COMPANY_ID, East to its own (the same app
    installed there, one token). Their TxnIDs and ListIDs collide, and each company has an Acme with
    that ListID as origin id and an invoice carrying that TxnID: each payment lands once, in its own
    company, and every request about East's project names East's company."""
    west = ProcoreState("East Builders (Procore)", first_id=500_000)
    west.add_client(CLIENT_ID, CLIENT_SECRET)  # the app is installed in East's company too
    west_project = west.add_project("East Yard")
    west.service_account_permissions = {west_project: {"commitments": "admin", "erp_integrations": "admin"}}
    bridge.serve_companies(west)
    east = SandboxCompanyFile(clock_start=CLOCK_START)
    acme = bridge.vendor("acme", "Acme Concrete")
    assert east.add_vendor("Acme Concrete") == acme  # ListIDs collide
    west_acme = west.add_vendor("Acme Concrete", acme)
    bridge.world.add_commitment("SC-MAIN", "acme")
    west_commitment = west.add_commitment(west_project, "subcontract", "SC-EAST", "SC-EAST work", west_acme)
    bill = bridge.company.add_bill("Acme Concrete", "INV-1", Decimal("10000.00"))
    assert east.add_bill("Acme Concrete", "INV-1", Decimal("10000.00")) == bill  # TxnIDs collide
    bridge.world.add_invoice("MAIN-1", "SC-MAIN", "INV-1", 1, origin_id=bill)
    west.add_requisition(west_project, west_commitment, "INV-1", 1, "100000.00", bill)
    add_company(  # alone in its Procore company: no --procore-project-ids needed
        bridge.settings,
        "east",
        name="East Builders LLC",
        password=EAST_PASSWORD,
        actor="tester",
        procore_company_id=west.company_id,
        password_iterations=TEST_ITERATIONS,
    )
    change_cutoff(parse_cutoff("2026-11-01"), "tester", file_key="east")
    main_payment = bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("1000.00"))], check_number="501")
    east_payment = east.pay_bills("Acme Concrete", [(bill, Decimal("2500.00"))], check_number="501")
    assert main_payment == east_payment

    bridge.session()
    assert east_session(bridge, east).outcome == "done"
    summary = bridge.service.refresh_and_push(trigger="test")

    assert summary.created == 2 and summary.needs_attention == 0 and summary.failed == 0, summary.as_text()
    assert not summary.errors, summary.errors
    main_commitment = bridge.world.commitments["SC-MAIN"]
    assert [(p["origin_id"], p["amount"]) for p in bridge.state.payments(main_commitment)] == [
        (f"qbd:main:{main_payment}:{bill}", "1000.00")
    ]
    assert [(p["origin_id"], p["amount"]) for p in west.payments(west_commitment)] == [
        (f"qbd:east:{east_payment}:{bill}", "2500.00")
    ]
    assert len(bridge.state.payments()) == 1 and len(west.payments()) == 1
    # Every API request East's company answered named East's company, and none was refused.
    east_calls = [entry for entry in west.request_log if entry.path.startswith("/rest/")]
    assert any(entry.method == "POST" for entry in east_calls)
    assert {entry.company_header for entry in east_calls} == {str(west.company_id)}
    assert all(entry.status < 400 for entry in east_calls), [e for e in east_calls if e.status >= 400]

    # Both files polled again and pushed again: nothing is written twice, in either company.
    writes = len(bridge.world.writes()), sum(1 for e in west.request_log if e.method in ("POST", "PATCH"))
    bridge.session()
    east_session(bridge, east)
    again = bridge.service.refresh_and_push(trigger="test")
    assert again.created == again.updated == 0 and not again.errors, again.as_text()
    assert (
        len(bridge.world.writes()),
        sum(1 for e in west.request_log if e.method in ("POST", "PATCH")),
    ) == writes

    for key, value in {
        "PAYSYNC_DATABASE_URL": str(bridge.settings.database_url),
        "PROCORE_COMPANY_ID": str(bridge.settings.procore_company_id),
    }.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert main(["--env-file", os.devnull, "company", "list", "--json"]) == 0
    listed = {entry["file_key"]: entry for entry in json.loads(capsys.readouterr().out)["company_files"]}
    assert listed["main"]["procore_company_id"] == bridge.state.company_id
    assert listed["east"]["procore_company_id"] == west.company_id

    # `paysync doctor --probe` on East's commitment probes East's company, with East's header.
    for key, value in {
        "PROCORE_CLIENT_ID": str(bridge.settings.procore_client_id),
        "PROCORE_CLIENT_SECRET": str(bridge.settings.procore_client_secret),
        "PROCORE_API_BASE": bridge.settings.procore_api_base,
        "PROCORE_LOGIN_BASE": bridge.settings.procore_login_base,
    }.items():
        monkeypatch.setenv(key, value)
    main_writes = len(bridge.world.writes())
    probe = ["--env-file", os.devnull, "doctor", "--probe", "--probe-commitment", str(west_commitment)]
    main([*probe, "--yes", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["probe"]["unlock"] == "works" and report["probe"]["left_behind"] == []
    probed = [e for e in west.request_log if e.method == "POST" and e.path.startswith("/rest/")]
    assert len(probed) >= 3 and {e.company_header for e in probed} == {str(west.company_id)}
    assert len(bridge.world.writes()) == main_writes  # nothing written in Summit's company
    assert [p["origin_id"] for p in west.payments(west_commitment)] == [f"qbd:east:{east_payment}:{bill}"]


def test_doctor_checks_each_procore_company_a_file_writes_to(bridge: Bridge) -> None:
    west = ProcoreState("West Builders (Procore)", first_id=600_000)
    west.add_client(CLIENT_ID, CLIENT_SECRET)
    west_project = west.add_project("West Yard")
    west.service_account_permissions = {west_project: {"commitments": "admin", "erp_integrations": "admin"}}
    vendor = west.add_vendor("Acme Concrete", "V-1")
    closed = west.add_commitment(
        west_project, "subcontract", "SC-W", "SC-W work", vendor, allow_payments=False
    )
    west.add_requisition(west_project, closed, "W-1", 1, "1000.00", None)
    bare = ProcoreState("Without the app", first_id=800_000)  # the app is not installed there
    bridge.serve_companies(west, bare)
    for key, company in (("west", west), ("bare", bare)):
        add_company(
            bridge.settings,
            key,
            name=f"{key} LLC",
            password=EAST_PASSWORD,
            actor="tester",
            procore_company_id=company.company_id,
            password_iterations=TEST_ITERATIONS,
        )

    checks = {
        check.name: check
        for check in procore_checks(bridge.settings, now=utc_now(), token_store=MemoryTokenStore())
    }

    assert checks[f"Company {west.company_id}"].verdict == "ok"
    assert checks[f"Permissions (project {west_project})"].verdict == "ok"
    # West's own commitments and invoices are looked at too, in West's company.
    disabled = checks[f"Payments Issued enabled (company {west.company_id})"]
    assert disabled.verdict == "fail" and "SC-W" in disabled.why and "Enable Payments" in disabled.fix
    assert checks[f"Invoice origin ids (company {west.company_id})"].verdict == "warn"
    assert checks[f"Company {bare.company_id}"].verdict == "fail"
    assert "not connected to this company" in checks[f"Company {bare.company_id}"].why
    assert "Install PaySync's Procore app" in checks[f"Company {bare.company_id}"].fix
    assert checks["Company"].verdict == "ok"  # PROCORE_COMPANY_ID's, as before
