"""Every key the console answers to, as data (Posting's pattern).

Each binding has an `id` (so a keymap can move it: `App.set_keymap({"sync-now": "ctrl+s"})`),
a short description for the footer and a tooltip that the help screen shows in full.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding(
        "q", "quit", "Quit", tooltip="Stop the console (and, in the demo, the sandbox servers).", id="quit"
    ),
    Binding(
        "f1,question_mark",
        "help",
        "Help",
        key_display="?",
        tooltip="This list of keys and what each ERP status means.",
        id="help",
    ),
    Binding("l", "event_log", "Log", tooltip="The audit log and the errors, newest first.", id="event-log"),
]

MAIN_BINDINGS: list[Binding] = [
    Binding(
        "s",
        "sync_now",
        "Sync now",
        tooltip=(
            "Checks you may sync, pushes what is already known to Procore at once, and queues "
            "QuickBooks queries for the Web Connector's next poll (it is pull-only)."
        ),
        id="sync-now",
    ),
    Binding(
        "p",
        "preview",
        "Preview",
        tooltip="The plan a sync would carry out (create, update, void, flag, skip) with reasons; writes nothing.",
        id="preview",
    ),
    Binding(
        "e",
        "edit_payment_number",
        "Payment #",
        tooltip="Set or clear the Procore payment number of the selected payment (allowed on synced payments).",
        id="edit-payment-number",
    ),
    Binding(
        "a",
        "add_attachment",
        "Attach",
        tooltip="Attach a file (a check image, a remittance) to the selected payment in Procore.",
        id="add-attachment",
    ),
    Binding(
        "x",
        "retract",
        "Retract",
        tooltip="Delete from Procore a payment that was deleted in QuickBooks. Admin only; asks to confirm.",
        id="retract",
    ),
    Binding(
        "slash",
        "filter",
        "Filter",
        key_display="/",
        tooltip="Filter commitments by number, title, vendor, project or status word.",
        id="filter",
    ),
    Binding(
        "o",
        "toggle_sort",
        "Sort",
        tooltip="Sort commitments by number, or most urgent status first.",
        id="sort",
    ),
    Binding("r", "reload", "Reload", tooltip="Read everything again from the database.", id="reload"),
    Binding(
        "enter",
        "open_detail",
        "Details",
        show=False,
        tooltip="On a payment: QuickBooks side against Procore side, the reason, the write journal.",
        id="details",
    ),
    Binding(
        "escape",
        "clear_filter",
        "Clear filter",
        show=False,
        tooltip="Clear the commitment filter.",
        id="clear-filter",
    ),
]

PREVIEW_BINDINGS: list[Binding] = [
    Binding(
        "escape,q", "close", "Close", tooltip="Back to the main screen, nothing written.", id="preview-close"
    ),
    Binding("s", "sync_now", "Sync now", tooltip="Carry out this plan now.", id="preview-sync"),
]

LOG_BINDINGS: list[Binding] = [
    Binding("escape,q", "close", "Close", tooltip="Back to the main screen.", id="log-close"),
    Binding("r", "reload", "Reload", tooltip="Read the log again.", id="log-reload"),
    Binding(
        "slash", "filter", "Filter", key_display="/", tooltip="Filter the audit log by text.", id="log-filter"
    ),
]

MODAL_BINDINGS: list[Binding] = [
    Binding("escape", "close", "Close", tooltip="Close this window.", id="modal-close"),
]

HELP_SECTIONS: list[tuple[str, list[Binding]]] = [
    ("Main screen", MAIN_BINDINGS),
    ("Everywhere", APP_BINDINGS),
    ("Preview", PREVIEW_BINDINGS),
    ("Event log", LOG_BINDINGS),
]

NAVIGATION_HELP: list[tuple[str, str]] = [
    ("tab / shift+tab", "Move between Commitments, Invoices and Payments."),
    ("↑ ↓ pgup pgdn", "Move in a list; the panes to the right follow the selection."),
    ("ctrl+p", "Command palette: every action by name."),
]
