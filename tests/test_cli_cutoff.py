"""The cutoff is set on purpose: a trial run that fails never fixes it, the first real run records it
and says so, `paysync cutoff` shows it, and before the first push it can be set (recomputing which
stored payments are pre-existing) or reset; afterwards it is refused, saying why.

End to end over loopback (tests/support/bridge.py): sandbox QuickBooks -> Web Connector emulator ->
PaySync -> sandbox Procore, with `paysync` run as a person runs it."""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from storage.db import close_database, open_database
from storage.models import AuditLog, BillPayment, ErrorEvent, Setting, SyncRun
from tests.support.bridge import Bridge, Servers, new_bridge

ME = f"{getpass.getuser()} (computer account)"
RECORDED = re.compile(
    r"PaySync recorded the cutoff (\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? UTC): payments created in QuickBooks "
    r"before it are never synced \(they show Not synced, as pre-existing\)\. Until the first payment is "
    r"pushed to Procore it can still change: `paysync cutoff --set DATE` moves it, `paysync cutoff --reset` "
    r"clears it\."
)


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    """A company whose PaySync has never run for real: no cutoff yet."""
    built = new_bridge(servers, tmp_path, client_options={"timeout": 2.0})
    Setting.delete().where(Setting.key == "schedule_cutoff").execute()
    settings = built.settings
    for key in [k for k in os.environ if k.startswith(("PAYSYNC_", "PROCORE_", "QBWC_"))]:
        if key not in ("PAYSYNC_KEY_FILE", "PAYSYNC_TEST_POSTGRES_URL", "PAYSYNC_REQUIRE_SHARED"):
            monkeypatch.delenv(key)
    for key, value in {
        "PAYSYNC_DATABASE_URL": str(settings.database_url),
        "PROCORE_API_BASE": built.world.url,
        "PROCORE_LOGIN_BASE": built.world.url,
        "PROCORE_CLIENT_ID": str(settings.procore_client_id),
        "PROCORE_CLIENT_SECRET": str(settings.procore_client_secret),
        "PROCORE_COMPANY_ID": str(built.state.company_id),
        "PROCORE_PROJECT_IDS": str(built.world.project_id),
    }.items():
        monkeypatch.setenv(key, value)
    built.vendor("acme", "Acme Concrete")
    built.world.add_commitment("SC-1", "acme")
    yield built
    built.state.release_delayed_responses.set()
    close_database()


def three_payments(bridge: Bridge) -> None:
    """Three checks entered in QuickBooks on 2 Nov 2026 (the sandbox's clock), each paying one bill."""
    for n in range(3):
        bill = bridge.invoice_and_bill(
            f"A-{n}", "SC-1", "Acme Concrete", f"AC-{n}", "1000.00", by_origin=True, draw=n + 1
        )
        bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("900.00"))], check_number=f"50{n}")


def paysync(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["--env-file", os.devnull, *args])
    close_database()
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def stored(url: str) -> dict[str, Any]:
    """What the database holds about the cutoff and the runs."""
    open_database(url)
    try:
        cutoff = Setting.get_or_none(Setting.key == "schedule_cutoff")
        return {
            "cutoff": cutoff.value if cutoff else None,
            "runs": [
                (r.trigger, r.actor, r.status, r.message) for r in SyncRun.select().order_by(SyncRun.id)
            ],
            "errors": [(e.where, e.message) for e in ErrorEvent.select().order_by(ErrorEvent.id)],
            "audit": [
                (a.actor, a.action, json.loads(a.detail or "{}"))
                for a in AuditLog.select().where(AuditLog.target == "cutoff").order_by(AuditLog.id)
            ],
            "pre_existing": sorted(bool(p.pre_existing) for p in BillPayment.select()),
        }
    finally:
        close_database()


def test_a_trial_run_that_fails_records_no_cutoff_and_the_first_real_run_says_it_recorded_one(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(bridge.settings.database_url)
    close_database()

    # Days before go-live: a sync that fails on its configuration ...
    monkeypatch.delenv("PROCORE_COMPANY_ID")
    status, out, err = paysync(capsys, "sync")
    reason = (
        "PROCORE_COMPANY_ID is not set: add it to .env (see .env.example) with the values of your Procore "
        "app (Developer Portal → your app → OAuth credentials) and company id."
    )
    assert (status, out, err) == (2, "", f"paysync: {reason}\n")
    # ... and one refused by Procore (no permission to sync on demand).
    monkeypatch.setenv("PROCORE_COMPANY_ID", str(bridge.state.company_id))
    bridge.state.service_account_permissions = {
        bridge.world.project_id: {"commitments": "admin", "erp_integrations": "read_only"}
    }
    status, out, err = paysync(capsys, "sync")
    assert status == 2 and "may not sync on demand" in err

    facts = stored(url)
    assert facts["cutoff"] is None and facts["audit"] == []  # no cutoff: neither run was real
    refused = err.removeprefix("paysync: ").rstrip("\n")
    assert facts["runs"] == [("cli", ME, "failed", reason), ("cli", ME, "failed", refused)]
    assert facts["errors"] == [
        ("config", f"`paysync sync` could not run: {reason}"),
        ("procore", f"`paysync sync` could not run: {refused}"),
    ]
    status, out, _ = paysync(capsys, "cutoff")
    assert status == 0
    assert out == (
        "No cutoff yet. PaySync records it when it first runs for real: the first `paysync sync`, the "
        "console's first sync, the first Procore refresh of `paysync serve`, or the Web Connector's first "
        "session. Payments created in QuickBooks before it are never synced.\n"
        "To choose it yourself (your go-live date, say), run `paysync cutoff --set 2026-12-01` (a date means "
        "its start, 00:00 UTC; a date and time without an offset is read as UTC).\n"
    )

    # Go-live: the first sync that reaches Procore records the cutoff, and says so first.
    bridge.state.service_account_permissions = {
        bridge.world.project_id: {"commitments": "admin", "erp_integrations": "admin"}
    }
    before = datetime.now(UTC).replace(microsecond=0)
    status, out, err = paysync(capsys, "sync")
    assert status == 0, out + err
    said = RECORDED.search(out.splitlines()[1])
    assert said, out
    facts = stored(url)
    cutoff = datetime.fromisoformat(facts["cutoff"])
    assert before <= cutoff <= datetime.now(UTC)
    assert facts["runs"][-1][:3] == ("cli", ME, "ok")
    ((actor, action, detail),) = facts["audit"]
    assert (actor, action, detail["trigger"]) == (ME, "cutoff.recorded", "cli")
    assert detail["message"] == said.group(0)

    # Only once: the next sync keeps it and says nothing about it.
    status, out, _ = paysync(capsys, "sync")
    assert status == 0 and "recorded the cutoff" not in out
    assert stored(url)["cutoff"] == facts["cutoff"]


def test_status_keeps_the_failed_run_with_its_reason(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    close_database()
    bridge.state.service_account_permissions = {
        bridge.world.project_id: {"commitments": "admin", "erp_integrations": "read_only"}
    }
    status, _, err = paysync(capsys, "sync")
    assert status == 2
    refused = err.removeprefix("paysync: ").rstrip("\n")

    status, out, _ = paysync(capsys, "status", "--json")
    facts = json.loads(out)
    assert status == 0  # PaySync can sync (configured, valid schedule); the failed run is on record
    assert facts["last_sync"]["status"] == "failed" and facts["last_sync"]["message"] == refused
    assert facts["last_sync"]["trigger"] == "cli" and facts["last_sync"]["actor"] == ME
    assert facts["last_failure"] == facts["last_sync"]
    assert facts["errors"][0]["message"] == f"`paysync sync` could not run: {refused}"

    status, out, _ = paysync(capsys, "status")
    assert status == 0
    started = facts["last_sync"]["started_at"]
    assert f"Last sync      {started}: FAILED (`paysync sync` by {ME})\n  reason: {refused}\n" in out


def test_the_first_web_connector_session_records_it_and_a_cutoff_set_before_go_live_recomputes(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(bridge.settings.database_url)
    three_payments(bridge)  # entered on 2 Nov, long before PaySync first runs
    bridge.session()  # the Web Connector's first session: a real run

    facts = stored(url)
    recorded = datetime.fromisoformat(facts["cutoff"])
    ((actor, action, _),) = facts["audit"]
    assert (actor, action) == ("QuickBooks Web Connector (paysync)", "cutoff.recorded")
    assert facts["pre_existing"] == []  # QuickBooks is read only from a day before the cutoff

    status, out, _ = paysync(capsys, "cutoff")
    shown = recorded.strftime("%Y-%m-%d %H:%M:%S UTC" if recorded.second else "%Y-%m-%d %H:%M UTC")
    assert status == 0
    assert out == (
        f"Cutoff: {shown} (recorded at the first real run, by QuickBooks Web Connector (paysync)). Payments "
        "created in QuickBooks before it are never synced: PaySync has stored no QuickBooks payment yet.\n"
        "It can still change, because no payment has been pushed to Procore yet: `paysync cutoff --set DATE` "
        "moves it (a date means its start, 00:00 UTC; a date and time without an offset is read as UTC); "
        "`paysync cutoff --reset` clears it, so the next real run records it.\n"
    )

    # A trial: a cutoff just after those payments, so they are read but stay pre-existing.
    status, out, err = paysync(capsys, "cutoff", "--set", "2026-11-03")
    assert status == 0, err
    assert out == (
        f"The cutoff is now 2026-11-03 00:00 UTC (it was {shown}; a date means its start, 00:00 UTC; a date "
        "and time without an offset is read as UTC). Payments created in QuickBooks before it are never "
        "synced: PaySync has stored no QuickBooks payment yet.\n"
        "The Web Connector's next session reads QuickBooks from 2026-11-02 00:00 UTC on, so payments "
        "created since the new cutoff are fetched.\n"
    )
    bridge.session()
    assert stored(url)["pre_existing"] == [True] * 3

    # The controller sets the go-live date on purpose: the stored payments are decided again.
    status, out, err = paysync(capsys, "cutoff", "--set", "2026-11-01")
    assert status == 0, err
    assert out.startswith(
        "The cutoff is now 2026-11-01 00:00 UTC (it was 2026-11-03 00:00 UTC; a date means its start, 00:00 "
        "UTC; a date and time without an offset is read as UTC). Payments created in QuickBooks before it "
        "are never synced: of the payments PaySync has stored, 0 are pre-existing and 3 were created after "
        "it.\n"
    )
    facts = stored(url)
    assert facts["cutoff"] == "2026-11-01T00:00:00+00:00" and facts["pre_existing"] == [False] * 3
    assert facts["audit"][-1][:2] == (ME, "cutoff.set")
    assert facts["audit"][-1][2]["old"] == "2026-11-03T00:00:00+00:00"
    status, out, _ = paysync(capsys, "status", "--json")
    assert json.loads(out)["payments"]["waiting"] == 3

    status, out, err = paysync(capsys, "sync")
    assert status == 0, out + err
    assert "Procore payments: 3 created" in out and len(bridge.state.payments()) == 3

    # Once a payment is in Procore the cutoff is fixed, and PaySync says why.
    for change in (["--set", "2026-11-03"], ["--reset"]):
        status, out, err = paysync(capsys, "cutoff", *change)
        assert (status, out) == (2, "")
        assert err == (
            "paysync: Nothing changed: the cutoff stays 2026-11-01 00:00 UTC. 3 payments are already in "
            "Procore, so the cutoff can no longer change: moving it would turn synced payments into "
            "pre-existing ones, or push payments that are already in Procore a second time.\n"
        )
    assert stored(url)["cutoff"] == "2026-11-01T00:00:00+00:00"
    status, out, _ = paysync(capsys, "cutoff")
    assert status == 0 and out.endswith(
        "It can no longer change: 3 payments are already in Procore, so the cutoff can no longer change: "
        "moving it would turn synced payments into pre-existing ones, or push payments that are already in "
        "Procore a second time.\n"
    )


def test_a_reset_before_go_live_lets_the_next_real_run_record_it(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(bridge.settings.database_url)
    status, out, err = paysync(capsys, "cutoff", "--set", "2026-10-01T08:30-04:00")
    assert status == 0, err
    assert out.startswith("The cutoff is now 2026-10-01 12:30 UTC (there was none; ")
    three_payments(bridge)
    bridge.session()
    assert stored(url)["pre_existing"] == [False] * 3  # after the cutoff set on purpose
    assert len(stored(url)["audit"]) == 1  # the session recorded nothing: there was a cutoff

    status, out, err = paysync(capsys, "cutoff", "--reset")
    assert (status, err) == (0, "")
    assert out == (
        "The cutoff is cleared (it was 2026-10-01 12:30 UTC). PaySync records a new one when it next runs "
        "for real; until then every payment it stores counts as pre-existing.\n"
    )
    facts = stored(url)
    assert facts["cutoff"] is None and facts["pre_existing"] == [True] * 3
    assert facts["audit"][-1][:2] == (ME, "cutoff.reset")

    status, out, err = paysync(capsys, "sync")
    assert status == 0, out + err
    assert RECORDED.search(out) and "Procore payments: 0 created" in out
    assert bridge.state.payments() == []  # entered before the new cutoff: pre-existing


@pytest.mark.parametrize("given", ["tomorrow", "2026-13-01", "01/12/2026"])
def test_a_date_paysync_cannot_read_changes_nothing(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    status, out, err = paysync(capsys, "cutoff", "--set", given)
    assert (status, out) == (2, "")
    assert err == (
        f"paysync: {given!r} is not a date PaySync reads: write an ISO date such as 2026-12-01 (meaning its "
        "start, 00:00 UTC) or a date and time such as 2026-12-01T08:00 (UTC) or 2026-12-01T08:00-05:00.\n"
    )
    assert stored(str(bridge.settings.database_url))["cutoff"] is None
