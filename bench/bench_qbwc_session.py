"""Speed of one Web Connector session that brings N bill payments into PaySync (SQLite file).

The sandbox QuickBooks and Web Connector emulator run in this process; PaySync's SOAP service runs
on a loopback port in a thread, as in production. Measures:
  1. the first session (all N payments new), in pages of --page-size through iterators;
  2. a second session after every payment was edited (all N changed);
  3. a third session with nothing changed (the ten-minute overlap re-reads nothing new).
Prints wall-clock seconds, payments per second, pages and the longest receiveResponseXML answer.
Asserts nothing. bench/bench_ingest.py measures a page against xmltodict alone, and a session with
its bill lookups.

Usage: python bench/bench_qbwc_session.py [--payments 5000] [--page-size 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.quickbooks import SandboxCompanyFile  # noqa: E402
from sandbox.servers import run_asgi_in_thread  # noqa: E402
from sandbox.webconnector import WebConnectorEmulator  # noqa: E402
from storage.db import close_database, open_database  # noqa: E402
from storage.models import BillPayment  # noqa: E402
from sync.quickbooks.webconnector.app import create_qbwc_app  # noqa: E402
from sync.quickbooks.workqueue import queue_quickbooks_refresh  # noqa: E402
from sync.runtime.scheduler import record_schedule_configured  # noqa: E402
from sync.settings import settings_from_mapping  # noqa: E402

PASSWORD = "bench password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()

    company = SandboxCompanyFile()
    company.add_vendor("Acme Concrete")
    paid: list[tuple[str, str]] = []
    for number in range(args.payments):
        bill = company.add_bill("Acme Concrete", f"INV-{number}", Decimal("500.00"))
        paid.append(
            (company.pay_bills("Acme Concrete", [(bill, Decimal("250.00"))], check_number=str(number)), bill)
        )

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        settings = settings_from_mapping({"PAYSYNC_DATABASE_URL": url, "QBWC_PASSWORD": PASSWORD})
        open_database(url)
        # The sandbox's clock starts 2026-11-02 08:00 US Eastern; configure the schedule just before.
        record_schedule_configured("hourly", datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
        app = create_qbwc_app(settings, max_returned=args.page_size, fetch_unknown_bills=False)
        server = run_asgi_in_thread(app)
        emulator = WebConnectorEmulator(f"{server.url}/qbwc", "paysync", PASSWORD, company)
        try:
            for label in ("all new", "all changed", "nothing changed"):
                if label == "all changed":
                    company.advance(minutes=30)
                    for txn_id, bill in paid:
                        company.edit_payment(txn_id, applications=[(bill, Decimal("300.00"))])
                if label == "nothing changed":
                    company.advance(minutes=30)
                queue_quickbooks_refresh("main", requested_by="bench")
                started = time.perf_counter()
                report = emulator.run_session()
                seconds = time.perf_counter() - started
                pages = sum("<BillPaymentCheckQueryRq" in r for r in report.requests)
                print(
                    f"{label:>16}: {seconds:6.2f} s for {args.payments} payments in the file "
                    f"({args.payments / seconds:7.0f} payments/s), {pages} check pages, longest "
                    f"receiveResponseXML {report.longest('receiveResponseXML'):.2f} s, "
                    f"outcome {report.outcome}: {report.close_message}"
                )
            print(f"stored: {BillPayment.select().count()} payments")
        finally:
            server.stop()
            close_database()


if __name__ == "__main__":
    main()
