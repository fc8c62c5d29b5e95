"""`paysync doctor [--json] [--probe --probe-commitment ID [--yes]] [--demo]`: whether this
installation will work, check by check (sync/doctor; docs/operations.md, "Go-live step").

Exit status: 0 every check ✔; 1 any ⚠ or ✖ (or a probe declined); 2 it could not run (the
configuration or the database; a probe that could not start)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import timedelta
from typing import Any, TextIO

from console.commands.common import COULD_NOT_RUN, EXIT_CONFIG, EXIT_FAILED, CouldNotRun, open_database_for
from sync.doctor.check import Check
from sync.doctor.local import DATABASE, configuration_checks
from sync.doctor.probes import ProbeCouldNotRun, find_probe_target, probe_plan, run_probes
from sync.doctor.run import as_json, as_text, exit_code, run_checks
from sync.engine.probe_findings import ProbeFindings
from sync.procore.client import ProcoreClient
from sync.procore.companies import company_of_commitment
from sync.procore.errors import ProcoreError
from sync.settings import Settings


def add_doctor_parser(commands: Any, env_file: argparse.ArgumentParser) -> None:
    doctor = commands.add_parser(
        "doctor",
        parents=[env_file],
        help="go-live and health check: configuration, database, Procore, Web Connector, schedule, each "
        "with ✔/⚠/✖, why, and the fix",
    )
    doctor.add_argument(
        "--json", action="store_true", help="print one JSON object (for scripts and monitoring)"
    )
    doctor.add_argument(
        "--probe",
        action="store_true",
        help="also try Procore's undocumented behaviours (unlock, Link URLs, duplicate origin_id) by writing "
        "two 0.01 test payments to --probe-commitment and deleting them; asks first",
    )
    doctor.add_argument("--probe-commitment", type=int, metavar="ID", help="the commitment --probe writes to")
    doctor.add_argument("--yes", action="store_true", help="with --probe: do not ask (for scripts)")
    doctor.add_argument(
        "--backup-max-age",
        type=int,
        default=7,
        metavar="DAYS",
        help="a backup older than this is a warning (default 7)",
    )
    doctor.add_argument(
        "--demo",
        action="store_true",
        help="check the demo's sandbox (simulated Procore, QuickBooks, Web Connector)",
    )


def command_doctor(args: argparse.Namespace, settings: Settings) -> int:
    if args.probe_commitment is not None and not args.probe:
        raise CouldNotRun("--probe-commitment goes with --probe: add --probe to write the test payments.")
    if args.probe and args.probe_commitment is None:
        raise CouldNotRun(
            "--probe needs --probe-commitment ID: the id of a commitment the probes may write two 0.01 test "
            "payments to (and delete them)."
        )
    if args.demo:
        return _on_demo(args)
    try:
        open_database_for(args, settings)
    except COULD_NOT_RUN as exc:
        if not args.json:
            raise
        checks = [*configuration_checks(settings), Check(DATABASE, "Reachable", "fail", str(exc), _DB_FIX)]
        print(json.dumps({**as_json(checks), "error": str(exc), "exit": EXIT_CONFIG}, indent=2))
        return EXIT_CONFIG
    return _doctor(args, settings)


_DB_FIX = "Check PAYSYNC_DATABASE_URL (docs/operations.md) and run `paysync doctor` again."


def _on_demo(args: argparse.Namespace) -> int:
    from console.demo import start_demo

    print("Starting the demo sandbox to check it…", file=sys.stderr, flush=True)
    env = start_demo()
    try:
        # The demo's Web Connector endpoint listens on a port of its own.
        return _doctor(args, env.settings.with_overrides(qbwc_public_url=env.qbwc_url))
    finally:
        env.stop()


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    findings: ProbeFindings | None = None
    if args.probe:
        findings = _probe(args, settings)
        if findings is None:
            return EXIT_FAILED
    checks = run_checks(settings, backup_max_age=timedelta(days=args.backup_max_age))
    if args.json:
        result = as_json(checks)
        if findings is not None:
            result["probe"] = asdict(findings)
        print(json.dumps(result, indent=2))
    else:
        if findings is not None:
            sys.stdout.write(_probe_text(findings))
        sys.stdout.write(as_text(checks))
    return exit_code(checks)


def _probe(args: argparse.Namespace, settings: Settings) -> ProbeFindings | None:
    """Ask, then run the probes; None when the user declines. The plan and the question go to stderr
    under --json, so stdout stays one JSON object."""
    out: TextIO = sys.stderr if args.json else sys.stdout
    # A commitment of another Procore company (a company file added with --procore-company-id) is
    # probed through that company's client.
    company_id = company_of_commitment(int(args.probe_commitment))
    if company_id is not None:
        settings = settings.with_overrides(procore_company_id=company_id)
    try:
        with ProcoreClient.from_settings(settings) as client:
            target = find_probe_target(client, settings, int(args.probe_commitment))
            print(probe_plan(target), file=out)
            if not args.yes:
                print("Type yes to go on: ", end="", file=out, flush=True)
                answer = sys.stdin.readline()
                if answer.strip().lower() != "yes":
                    print("Nothing was written to Procore.", file=out)
                    return None
            return run_probes(client, target, file_key=settings.qbwc_file_key)
    except ProbeCouldNotRun as exc:
        raise CouldNotRun(str(exc)) from None
    except ProcoreError as exc:
        raise CouldNotRun(f"The probes could not reach Procore: {exc}") from None


def _probe_text(findings: ProbeFindings) -> str:
    lines = [f"Probes on commitment {findings.commitment_id} ({findings.probed_at})"]
    lines += [f"  {step}" for step in findings.steps]
    if findings.left_behind:
        lines.append(
            "  LEFT IN PROCORE (an accounting approver unlinks each in ERP Integrations, then deletes it):"
        )
        lines += [f"    {item}" for item in findings.left_behind]
    else:
        lines.append("  nothing left behind")
    return "\n".join(lines) + "\n\n"
