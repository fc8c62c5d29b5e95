"""The one runtime (sync/runtime/runtime.py), headless as `paysync serve` runs it and in the console.

- A scheduled run does the same steps wherever it runs (queue the QuickBooks queries, refresh from
  Procore, push): from the same start, the console's and serve's leave Procore the same.
- On one database one process runs the schedule (the lease): each scheduled tick runs once, the
  other process says who holds it, and takes over when the holder stops.

Real parts: the sandbox Procore and QuickBooks over loopback, the Web Connector emulator, SQLite files,
a real `paysync serve` process. Only the scheduler's clock is stepped by the test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.app import PaySyncApp
from console.commands.common import CouldNotRun
from console.commands.serve import claim_schedule
from console.widgets.topbar import TopBar
from storage.db import close_database, open_database
from storage.leases import schedule_holder
from storage.models import SyncRun
from storage.queries import pending_work_kinds
from sync.engine.service import SyncService
from sync.procore.importer import ImportSummary
from sync.runtime.events import (
    EndpointListening,
    ScheduledRunFinished,
    ScheduledRunStarted,
    ScheduleHolderChanged,
)
from sync.runtime.runtime import Runtime
from sync.settings import Settings
from tests.support.bridge import Bridge, Servers, new_bridge
from tests.support.console import settle
from tests.support.procore_world import procore_view
from tests.support.runtime import Heard, SteppedClock, until
from tests.support.serve import ServeProcess, serve_env

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 25, 10, 20, tzinfo=UTC)
ELEVEN = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # the first hourly run after START
TWELVE = ELEVEN + timedelta(hours=1)
SIZE = (160, 40)


@pytest.fixture(autouse=True)
def _closed_database() -> Iterator[None]:
    yield
    close_database()


# ---------------------------------------------------------------------------------------------
# The same scheduled run in `paysync serve` and in the console


def scheduled_world(servers: Servers, folder: Path) -> Bridge:
    """A payment PaySync has read from QuickBooks and not pushed yet; and, since PaySync last read
    Procore, a new invoice there whose bill was paid in QuickBooks (the Web Connector brought that
    payment too). Only a run that refreshes from Procore can place the second payment."""
    folder.mkdir()
    bridge = new_bridge(servers, folder)
    bridge.vendor("acme", "Acme Concrete")
    bridge.world.add_commitment("SC-1", "acme")
    first = bridge.invoice_and_bill("A-1", "SC-1", "Acme Concrete", "ACME-2411", "5000.00", by_origin=True)
    bridge.company.pay_bills("Acme Concrete", [(first, Decimal("5000.00"))], check_number="10452")
    bridge.service.refresh_from_procore()
    bridge.session()
    bridge.company.advance(minutes=5)
    second = bridge.invoice_and_bill(
        "A-2", "SC-1", "Acme Concrete", "ACME-2438", "7000.00", by_origin=False, draw=2
    )
    bridge.company.pay_bills("Acme Concrete", [(second, Decimal("3500.50"))], check_number="10453")
    bridge.session()
    return bridge


@dataclass(frozen=True)
class Outcome:
    procore: list[tuple[Any, ...]]  # Payments Issued, as a person sees it
    queued: list[tuple[str, str]]  # QuickBooks queries waiting for the next poll
    invoices_imported: int  # what the run's refresh from Procore read
    run: tuple[str, str, int]  # the SyncRun: trigger, status, created


def outcome(bridge: Bridge, heard: Heard) -> Outcome:
    (finished,) = heard.of(ScheduledRunFinished)
    assert finished.summary is not None, finished.problem
    imported = finished.summary.imported
    assert isinstance(imported, ImportSummary)
    run = SyncRun.select().order_by(SyncRun.id.desc()).first()
    return Outcome(
        procore=procore_view(bridge.state.payments()),
        queued=pending_work_kinds(bridge.settings.qbwc_file_key),
        invoices_imported=imported.invoices,
        run=(str(run.trigger), str(run.status), int(run.created)),
    )


async def serve_scheduled_run(servers: Servers, folder: Path) -> Outcome:
    """The runtime as `paysync serve` runs it: the endpoint under uvicorn and the scheduler, on one loop."""
    bridge = scheduled_world(servers, folder)
    clock = SteppedClock(START)
    runtime = Runtime(
        bridge.settings.with_overrides(qbwc_host="127.0.0.1", qbwc_port=0),
        bridge.service,
        role="serve",
        host_endpoint=True,
        clock=clock.clock,
        sleep=clock.sleep,
        password_iterations=1_000,
    )
    heard = Heard()
    runtime.add_listener(heard)
    assert runtime.hold_schedule()
    task = asyncio.create_task(runtime.run())
    await until(lambda: heard.of(EndpointListening) and runtime.next_run_at == ELEVEN, what="serve started")
    clock.allow_until(ELEVEN)
    await until(lambda: heard.of(ScheduledRunFinished), what="serve's scheduled run")
    runtime.stop()
    await asyncio.wait_for(task, 10)
    return outcome(bridge, heard)


async def console_scheduled_run(servers: Servers, folder: Path) -> Outcome:
    """The same runtime in the console (a Textual worker on the app's loop), driven by its pilot."""
    bridge = scheduled_world(servers, folder)
    clock = SteppedClock(START)
    runtime = Runtime(bridge.settings, bridge.service, role="console", clock=clock.clock, sleep=clock.sleep)
    heard = Heard()
    runtime.add_listener(heard)
    app = PaySyncApp(
        bridge.settings,
        bridge.service,
        runtime=runtime,
        now=clock.clock,
        refresh_seconds=None,
        display_tz=UTC,
        preferences_folder=folder / "config",
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(lambda: runtime.next_run_at == ELEVEN, what="the console's first run planned")
        top = app.main_screen.query_one(TopBar)
        assert "Schedule hourly · next 11:00 UTC" in top.plain
        clock.allow_until(ELEVEN)
        await until(lambda: heard.of(ScheduledRunFinished), what="the console's scheduled run")
        await settle(pilot)
        toasts = {n.title: n.message for n in app._notifications}
        assert toasts["Scheduled sync finished"].startswith("2 created · 0 updated"), toasts
        assert "Last sync " in top.plain and "2 created" in top.plain
    return outcome(bridge, heard)


async def test_the_console_and_serve_run_the_same_scheduled_job(servers: Servers, tmp_path: Path) -> None:
    serve = await serve_scheduled_run(servers, tmp_path / "serve")
    console = await console_scheduled_run(servers, tmp_path / "console")

    assert console == serve
    # Both refreshed from Procore (so the new invoice matched) and pushed both payments ...
    assert [(p[1], p[4], p[5]) for p in serve.procore] == [
        ("5000.00", "10452", "ACME-2411"),
        ("3500.50", "10453", "ACME-2438"),
    ]
    assert serve.invoices_imported == 2
    assert serve.run == ("schedule", "ok", 2)
    # ... and queued the QuickBooks queries for the Web Connector's next poll.
    assert [kind for kind, _ in serve.queued] == ["host", "payments_check", "payments_credit_card", "deleted"]


# ---------------------------------------------------------------------------------------------
# One database, one schedule


def schedule_runs() -> list[tuple[str, str]]:
    runs = SyncRun.select().where(SyncRun.trigger == "schedule").order_by(SyncRun.id)
    return [(str(run.actor), str(run.status)) for run in runs]


async def test_a_console_and_a_serve_on_one_database_run_each_scheduled_tick_once(
    servers: Servers, tmp_path: Path
) -> None:
    bridge = new_bridge(servers, tmp_path)
    here = f"process {os.getpid()} on {socket.gethostname()}"

    def runtime(role: Any, actor: str, clock: SteppedClock) -> tuple[Runtime, Heard]:
        service = SyncService(bridge.settings, client_factory=bridge.world.client, actor=actor)
        made = Runtime(
            bridge.settings,
            service,
            role=role,
            clock=clock.clock,
            sleep=clock.sleep,
            lease_renew_seconds=0.05,
            lease_retry_seconds=0.05,
        )
        heard = Heard()
        made.add_listener(heard)
        return made, heard

    console_clock, serve_clock = SteppedClock(START), SteppedClock(START)
    console, console_heard = runtime("console", "jdoe (computer account)", console_clock)
    serve, serve_heard = runtime("serve", "paysync serve", serve_clock)

    console_task = asyncio.create_task(console.run())
    await until(lambda: console.holds_schedule, what="the console takes the free schedule")

    # `paysync serve` starts: it takes the schedule over from the console, and says so.
    claim_schedule(serve)
    taken_from = serve.lease.took_over_from
    assert taken_from is not None and taken_from.describe() == f"the console ({here})"
    serve_task = asyncio.create_task(serve.run())
    await until(
        lambda: not console.holds_schedule and console.schedule_holder is not None,
        what="the console hears who runs the schedule",
    )
    assert console.schedule_holder is not None
    assert console.schedule_holder.describe() == f"paysync serve ({here})"
    # A second `paysync serve` is refused, naming the one that runs the schedule.
    other, _ = runtime("serve", "paysync serve", SteppedClock(START))
    with pytest.raises(CouldNotRun, match=r"^paysync serve \(process \d+ on .*already runs the schedule"):
        claim_schedule(other)

    # 11:00 comes for both: only the holder runs it.
    console_clock.allow_until(ELEVEN)
    serve_clock.allow_until(ELEVEN)
    await until(lambda: serve_heard.of(ScheduledRunFinished), what="serve's 11:00 run")
    await asyncio.sleep(0.3)  # every chance for the console to run it too
    assert schedule_runs() == [("paysync serve", "ok")]
    assert not console_heard.of(ScheduledRunStarted)

    # serve stops: the console takes the schedule at its next look, and runs 12:00.
    console_clock.jump_to(ELEVEN + timedelta(minutes=1))
    serve.stop()
    await asyncio.wait_for(serve_task, 10)
    await until(lambda: console.holds_schedule, what="the console takes the schedule back")
    await until(lambda: console.next_run_at == TWELVE, what="the console plans 12:00")
    console_clock.allow_until(TWELVE)
    await until(lambda: console_heard.of(ScheduledRunFinished), what="the console's 12:00 run")
    assert schedule_runs() == [("paysync serve", "ok"), ("jdoe (computer account)", "ok")]

    changes = console_heard.of(ScheduleHolderChanged)
    assert [change.held_here for change in changes] == [True, False, True]
    assert changes[1].holder is not None and changes[1].holder.owner == "paysync serve"
    console.stop()
    await asyncio.wait_for(console_task, 10)
    assert schedule_holder() is None  # given back when it stopped


def start_serve(database: Path) -> tuple[subprocess.Popen[str], str]:
    """A real `paysync serve` on `database`; returns the process and its announcement."""
    serve = ServeProcess(
        serve_env(
            PAYSYNC_DATABASE_URL=f"sqlite:///{database}",
            PAYSYNC_KEY_FILE=os.environ["PAYSYNC_KEY_FILE"],
            QBWC_PASSWORD="runtime-test-password",
        )
    )
    return serve.process, serve.announcement()


async def test_the_console_says_that_paysync_serve_runs_the_schedule_and_takes_it_when_serve_stops(
    tmp_path: Path,
) -> None:
    database = tmp_path / "paysync.db"
    process, announcement = start_serve(database)
    try:
        assert "PaySync is listening for the QuickBooks Web Connector" in announcement
        settings = Settings(database_url=f"sqlite:///{database}", schedule="hourly")
        open_database(settings.database_url)  # the same file, from this process
        service = SyncService(settings, actor="jdoe (computer account)")
        runtime = Runtime(settings, service, role="console", lease_retry_seconds=0.2)
        app = PaySyncApp(
            settings,
            service,
            runtime=runtime,
            refresh_seconds=None,
            display_tz=UTC,
            preferences_folder=tmp_path / "config",
        )
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: runtime.schedule_holder is not None, what="the console hears of serve")
            await settle(pilot)
            serve_runs_it = (
                f"Schedule hourly · runs in paysync serve (process {process.pid} on {socket.gethostname()})"
            )
            top = app.main_screen.query_one(TopBar)
            assert serve_runs_it in top.plain
            told = [n.message for n in app._notifications]
            assert any(
                text.startswith(f"The schedule runs in paysync serve (process {process.pid} ")
                for text in told
            )

            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            await until(lambda: runtime.holds_schedule, what="the console takes the schedule")
            await settle(pilot)
            assert "runs in" not in top.plain and "Schedule hourly · next " in top.plain
            told = [n.message for n in app._notifications]
            assert any(text.startswith("This console runs the schedule now") for text in told)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
