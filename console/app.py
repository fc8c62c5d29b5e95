"""The PaySync console: a Textual app over the sync engine (`sync.service.SyncService`).

The app owns what outlives a screen: the engine facade, the clock, the background scheduler
(a self-rescheduling timer, so runs never overlap), the optional in-process Web Connector
endpoint, the one error modal every failed worker ends up in, and the person's preferences
(theme, time zone, keymap: console/preferences.py). The screens do the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Keymap
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from console.bindings import (
    APP_BINDINGS,
    MAIN_BINDINGS,
    PAYMENTS_PANE_BINDINGS,
    SCREEN_CONTEXTS,
    all_bindings,
)
from console.messages import ProblemReport
from console.preferences import (
    Preferences,
    config_dir,
    display_zone,
    load_keymap,
    load_preferences,
    without_clashes,
)
from console.screens.error import ErrorModal, describe_error
from console.screens.help import HelpScreen
from console.screens.log import EventLogScreen
from console.screens.main import MainScreen
from console.widgets.status import use_theme
from storage.fields import utc_now
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.runtime.scheduler import parse_schedule
from sync.settings import ConfigError, Settings, open_settings_database

if TYPE_CHECKING:
    from console.demo import DemoEnvironment
    from console.endpoint import WebConnectorEndpoint
    from sync.engine.service import SyncService
    from sync.engine.summary import SyncSummary

Progress = Callable[[int, int, str], None]
SCHEDULE_RECHECK_SECONDS = 300.0  # re-read the clock at least this often while waiting for a run


class _FromPreferences:
    """The default of `display_tz`: PAYSYNC_DISPLAY_TZ, else console.json, else local time."""


FROM_PREFERENCES = _FromPreferences()


class PaySyncApp(App[None]):
    TITLE = "PaySync"
    CSS_PATH = "paysync.tcss"
    BINDINGS = [*APP_BINDINGS]
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        settings: Settings,
        service: SyncService,
        *,
        now: Callable[[], datetime] = utc_now,
        display_tz: tzinfo | None | _FromPreferences = FROM_PREFERENCES,
        environment: DemoEnvironment | None = None,
        run_scheduler: bool = True,
        web_connector_endpoint: WebConnectorEndpoint | None = None,
        refresh_seconds: float | None = 15.0,
        keymap: Keymap | None = None,
        preferences_folder: Path | None = None,
    ) -> None:
        """`display_tz`: None shows local time; by default PAYSYNC_DISPLAY_TZ or console.json say.
        `web_connector_endpoint`: host the Web Connector endpoint in-process, on the app's event
        loop. `preferences_folder`: where console.json and keymap.toml live (default: the user
        config folder, or PAYSYNC_CONFIG_DIR)."""
        super().__init__()
        self.settings = settings
        self.service = service
        self.now = now
        self.preferences: Preferences = load_preferences(preferences_folder or config_dir())
        self.setting_problems: list[str] = list(self.preferences.problems)
        if isinstance(display_tz, _FromPreferences):
            zone, problem = display_zone(self.preferences)
            self.display_tz: tzinfo | None = zone
            if problem:
                self.setting_problems.append(problem)
        else:
            self.display_tz = display_tz
        self.environment = environment
        self.run_scheduler = run_scheduler
        self.refresh_seconds = refresh_seconds
        self.web_connector_endpoint = web_connector_endpoint
        self.next_run_at: datetime | None = None
        self._schedule_timer: Timer | None = None
        self._keymap = keymap or {}
        self.main_screen = MainScreen()

    # What the top bar shows about how this console runs
    @property
    def schedule_expression(self) -> str:
        return self.settings.schedule

    @property
    def mode_label(self) -> str | None:
        return "DEMO" if self.environment is not None else None

    @property
    def web_connector_note(self) -> str | None:
        return "simulated" if self.environment is not None else None

    @property
    def endpoint_url(self) -> str | None:
        endpoint = self.web_connector_endpoint
        return str(endpoint.url) if endpoint is not None else None

    # ----------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.apply_preferences()
        self.push_screen(self.main_screen)
        for problem in self.setting_problems:
            self.notify(problem, title="Console settings", severity="warning", timeout=15)
        if self.run_scheduler:
            self.plan_next_scheduled_run()
        if self.refresh_seconds:
            # The Web Connector, the schedule or `paysync serve` may change the data under us.
            self.set_interval(self.refresh_seconds, self.main_screen.load_overview)
        if self.web_connector_endpoint is not None:
            self.host_web_connector()

    def on_unmount(self) -> None:
        if self.web_connector_endpoint is not None:
            self.web_connector_endpoint.stop()
        if self.environment is not None:
            self.environment.begin_stop()

    async def action_quit(self) -> None:
        # The demo's servers start winding down now, in their own threads, while the console closes.
        if self.environment is not None:
            self.environment.begin_stop()
        await super().action_quit()

    # ----------------------------------------------------------------------------------------
    # Preferences: the theme (kept between runs), the user's keymap, the status colours

    def apply_preferences(self) -> None:
        theme = self.preferences.theme
        if theme is not None:
            if theme in self.available_themes:
                self.theme = theme
            else:
                self.setting_problems.append(
                    f"{self.preferences.settings_path}: there is no theme {theme!r}; using {self.theme}. "
                    "Pick one with ctrl+p → Change theme."
                )
        use_theme(self.current_theme)
        known = {binding.id: binding.description for binding in all_bindings() if binding.id}
        from_file, problems = load_keymap(self.preferences, known)
        self.setting_problems.extend(problems)
        # Keys active together on one screen must stay distinct (a move onto `q` would lose Quit).
        contexts = [[*APP_BINDINGS, *MAIN_BINDINGS, *PAYMENTS_PANE_BINDINGS], *SCREEN_CONTEXTS]
        from_file, clashes = without_clashes(from_file, contexts, normalise=self._normalize_keymap)
        self.setting_problems.extend(clashes)
        keymap = {**from_file, **self._keymap}
        if keymap:
            self.set_keymap(keymap)
        self.theme_changed_signal.subscribe(self, self.theme_changed)

    def theme_changed(self, theme: Theme) -> None:
        use_theme(theme)
        if theme.name != self.preferences.theme:
            problem = self.preferences.remember("theme", theme.name)
            if problem:
                self.notify(problem, title="Theme not saved", severity="warning", timeout=10)
        for screen in self.screen_stack:
            restyle = getattr(screen, "restyle", None)
            if callable(restyle):
                restyle()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """App keys that make no sense on the screen in front are hidden from its footer and do nothing."""
        screen = self.screen
        if action == "event_log":
            return isinstance(screen, MainScreen)
        if action == "help":
            return not isinstance(screen, HelpScreen)
        if action == "quit":
            # A dialog is closed first (esc); the log and the preview have their own q (close).
            return not isinstance(screen, ModalScreen) and not isinstance(screen, EventLogScreen)
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_event_log(self) -> None:
        if not isinstance(self.screen, EventLogScreen):
            self.push_screen(EventLogScreen(tz=self.display_tz))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in [*MAIN_BINDINGS, *PAYMENTS_PANE_BINDINGS]:
            if binding.action in ("open_detail", "clear_filter"):
                continue
            action = binding.action

            async def run(action: str = action) -> None:
                await self.main_screen.run_action(action)

            yield SystemCommand(binding.description, binding.tooltip, run)
        yield SystemCommand("Event log", "The audit log and the errors.", self.action_event_log)
        yield SystemCommand("Keys and statuses", "The help screen.", self.action_help)

    # ----------------------------------------------------------------------------------------
    # The one error modal (Harlequin): every failed worker ends here, described with how to fix it

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_failed(event)

    def worker_failed(self, event: Worker.StateChanged) -> None:
        """Worker.StateChanged does not bubble, so each screen that runs workers hands it here."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            doing = event.worker.description or "finish the task"
            self.show_problem(describe_error(event.worker.error, doing=doing))

    def show_problem(self, problem: ProblemReport) -> None:
        self.log.error(f"{problem.title}: {problem.message}")
        if any(isinstance(screen, ErrorModal) for screen in self.screen_stack):
            # One modal at a time; a second failure is noted rather than stacked on top.
            self.notify(problem.message, title=problem.title, severity="error", timeout=8)
            return
        self.push_screen(ErrorModal(problem))

    # ----------------------------------------------------------------------------------------
    # Sync: called from the sync worker thread

    def perform_sync(self, *, trigger: str, progress: Progress) -> tuple[SyncSummary, str | None]:
        """Run one sync; return its summary and a note about the Web Connector."""
        if trigger != "schedule":
            progress(0, 0, "Checking your Procore permission, then syncing…")
        if self.environment is not None:
            return self.environment.sync(self.service, trigger=trigger, progress=progress)
        note = "QuickBooks queries are queued: the Web Connector picks them up on its next poll."
        if trigger == "schedule":
            # What `paysync serve` does on schedule: queue the QuickBooks queries, push what is known.
            queue_quickbooks_refresh(self.settings.qbwc_file_key, requested_by="schedule")
            return self.service.push(trigger="schedule", progress=progress), note
        return self.service.sync_now(trigger=trigger, progress=progress), note

    # ----------------------------------------------------------------------------------------
    # The scheduler (Dolphie's self-rescheduling timer: the next run is planned only after the
    # previous one finished, so runs never overlap)

    def plan_next_scheduled_run(self) -> None:
        if self._schedule_timer is not None:
            self._schedule_timer.stop()
            self._schedule_timer = None
        try:
            schedule = parse_schedule(self.schedule_expression)
        except ConfigError as error:
            self.show_problem(describe_error(error, doing="read the schedule"))
            return
        now = self.now()
        self.next_run_at = schedule.next_run(now)
        if self.next_run_at is not None:
            wait = (self.next_run_at - now).total_seconds()
            self._schedule_timer = self.set_timer(
                max(0.0, min(wait, SCHEDULE_RECHECK_SECONDS)), self.schedule_due
            )
        if self.main_screen.is_mounted:
            self.main_screen.render_topbar()

    def schedule_due(self) -> None:
        self._schedule_timer = None
        if self.next_run_at is None:
            return
        if self.now() < self.next_run_at:
            wait = (self.next_run_at - self.now()).total_seconds()
            self._schedule_timer = self.set_timer(min(wait, SCHEDULE_RECHECK_SECONDS), self.schedule_due)
            return
        if not self.main_screen.start_sync("schedule"):
            self.plan_next_scheduled_run()  # a sync was already running: skip this slot

    def sync_finished(self, trigger: str) -> None:
        if trigger == "schedule" and self.run_scheduler:
            self.plan_next_scheduled_run()

    # ----------------------------------------------------------------------------------------
    # The Web Connector endpoint, hosted on the app's own event loop (DESIGN: verified with uvicorn)

    def host_web_connector(self) -> None:
        endpoint = self.web_connector_endpoint
        if endpoint is None:
            return
        self.run_worker(
            endpoint.serve(),
            name="web-connector-endpoint",
            group="endpoint",
            exclusive=True,
            exit_on_error=False,
            description="serve the Web Connector endpoint",
        )


def run_console(settings: Settings, *, with_web_connector: bool = False, new_database: bool = False) -> int:
    """`paysync`: the console against the configured Procore and Web Connector."""
    from console.endpoint import WebConnectorEndpoint
    from sync.engine.service import SyncService
    from sync.quickbooks.webconnector.app import check_tls_settings, create_qbwc_app
    from sync.runtime.pusher import BackgroundPusher
    from sync.runtime.scheduler import remember_schedule
    from sync.settings import acting_person

    schedule = parse_schedule(settings.schedule)
    settings.require_procore()
    open_settings_database(settings, new_database=new_database)
    # The cutoff is not recorded here: only when a real run starts (the first sync that reaches
    # Procore, or the Web Connector's first session; sync.cutoff).
    remember_schedule(schedule.expression)
    actor = acting_person("console")  # the Procore user signed in, else this computer's account
    service = SyncService(settings, actor=actor)
    endpoint = None
    if with_web_connector:
        check_tls_settings(settings)
        settings.require_qbwc_password()
        pusher = BackgroundPusher(SyncService(settings, actor=actor))
        qbwc_app = create_qbwc_app(
            settings, on_session_closed=lambda file_key: pusher.request("web_connector")
        )
        endpoint = WebConnectorEndpoint(settings, qbwc_app)
    PaySyncApp(settings, service, web_connector_endpoint=endpoint).run()
    return 0
