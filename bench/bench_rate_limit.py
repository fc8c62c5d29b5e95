"""How close a push comes to Procore's announced rate limit, and whether it ever exceeds it.

    python bench/bench_rate_limit.py [--payments 450] [--spike 20/2] [--hourly 300/40]
                                     [--windows fixed|aligned|sliding] [--no-reader]

Serves the simulated Procore on loopback with both of Procore's windows scaled down (API-NOTES
§6.2: an "hourly" window and a 10-second "spike" window; here 300 per 40 s and 20 per 2 s by
default, so that the spike window binds within every burst and the hourly one binds too once a
push is longer than it), then creates N contract payments through one ProcoreClient, one request
per payment (what a push of N new payments sends), and prints:

  wall       the push's wall-clock time;
  ideal      N requests at the announced binding rate: N / min(spike rate, hourly rate), the
             issue's yardstick ("within 1.10 times N requests at the announced rate");
  best       the earliest the N-th request can be sent under both windows with zero latency and
             exact (unrounded) resets, for comparison;
  ratio      wall / ideal;
  429s       how many requests Procore refused (should be 0).

Then the same push again (on a fresh window) with a second client in the same process reading
(GET /me, as the console's refreshes and views do) in a thread for as long as the push runs:
the push's ratio, its 429s, and how many reads the reader got through. Reads keep a reserve of
each window for writes, so the push is slowed by the reader's share but never starved.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.procore import RateLimit, create_procore_app  # noqa: E402
from sandbox.procore.faults import WindowKind  # noqa: E402
from sandbox.servers import run_asgi_in_thread  # noqa: E402
from sync.procore.client import ProcoreClient  # noqa: E402
from tests.support.procore_world import ProcoreWorld, new_world  # noqa: E402


def parse_window(text: str) -> tuple[int, float]:
    count, _, seconds = text.partition("/")
    return int(count), float(seconds)


def best_time(n: int, windows: list[tuple[int, float]]) -> float:
    """The earliest time the n-th request can go under fixed windows that open at the first
    request after the previous one ended (zero latency, exact resets)."""
    starts = [0.0 for _ in windows]
    counts = [0 for _ in windows]
    t = 0.0
    for _ in range(n):
        while True:
            for i, (_, seconds) in enumerate(windows):
                if t >= starts[i] + seconds:
                    starts[i], counts[i] = t, 0
            full = [i for i, (limit, _) in enumerate(windows) if counts[i] >= limit]
            if not full:
                break
            t = max(starts[i] + windows[i][1] for i in full)
        for i in range(len(windows)):
            if counts[i] == 0:
                starts[i] = t
            counts[i] += 1
    return t


def world_with_commitment(rate_limit: RateLimit, windows: WindowKind) -> tuple[ProcoreWorld, Any]:
    world = new_world("Bench Tower", company="Bench Builders")
    world.add_vendor("acme", "Acme Concrete", "V-ACME")
    world.add_commitment("SC-1", "acme")
    world.state.rate_limit = replace(rate_limit, windows=windows)
    server = run_asgi_in_thread(create_procore_app(world.state))
    world.url = server.url
    return world, server


def push(client: ProcoreClient, world: ProcoreWorld, count: int, tag: str) -> float:
    started = time.perf_counter()
    for number in range(count):
        client.create_contract_payment(
            world.project_id,
            world.commitments["SC-1"],
            {
                "amount": "100.00",
                "date": "2026-11-02",
                "payment_method": "check",
                "check_number": str(number),
                "origin_id": f"qbd:bench:{tag}:{number}",
            },
        )
    return time.perf_counter() - started


def refused(world: ProcoreWorld, method: str | None = None) -> int:
    return sum(1 for entry in world.state.log_entries(method) if entry.status == 429)


def run(args: argparse.Namespace) -> None:
    spike, spike_seconds = parse_window(args.spike)
    hourly, hourly_seconds = parse_window(args.hourly)
    rate = min(spike / spike_seconds, hourly / hourly_seconds)
    ideal = args.payments / rate
    best = best_time(args.payments, [(spike, spike_seconds), (hourly, hourly_seconds)])
    limit = RateLimit(
        limit=hourly, window_seconds=hourly_seconds, spike_limit=spike, spike_window_seconds=spike_seconds
    )
    print(
        f"announced: {spike} per {spike_seconds:g} s and {hourly} per {hourly_seconds:g} s "
        f"({args.windows} windows); binding rate {rate:.2f}/s"
    )
    print(
        f"push of {args.payments} payments: ideal {ideal:.1f} s (N / rate), best {best:.1f} s (both windows)"
    )

    world, server = world_with_commitment(limit, args.windows)
    try:
        with world.client(sleep=time.sleep, max_wait=600.0, timeout=10.0) as client:
            client.get_me()  # sign in first: the token request is not a /rest call
            world.state.reset_rate_limits()
            time.sleep(max(spike_seconds, 1.0))
            wall = push(client, world, args.payments, "solo")
        print(
            f"  alone:       wall {wall:6.1f} s  ratio {wall / ideal:.2f} (best {wall / max(best, 1e-9):.2f})  "
            f"429s {refused(world)}"
        )
    finally:
        server.stop()

    if args.no_reader:
        return
    world, server = world_with_commitment(limit, args.windows)
    try:
        with (
            world.client(sleep=time.sleep, max_wait=600.0, timeout=10.0) as writer,
            world.client(sleep=time.sleep, max_wait=600.0, timeout=10.0) as reader,
        ):
            writer.get_me()
            reader.get_me()
            world.state.reset_rate_limits()
            time.sleep(max(spike_seconds, 1.0))
            done = threading.Event()
            reads = 0

            def read_loop() -> None:
                nonlocal reads
                while not done.is_set():
                    reader.get_me()
                    reads += 1

            thread = threading.Thread(target=read_loop, daemon=True)
            thread.start()
            wall = push(writer, world, args.payments, "shared")
            done.set()
            thread.join(timeout=max(hourly_seconds, spike_seconds) + 5)
        writes = len(world.state.log_entries("POST"))
        everything = (writes + reads) / rate
        print(
            f"  with reader: wall {wall:6.1f} s  ratio {wall / ideal:.2f}  429s {refused(world)}  "
            f"reads {reads} during the push ({writes} writes; all {writes + reads} requests at the rate "
            f"{everything:.1f} s, ratio {wall / everything:.2f})"
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=450)
    parser.add_argument("--spike", default="20/2", help="spike window: requests/seconds (default 20/2)")
    parser.add_argument("--hourly", default="300/40", help="hourly window, scaled down (default 300/40)")
    parser.add_argument("--windows", default="fixed", choices=["fixed", "aligned", "sliding"])
    parser.add_argument("--no-reader", action="store_true", help="skip the run with a concurrent reader")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
