"""Speed and client-side peak memory of listing many contract payments through the Procore client.

Runs the simulated Procore in a child process (so its CPU and memory are not counted), seeds one
commitment with N payments (20,000 by default), then lists them over loopback HTTP:
  1. lazily with ProcoreClient.iter_contract_payments (counting, keeping nothing);
  2. all at once with ProcoreClient.list_contract_payments (what reconciliation uses).
Each is timed without tracing, then run again under tracemalloc for the peak memory it adds.

Usage: python bench/bench_procore_pagination.py [--payments N]
This prints figures; it asserts nothing. The sandbox renders every payment of the commitment for
each page it serves, so wall-clock items/s is set mostly by the server; "items per CPU-second"
counts only this (client) process.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import time
import tracemalloc
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.procore import (  # noqa: E402
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ProcoreState,
    RateLimit,
    create_procore_app,
    seed_demo,
)
from sandbox.servers import run_asgi_in_thread  # noqa: E402
from sync.procore.auth import MemoryTokenStore  # noqa: E402
from sync.procore.client import ProcoreClient  # noqa: E402

MB = 1024 * 1024


def serve_sandbox(payments: int, pipe: Connection) -> None:
    state = ProcoreState()
    ids = seed_demo(state)
    state.rate_limit = RateLimit(limit=1_000_000)
    project = ids["projects"]["riverside"]
    contract = ids["commitments"]["riverside/SC-001"]
    for index in range(payments):
        state.add_payment(
            project,
            contract,
            f"{(index % 5000) + 1}.25",
            date(2025, 1, 1),
            check_number=f"{100000 + index}",
            origin_id=f"qbd:main:{index:08X}-1700000000:{index:08X}-1700000001",
            notes="Bench payment",
        )
    with run_asgi_in_thread(create_procore_app(state)) as server:
        pipe.send((server.url, state.company_id, project, contract))
        pipe.recv()  # until the parent is done


def make_client(url: str, company_id: int) -> ProcoreClient:
    return ProcoreClient(
        api_base=url,
        login_base=url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        company_id=company_id,
        token_store=MemoryTokenStore(),
        timeout=120.0,
    )


def lazily(client: ProcoreClient, project: int, contract: int) -> int:
    return sum(1 for _ in client.iter_contract_payments(project, contract))


def all_at_once(client: ProcoreClient, project: int, contract: int) -> int:
    return len(client.list_contract_payments(project, contract))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=20_000)
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve_sandbox, args=(args.payments, child), daemon=True)
    started = time.perf_counter()
    server.start()
    url, company_id, project, contract = parent.recv()
    print(
        f"sandbox with {args.payments:,} payments on one commitment ready in {time.perf_counter() - started:.1f} s"
    )

    try:
        with make_client(url, company_id) as client:
            client.get_me()  # sign in outside the measurements
            for label, run in (
                ("iter_contract_payments (lazy)", lazily),
                ("list_contract_payments", all_at_once),
            ):
                gc.collect()
                began, began_cpu = time.perf_counter(), time.process_time()
                count = run(client, project, contract)
                elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
                gc.collect()
                tracemalloc.start()
                run(client, project, contract)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                pages = -(-count // 100)
                print(
                    f"{label:32s} {count:,} items, {pages} pages in {elapsed:.2f} s = {count / elapsed:,.0f} items/s; "
                    f"client CPU {cpu:.2f} s = {count / cpu:,.0f} items per CPU-second; "
                    f"peak client memory {peak / MB:.1f} MB"
                )
    finally:
        parent.send("done")
        server.join(timeout=30)


if __name__ == "__main__":
    main()
