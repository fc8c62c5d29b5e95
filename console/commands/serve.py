"""`paysync serve`: the runtime headless (the Web Connector endpoint, the scheduler, the pushes),
and what it says about itself."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from console.commands.common import EXIT_OK, CouldNotRun, open_database_for
from console.logfiles import configure_serve_logging
from storage.db import is_postgres
from storage.fields import utc_now
from storage.leases import ScheduleHolder
from sync.engine.service import SyncService
from sync.quickbooks.cutoff import format_cutoff, schedule_cutoff
from sync.quickbooks.webconnector.app import check_tls_settings
from sync.runtime.events import EndpointListening, RuntimeEvent, ScheduledRunFinished, ScheduleHolderChanged
from sync.runtime.runtime import EndpointError, Runtime
from sync.runtime.scheduler import parse_schedule, remember_schedule
from sync.runtime.status import iso_utc
from sync.settings import Settings, acting_person


def _cutoff_words() -> str:
    try:
        cutoff = schedule_cutoff()
    except Exception:  # the announcement must not fail on a database hiccup
        return ""
    if cutoff is None:
        return (
            "Cutoff: not recorded yet (PaySync records it at the Web Connector's first session or the first "
            "Procore refresh; `paysync cutoff` shows it)."
        )
    return f"Cutoff: {format_cutoff(cutoff)}."


class ServeReport:
    """What `paysync serve` says about its runtime's events: the announcement on stdout once the
    endpoint listens, the rest in the log."""

    def __init__(self, runtime: Runtime, taken_from: ScheduleHolder | None = None) -> None:
        self.runtime = runtime
        self.taken_from = taken_from
        self.log = logging.getLogger("paysync.serve")

    def __call__(self, event: RuntimeEvent) -> None:
        if isinstance(event, EndpointListening):
            print(self.announcement(event.url), flush=True)
        elif isinstance(event, ScheduleHolderChanged):
            if event.held_here:
                self.log.info("this service runs the schedule on this database")
            else:
                holder = event.holder.describe() if event.holder else "another PaySync"
                self.log.warning(
                    "the schedule runs in %s now; this service takes it back when it can", holder
                )
        elif isinstance(event, ScheduledRunFinished) and event.summary is not None:
            self.log.info("%s", event.summary.as_text())  # the pushes after a session log their own

    def announcement(self, url: str) -> str:
        runtime = self.runtime
        schedule = runtime.schedule
        next_run = iso_utc(runtime.next_run_at or schedule.next_run(utc_now()))
        holder = runtime.schedule_holder
        where = f"run by {holder.describe()}" if holder is not None else f"next run {next_run or 'never'}"
        text = (
            f"PaySync is listening for the QuickBooks Web Connector on {url} (WSDL: {url}?wsdl). "
            f"Schedule: {schedule.expression}, {where}. {_cutoff_words()} The .qwc file "
            f"points at {runtime.settings.qbwc_url}. Stop with Ctrl+C."
        )
        if self.taken_from is not None:
            text += (
                f" The schedule ran in {self.taken_from.describe()}: this service took it over (that console "
                "now shows what this service does)."
            )
        return text


def claim_schedule(runtime: Runtime) -> None:
    """Take the schedule for `paysync serve`: over from a console, never from another serve.

    On PostgreSQL several `paysync serve` share one database (each serves the Web Connector and
    pushes; the database keeps them apart): one that finds the schedule held by another comes up
    without it and takes it over when that one stops. On SQLite (one machine) a second serve is a
    mistake and is refused."""
    for _ in range(3):  # a console renewing at the same moment wins a compare-and-swap; ask again
        if runtime.hold_schedule():
            return
        holder = runtime.lease.current_holder
        if holder is None or holder.role != "console":
            break
    if is_postgres():
        logging.getLogger("paysync.serve").info(
            "%s; this service serves the Web Connector and pushes, and takes the schedule over when that "
            "one stops",
            runtime.lease.describe_holder(),
        )
        return
    raise CouldNotRun(
        f"{runtime.lease.describe_holder()}. Two PaySync services on one database would both run the schedule: "
        "stop the other one first, or point this one at another database (PAYSYNC_DATABASE_URL)."
    )


def stop_like_ctrl_c_on_service_stop() -> None:
    """systemd stops a unit with SIGTERM (and Windows' Ctrl+Break is SIGBREAK): end serve as Ctrl+C
    does, so the lease is given back. uvicorn catches these while it serves and raises them again
    once it has closed; the default action would then end the process before the lease is given
    back (the next start would wait for it to expire). SIGTERM is never delivered on Windows, where
    a service stop (WinSW) is a Ctrl+C."""
    for name in ("SIGTERM", "SIGBREAK"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.default_int_handler)


def command_serve(args: argparse.Namespace, settings: Settings) -> int:
    """The runtime headless (sync/runtime/runtime.py): the Web Connector endpoint, the scheduler and
    the pushes on one event loop, until Ctrl+C or SIGTERM. Refused while another `paysync serve`
    runs the schedule on the database; a console that runs it hands it over (it then shows what
    this service does)."""
    if args.host:
        settings = settings.with_overrides(qbwc_host=args.host)
    if args.port is not None:
        settings = settings.with_overrides(qbwc_port=args.port)
    schedule = parse_schedule(settings.schedule)
    check_tls_settings(settings)
    settings.require_qbwc_password()
    configure_serve_logging(settings.log_folder)
    open_database_for(args, settings)
    # The schedule is remembered (the console shows it); the cutoff is recorded only when a real
    # run starts: the Web Connector's first session or the first Procore refresh (sync/quickbooks/cutoff.py).
    remember_schedule(schedule.expression)
    runtime = Runtime(
        settings, SyncService(settings, actor=acting_person("serve")), role="serve", host_endpoint=True
    )
    claim_schedule(runtime)
    runtime.add_listener(ServeReport(runtime, taken_from=runtime.lease.took_over_from))
    stop_like_ctrl_c_on_service_stop()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runtime.run())
    except EndpointError as exc:
        raise CouldNotRun(str(exc)) from None
    finally:
        runtime.release_schedule()
    return EXIT_OK
