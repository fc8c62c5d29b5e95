"""How fast the sync engine plans (and settles a push that has nothing to send) with 100,000
payments.

    python bench/bench_plan.py [--payments 100000] [--commitments 2000]

Builds a SQLite file in a temporary folder with bulk inserts: vendors, commitments and invoices
on the Procore side; one bill payment application per invoice slot on the QuickBooks side (half
matched by the invoice's origin id, half by invoice number, a few unmatched or pre-existing).
Then times:
  1. load_snapshot() + compute_plan() for a first sync (everything to create);
  2. the same once every payment is in Procore (everything unchanged: all skips);
  3. a full SyncService.push() in that steady state (a Procore client that must never be called:
     a push with nothing to send makes no Procore request and no database write).
Each phase also prints memory: the process RSS after it, the RSS high-water mark during it (the
kernel's peak is reset before each phase, where Linux allows it) and, with --tracemalloc, the peak
of Python allocations during the phase and what it still holds afterwards (tracing starts after the
build and makes every phase several times slower). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.db import open_database  # noqa: E402
from storage.models import (  # noqa: E402
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    Invoice,
    PaymentLink,
    ProcoreProject,
    ProcoreVendor,
    Setting,
    database_proxy,
)
from sync.engine.desired import canonical_json  # noqa: E402
from sync.engine.plan import compute_plan  # noqa: E402
from sync.engine.service import SyncService  # noqa: E402
from sync.engine.snapshot import load_snapshot  # noqa: E402
from sync.procore.client import RateLimitState  # noqa: E402
from sync.settings import Settings  # noqa: E402

CHUNK = 1000


def chunks(rows: list[dict[str, Any]]) -> Any:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def build(url: str, payments: int, commitments: int) -> None:
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
    # Reading the last rate-limit headers is not a call to Procore.
    rate_limit = RateLimitState()

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a push with nothing to send called Procore ({name})")

    def close(self) -> None:
        pass


def _status_mb(field: str) -> float | None:
    """VmRSS (now) or VmHWM (high-water mark) from /proc, in MB; None where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0), so each phase shows its own peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


PHASE_PEAKS_MB: list[float] = []  # the process peak, since resetting the kernel's mark loses it


def timed(label: str, run: Any) -> Any:
    """Run one phase; print its time, the RSS after it, its RSS peak and (when tracing) the peak and
    the retained size of Python allocations."""
    gc.collect()
    peak_was_reset = _reset_peak_rss()
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    now, high = _status_mb("VmRSS"), _status_mb("VmHWM")
    memory = f"RSS {before:4.0f} -> {now:4.0f} MB" if before is not None and now is not None else ""
    if high is not None:
        PHASE_PEAKS_MB.append(high)
        memory += f", peak {high:5.0f} MB" + ("" if peak_was_reset else " (process)")
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        memory += f"; traced peak +{(peak - traced_before) / 2**20:4.0f} MB, held +{(current - traced_before) / 2**20:4.0f} MB"
    print(f"{label:<58} {elapsed:7.2f} s  {memory}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--commitments", type=int, default=2_000)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations per phase (slower)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        timed(
            f"build: {args.payments:,} payments, {args.commitments:,} commitments",
            lambda: build(url, args.payments, args.commitments),
        )
        if args.tracemalloc:
            tracemalloc.start()  # after the build: tracing it would only slow it down
        snapshot = timed("load_snapshot() (first sync)", load_snapshot)
        actions = timed("compute_plan(snapshot) (match + desired fields)", partial(compute_plan, snapshot))
        print(
            "  actions:",
            dict(Counter(a.action for a in actions)),
            "needs attention:",
            sum(1 for a in actions if a.erp_status == "needs_attention"),
        )
        del snapshot  # what the engine does once planned: only the actions are kept
        timed("preview of the first sync, end to end (load + plan)", lambda: len(compute_plan()))
        timed("bench: write the links of a first push", partial(mark_all_pushed, actions))
        del actions
        steady = timed("preview once everything is in Procore (all unchanged)", compute_plan)
        print("  actions:", dict(Counter(a.action for a in steady)))
        del steady
        service = SyncService(Settings(database_url=url), client_factory=lambda: NoCallsClient())  # type: ignore[arg-type,return-value]
        summary = timed("SyncService.push() with nothing to send", lambda: service.push(trigger="bench"))
        print(
            f"  skipped {summary.skipped:,}, needs attention {summary.needs_attention:,}, errors {len(summary.errors):,}"
        )
        peak = max([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, *PHASE_PEAKS_MB])
        print(f"peak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
