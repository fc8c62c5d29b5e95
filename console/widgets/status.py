"""ERP status as a coloured glyph AND a word (DESIGN "ERP status": never colour alone).

The colours come from the Textual theme in use: green, blue, yellow, red and grey are taken from
the theme's own (success, warning, error, foreground) and then made dark or light enough to read
on that theme's background, so they stay readable in every built-in theme, light ones included.
The app calls `use_theme` whenever the theme changes; everything that draws a status reads the
current `palette()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.color import Color
from textual.theme import Theme

from storage.views import NO_PAYMENTS, status_label
from storage.vocabulary import ErpStatus

SYNCED, WAITING, NEEDS_ATTENTION = ErpStatus.SYNCED, ErpStatus.WAITING, ErpStatus.NEEDS_ATTENTION
FAILED, DELETED_IN_QUICKBOOKS, NOT_SYNCED = (
    ErpStatus.FAILED,
    ErpStatus.DELETED_IN_QUICKBOOKS,
    ErpStatus.NOT_SYNCED,
)
MIN_CONTRAST = 4.5  # WCAG AA for normal text


@dataclass(frozen=True)
class Palette:
    """Rich colour strings for the five status colours."""

    green: str
    blue: str
    yellow: str
    red: str
    grey: str


# Before any theme is known (and for rendering outside an app): textual-dark's readable colours.
DEFAULT_PALETTE = Palette(green="#4ebf71", blue="#4a9eff", yellow="#e5c07b", red="#e06c75", grey="#8b949e")
# ANSI themes leave the colours to the terminal's own palette.
ANSI_PALETTE = Palette(green="green", blue="blue", yellow="yellow", red="red", grey="bright_black")
ANSI_LIGHT_PALETTE = Palette(green="green", blue="blue", yellow="magenta", red="red", grey="bright_black")

_current = DEFAULT_PALETTE


def palette() -> Palette:
    return _current


def contrast(foreground: Color, background: Color) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""

    def luminance(colour: Color) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(colour.r) + 0.7152 * channel(colour.g) + 0.0722 * channel(colour.b)

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable(colour: Color, backgrounds: list[Color], *, dark: bool) -> Color:
    """`colour`, made lighter (dark theme) or darker (light theme) until it reads on every background."""
    candidate = colour.with_alpha(1.0)
    for _ in range(40):
        if all(contrast(candidate, bg) >= MIN_CONTRAST for bg in backgrounds):
            return candidate
        candidate = candidate.lighten(0.03) if dark else candidate.darken(0.03)
    return candidate


def _theme_colour(value: str | None, fallback: str) -> Color:
    try:
        return Color.parse(value) if value else Color.parse(fallback)
    except Exception:  # noqa: BLE001 - a theme colour Textual itself could not parse: use ours
        return Color.parse(fallback)


def theme_variables(theme: Theme) -> dict[str, str]:
    """The colours a theme gives Textual's CSS ($background, $surface, $success…)."""
    return {**theme.to_color_system().generate(), **theme.variables}


def palette_for(theme: Theme) -> Palette:
    """The status colours for a theme."""
    if theme.name.startswith("ansi"):
        return ANSI_PALETTE if theme.dark else ANSI_LIGHT_PALETTE
    variables = theme_variables(theme)
    dark = theme.dark
    backgrounds = [
        _theme_colour(variables.get(name), "#1e1e1e" if dark else "#f0f0f0")
        for name in ("background", "surface", "panel")
    ]
    foreground = _theme_colour(variables.get("foreground"), "#e0e0e0" if dark else "#1f1f1f")
    blue = Color.parse("#4a9eff" if dark else "#1f5fbf")
    grey = foreground.blend(backgrounds[1], 0.4)
    chosen = {
        "green": _theme_colour(variables.get("success") or theme.success, "#4ebf71"),
        "blue": blue,
        "yellow": _theme_colour(variables.get("warning") or theme.warning, "#e5c07b"),
        "red": _theme_colour(variables.get("error") or theme.error, "#e06c75"),
        "grey": grey,
    }
    return Palette(**{name: readable(colour, backgrounds, dark=dark).hex for name, colour in chosen.items()})


def use_theme(theme: Theme) -> Palette:
    global _current
    _current = palette_for(theme)
    return _current


def status_colour(status: str) -> str:
    colours = palette()
    by_status: dict[str, str] = {
        SYNCED: colours.green,
        WAITING: colours.blue,
        NEEDS_ATTENTION: colours.yellow,
        FAILED: colours.red,
        DELETED_IN_QUICKBOOKS: colours.red,
    }
    return by_status.get(status, colours.grey)


# Each status also has its own glyph shape, so it reads without colour too.
STATUS_GLYPHS: dict[str, str] = {
    SYNCED: "●",
    WAITING: "◐",
    NEEDS_ATTENTION: "▲",
    FAILED: "✖",
    DELETED_IN_QUICKBOOKS: "⊘",
    NOT_SYNCED: "○",
    NO_PAYMENTS: "·",
}

# Where the columns are narrow (80 columns): still a word, never colour alone.
SHORT_LABELS: dict[str, str] = {
    SYNCED: "Synced",
    WAITING: "Waiting",
    NEEDS_ATTENTION: "Attention",
    FAILED: "Failed",
    DELETED_IN_QUICKBOOKS: "Deleted",
    NOT_SYNCED: "Not synced",
    NO_PAYMENTS: "None",
}

STATUS_MEANINGS: dict[str, str] = {
    SYNCED: "Procore matches QuickBooks.",
    WAITING: "Queued: waiting for the Web Connector's next poll or for the next push to Procore.",
    NEEDS_ATTENTION: "Needs mapping, rejected by Procore with a fixable error, or changed in both places.",
    FAILED: "The push to Procore failed; the reason says why. It is retried on the next sync.",
    DELETED_IN_QUICKBOOKS: "Deleted in QuickBooks: kept in Procore until an Admin retracts it (x).",
    NOT_SYNCED: "Pre-existing before the sync schedule was configured, or not a bill from Procore.",
    NO_PAYMENTS: "No payment yet.",
}


def status_text(status: str, *, count: int | None = None, short: bool = False) -> Text:
    """`● Synced`, or with a count `● 12 Synced`; `short` uses the narrow labels (`▲ Attention`)."""
    glyph = STATUS_GLYPHS.get(status, "?")
    colour = status_colour(status)
    text = Text(glyph, style=f"bold {colour}")
    if count is not None:
        text.append(f" {count}", style="bold")
    label = SHORT_LABELS.get(status, status_label(status)) if short else status_label(status)
    text.append(f" {label}", style=colour)
    return text
