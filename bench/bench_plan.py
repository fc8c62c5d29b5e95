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
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
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
from sync.engine.snapshot import load_snapshot  # noqa: E402
from sync.procore.client import RateLimitState  # noqa: E402
from sync.service import SyncService  # noqa: E402
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


def timed(label: str, run: Any) -> Any:
    started = time.perf_counter()
    result = run()
    print(f"{label:<58} {time.perf_counter() - started:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--commitments", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        timed(
            f"build: {args.payments:,} payments, {args.commitments:,} commitments",
            lambda: build(url, args.payments, args.commitments),
        )
        snapshot = timed("load_snapshot() (first sync)", load_snapshot)
        actions = timed("compute_plan(snapshot) (match + desired fields)", lambda: compute_plan(snapshot))
        print(
            "  actions:",
            dict(Counter(a.action for a in actions)),
            "needs attention:",
            sum(1 for a in actions if a.erp_status == "needs_attention"),
        )
        started = time.perf_counter()
        compute_plan()
        first = time.perf_counter() - started
        print(f"{'preview of the first sync, end to end (load + plan)':<58} {first:7.2f} s")
        mark_all_pushed(actions)
        started = time.perf_counter()
        steady = compute_plan()
        print(
            f"{'preview once everything is in Procore (all unchanged)':<58} {time.perf_counter() - started:7.2f} s"
        )
        print("  actions:", dict(Counter(a.action for a in steady)))
        service = SyncService(Settings(database_url=url), client_factory=lambda: NoCallsClient())  # type: ignore[arg-type,return-value]
        summary = timed("SyncService.push() with nothing to send", lambda: service.push(trigger="bench"))
        print(
            f"  skipped {summary.skipped:,}, needs attention {summary.needs_attention:,}, errors {len(summary.errors):,}"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
