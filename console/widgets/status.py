"""ERP status as a coloured glyph AND a word (DESIGN "ERP status": never colour alone)."""

from __future__ import annotations

from rich.text import Text

from storage.views import (
    DELETED_IN_QUICKBOOKS,
    FAILED,
    NEEDS_ATTENTION,
    NO_PAYMENTS,
    NOT_SYNCED,
    SYNCED,
    WAITING,
    status_label,
)

GREEN = "#4ebf71"
BLUE = "#4a9eff"
YELLOW = "#e5c07b"
RED = "#e06c75"
GREY = "#8b949e"

# Each status also has its own glyph shape, so it reads without colour too.
STATUS_GLYPHS: dict[str, tuple[str, str]] = {
    SYNCED: ("●", GREEN),
    WAITING: ("◐", BLUE),
    NEEDS_ATTENTION: ("▲", YELLOW),
    FAILED: ("✖", RED),
    DELETED_IN_QUICKBOOKS: ("⊘", RED),
    NOT_SYNCED: ("○", GREY),
    NO_PAYMENTS: ("·", GREY),
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


def status_text(status: str, *, count: int | None = None) -> Text:
    """`● Synced`, or with a count `● 12 Synced`."""
    glyph, colour = STATUS_GLYPHS.get(status, ("?", GREY))
    text = Text(glyph, style=f"bold {colour}")
    if count is not None:
        text.append(f" {count}", style="bold")
    text.append(f" {status_label(status)}", style=colour if status != NO_PAYMENTS else GREY)
    return text
