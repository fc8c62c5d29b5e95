"""One runtime: what runs on its own, the same object in `paysync serve` and in the console.

A `Runtime` owns

- **the schedule** (scheduler.py): one process per database runs it, the one that holds the
  schedule lease (storage/leases.py). The holder renews it every LEASE_RENEW_SECONDS and looks at
  it again before each scheduled run; a process that does not hold it says who does and tries again
  every LEASE_RETRY_SECONDS, so when the holder stops the schedule moves within about a minute
  (within a few when it was killed: its lease first has to expire). `paysync serve` takes the
  schedule over from a console; a console takes it from nobody who still holds it;
- **the scheduled job** (`run_scheduled_job`): queue the QuickBooks queries for the Web Connector's
  next poll, refresh from Procore, push (`SyncService.refresh_and_push`) — the same steps wherever
  it runs;
- **the Web Connector endpoint**, when this process hosts it: `create_qbwc_app` under uvicorn, on
  the runtime's own event loop (in the console, Textual's);
- **the push after each Web Connector session** (pusher.BackgroundPusher).

`paysync serve` runs it headless: `asyncio.run(runtime.run())`, which lasts as long as its endpoint
(Ctrl+C, SIGTERM). The console runs `runtime.run()` as a Textual async worker and calls `stop()`
when it closes. What happens is told as typed events (events.py) to the listeners. Stopping asks
every push under way to stop after the write it is making (engine/cancel.py), so quitting is quick
and the journal stays whole.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import uvicorn

from storage.fields import utc_now
from storage.leases import Role, ScheduleHolder, ScheduleLease, claim_scheduled_run
from sync.engine.cancel import SyncCancel
from sync.engine.runs import record_failed_run
from sync.engine.service import SyncService
from sync.engine.summary import SyncSummary
from sync.quickbooks.webconnector.app import check_tls_settings, create_qbwc_app
from sync.quickbooks.webconnector.passwords import DEFAULT_ITERATIONS
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.runtime.events import (
    EndpointFailed,
    EndpointListening,
    NextRunPlanned,
    PushFinished,
    RunProgressed,
    RuntimeEvent,
    ScheduledRunFinished,
    ScheduledRunStarted,
    ScheduleHolderChanged,
    WebConnectorSessionClosed,
)
from sync.runtime.pusher import BackgroundPusher
from sync.runtime.scheduler import CompanySchedules, SchedulerLoop, company_schedules, parse_schedule
from sync.settings import ConfigError, Settings

log = logging.getLogger("paysync.runtime")

LEASE_RENEW_SECONDS = 30.0  # the holder renews the schedule lease (it lasts SCHEDULE_LEASE_TTL, 2 min)
LEASE_RETRY_SECONDS = 60.0  # a process that does not hold it looks again this often
FINISH_WAIT_SECONDS = 30.0  # at stop, how long to wait for a push to end its current write

# How each role names itself in the schedule lease ("the schedule runs in paysync serve (…)").
OWNERS: dict[Role, str] = {"serve": "paysync serve", "console": "the console"}

Listener = Callable[[RuntimeEvent], object]


class EndpointError(Exception):
    """The Web Connector endpoint could not listen; the message says what to do."""


class Runtime:
    def __init__(
        self,
        settings: Settings,
        service: SyncService,
        *,
        role: Role = "serve",
        host_endpoint: bool = False,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_sleep: float = 300.0,
        lease_renew_seconds: float = LEASE_RENEW_SECONDS,
        lease_retry_seconds: float = LEASE_RETRY_SECONDS,
        poll_web_connector: Callable[[], object] | None = None,
        password_iterations: int | None = None,
        on_event: Listener | None = None,
    ) -> None:
        """`host_endpoint`: serve the Web Connector endpoint here (the database must be open).
        `clock`, `sleep`, `max_sleep`: the scheduler's (tests pass a fake clock).
        `poll_web_connector`: a Web Connector that polls when asked (the demo's simulated one): a
        scheduled run asks it to poll right after queueing the QuickBooks queries."""
        self.settings = settings
        self.service = service
        self.role: Role = role
        self.schedule = parse_schedule(settings.schedule)
        # Each company file's schedule, read again with the lease (a file added or removed while
        # this runs is scheduled from the next renewal on).
        self.company_schedules = CompanySchedules(((settings.qbwc_file_key, self.schedule),))
        self.lease = ScheduleLease(OWNERS[role], role=role)
        self.pusher = BackgroundPusher(service, on_finished=self._push_finished)
        self.poll_web_connector = poll_web_connector
        self.procore_problem: str | None = None  # why nothing can be pushed to Procore, if so
        try:
            settings.require_procore()
        except ConfigError as exc:
            self.procore_problem = str(exc)
        self._clock = clock
        self._sleep = sleep
        self._max_sleep = max_sleep
        self._renew_seconds = lease_renew_seconds
        self._retry_seconds = lease_retry_seconds
        self._listeners: list[Listener] = [on_event] if on_event is not None else []
        self.qbwc_app: Any = None
        self.endpoint_url: str | None = None
        if host_endpoint:
            check_tls_settings(settings)
            self.qbwc_app = create_qbwc_app(
                settings,
                on_session_closed=self.session_closed,
                password_iterations=password_iterations or DEFAULT_ITERATIONS,
            )
            self.endpoint_url = self._url(settings.qbwc_port)
        self.holds_schedule = False
        self.next_run_at: datetime | None = None
        self._last_holder: ScheduleHolder | None = None
        self._lease_lock = threading.Lock()
        self._scheduled_cancel: SyncCancel | None = None
        self._scheduler: SchedulerLoop | None = None
        self._scheduler_tasks: set[asyncio.Task[None]] = set()
        self._schedules_changed = False
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._stop_requested = False

    @property
    def actor(self) -> str:
        return self.service.actor

    # -- events ---------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: RuntimeEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener's fault never stops the runtime
                log.exception("a runtime listener failed on %r", event)

    def _progress(self, trigger: str) -> Callable[[int, int, str], None]:
        def progress(done: int, total: int, step: str) -> None:
            self._emit(RunProgressed(trigger, done, total, step))

        return progress

    # -- the schedule lease ---------------------------------------------------------------------

    def hold_schedule(self) -> bool:
        """Keep the schedule lease, or take it when it is free (blocking: the database). Tells the
        listeners when who runs the schedule changed. True while this process runs the schedule."""
        with self._lease_lock:
            if self._stop_requested:
                return False
            if self.holds_schedule and self.lease.renew():
                self._read_company_schedules()
                return True
            if self.lease.try_acquire():
                self._read_company_schedules()
                if not self.holds_schedule:
                    self.holds_schedule = True
                    self._last_holder = None
                    self._emit(ScheduleHolderChanged(True, taken_from=self.lease.took_over_from))
                return True
            holder = self.lease.current_holder
            if self.holds_schedule or holder != self._last_holder:
                self.holds_schedule = False
                self.next_run_at = None
                self._last_holder = holder
                self._emit(ScheduleHolderChanged(False, holder=holder))
            return False

    def _read_company_schedules(self) -> None:
        try:
            schedules = company_schedules(self.settings)
        except Exception:  # keep the schedules known so far; the next renewal reads them again
            log.warning("could not read the company files' schedules", exc_info=True)
            return
        if schedules != self.company_schedules:
            self.company_schedules = schedules
            self._schedules_changed = True

    def release_schedule(self) -> None:
        with self._lease_lock:
            if self.lease.held:
                self.lease.release()
            self.holds_schedule = False

    @property
    def schedule_holder(self) -> ScheduleHolder | None:
        """Who runs the schedule when this process does not (as last seen)."""
        return None if self.holds_schedule else self._last_holder

    # -- the scheduled job ----------------------------------------------------------------------

    def _scheduled_tick(self) -> None:
        """What the scheduler runs when a run is due (in a worker thread): the job, if this process
        still holds the schedule; else the one that holds it now runs it."""
        if not self.hold_schedule():
            self._wake_keeper()
            return
        due = self._scheduler.next_run_at if self._scheduler else None
        if due is not None and not claim_scheduled_run(due):
            log.info("the scheduled run due at %s was already made by another process", due.isoformat())
            return
        self.run_scheduled_job(due=due)

    def run_scheduled_job(self, due: datetime | None = None) -> SyncSummary | None:
        """One scheduled run, in the caller's thread: queue the QuickBooks queries for the Web
        Connector's next poll, refresh from Procore, push. Without Procore configured the run is kept
        as failed, with the reason. Returns the push's summary (None when nothing could be pushed)."""
        self._emit(ScheduledRunStarted(due))
        cancel = SyncCancel()
        self._scheduled_cancel = cancel
        summary: SyncSummary | None = None
        queued: tuple[str, ...] = ()
        problem: str | None = None
        try:
            # The company files whose schedule has a run now (each file may have its own).
            due_files = self.company_schedules.due_at(due) if due is not None else []
            names: list[str] = []
            for file_key in due_files or [self.settings.qbwc_file_key]:
                items = queue_quickbooks_refresh(file_key, requested_by="schedule")
                shown = "" if file_key == self.settings.qbwc_file_key else f" ({file_key})"
                names.extend(f"{item.kind}{shown}" for item in items)
            queued = tuple(names)
            if self.poll_web_connector is not None and not cancel.requested:
                self.poll_web_connector()
            if self.procore_problem is not None:
                problem = f"QuickBooks queries were queued, but nothing can be pushed to Procore: {self.procore_problem}"
                record_failed_run("schedule", self.actor, problem, where="config")
            else:
                summary = self.pusher.push_now("schedule", progress=self._progress("schedule"), cancel=cancel)
        except Exception as exc:  # the scheduler keeps it as a failed run and goes on
            problem = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._scheduled_cancel = None
            self._emit(ScheduledRunFinished(due, summary, queued, problem))
        return summary

    def cancel_scheduled_run(self, by: str) -> bool:
        """Stop the scheduled run under way after its current write; False when none runs."""
        cancel = self._scheduled_cancel
        if cancel is None:
            return False
        cancel.request(by)
        return True

    @property
    def scheduled_run_running(self) -> bool:
        return self._scheduled_cancel is not None

    # -- the push after each Web Connector session -------------------------------------------

    def session_closed(self, file_key: str) -> None:
        """The endpoint's hook (a worker thread) after a session brought changes: push them at once,
        in the background. Without Procore configured each such session is kept as a failed push."""
        self._emit(WebConnectorSessionClosed(file_key))
        if self.procore_problem is not None:
            record_failed_run(
                "web_connector",
                self.actor,
                f"the payments from company file {file_key!r} are stored but cannot be pushed to Procore: "
                f"{self.procore_problem}",
                where="config",
            )
            return
        self.pusher.request("web_connector")

    def _push_finished(self, trigger: str, summary: SyncSummary | None, problem: str | None) -> None:
        self._emit(PushFinished(trigger, summary, problem))

    # -- running --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()` (or, in `paysync serve`, until the endpoint stops: Ctrl+C, SIGTERM).
        In `paysync serve` an endpoint that cannot listen raises EndpointError; in the console it
        is told (EndpointFailed) and the schedule goes on."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        if self._stop_requested:
            return
        if self.qbwc_app is not None and self.procore_problem is not None:
            log.warning(
                "Procore is not configured (PROCORE_CLIENT_ID/SECRET/COMPANY_ID): payments are stored but not pushed"
            )
        keeper = asyncio.create_task(self._keep_schedule(), name="paysync-schedule-lease")
        endpoint = (
            asyncio.create_task(self._serve_endpoint(), name="paysync-endpoint")
            if self.qbwc_app is not None
            else None
        )
        try:
            if endpoint is not None and self.role == "serve":
                await endpoint  # headless: the service lives as long as its endpoint
            else:
                await self._stopping.wait()
        finally:
            self._stop_on_loop()
            await asyncio.gather(
                keeper, *([endpoint] if endpoint else []), *self._scheduler_tasks, return_exceptions=True
            )
            await asyncio.to_thread(self._finish)

    def stop(self, *, by: str | None = None) -> None:
        """Stop: no more scheduled runs, the endpoint closes, the lease is given back, and a push
        under way stops after its current write (`by` is named as who stopped it). From any thread."""
        self._stop_requested = True
        who = by or f"{self.actor} (stopping {OWNERS[self.role]})"
        self.pusher.cancel(who)
        self.cancel_scheduled_run(who)
        if self._server is not None:
            self._server.should_exit = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._stop_on_loop()
        else:
            loop.call_soon_threadsafe(self._stop_on_loop)

    def _stop_on_loop(self) -> None:
        self._stop_requested = True
        if self._server is not None:
            self._server.should_exit = True
        self._stop_scheduler()
        if self._stopping is not None:
            self._stopping.set()

    def _finish(self) -> None:
        """After the loop work: give the lease back, let a push end its current write."""
        try:
            self.release_schedule()
        except Exception:
            log.warning("could not give the schedule lease back; it expires by itself", exc_info=True)
        self.pusher.wait(FINISH_WAIT_SECONDS)

    def _wake_keeper(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _keep_schedule(self) -> None:
        assert self._stopping is not None and self._wake is not None
        while not self._stopping.is_set():
            try:
                held = await asyncio.to_thread(self.hold_schedule)
            except Exception:  # a database hiccup: as before, and try again at the next beat
                log.warning("could not look at the schedule lease", exc_info=True)
                held = self.holds_schedule
            if self._stopping.is_set():
                return
            if held and self._schedules_changed and self._scheduler is not None:
                self._stop_scheduler()  # planned again with the company files' schedules as they are now
            self._schedules_changed = False
            if held:
                self._start_scheduler()
            else:
                self._stop_scheduler()
            self._wake.clear()
            wait = self._renew_seconds if held else self._retry_seconds
            waiters = {asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)

    def _start_scheduler(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = SchedulerLoop(
            self.company_schedules,
            self._scheduled_tick,
            clock=self._clock,
            sleep=self._sleep,
            max_sleep=self._max_sleep,
            actor=self.actor,
            on_plan=self._planned,
        )
        self._scheduler = scheduler
        task = asyncio.create_task(scheduler.run(), name="paysync-scheduler")
        self._scheduler_tasks.add(task)
        task.add_done_callback(self._scheduler_tasks.discard)

    def _stop_scheduler(self) -> None:
        """No more scheduled runs here (a run under way finishes; the lease decided who runs the next)."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.stop()
        self.next_run_at = None

    def _planned(self, due: datetime | None) -> None:
        self.next_run_at = due
        self._emit(NextRunPlanned(due))

    # -- the Web Connector endpoint -------------------------------------------------------------

    def _url(self, port: int) -> str:
        scheme = "https" if self.settings.qbwc_tls_cert else "http"
        host = self.settings.qbwc_host
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/qbwc"

    def _server_config(self) -> uvicorn.Config:
        settings = self.settings
        quiet: dict[str, Any] = {"log_config": None, "log_level": "critical"}  # nothing may tear the console
        return uvicorn.Config(
            self.qbwc_app,
            host=settings.qbwc_host,
            port=settings.qbwc_port,
            ssl_certfile=settings.qbwc_tls_cert,
            ssl_keyfile=settings.qbwc_tls_key,
            access_log=False,
            lifespan="off",
            # Slow or idle clients are dropped: a connection idle between requests for 5 s is closed,
            # and past 64 open connections new ones get 503 (the Web Connector makes one at a time).
            timeout_keep_alive=5,
            limit_concurrency=64,
            **({"log_level": "info"} if self.role == "serve" else quiet),
        )

    async def _serve_endpoint(self) -> None:
        try:
            await self._run_server()
        except EndpointError as exc:
            self._emit(EndpointFailed(str(exc)))
            if self.role == "serve":
                raise

    async def _run_server(self) -> None:
        if self.role != "serve":
            logging.getLogger("uvicorn.error").disabled = True
        server = uvicorn.Server(self._server_config())
        self._server = server
        if self._stop_requested:
            return
        watcher = asyncio.create_task(self._tell_when_listening(server))
        settings = self.settings
        refusal = (
            f"The Web Connector endpoint could not listen on {settings.qbwc_host}:{settings.qbwc_port} (is "
            "another PaySync, `paysync serve` or a console with --with-web-connector, listening there?). "
            "Stop the other one, or set QBWC_PORT."
        )
        try:
            await server.serve()
        except SystemExit:  # uvicorn's answer to a port it cannot bind
            raise EndpointError(refusal) from None
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if not server.started and not server.should_exit:
            raise EndpointError(refusal)

    async def _tell_when_listening(self, server: uvicorn.Server) -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.05)
        port = self.settings.qbwc_port
        for listener in getattr(server, "servers", None) or ():
            for sock in listener.sockets or ():
                port = int(sock.getsockname()[1])
                break
        self.endpoint_url = self._url(port)
        self._emit(EndpointListening(self.endpoint_url))
