"""`paysync doctor`: on the demo's sandbox every check reports; a broken thing turns its check ✖ (or
⚠) with the fix; exit codes 0 / 1 / 2; the --json shape; the probe's confirmation."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from console.cli import main
from storage.fields import utc_now
from storage.leases import ScheduleLease
from storage.models import CompanyFile
from storage.secrets import KeySource, load_key
from storage.settings_store import LAST_BACKUP_AT, set_setting
from sync.doctor.check import Check
from sync.doctor.local import backup_check, tls_check
from sync.doctor.run import exit_code, run_checks
from sync.engine.probe_findings import ProbeFindings, store_findings
from sync.procore.auth import MemoryTokenStore
from tests.support.procore_world import PAYMENTS, ProcoreWorld
from tests.support.quickbooks_world import FILE_KEY

AREAS = ["Configuration", "Database", "Procore", "Procore behaviour", "Web Connector", "Schedule"]


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_on_the_demo_sandbox_every_check_reports(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env()

    code = main(["doctor", "--demo", "--json", "--env-file", str(env_file)])

    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"checks", "summary", "notes", "exit"}
    assert code == report["exit"] == 1  # a new installation: no backup, no `paysync serve`, never probed
    checks = report["checks"]
    assert [c["area"] for c in checks] == sorted((c["area"] for c in checks), key=AREAS.index)
    assert {c["area"] for c in checks} == set(AREAS)
    for check in checks:
        assert set(check) == {"area", "name", "verdict", "why", "fix"}
        assert check["verdict"] in ("ok", "warn", "fail")
        assert "could not be checked" not in check["why"]
        assert check["why"] and (check["verdict"] == "ok" or check["fix"])
    names = {c["name"]: c for c in checks}
    for name in (
        "Settings",
        "Secret key",
        "File modes",
        "Reachable",
        "Schema version",
        "Writable",
        "Backup",
        "Sign-in",
        "Company",
        "Payments Issued enabled",
        "Invoice origin ids",
        "Probes",
        "Contact (main)",
        "Company file (main)",
        "TLS certificate",
        "Public URL",
        "Schedule",
        "Runs in",
        "Cutoff",
    ):
        assert name in names, name
    assert report["summary"]["fail"] == 0
    assert names["Backup"]["why"] == "no backup on record"
    assert "U.S. edition" in names["Company file (main)"]["why"]
    assert "Sync Payments for Synced Invoices" in report["notes"][0]


def _healthy(world: ProcoreWorld, db_url: str, **changes: Any) -> Any:
    """Everything a go-live needs, in place: the Web Connector has polled a U.S. file, a backup, the
    cutoff, a process holding the schedule, the probes run, invoices exported with their origin id."""
    load_key(KeySource.from_environment())  # the secret key file exists (PAYSYNC_KEY_FILE)
    for key in ("INV-101", "BOLT-7"):
        world.state.update_requisition(world.invoices[key], origin_id=f"B-{key}")
    CompanyFile.create(
        file_key=FILE_KEY,
        company_name="Engine Test Builders",
        country="US",
        product_name="QuickBooks Enterprise Solutions 24.0",
        supported_qbxml_versions="1.0,13.0,16.0",
        last_contact_at=utc_now(),
    )
    set_setting(LAST_BACKUP_AT, (utc_now() - timedelta(hours=3)).isoformat())
    set_setting("schedule_cutoff", datetime(2026, 11, 1, tzinfo=UTC).isoformat())
    assert ScheduleLease("paysync serve").try_acquire()
    store_findings(
        ProbeFindings(
            probed_at="2026-11-30T10:00:00Z",
            project_id=world.project_id,
            commitment_id=world.commitments["SC-1"],
            unlock="works",
            duplicate_origin="refused",
            link="full_query",
        )
    )
    return world.settings(
        db_url, qbwc_password="a-long-password", qbwc_public_url=f"{world.url}/qbwc", **changes
    )


def test_a_healthy_installation_is_all_checks_and_exit_0(world: ProcoreWorld, db: Any, db_url: str) -> None:
    settings = _healthy(world, db_url)

    checks = run_checks(settings, token_store=MemoryTokenStore())

    assert [c for c in checks if c.verdict != "ok"] == []
    assert exit_code(checks) == 0
    assert by_name(checks)["Runs in"].why.startswith("paysync serve (process")


def test_the_command_exits_0_when_every_check_passes(
    world: ProcoreWorld,
    db: Any,
    db_url: str,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _healthy(world, db_url)
    env_file = clean_env(
        PAYSYNC_DATABASE_URL=db_url,
        PROCORE_API_BASE=world.url,
        PROCORE_LOGIN_BASE=world.url,
        PROCORE_CLIENT_ID="engine-client",
        PROCORE_CLIENT_SECRET="engine-secret",
        PROCORE_COMPANY_ID=str(world.state.company_id),
        PROCORE_PROJECT_IDS=str(world.project_id),
        QBWC_FILE_KEY=FILE_KEY,
        QBWC_PASSWORD="a-long-password",
        QBWC_PUBLIC_URL=f"{world.url}/qbwc",
    )

    code = main(["doctor", "--env-file", str(env_file)])

    out = capsys.readouterr().out
    assert code == 0, out
    check_lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert check_lines and all(line.startswith("  ✔ ") for line in check_lines)
    assert " 0 ⚠  0 ✖" in out
    assert "✔ Permissions (project" in out


def test_a_wrong_procore_secret_fails_sign_in_with_the_fix(world: ProcoreWorld, db: Any, db_url: str) -> None:
    settings = _healthy(world, db_url, procore_client_secret="not-the-secret")

    checks = by_name(run_checks(settings, token_store=MemoryTokenStore()))

    sign_in = checks["Sign-in"]
    assert sign_in.verdict == "fail"
    assert "PROCORE_CLIENT_SECRET" in sign_in.fix
    assert checks["Company"].verdict == "fail" and checks["Company"].why.startswith("not checked")
    assert checks["Public URL"].verdict == "ok"  # one failing check never stops the others


def test_a_company_file_reporting_canada_fails_with_the_refusal(
    world: ProcoreWorld, db: Any, db_url: str
) -> None:
    settings = _healthy(world, db_url)
    CompanyFile.update(country="CA").where(CompanyFile.file_key == FILE_KEY).execute()
    CompanyFile.create(
        file_key="second", country="US", supported_qbxml_versions="13.0", last_contact_at=utc_now()
    )

    checks = by_name(run_checks(settings, token_store=MemoryTokenStore()))

    canada = checks[f"Company file ({FILE_KEY})"]
    assert canada.verdict == "fail" and "country CA" in canada.why
    assert "only the U.S. edition" in canada.fix
    assert checks["Company file (second)"].verdict == "ok"  # each company file on its own


def test_an_old_quickbooks_fails_with_the_version_needed(world: ProcoreWorld, db: Any, db_url: str) -> None:
    settings = _healthy(world, db_url)
    CompanyFile.update(supported_qbxml_versions="1.0,11.0", product_name="QuickBooks Pro 2012").execute()

    check = by_name(run_checks(settings, token_store=MemoryTokenStore()))[f"Company file ({FILE_KEY})"]

    assert check.verdict == "fail" and "QuickBooks Pro 2012" in check.why
    assert "Update QuickBooks Desktop to 2014" in check.fix


def test_payments_issued_disabled_and_missing_permission_fail(
    world: ProcoreWorld, db: Any, db_url: str
) -> None:
    settings = _healthy(world, db_url)
    world.state.update_commitment(world.commitments["PO-1"], allow_payments=False)
    world.state.service_account_permissions = {world.project_id: {"commitments": "read_only"}}

    checks = by_name(run_checks(settings, token_store=MemoryTokenStore()))

    enabled = checks["Payments Issued enabled"]
    assert enabled.verdict == "fail" and "PO-1" in enabled.why and "Enable Payments" in enabled.fix
    permissions = checks[f"Permissions (project {world.project_id})"]
    assert permissions.verdict == "fail" and "Admin" in permissions.fix


def _certificate(path: Path, not_before: datetime, not_after: datetime) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paysync.example.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    return path


def test_an_expired_tls_certificate_fails_and_one_about_to_expire_warns(
    world: ProcoreWorld, tmp_path: Path
) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    expired = _certificate(tmp_path / "old.pem", now - timedelta(days=400), now - timedelta(days=1))
    settings = world.settings(
        "sqlite://", qbwc_tls_cert=str(expired), qbwc_public_url="https://paysync.example.com/qbwc"
    )

    check = tls_check(settings, now=now)

    assert check.verdict == "fail" and "expired on 2026-12-01" in check.why
    assert "QBWC_TLS_CERT" in check.fix
    soon = _certificate(tmp_path / "soon.pem", now - timedelta(days=300), now + timedelta(days=10))
    assert tls_check(settings.with_overrides(qbwc_tls_cert=str(soon)), now=now).verdict == "warn"
    good = _certificate(tmp_path / "good.pem", now - timedelta(days=1), now + timedelta(days=200))
    assert tls_check(settings.with_overrides(qbwc_tls_cert=str(good)), now=now).verdict == "ok"
    plain = tls_check(world.settings("sqlite://", qbwc_public_url="http://paysync.example.com/qbwc"), now=now)
    assert plain.verdict == "fail" and "QBWC_TLS_CERT" in plain.fix


def test_backup_age(db: Any) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert backup_check(now=now).why == "no backup on record"
    assert "paysync backup" in backup_check(now=now).fix
    set_setting(LAST_BACKUP_AT, "2026-11-20T12:00:00Z")
    old = backup_check(now=now)
    assert old.verdict == "warn" and "older than 7 days" in old.why
    assert backup_check(now=now, max_age=timedelta(days=30)).verdict == "ok"


def test_exit_2_when_it_cannot_run(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env(PAYSYNC_DATABASE_URL="mysql://nowhere/db")

    assert main(["doctor", "--env-file", str(env_file)]) == 2
    assert capsys.readouterr().err.startswith("paysync: ")
    assert main(["doctor", "--json", "--env-file", str(env_file)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["exit"] == 2 and report["error"]
    assert [c for c in report["checks"] if c["name"] == "Reachable"][0]["verdict"] == "fail"
    assert main(["doctor", "--probe", "--env-file", str(env_file)]) == 2
    assert "--probe-commitment" in capsys.readouterr().err


def _probe_env(world: ProcoreWorld, db_url: str, clean_env: Callable[..., Path]) -> Path:
    return clean_env(
        PAYSYNC_DATABASE_URL=db_url,
        PROCORE_API_BASE=world.url,
        PROCORE_LOGIN_BASE=world.url,
        PROCORE_CLIENT_ID="engine-client",
        PROCORE_CLIENT_SECRET="engine-secret",
        PROCORE_COMPANY_ID=str(world.state.company_id),
        PROCORE_PROJECT_IDS=str(world.project_id),
        QBWC_PASSWORD="a-long-password",
    )


def test_the_probe_says_what_it_will_write_and_writes_nothing_without_yes(
    world: ProcoreWorld,
    db: Any,
    db_url: str,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_file = _probe_env(world, db_url, clean_env)
    contract = world.commitments["SC-1"]
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))

    code = main(["doctor", "--probe", "--probe-commitment", str(contract), "--env-file", str(env_file)])

    out = capsys.readouterr().out
    assert code == 1
    assert (
        f"This will write to commitment SC-1 SC-1 work (id {contract}) in Procore: create 2 payments of 0.01 USD"
        in out
    )
    assert "Type yes to go on" in out and "Nothing was written to Procore." in out
    assert [e for e in world.state.request_log if e.method != "GET" and PAYMENTS in e.path] == []

    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    code = main(
        ["doctor", "--probe", "--probe-commitment", str(contract), "--json", "--env-file", str(env_file)]
    )

    report = json.loads(capsys.readouterr().out)
    assert report["probe"]["unlock"] == "works" and report["probe"]["left_behind"] == []
    assert {c["name"]: c["verdict"] for c in report["checks"]}["Unlock a synced payment"] == "ok"
    assert world.state.payments(contract) == []
    assert code == 1  # other checks still warn (no backup, no Web Connector yet)


async def test_the_health_screen_runs_the_checks_in_a_worker_and_never_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.screens.health import HealthScreen, HealthTable
    from console.screens.main import MainScreen
    from tests.support.console import make_fixed_app, settle

    release = threading.Event()
    runs: list[int] = []

    def slow_checks() -> list[Check]:
        runs.append(1)
        release.wait(10)
        return [Check("Database", "Backup", "warn", "no backup on record", "Run `paysync backup PATH`.")]

    app = make_fixed_app(tmp_path)
    monkeypatch.setattr(app, "health_checks", slow_checks)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("H")
        for _ in range(5):
            await pilot.pause(0.05)  # not settle(): that waits for the worker, which is held
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        assert str(screen.query_one("#health-summary").render()) == "Checking…"
        await pilot.press("down")  # the UI answers while the checks run
        await pilot.pause(0.05)
        release.set()
        for _ in range(50):
            await pilot.pause(0.05)
            if screen.checks:
                break
        table = screen.query_one(HealthTable)
        assert table.row_count == 1
        assert "0 ✔  1 ⚠  0 ✖" in str(screen.query_one("#health-summary").render())
        await pilot.press("r")
        await settle(pilot)
        assert len(runs) == 2
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
