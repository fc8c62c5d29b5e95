"""The PaySync console: a Textual app over the sync engine (`sync.engine.service.SyncService`).

The app owns what outlives a screen: the engine facade, the clock, the runtime (the same
`sync.runtime.runtime.Runtime` that `paysync serve` runs: the schedule, whose lease decides whether
this console or another process runs it, and with --with-web-connector the endpoint and the push
after each session; run in the background through console/runtime_bridge.py), the one error modal
every failed worker ends up in, and the person's preferences (theme, time zone, keymap:
console/preferences.py). The screens do the rest; they see the app through `ConsoleHost`
(console/context.py), and the demo's sandbox is handed in as a `ConsoleEnvironment`, so neither
the screens nor the demo are imported back from here in a circle.
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
from textual.worker import Worker, WorkerState

from console.bindings import (
    APP_BINDINGS,
    COMPANY_BINDINGS,
    MAIN_BINDINGS,
    PAYMENTS_PANE_BINDINGS,
    SCREEN_CONTEXTS,
    all_bindings,
)
from console.context import ConsoleEnvironment, ConsoleHost, Progress
from console.messages import ProblemReport
from console.preferences import (
    Preferences,
    config_dir,
    display_zone,
    load_keymap,
    load_preferences,
    without_clashes,
)
from console.runtime_bridge import RuntimeBridge, RuntimeEventArrived
from console.screens.error import ErrorModal, describe_error
from console.screens.health import HealthScreen
from console.screens.help import HelpScreen
from console.screens.log import EventLogScreen
from console.screens.main import MainScreen
from console.widgets.status import use_theme
from storage.fields import utc_now
from sync.doctor.check import Check
from sync.doctor.run import run_checks
from sync.engine.cancel import SyncCancel
from sync.runtime.events import EndpointFailed
from sync.runtime.runtime import Runtime
from sync.runtime.scheduler import parse_schedule
from sync.settings import ConfigError, Settings, open_settings_database

if TYPE_CHECKING:
    from sync.engine.service import SyncService
    from sync.engine.summary import SyncSummary


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
        environment: ConsoleEnvironment | None = None,
        run_scheduler: bool = True,
        runtime: Runtime | None = None,
        refresh_seconds: float | None = 15.0,
        keymap: Keymap | None = None,
        preferences_folder: Path | None = None,
    ) -> None:
        """`display_tz`: None shows local time; by default PAYSYNC_DISPLAY_TZ or console.json say.
        `environment`: an embedded environment to run on (`paysync demo` passes its sandbox,
        console/demo.py), else the configured Procore and Web Connector.
        `runtime`: the runtime to run in the background (run_console's hosts the Web Connector
        endpoint with --with-web-connector); by default one with the schedule only, on the `now`
        clock, unless `run_scheduler` is False. `preferences_folder`: where console.json and
        keymap.toml live (default: the user config folder, or PAYSYNC_CONFIG_DIR)."""
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
        self.refresh_seconds = refresh_seconds
        self._keymap = keymap or {}
        if runtime is None and run_scheduler:
            try:
                runtime = Runtime(
                    settings,
                    service,
                    role="console",
                    clock=now,
                    # The demo's Web Connector is simulated: a scheduled run lets it poll at once.
                    poll_web_connector=environment.poll_web_connector if environment is not None else None,
                )
            except ConfigError as error:  # an invalid schedule: said when the console opens
                self.setting_problems.append(str(error))
        self.bridge = RuntimeBridge(runtime) if runtime is not None else None
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
        return self.bridge.endpoint_url if self.bridge is not None else None

    @property
    def next_run_at(self) -> datetime | None:
        """The next scheduled run in this console (None while another process runs the schedule)."""
        return self.bridge.next_run(self.now()) if self.bridge is not None else None

    @property
    def schedule_holder(self) -> str | None:
        """Who runs the schedule when this console does not: "paysync serve (process 1234 on host X)"."""
        return self.bridge.holder_text if self.bridge is not None else None

    @property
    def scheduled_run_running(self) -> bool:
        return self.bridge is not None and self.bridge.runtime.scheduled_run_running

    # ----------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.apply_preferences()
        self.push_screen(self.main_screen)
        for problem in self.setting_problems:
            self.notify(problem, title="Console settings", severity="warning", timeout=15)
        if self.refresh_seconds:
            # The Web Connector, the schedule or `paysync serve` may change the data under us.
            self.set_interval(self.refresh_seconds, self.main_screen.load_overview)
        if self.bridge is not None:
            self.bridge.start(self)

    def on_unmount(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        if self.environment is not None:
            self.environment.begin_stop()

    async def action_quit(self) -> None:
        # A sync under way stops after the payment being written now, so quitting is quick and the
        # journal stays whole; the demo's servers start winding down, in their own threads.
        by = f"{self.service.actor} (quit the console)"
        if self.main_screen.is_mounted:
            self.main_screen.cancel_sync(by=by)
        if self.bridge is not None:
            self.bridge.stop(by=by)
        if self.environment is not None:
            self.environment.begin_stop()
        await super().action_quit()

    def cancel_scheduled_run(self, by: str) -> bool:
        """Stop this console's scheduled run after its current write; False when none runs."""
        return self.bridge is not None and self.bridge.runtime.cancel_scheduled_run(by)

    # ----------------------------------------------------------------------------------------
    # The runtime's events (console/runtime_bridge.py): the schedule's holder in the top bar and a
    # toast when it changes, the scheduled runs and the pushes after a session on the main screen

    def on_runtime_event_arrived(self, message: RuntimeEventArrived) -> None:
        event = message.event
        notice = self.bridge.take(event) if self.bridge is not None else None
        if notice is not None:
            self.notify(notice.text, title=notice.title, severity=notice.severity, timeout=notice.timeout)  # type: ignore[arg-type]
        if isinstance(event, EndpointFailed):
            self.show_problem(
                describe_error(OSError(event.message), doing="serve the Web Connector endpoint")
            )
        if self.main_screen.is_mounted:
            self.main_screen.runtime_event(event)

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
        contexts = [
            [*APP_BINDINGS, *MAIN_BINDINGS, *COMPANY_BINDINGS, *PAYMENTS_PANE_BINDINGS],
            *SCREEN_CONTEXTS,
        ]
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
        if action in ("event_log", "health"):
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

    def action_health(self) -> None:
        if not isinstance(self.screen, HealthScreen):
            self.push_screen(HealthScreen(self.health_checks, now=self.now, tz=self.display_tz))

    def health_checks(self) -> list[Check]:
        """The doctor's checks (run in the Health screen's worker thread). In the demo, and with
        --with-web-connector, the Web Connector's URL is the endpoint this process serves."""
        settings = self.settings
        served = getattr(self.environment, "qbwc_url", None) or self.endpoint_url
        if served and not settings.qbwc_public_url:
            settings = settings.with_overrides(qbwc_public_url=served)
        return run_checks(settings)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in [*MAIN_BINDINGS, *COMPANY_BINDINGS, *PAYMENTS_PANE_BINDINGS]:
            if binding.action in ("open_detail", "clear_filter"):
                continue
            action = binding.action

            async def run(action: str = action) -> None:
                await self.main_screen.run_action(action)

            yield SystemCommand(binding.description, binding.tooltip, run)
        yield SystemCommand("Event log", "The audit log and the errors.", self.action_event_log)
        yield SystemCommand("Health", "The checks of `paysync doctor`, with the fixes.", self.action_health)
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

    def perform_sync(
        self, *, trigger: str, progress: Progress, cancel: SyncCancel | None = None
    ) -> tuple[SyncSummary, str | None]:
        """Run one sync a person asked for (the scheduled ones are the runtime's); return its
        summary and a note about the Web Connector. `cancel` stops it between two writes."""
        progress(0, 0, "Checking your Procore permission, then syncing…")
        if self.environment is not None:
            return self.environment.sync(self.service, trigger=trigger, progress=progress, cancel=cancel)
        note = "QuickBooks queries are queued: the Web Connector picks them up on its next poll."
        return self.service.sync_now(trigger=trigger, progress=progress, cancel=cancel), note


if TYPE_CHECKING:

    def _is_a_console_host(app: PaySyncApp) -> ConsoleHost:
        return app  # mypy checks that the app gives the screens what console/context.py promises


def run_console(settings: Settings, *, with_web_connector: bool = False, new_database: bool = False) -> int:
    """`paysync`: the console against the configured Procore and Web Connector. The runtime runs
    in its background: the schedule (unless `paysync serve` or another console runs it on this
    database: the top bar then says which), and with `with_web_connector` the endpoint."""
    from sync.engine.service import SyncService
    from sync.quickbooks.webconnector.app import check_tls_settings
    from sync.runtime.scheduler import remember_schedule
    from sync.settings import acting_person

    schedule = parse_schedule(settings.schedule)
    settings.require_procore()
    open_settings_database(settings, new_database=new_database)
    # The cutoff is not recorded here: only when a real run starts (the first sync that reaches
    # Procore, or the Web Connector's first session: sync/quickbooks/cutoff.py).
    remember_schedule(schedule.expression)
    actor = acting_person("console")  # the Procore user signed in, else this computer's account
    service = SyncService(settings, actor=actor)
    if with_web_connector:
        check_tls_settings(settings)
        settings.require_qbwc_password()
    runtime = Runtime(settings, service, role="console", host_endpoint=with_web_connector)
    PaySyncApp(settings, service, runtime=runtime).run()
    return 0
