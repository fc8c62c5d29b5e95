"""The key footer: the screen's own keys, and on a narrow terminal the ones that matter most.

Textual's Footer shows every active key and cuts off whatever does not fit, which at 80 columns
was Quit and Help. This one ranks the keys (console/bindings.py FOOTER_PRIORITY) and leaves out
the least needed ones until the rest fit, so Quit and Help are always there.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from console.bindings import FOOTER_PRIORITY

UNRANKED = 50
PALETTE_RANK = 90  # the command palette's key goes first: ctrl+p works all the same


def key_width(key_display: str, description: str) -> int:
    """Cells a FooterKey takes: " k " then "Description "."""
    return cell_len(key_display) + 2 + (cell_len(description) + 1 if description else 0)


def choose(entries: list[tuple[int, int]], width: int) -> set[int]:
    """Indexes of the entries (rank, cells) to show in `width` cells: by rank, skipping what does not fit."""
    chosen: set[int] = set()
    used = 0
    for index in sorted(range(len(entries)), key=lambda i: (entries[i][0], i)):
        rank, cells = entries[index]
        if used + cells <= width or rank == 0:
            chosen.add(index)
            used += cells
    return chosen


class KeyFooter(Footer):
    """A Footer that keeps Quit and Help (and the most needed keys) at any width."""

    shown_keys: tuple[str, ...] = ()  # the key displays shown, in order (for tests)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        entries: list[tuple[Binding, bool, str]] = []
        # Keys that work but are not worth a place now (the company filter with one company file).
        actions: set[str] = set(getattr(self.screen, "footer_hidden_actions", ()))
        for _, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)
            entries.append((binding, enabled, tooltip))
        palette: tuple[Binding, bool, str] | None = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                palette = (found[1], found[2], found[3])
        ranked = [
            (
                FOOTER_PRIORITY.get(binding.id or "", UNRANKED),
                key_width(self.app.get_key_display(binding), binding.description),
            )
            for binding, _, _ in entries
        ]
        if palette is not None:
            ranked.append(
                (PALETTE_RANK, key_width(self.app.get_key_display(palette[0]), palette[0].description) + 2)
            )
        width = self.size.width or self.screen.size.width or self.app.size.width
        keep = choose(ranked, width)
        shown: list[str] = []
        for index, (binding, enabled, tooltip) in enumerate(entries):
            if index not in keep:
                continue
            display = self.app.get_key_display(binding)
            shown.append(display)
            yield FooterKey(
                binding.key,
                display,
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip or binding.tooltip,
            ).data_bind(compact=Footer.compact)
        if palette is not None and len(entries) in keep:
            binding, enabled, tooltip = palette
            shown.append(self.app.get_key_display(binding))
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                classes="-command-palette",
                disabled=not enabled,
                tooltip=binding.tooltip or binding.description,
            )
        self.shown_keys = tuple(shown)

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready:
            self.call_after_refresh(self.recompose)
