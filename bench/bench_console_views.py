"""How fast the console's read models are with 100,000 payments (storage/views/).

    python bench/bench_console_views.py [--payments 100000] [--commitments 2000]

Builds a SQLite file in a temporary folder with bulk inserts, then times each query the console
runs on start and on every selection. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import views  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.models import (  # noqa: E402
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    Invoice,
    PaymentLink,
    ProcoreProject,
)

STATUSES = ["synced"] * 90 + ["waiting"] * 4 + ["needs_attention"] * 3 + ["failed"] * 1 + ["not_synced"] * 2


def build(db_path: Path, payments: int, commitments: int) -> None:
    db = open_database(f"sqlite:///{db_path}")
    now = datetime(2026, 11, 25, tzinfo=UTC)
    cf = CompanyFile.create(file_key="main", company_name="Bench Co", country="US", last_contact_at=now)
    ProcoreProject.create(id=1, name="Bench project")
    with db.atomic():
        Commitment.insert_many(
            [
                {
                    "id": c,
                    "project": 1,
                    "kind": "subcontract" if c % 3 else "purchase_order",
                    "number": f"SC-{c:05d}",
                    "title": f"Scope {c}",
                    "vendor_name": f"Vendor {c % 400}",
                }
                for c in range(1, commitments + 1)
            ]
        ).execute()
        Invoice.insert_many(
            [
                {
                    "id": c * 10 + d,
                    "project": 1,
                    "commitment": c,
                    "number": d,
                    "invoice_number": f"INV-{c}-{d}",
                }
                for c in range(1, commitments + 1)
                for d in range(1, 4)
            ]
        ).execute()
    batch = 5000
    for start in range(0, payments, batch):
        stop = min(payments, start + batch)
        with db.atomic():
            BillPayment.insert_many(
                [
                    {
                        "id": n + 1,
                        "company_file": cf.id,
                        "txn_id": f"P-{n}",
                        "kind": "check" if n % 5 else "credit_card",
                        "edit_sequence": "1",
                        "time_created": "2026-11-20T10:00:00-05:00",
                        "time_modified": "2026-11-20T10:00:00-05:00",
                        "txn_date": date(2026, 1, 1) + timedelta(days=n % 300),
                        "amount": 100000 + n,
                        "ref_number": str(10000 + n),
                        "first_seen_at": now,
                        "updated_at": now,
                    }
                    for n in range(start, stop)
                ]
            ).execute()
            BillPaymentApplication.insert_many(
                [
                    {
                        "id": n + 1,
                        "payment": n + 1,
                        "bill_txn_id": f"B-{n}",
                        "bill_ref_number": f"INV-{n}",
                        "amount": 100000 + n,
                    }
                    for n in range(start, stop)
                ]
            ).execute()
            PaymentLink.insert_many(
                [
                    {
                        "application": n + 1,
                        "origin_id": f"qbd:main:P-{n}:B-{n}",
                        "commitment": (n % commitments) + 1,
                        "invoice": ((n % commitments) + 1) * 10 + (n % 3) + 1,
                        "erp_status": STATUSES[n % len(STATUSES)],
                        "updated_at": now,
                    }
                    for n in range(start, stop)
                    if n % 500  # one in 500 is not linked yet: the unmatched group
                ]
            ).execute()


def timed(label: str, run, repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<48} {best * 1000:8.1f} ms (best of {repeat})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--commitments", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        build(path, args.payments, args.commitments)
        print(
            f"built {args.payments:,} payments on {args.commitments:,} commitments in {time.perf_counter() - started:.1f} s"
        )
        timed("status_counts()", views.status_counts)
        timed("overview() (top bar)", views.overview)
        timed("list_commitments() first page of 500", lambda: views.list_commitments(limit=500))
        timed("list_commitments(sort='status')", lambda: views.list_commitments(limit=500, sort="status"))
        timed("list_commitments(text='vendor 17')", lambda: views.list_commitments(text="vendor 17"))
        timed("list_commitments(text='failed')", lambda: views.list_commitments(text="failed"))
        timed("list_invoices(one commitment)", lambda: views.list_invoices(7))
        timed("list_payments(one commitment)", lambda: views.list_payments(7))
        timed("list_payments(unmatched group)", lambda: views.list_payments(None))
        timed("payment_detail(one payment)", lambda: views.payment_detail(4242))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {peak:.0f} MB (includes building the data)")


if __name__ == "__main__":
    main()
