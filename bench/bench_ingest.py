"""What a page of bill payments costs PaySync, against parsing the same bytes with xmltodict alone.

One run prints, side by side (the machine may be shared: each figure is the best of --repeat runs,
and the three readings of one size are taken in turn, so noise hits them alike):

  1. for N in 1, 10, 100, 2,000 and 20,000 check payments of two bill applications each:
     xmltodict.parse alone on the document (payments/s), parse_response alone, parse_response plus
     storing the page as the Web Connector exchange does (CheckPayments.store_page: payments,
     applications, held records and the item's progress, in one SQLite transaction), and the ratio
     of parse+store to xmltodict alone (the goal: at most 2);
     then, for a page of one payment, the floor under parse+store: the page's own SQL statements
     (captured as PaySync sends them) replayed on plain sqlite3 with no Python building them, and
     the COMMIT among them, beside xmltodict alone on the same bytes (--skip-floor leaves it out);
  2. the peak RSS of storing one 50 MB response, in a subprocess of its own (the goal: under 250 MB);
  3. a full Web Connector session of --session-payments payments through the sandbox emulator, with
     the bill lookups that follow it: the longest receiveResponseXML answer (the goal: under 5 s),
     the longest time QuickBooks took to answer one request, the number of bill requests, and the
     percents the Web Connector showed while the bills were read.

Usage: python bench/bench_ingest.py [--sizes 1,10,100,2000,20000] [--repeat 3] [--session-payments 20000]
                                    [--skip-floor] [--skip-rss] [--skip-session]
This prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import xmltodict  # noqa: E402
from bench_qbxml_parse import build_response  # noqa: E402

from storage.db import SQLITE_PRAGMAS, close_database, open_database  # noqa: E402
from storage.models import (  # noqa: E402
    BillPayment,
    BillPaymentApplication,
    CompanyFile,
    QuickBooksWork,
    database_proxy,
)
from storage.vocabulary import WorkKind  # noqa: E402
from sync.quickbooks.qbxml import parse_response  # noqa: E402
from sync.quickbooks.steps import Context  # noqa: E402
from sync.quickbooks.steps.payments import CheckPayments  # noqa: E402

MB = 1024 * 1024
NOW = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)


def _best(seconds: list[float]) -> float:
    return min(seconds)


def _timed(action: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _variants(doc: str, count: int, tag: str) -> list[str]:
    """`count` copies of `doc` whose payments have TxnIDs of their own (new payments each time)."""
    return [doc.replace("<TxnID>", f"<TxnID>{tag}{index}-") for index in range(count)]


def _page_setup(pages: int) -> tuple[Context, CheckPayments, list[QuickBooksWork]]:
    """In the open database: the company file, the step's context, and one work item per page
    (`pages` timed, plus the one that warms the connection up)."""
    company = CompanyFile.create(file_key="main")
    context = Context(company=company, now=NOW, max_returned=1_000_000, fetch_unknown_bills=False)
    works = [
        QuickBooksWork.create(
            file_key="main", kind=WorkKind.PAYMENTS_CHECK, priority=30, requested_by="bench", created_at=NOW
        )
        for _ in range(pages + 1)
    ]
    return context, CheckPayments(), works


def _store_pages(doc: str, folder: Path, run: int, pages: int) -> float:
    """Seconds per page to parse and store `doc` as one page of the check payment query, on a warm
    database (a Web Connector session's connection is: one page was stored before the timing), as
    the mean of `pages` pages of new payments (a page of one payment lasts about a millisecond,
    too short to time alone)."""
    url = f"sqlite:///{folder / f'ingest-{run}.db'}"
    open_database(url)
    try:
        context, step, works = _page_setup(pages)
        warm, *timed_docs = _variants(doc, pages + 1, f"r{run}p")
        (rs,) = parse_response(warm)
        step.store_page(works[0], rs, context)

        def parse_and_store() -> None:
            for work, page in zip(works[1:], timed_docs, strict=True):
                (response,) = parse_response(page)
                step.store_page(work, response, context)

        seconds = _timed(parse_and_store) + _checkpoint_seconds()
        assert BillPayment.select().count() == BillPaymentApplication.select().count() // 2
        return seconds / pages
    finally:
        close_database()


def _checkpoint_seconds(connection: sqlite3.Connection | None = None) -> float:
    """The time of copying what the timed pages left in the WAL into the database: each reading
    pays for its checkpoint, whenever SQLite would have run it (wal_autocheckpoint)."""
    started = time.perf_counter()
    if connection is None:
        database_proxy.obj.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
    else:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return time.perf_counter() - started


def measure_pages(sizes: list[int], repeat: int) -> None:
    print("1. A page of N check payments (2 bill applications each), best of", repeat)
    print(
        f"{'N':>7} {'MB':>6} | {'xmltodict alone':>16} | {'parse_response':>15} | "
        f"{'parse + store':>15} | {'parse/xmltodict':>15} | {'(parse+store)/xmltodict':>23}"
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        run = 0
        for size in sizes:
            doc = build_response(size)
            plain: list[float] = []
            parsed: list[float] = []
            stored: list[float] = []
            pages = max(1, 400 // size)  # pages per reading: small pages are timed many at a time
            docs = _variants(doc, pages, "x")
            for _ in range(repeat):
                plain.append(_timed(lambda docs=docs: [xmltodict.parse(page) for page in docs]) / pages)
                parsed.append(_timed(lambda docs=docs: [parse_response(page) for page in docs]) / pages)
                run += 1
                stored.append(_store_pages(doc, folder, run, pages))
                (folder / f"ingest-{run}.db").unlink(missing_ok=True)
            x, p, s = _best(plain), _best(parsed), _best(stored)
            print(
                f"{size:>7,} {len(doc.encode()) / MB:>6.1f} | {size / x:>10,.0f} pay/s | {size / p:>9,.0f} pay/s | "
                f"{size / s:>9,.0f} pay/s | {p / x:>15.2f} | {s / x:>23.2f}"
            )


def measure_floor(repeat: int, pages: int = 400) -> None:
    """What a page of one payment costs at least: its SQL with no Python around it, and its COMMIT
    (each page is committed before the Web Connector is answered: DESIGN rule 2)."""
    doc = build_response(1)
    docs = _variants(doc, pages + 1, "f")
    plain = min(_timed(lambda: [xmltodict.parse(page) for page in docs[1:]]) / pages for _ in range(repeat))
    sql_alone: list[float] = []
    commit_alone: list[float] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for run in range(repeat):
            statements, copy = _capture_page_sql(docs, folder, run, pages)
            per_page = len(statements) // pages
            connection = sqlite3.connect(copy, isolation_level=None)
            for pragma, value in SQLITE_PRAGMAS.items():  # as PaySync's own connections
                connection.execute(f"PRAGMA {pragma} = {value}")
            gc.collect()
            committing = 0.0
            started = time.perf_counter()
            for page in range(pages):
                connection.execute("BEGIN IMMEDIATE")
                for sql, params in statements[page * per_page : (page + 1) * per_page]:
                    connection.execute(sql, params).fetchall()
                before_commit = time.perf_counter()
                connection.execute("COMMIT")
                committing += time.perf_counter() - before_commit
            checkpoint = _checkpoint_seconds(connection)
            sql_alone.append((time.perf_counter() - started) / pages)
            commit_alone.append((committing + checkpoint) / pages)
            connection.close()
    sql, commit = min(sql_alone), min(commit_alone)
    print(
        f"   floor of a page of 1 payment ({per_page} statements + BEGIN/COMMIT, replayed on plain sqlite3): "
        f"{sql * 1e6:.0f} us = {sql / plain:.2f}x xmltodict alone ({plain * 1e6:.0f} us); "
        f"the COMMIT alone (with its share of the checkpoint) {commit * 1e6:.0f} us = {commit / plain:.2f}x"
    )


def _capture_page_sql(
    docs: list[str], folder: Path, run: int, pages: int
) -> tuple[list[tuple[str, tuple[object, ...]]], Path]:
    """The statements PaySync sends to store docs[1:] as pages (without BEGIN/COMMIT), and a copy
    of the database as it was before them, to replay them on."""
    path = folder / f"floor-{run}.db"
    copy = folder / f"floor-{run}-copy.db"
    database = open_database(f"sqlite:///{path}")
    statements: list[tuple[str, tuple[object, ...]]] = []
    try:
        context, step, works = _page_setup(pages)
        (first,) = parse_response(docs[0])
        step.store_page(works[0], first, context)
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(path, copy)
        responses = [parse_response(page)[0] for page in docs[1:]]
        database.query_hooks.append(lambda event: statements.append((event.sql, tuple(event.params or ()))))
        for work, response in zip(works[1:], responses, strict=True):
            step.store_page(work, response, context)
    finally:
        database.query_hooks.clear()
        close_database()
    return statements, copy


# ---------------------------------------------------------------------------------------------
# 2. Peak RSS of one 50 MB response, in a process of its own

_RSS_CHILD = r"""
import json, resource, sys, tempfile
from pathlib import Path
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from bench_ingest import NOW, build_response
from storage.db import close_database, open_database
from storage.models import BillPayment, CompanyFile, QuickBooksWork
from storage.vocabulary import WorkKind
from sync.quickbooks.qbxml import parse_response
from sync.quickbooks.steps import Context
from sync.quickbooks.steps.payments import CheckPayments


def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


doc = build_response({payments})
with tempfile.TemporaryDirectory() as folder:
    open_database(f"sqlite:///{{folder}}/rss.db")
    company = CompanyFile.create(file_key="main")
    work = QuickBooksWork.create(file_key="main", kind=WorkKind.PAYMENTS_CHECK, priority=30,
                                 requested_by="bench", created_at=NOW)
    context = Context(company=company, now=NOW, max_returned=1_000_000, fetch_unknown_bills=False)
    loaded = rss("VmRSS")
    peak_before = rss("VmHWM")
    try:  # forget the peak of building the document: what is measured is storing it
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    (rs,) = parse_response(doc)
    CheckPayments().store_page(work, rs, context)
    stored = BillPayment.select().count()
    close_database()
print(json.dumps({{"mb": len(doc.encode()) / 2**20, "loaded": loaded, "peak": rss("VmHWM"),
                  "peak_before": peak_before, "reset": reset, "stored": stored}}))
"""


def measure_rss(target_mb: float) -> None:
    per_payment = len(build_response(1000).encode()) / 1000
    payments = int(target_mb * MB / per_payment)
    root = str(Path(__file__).resolve().parents[1])
    code = _RSS_CHILD.format(root=root, bench=str(Path(__file__).resolve().parent), payments=payments)
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    found = json.loads(output.strip().splitlines()[-1])
    print(
        f"\n2. One {found['mb']:.1f} MB response ({found['stored']:,} payments) parsed and stored, own process"
    )
    print(f"   RSS with the document in memory: {found['loaded'] / MB:7.1f} MB")
    if found["reset"]:
        print(
            f"   peak RSS while parsing and storing it: {found['peak'] / MB:7.1f} MB   (goal: under 250 MB)"
        )
    else:
        print(
            f"   peak RSS of the process: {found['peak'] / MB:7.1f} MB (this kernel cannot reset the peak; "
            f"building the document alone peaked at {found['peak_before'] / MB:.1f} MB)"
        )


# ---------------------------------------------------------------------------------------------
# 3. A Web Connector session with its bill lookups


def measure_session(payments: int) -> None:
    from sandbox.quickbooks import SandboxCompanyFile
    from sandbox.servers import run_asgi_in_thread
    from sandbox.webconnector import WebConnectorEmulator
    from sync.quickbooks.webconnector.app import create_qbwc_app
    from sync.quickbooks.workqueue import queue_quickbooks_refresh
    from sync.runtime.scheduler import record_schedule_configured
    from sync.settings import settings_from_mapping

    password = "bench password"
    company = SandboxCompanyFile()
    vendors = [f"Subcontractor {number}" for number in range(50)]
    for vendor in vendors:
        company.add_vendor(vendor)
    for number in range(payments):
        vendor = vendors[number % len(vendors)]
        first = company.add_bill(vendor, f"INV-{number}-A", Decimal("500.00"))
        second = company.add_bill(vendor, f"INV-{number}-B", Decimal("800.00"))
        company.pay_bills(
            vendor, [(first, Decimal("500.00")), (second, Decimal("300.00"))], check_number=str(number)
        )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'session.db'}"
        settings = settings_from_mapping({"PAYSYNC_DATABASE_URL": url, "QBWC_PASSWORD": password})
        open_database(url)
        record_schedule_configured("hourly", datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
        app = create_qbwc_app(settings, fetch_unknown_bills=True)
        server = run_asgi_in_thread(app)
        emulator = WebConnectorEmulator(f"{server.url}/qbwc", "paysync", password, company, timeout=600)
        try:
            queue_quickbooks_refresh("main", requested_by="bench")
            started = time.perf_counter()
            report = emulator.run_session()
            seconds = time.perf_counter() - started
        finally:
            server.stop()
            close_database()
    bill_requests = [i for i, request in enumerate(report.requests) if "<BillQueryRq" in request]
    payment_requests = [
        i for i, request in enumerate(report.requests) if "<BillPaymentCheckQueryRq" in request
    ]
    bill_percents = [report.percents[i] for i in bill_requests if i < len(report.percents)]
    receive = [s for name, s in report.call_seconds if name == "receiveResponseXML"]
    answered = sum(len(response) for response in report.responses)
    print(
        f"\n3. One Web Connector session: {payments:,} check payments (2 bills each) and their bill lookups"
    )
    print(
        f"   {len(report.requests)} exchanges ({len(payment_requests)} payment pages, {len(bill_requests)} bill "
        f"requests), {answered / MB:.1f} MB of qbXML, {seconds:.1f} s, outcome {report.outcome}"
    )
    print(
        f"   longest receiveResponseXML answer: {max(receive, default=0):.2f} s (goal: under 5 s); "
        f"all of them: {sum(receive):.1f} s ({payments / max(sum(receive), 1e-9):,.0f} payments/s)"
    )
    print(
        f"   longest QuickBooks answer to one request: {max(report.quickbooks_seconds, default=0):.2f} s; "
        f"largest bill request: {max((report.requests[i].count('<TxnID>') for i in bill_requests), default=0)} TxnIDs"
    )
    shown = bill_percents if len(bill_percents) <= 12 else bill_percents[:6] + ["…"] + bill_percents[-6:]  # type: ignore[operator]
    print(f"   percent shown while the bills were read: {shown}")
    print(f"   {report.close_message}")


def main() -> None:
    arguments = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    arguments.add_argument("--sizes", default="1,10,100,2000,20000")
    arguments.add_argument("--repeat", type=int, default=3)
    arguments.add_argument("--rss-mb", type=float, default=50.0)
    arguments.add_argument("--session-payments", type=int, default=20_000)
    arguments.add_argument("--skip-floor", action="store_true")
    arguments.add_argument("--skip-rss", action="store_true")
    arguments.add_argument("--skip-session", action="store_true")
    options = arguments.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    measure_pages([int(size) for size in options.sizes.split(",")], options.repeat)
    if not options.skip_floor:
        measure_floor(options.repeat)
    if not options.skip_rss:
        measure_rss(options.rss_mb)
    if not options.skip_session:
        measure_session(options.session_payments)


if __name__ == "__main__":
    main()
