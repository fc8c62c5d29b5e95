"""How many Procore calls a push of new payments costs, tokens and reads included.

    python bench/bench_push_calls.py [--payments 2000] [--commitments 20]

Serves the sandbox Procore on loopback (one project, the commitments, one subcontractor invoice per
payment) and builds a SQLite database in a temporary folder: the QuickBooks payments are inserted
directly (each pays one bill whose TxnID is its invoice's origin id), our copy of Procore is
imported once (that import is counted apart). PaySync talks to the sandbox as in production:
ProcoreClient.from_settings, client credentials, tokens in the database's encrypted token store.
Then counts every request the sandbox receives during:
  1. a push of N new payments to commitments this database never pushed to (each is listed once
     first, to adopt what an earlier database may have posted);
  2. in a second process (a new client reading the same database), a push of N more new payments
     to the same commitments: the stored token is reused and nothing is listed;
  3. the refresh of our copy of Procore the scheduled job runs before its push (nothing changed).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.procore import ProcoreState, RateLimit, create_procore_app  # noqa: E402
from sandbox.servers import run_asgi_in_thread  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.models import BillPayment, BillPaymentApplication, CompanyFile, Setting, database_proxy  # noqa: E402
from sync.engine.service import SyncService  # noqa: E402
from sync.settings import Settings  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"
FILE_KEY = "main"
PAYMENTS = "/rest/v1.0/contract_payments"
CHUNK = 1000


def settings(database_url: str, procore_url: str, company_id: int, project_id: int) -> Settings:
    return Settings(
        database_url=database_url,
        procore_api_base=procore_url,
        procore_login_base=procore_url,
        procore_client_id=CLIENT_ID,
        procore_client_secret=CLIENT_SECRET,
        procore_company_id=company_id,
        procore_project_ids=(project_id,),
        qbwc_file_key=FILE_KEY,
    )


def build_procore(payments: int, commitments: int) -> tuple[ProcoreState, int]:
    """A company whose service account may write payments: one project, `commitments`
    subcontracts (one vendor each), one invoice per payment (origin id B-n: the bill's TxnID)."""
    state = ProcoreState("Bench Builders")
    state.add_client(CLIENT_ID, CLIENT_SECRET)
    state.rate_limit = RateLimit(limit=1_000_000)  # the bench counts calls; it must not be throttled
    project = state.add_project("Bench Tower")
    state.service_account_permissions = {project: {"commitments": "admin", "erp_integrations": "admin"}}
    # Seeded an hour in the past (the clock is put back after), so a later incremental import
    # finds nothing changed since its watermark (beyond its ten-minute overlap).
    state.advance_clock(-3600)
    contracts = []
    for c in range(commitments):
        vendor = state.add_vendor(f"Vendor {c}", f"V-{c}")
        contracts.append(state.add_commitment(project, "subcontract", f"SC-{c}", f"SC-{c} work", vendor))
    for n in range(payments):
        state.add_requisition(
            project, contracts[n % commitments], f"INV-{n}", n // commitments + 1, "100000.00", f"B-{n}"
        )
    state.advance_clock(3600)
    return state, project


def add_quickbooks_payments(first: int, count: int, invoices: int, commitments: int) -> None:
    """`count` check payments P-first.. from QuickBooks, payment k paying bill B-(k mod invoices)."""
    company = CompanyFile.get_or_none(CompanyFile.file_key == FILE_KEY) or CompanyFile.create(
        file_key=FILE_KEY, company_name="Bench Co", country="US"
    )
    numbers = range(first, first + count)
    rows = [
        {
            "company_file": company.id,
            "txn_id": f"P-{n}",
            "kind": "check",
            "edit_sequence": "1",
            "time_created": "2026-11-20T09:00:00-05:00",
            "time_modified": "2026-11-20T09:00:00-05:00",
            "vendor_list_id": f"V-{(n % invoices) % commitments}",
            "vendor_name": f"Vendor {(n % invoices) % commitments}",
            "txn_date": date(2026, 11, 20),
            "amount": Decimal(n % 900 + 1) + Decimal("0.25"),
            "ref_number": str(10_000 + n),
        }
        for n in numbers
    ]
    with database_proxy.atomic():
        for start in range(0, len(rows), CHUNK):
            BillPayment.insert_many(rows[start : start + CHUNK]).execute()
    ids = dict(BillPayment.select(BillPayment.txn_id, BillPayment.id).tuples())
    applications = [
        {
            "payment": ids[f"P-{n}"],
            "bill_txn_id": f"B-{n % invoices}",
            "bill_ref_number": f"INV-{n % invoices}",
            "amount": Decimal(n % 900 + 1) + Decimal("0.25"),
        }
        for n in numbers
    ]
    with database_proxy.atomic():
        for start in range(0, len(applications), CHUNK):
            BillPaymentApplication.insert_many(applications[start : start + CHUNK]).execute()


def counted(state: ProcoreState, since: int) -> Counter[str]:
    """The requests the sandbox received since `since`, by kind."""
    kinds: Counter[str] = Counter()
    for entry in state.request_log[since:]:
        if entry.path == "/oauth/token":
            kinds["token"] += 1
        elif entry.path == PAYMENTS and entry.method == "GET":
            kinds["list payments"] += 1
        elif entry.path == PAYMENTS and entry.method == "POST" and entry.status == 201:
            kinds["create"] += 1
        else:
            kinds[f"{entry.method} {entry.path}"] += 1
    return kinds


def report(label: str, kinds: Counter[str], created: int, seconds: float) -> None:
    calls = sum(kinds.values())
    per = f"{calls / created:.4f}" if created else "-"
    print(f"{label}")
    print(f"  calls {calls:,}  created {created:,}  calls per created payment {per}  ({seconds:.1f} s)")
    print("  by kind: " + ", ".join(f"{kind} {number:,}" for kind, number in sorted(kinds.items())))


def push_once(config: Settings) -> int:
    """One push with a client made as `paysync` makes it (tokens from the database's store)."""
    summary = SyncService(config, actor="bench").push(trigger="bench")
    if summary.failed or summary.errors or summary.needs_attention:
        print(summary.as_text())
    return summary.created


def second_process(args: argparse.Namespace) -> None:
    config = settings(args.database_url, args.procore_url, args.company_id, args.project_id)
    open_database(config.database_url)
    print(f"CREATED {push_once(config)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=2_000)
    parser.add_argument("--commitments", type=int, default=20)
    parser.add_argument("--second-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--procore-url", help=argparse.SUPPRESS)
    parser.add_argument("--company-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--project-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.second_process:
        second_process(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PAYSYNC_KEY_FILE"] = str(Path(folder) / "secret.key")  # tokens are stored encrypted
        state, project = build_procore(args.payments, args.commitments)
        server = run_asgi_in_thread(create_procore_app(state))
        try:
            database_url = f"sqlite:///{Path(folder) / 'bench.db'}"
            open_database(database_url)
            Setting.create(key="schedule_cutoff", value="2026-11-01T00:00:00+00:00")
            config = settings(database_url, server.url, state.company_id, project)
            print(
                f"{args.payments:,} new payments over {args.commitments} commitments, sandbox Procore on loopback"
            )

            mark, started = len(state.request_log), time.perf_counter()
            SyncService(config, actor="bench").refresh_from_procore()
            report(
                "setup: first import of our copy of Procore",
                counted(state, mark),
                0,
                time.perf_counter() - started,
            )

            add_quickbooks_payments(0, args.payments, args.payments, args.commitments)
            mark, started = len(state.request_log), time.perf_counter()
            created = push_once(config)
            report(
                "1. push, commitments never listed by this database (token from the import's process)",
                counted(state, mark),
                created,
                time.perf_counter() - started,
            )

            add_quickbooks_payments(args.payments, args.payments, args.payments, args.commitments)
            mark, started = len(state.request_log), time.perf_counter()
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--second-process",
                    f"--database-url={database_url}",
                    f"--procore-url={server.url}",
                    f"--company-id={state.company_id}",
                    f"--project-id={project}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            said = [line for line in child.stdout.splitlines() if line.startswith("CREATED ")]
            if child.returncode or not said:
                print(child.stdout, child.stderr)
                raise SystemExit("the second process failed")
            report(
                "2. push in a second process, commitments listed before (stored token reused)",
                counted(state, mark),
                int(said[-1].split()[1]),
                time.perf_counter() - started,
            )

            mark, started = len(state.request_log), time.perf_counter()
            SyncService(config, actor="bench").refresh_from_procore()
            report(
                "3. refresh of our copy of Procore before a scheduled push (nothing changed)",
                counted(state, mark),
                0,
                time.perf_counter() - started,
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
