"""F1 / ?: every key with what it does, and what each ERP status means."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.bindings import COMPANY_BINDINGS, HELP_SECTIONS, MODAL_BINDINGS, NAVIGATION_HELP
from console.widgets.footer import KeyFooter
from console.widgets.status import STATUS_MEANINGS, status_text
from storage.views import ERP_STATUSES

_NAMES = {"question_mark": "?", "slash": "/", "escape": "esc", "enter": "enter"}


def key_label(binding: Binding, keymap: Mapping[str, str] | None = None) -> str:
    """The keys of a binding as the user has them (their keymap.toml moves them)."""
    keys = (keymap or {}).get(binding.id or "", binding.key)
    return " / ".join(_NAMES.get(k.strip(), k.strip()) for k in keys.split(",") if k.strip())


def keys_table(title: str, bindings: list[Binding], keymap: Mapping[str, str] | None = None) -> Table:
    table = Table(
        title=title, title_justify="left", title_style="bold", box=None, expand=True, show_header=False
    )
    table.add_column("key", style="bold", width=16, no_wrap=True)
    table.add_column("what it does", ratio=1)
    table.add_column("id", style="dim", no_wrap=True, width=22)
    for binding in bindings:
        table.add_row(key_label(binding, keymap), binding.tooltip or binding.description, binding.id or "")
    return table


def navigation_table() -> Table:
    table = Table(
        title="Moving around",
        title_justify="left",
        title_style="bold",
        box=None,
        expand=True,
        show_header=False,
    )
    table.add_column("key", style="bold", width=16, no_wrap=True)
    table.add_column("what it does", ratio=1)
    for key, text in NAVIGATION_HELP:
        table.add_row(key, text)
    return table


def status_legend() -> Table:
    table = Table(
        title="ERP status", title_justify="left", title_style="bold", box=None, expand=True, show_header=False
    )
    table.add_column("status", width=24, no_wrap=True)
    table.add_column("meaning", ratio=1)
    for status in ERP_STATUSES:
        table.add_row(status_text(status), STATUS_MEANINGS[status])
    return table


WEB_CONNECTOR_NOTE = Text(
    "The QuickBooks Web Connector is pull-only: QuickBooks data moves only when it polls. "
    "Sync now pushes what PaySync already knows at once and queues QuickBooks queries for the next poll; "
    "when that poll ends, the new payments are pushed at once. The top bar shows when it last polled.",
    style="italic",
)


def settings_note(folder: str) -> Text:
    text = Text("Your settings: ", style="bold")
    text.append(
        f"{folder} holds console.json (the theme you pick with ctrl+p is kept there; "
        '"display_tz": "America/Chicago" shows times in that zone, as PAYSYNC_DISPLAY_TZ does) and '
        'keymap.toml (your keys: a binding id from the right-hand column = "key", for example '
        'sync-now = "ctrl+s").'
    )
    return text


WINDOW_HELP_NOTE = Text(
    "? on the main screen lists every key of the console, what each ERP status means and where your "
    "settings live.",
    style="italic",
)


class HelpScreen(ModalScreen[None]):
    """Every key (from the main screen); or, opened from another window with `sections`, that
    window's keys only."""

    BINDINGS = [*MODAL_BINDINGS, Binding("f1,question_mark", "close", "Close", show=False)]

    def __init__(
        self, sections: list[tuple[str, list[Binding]]] | None = None, *, title: str = "PaySync help"
    ) -> None:
        super().__init__()
        self.sections = sections
        self.title_text = title

    def compose(self) -> ComposeResult:
        keymap = getattr(self.app, "_keymap", {})
        preferences = getattr(self.app, "preferences", None)
        with Vertical(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            dialog.border_subtitle = "esc to close"
            if self.sections is not None:
                dialog.add_class("-window")
            with VerticalScroll(id="help-body"):
                for title, bindings in self.sections if self.sections is not None else self.main_sections():
                    yield Static(keys_table(title, bindings, keymap), classes="help-section")
                if self.sections is not None:
                    yield Static(WINDOW_HELP_NOTE, classes="help-section")
                else:
                    yield Static(navigation_table(), classes="help-section")
                    yield Static(status_legend(), classes="help-section")
                    yield Static(WEB_CONNECTOR_NOTE, classes="help-section")
                    if preferences is not None:
                        yield Static(settings_note(str(preferences.folder)), classes="help-section")
        yield KeyFooter()

    def main_sections(self) -> list[tuple[str, list[Binding]]]:
        """Every key; the company filter's only when there are several company files."""
        main_screen = getattr(self.app, "main_screen", None)
        if not getattr(main_screen, "several_company_files", False):
            return HELP_SECTIONS
        return [HELP_SECTIONS[0], ("Several company files", COMPANY_BINDINGS), *HELP_SECTIONS[1:]]

    def action_close(self) -> None:
        self.dismiss(None)
