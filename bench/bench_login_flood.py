"""How long a real Web Connector session takes while strangers flood `/qbwc` with bad logins.

PaySync's SOAP service runs on a loopback port (as `paysync serve` does) with the real password
hashing cost (PBKDF2, 600,000 iterations). The Web Connector emulator runs one session of
--payments payments from 127.0.0.1, first alone, then while --clients threads send bad passwords
from another address (127.0.0.2) as fast as they can. Prints both times and the difference.
Asserts nothing.

Usage: python bench/bench_login_flood.py [--clients 40] [--payments 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.quickbooks import SandboxCompanyFile  # noqa: E402
from sandbox.servers import run_asgi_in_thread  # noqa: E402
from sandbox.webconnector import WebConnectorEmulator, soap_envelope  # noqa: E402
from storage.db import close_database, open_database  # noqa: E402
from sync.quickbooks.webconnector.app import create_qbwc_app  # noqa: E402
from sync.quickbooks.workqueue import queue_quickbooks_refresh  # noqa: E402
from sync.settings import Settings  # noqa: E402

PASSWORD = "bench password 123"


def session_seconds(url: str, payments: int) -> float:
    company = SandboxCompanyFile(clock_start=datetime.now(UTC).replace(tzinfo=None))
    company.add_vendor("Acme Concrete")
    for n in range(payments):
        bill = company.add_bill("Acme Concrete", f"INV-{n}", Decimal("100.00"))
        company.pay_bills("Acme Concrete", [(bill, Decimal("100.00"))], check_number=str(n))
    queue_quickbooks_refresh("main", requested_by="bench")
    started = time.perf_counter()
    report = WebConnectorEmulator(url, "paysync", PASSWORD, company).run_session()
    elapsed = time.perf_counter() - started
    if report.outcome != "done":
        raise SystemExit(f"the session ended {report.outcome}: {report.last_errors}")
    return elapsed


def flood(url: str, stop: object, sent: object) -> None:
    """One stranger: bad logins from 127.0.0.2 as fast as the server answers. Strangers run on
    their own machines, not on PaySync's CPU: here they run at the lowest priority, so what is
    measured is PaySync's work, not this machine's two cores shared with forty attackers."""
    os.nice(19)
    body = soap_envelope("authenticate", {"strUserName": "paysync", "strPassword": "guess"})
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"http://developer.intuit.com/authenticate"',
    }
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=30) as client:
        while not stop.is_set():  # type: ignore[attr-defined]
            client.post(url, content=body, headers=headers)
            with sent.get_lock():  # type: ignore[attr-defined]
                sent.value += 1  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--payments", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        open_database(f"sqlite:///{folder}/paysync.db")
        app = create_qbwc_app(Settings(qbwc_password=PASSWORD, qbwc_file_key="main"))
        server = run_asgi_in_thread(app)
        url = server.url + "/qbwc"
        try:
            alone = session_seconds(url, args.payments)
            # The strangers are other processes (as they would be), each client a connection of its own.
            stop = multiprocessing.Event()
            sent = multiprocessing.Value("i", 0)
            attackers = [
                multiprocessing.Process(target=flood, args=(url, stop, sent), daemon=True)
                for _ in range(args.clients)
            ]
            for attacker in attackers:
                attacker.start()
            time.sleep(2.0)  # the flood is under way
            flooded = session_seconds(url, args.payments)
            stop.set()
            for attacker in attackers:
                attacker.join(timeout=30)
        finally:
            server.stop()
            close_database()
    print(f"Web Connector session of {args.payments} payments, PBKDF2 600,000 iterations:")
    print(f"  alone:                          {alone:6.2f} s")
    print(f"  during a flood of {args.clients} clients:   {flooded:6.2f} s  ({sent.value} bad logins sent)")
    print(f"  difference:                     {flooded - alone:+6.2f} s")


if __name__ == "__main__":
    main()
