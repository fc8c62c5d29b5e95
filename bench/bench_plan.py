"""How fast the sync engine plans (and settles a push that has nothing to send) with 100,000
payments, and how much memory each takes.

    python bench/bench_plan.py [--payments 100000] [--commitments 2000] [--tracemalloc]

Builds a SQLite file in a temporary folder with bulk inserts: vendors, commitments and invoices
on the Procore side; one bill payment application per invoice slot on the QuickBooks side (half
matched by the invoice's origin id, half by invoice number, a few unmatched or pre-existing).
Then measures, each phase in a fresh Python process:
  0. the baseline: the interpreter with the engine's modules imported and the database open;
  1. a first sync (everything to create): the plan over one whole snapshot (load_snapshot() +
     compute_plan(snapshot)), and the streamed plan the preview and the push use (compute_plan());
  2. the preview once every payment is in Procore (everything unchanged: all skips);
  3. a full SyncService.push() in that steady state (a Procore client that must never be called:
     a push with nothing to send makes no Procore request and no database write).
Each phase prints its time and its peak RSS: the process's high-water mark (VmHWM where Linux has
it, else ru_maxrss), so nothing done earlier in the bench counts, and the part of it above the
baseline. The bench's own process only starts the phases (building the data is a phase too), so
its size never reaches a phase's figure. With --tracemalloc each phase also prints the peak of
Python allocations and the lines that hold the most at its end (tracing makes it several times
slower). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 1000


def chunks(rows: list[dict[str, Any]]) -> Any:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def build(url: str, payments: int, commitments: int) -> None:
    from storage.db import open_database
    from storage.models import (
        BillPayment,
        BillPaymentApplication,
        Commitment,
        CompanyFile,
        Invoice,
        ProcoreProject,
        ProcoreVendor,
        Setting,
        database_proxy,
    )

    open_database(url)
    Setting.create(key="schedule_cutoff", value="2026-11-01T00:00:00+00:00")
    cf = CompanyFile.create(file_key="main", company_name="Bench Co", country="US")
    ProcoreProject.create(id=1, name="Bench project")
    vendors = max(1, commitments // 4)
    with database_proxy.atomic():
        for part in chunks(
            [{"id": 10 + v, "name": f"Vendor {v}", "origin_id": f"V-{v}"} for v in range(vendors)]
        ):
            ProcoreVendor.insert_many(part).execute()
        for part in chunks(
            [
                {
                    "id": 100_000 + c,
                    "project": 1,
                    "kind": "subcontract",
                    "number": f"SC-{c}",
                    "vendor_id": 10 + c % vendors,
                    "vendor_name": f"Vendor {c % vendors}",
                }
                for c in range(commitments)
            ]
        ):
            Commitment.insert_many(part).execute()
        invoices = []
        for n in range(payments):
            c = n % commitments
            invoices.append(
                {
                    "id": 1_000_000 + n,
                    "project": 1,
                    "commitment": 100_000 + c,
                    "number": n // commitments + 1,
                    "invoice_number": f"INV-{n}",
                    "vendor_id": 10 + c % vendors,
                    "origin_id": f"B-{n}" if n % 2 == 0 else None,
                }
            )
        for part in chunks(invoices):
            Invoice.insert_many(part).execute()
        rows = []
        for n in range(payments):
            rows.append(
                {
                    "company_file": cf.id,
                    "txn_id": f"P-{n}",
                    "kind": "check" if n % 5 else "credit_card",
                    "edit_sequence": "1",
                    "time_created": "2026-11-20T09:00:00-05:00",
                    "time_modified": "2026-11-20T09:00:00-05:00",
                    "vendor_list_id": f"V-{(n % commitments) % vendors}",
                    "vendor_name": f"Vendor {(n % commitments) % vendors}",
                    "txn_date": date(2026, 11, 20),
                    "amount": Decimal(n % 9000 + 1) + Decimal("0.25"),
                    "ref_number": str(10_000 + n),
                    "pre_existing": n % 1000 == 7,
                }
            )
        for part in chunks(rows):
            BillPayment.insert_many(part).execute()
        ids = dict(BillPayment.select(BillPayment.txn_id, BillPayment.id).tuples())
        applications = []
        for n in range(payments):
            unmatched = n % 1000 == 3
            applications.append(
                {
                    "payment": ids[f"P-{n}"],
                    "bill_txn_id": f"B-{n}" if not unmatched else f"X-{n}",
                    "bill_ref_number": f"INV-{n}" if not unmatched else f"NOPE-{n}",
                    "amount": Decimal(n % 9000 + 1) + Decimal("0.25"),
                }
            )
        for part in chunks(applications):
            BillPaymentApplication.insert_many(part).execute()


def mark_all_pushed(actions: list[Any]) -> None:
    """Write the links a successful first push would have left (without any HTTP)."""
    from storage.models import PaymentLink, database_proxy
    from sync.engine.desired import canonical_json

    rows = []
    for number, action in enumerate(actions):
        synced = action.action == "create"
        rows.append(
            {
                "application": action.application_id,
                "origin_id": action.origin_id,
                "invoice": action.invoice_id,
                "commitment": action.commitment_id,
                "match_reason": action.match_reason,
                "erp_status": "synced" if synced else action.erp_status,
                "status_reason": None if synced else action.reason,
                "procore_payment_id": 5_000_000_000 + number if synced else None,
                "pushed_fingerprint": canonical_json(action.fields) if synced else None,
                "locked": synced,
                "updated_at": datetime.now(UTC),
            }
        )
    with database_proxy.atomic():
        for part in chunks(rows):
            PaymentLink.insert_many(part).execute()


class NoCallsClient:
    def __init__(self) -> None:
        from sync.procore.client import RateLimitState

        # Reading the last rate-limit headers is not a call to Procore.
        self.rate_limit = RateLimitState()

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a push with nothing to send called Procore ({name})")

    def close(self) -> None:
        pass


def _peak_rss_mb() -> tuple[float, str]:
    """This process's RSS high-water mark, in MB. VmHWM belongs to this process's own memory, so a
    large parent never shows in it; ru_maxrss (where there is no /proc) may include the parent's."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024, "VmHWM"
    except OSError:
        pass
    scale = 1024 if sys.platform != "darwin" else 2**20  # KB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, "ru_maxrss"


# -- the phases, each run in a process of its own (main() starts them) ------------------------


def _phase_build(url: str, args: argparse.Namespace) -> tuple[str, Any]:
    build(url, args.payments, args.commitments)
    return f"{args.payments:,} payments, {args.commitments:,} commitments", None


def _phase_baseline(url: str, args: argparse.Namespace) -> tuple[str, Any]:
    return "python + the engine's modules imported + the database open", None


def _phase_snapshot_plan(url: str, args: argparse.Namespace) -> tuple[str, Any]:
    from sync.engine.plan import compute_plan
    from sync.engine.snapshot import load_snapshot

    actions = compute_plan(load_snapshot())
    return _counted(actions), actions


def _phase_plan(url: str, args: argparse.Namespace) -> tuple[str, Any]:
    from sync.engine.plan import compute_plan

    actions = compute_plan()
    return _counted(actions), actions


def _phase_mark_pushed(url: str, args: argparse.Namespace) -> tuple[str, Any]:
    from sync.engine.plan import compute_plan

    mark_all_pushed(compute_plan())
    return "links of a successful first push written", None


def _phase_push(url: str, args: argparse.Namespace) -> tuple[str, Any]:
    from sync.engine.service import SyncService
    from sync.settings import Settings

    service = SyncService(Settings(database_url=url), client_factory=lambda: NoCallsClient())  # type: ignore[arg-type,return-value]
    summary = service.push(trigger="bench")
    said = (
        f"skipped {summary.skipped:,}, needs attention {summary.needs_attention:,}, "
        f"errors {len(summary.errors):,}, created {summary.created:,}, updated {summary.updated:,}"
    )
    return said, None


def _counted(actions: list[Any]) -> str:
    kinds = dict(Counter(a.action for a in actions))
    attention = sum(1 for a in actions if a.erp_status == "needs_attention")
    return f"{kinds}, needs attention {attention:,}"


PHASES: dict[str, tuple[str, Any]] = {
    "build": ("build the database", _phase_build),
    "baseline": ("baseline", _phase_baseline),
    "snapshot-plan": ("first sync: load_snapshot() + compute_plan(snapshot)", _phase_snapshot_plan),
    "first-preview": ("first sync: preview, compute_plan() (streamed)", _phase_plan),
    "mark-pushed": ("bench: write the links of a first push", _phase_mark_pushed),
    "steady-preview": ("all in Procore: preview, compute_plan()", _phase_plan),
    "steady-push": ("all in Procore: SyncService.push(), nothing to send", _phase_push),
}
MEASURED = ("baseline", "snapshot-plan", "first-preview", "steady-preview", "steady-push")


def run_phase(name: str, url: str, args: argparse.Namespace) -> None:
    """In the phase's own process: import what every phase imports, open the database, run it,
    and print one line of JSON."""
    import gc
    import tracemalloc

    if name != "build":
        from storage.db import open_database
        from sync.engine import plan, service, snapshot  # noqa: F401 (what a push imports)
        from sync.settings import Settings  # noqa: F401

        open_database(url)
    gc.collect()
    if args.tracemalloc:
        tracemalloc.start()
    started = time.perf_counter()
    said, kept = PHASES[name][1](url, args)  # kept: what the phase returns (its plan), held until traced
    elapsed = time.perf_counter() - started
    peak, source = _peak_rss_mb()
    result: dict[str, Any] = {"seconds": elapsed, "peak_mb": peak, "source": source, "said": said}
    if args.tracemalloc:
        _, traced_peak = tracemalloc.get_traced_memory()
        result["traced_peak_mb"] = traced_peak / 2**20
        top = tracemalloc.take_snapshot().statistics("lineno")[:8]
        result["held"] = [f"{stat.size / 2**20:6.1f} MB  {stat.traceback[0]}" for stat in top]
    del kept
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--commitments", type=int, default=2_000)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations per phase (slower)"
    )
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args.phase, args.database, args)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        baseline = 0.0
        print(f"{'phase (each in a fresh process)':<56} {'time':>8}  {'peak RSS':>9}  {'above baseline':>14}")
        for name in PHASES:
            command = [sys.executable, __file__, "--phase", name, "--database", url]
            command += ["--payments", str(args.payments), "--commitments", str(args.commitments)]
            command += ["--tracemalloc"] if args.tracemalloc and name in MEASURED else []
            done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
            if done.returncode != 0:
                sys.exit(f"phase {name} failed:\n{done.stderr}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            label = PHASES[name][0]
            if name == "baseline":
                baseline = result["peak_mb"]
            above = f"{result['peak_mb'] - baseline:+10.0f} MB" if name in MEASURED[1:] else ""
            print(f"{label:<56} {result['seconds']:7.2f}s  {result['peak_mb']:6.0f} MB  {above:>14}")
            print(f"  {result['said']}")
            if "traced_peak_mb" in result:
                print(f"  traced peak {result['traced_peak_mb']:.0f} MB; held at the end:")
                for line in result["held"]:
                    print(f"    {line}")
        print(f"(peak RSS: {result['source']} of each phase's own process)")


if __name__ == "__main__":
    main()
