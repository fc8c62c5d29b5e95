"""Every key the console answers to, as data (Posting's pattern).

Each binding has an `id`, so a keymap can move it: `App.set_keymap({"sync-now": "ctrl+s"})`, or
the user's keymap file (keymap.toml in the console's config folder, see console/settings.py). Each
has a short description for the footer and a tooltip that the help screen shows in full.

`FOOTER_PRIORITY` says which keys the footer keeps when the terminal is too narrow for all of
them: the lowest numbers stay; Quit and Help always do.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding(
        "q", "quit", "Quit", tooltip="Stop the console (and, in the demo, the sandbox servers).", id="quit"
    ),
    Binding(
        "question_mark,f1",
        "help",
        "Help",
        tooltip="This list of keys and what each ERP status means.",
        id="help",
    ),
    Binding("l", "event_log", "Log", tooltip="The audit log and the errors, newest first.", id="event-log"),
    Binding(
        "H",
        "health",
        "Health",
        show=False,
        tooltip="Health: the checks of `paysync doctor` (configuration, database, Procore, Web Connector, "
        "schedule), each with why and the fix, refreshed every minute.",
        id="health",
    ),
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
        "k",
        "cancel_sync",
        "Stop sync",
        tooltip=(
            "While a sync runs: stop it after the payment being written now (asks first). What is "
            "written stays; the rest waits for the next sync. Quitting stops a sync the same way."
        ),
        id="cancel-sync",
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
        tooltip="Attach a file (a check image, a remittance; up to 25 MB) to the selected payment in Procore.",
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
        tooltip="Filter commitments by number, title, vendor, project or status word.",
        id="filter",
    ),
    Binding(
        "o",
        "toggle_sort",
        "Sort",
        tooltip=(
            "Sort the focused list: commitments by number or most urgent first, payments by date, "
            "status or amount. A click on a column header sorts by that column (again: reverse)."
        ),
        id="sort",
    ),
    Binding(
        "w",
        "export_csv",
        "Export",
        tooltip="Write the payments listed to a CSV file (amounts as plain decimals); asks where, says where.",
        id="export-csv",
    ),
    Binding("r", "reload", "Reload", tooltip="Read everything again from the database.", id="reload"),
    Binding(
        "R",
        "reconcile",
        "Reconcile",
        tooltip=(
            "Compare each commitment's QuickBooks payments with Procore's (reads Procore, writes "
            "nothing): the Reconciled column says ✔ or how far off it is."
        ),
        id="reconcile",
    ),
    Binding(
        "i",
        "reconcile_items",
        "Items",
        tooltip=(
            "After R: what does not agree on the selected commitment, item by item; from there, "
            "send what is missing in Procore through the preview and a push."
        ),
        id="reconcile-items",
    ),
    Binding(
        "m",
        "suggest_mapping",
        "Map",
        tooltip=(
            "On a payment that needs mapping: the Procore invoices its bill may belong to, best "
            "first, with why; confirm one to map the bill (asks first)."
        ),
        id="suggest-mapping",
    ),
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

# The main screen's key for several company files (console/screens/main_companies.py). Kept apart:
# the footer and the help screen show it only when there are several files, so a single-company
# console looks as it always did; with one file the key says so and does nothing.
COMPANY_BINDINGS: list[Binding] = [
    Binding(
        "F",
        "cycle_company",
        "Company",
        tooltip=(
            "Several company files: show one file's payments, then the next file's, then all again "
            "(the top bar says which). Commitments and invoices listed are those with a payment of "
            "that file, counted by its payments; the status counts in the top bar stay for all files."
        ),
        id="company-filter",
    ),
]

# Keys of the Payments pane (shown in the footer while it has the focus).
PAYMENTS_PANE_BINDINGS: list[Binding] = [
    Binding(
        "c",
        "screen.copy_payment",
        "Copy",
        tooltip="Copy the selected payment's details to the clipboard (as text, one fact a line).",
        id="copy-payment",
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
    Binding("e", "show_tab('errors-tab')", "Errors", tooltip="The errors tab.", id="log-errors"),
    Binding("a", "show_tab('audit-tab')", "Audit", tooltip="The audit log tab: every write.", id="log-audit"),
    Binding(
        "slash",
        "filter",
        "Filter",
        tooltip="Filter the audit log by text (esc in the filter clears it).",
        id="log-filter",
    ),
    Binding("r", "reload", "Reload", tooltip="Read the log again.", id="log-reload"),
    Binding(
        "enter", "open_entry", "Details", show=False, tooltip="The whole entry, readably.", id="log-details"
    ),
]

HELP_KEY = Binding("question_mark,f1", "help", "Help", tooltip="The keys of this window.", id="window-help")

HEALTH_BINDINGS: list[Binding] = [
    Binding("escape,q", "close", "Close", tooltip="Back to the main screen.", id="health-close"),
    Binding(
        "r",
        "reload",
        "Check again",
        tooltip="Run the checks again now (they also run every minute).",
        id="health-reload",
    ),
    HELP_KEY,
]

RECONCILE_BINDINGS: list[Binding] = [
    Binding(
        "escape,q",
        "close",
        "Close",
        tooltip="Back to the main screen, nothing changed.",
        id="reconcile-close",
    ),
    Binding(
        "s",
        "send_missing",
        "Send missing",
        tooltip=(
            "Send the payments missing in Procore through the preview and a push: asks first, then marks "
            "them for the next push and opens the preview. Nothing is written to Procore until you "
            "press s in the preview."
        ),
        id="reconcile-send",
    ),
    HELP_KEY,
]

SUGGESTIONS_BINDINGS: list[Binding] = [
    Binding(
        "escape,q",
        "close",
        "Close",
        tooltip="Back to the main screen, nothing mapped.",
        id="suggestions-close",
    ),
    Binding(
        "enter",
        "choose",
        "Map to this",
        tooltip="Map the bill to the highlighted invoice (asks first); its payments go out with the next push.",
        id="suggestions-choose",
        priority=True,  # over the table's own enter, so the footer shows it
    ),
    HELP_KEY,
]

MODAL_BINDINGS: list[Binding] = [
    Binding("escape,q", "close", "Close", tooltip="Close this window.", id="modal-close"),
]

DETAIL_BINDINGS: list[Binding] = [
    *MODAL_BINDINGS,
    Binding("c", "copy", "Copy", tooltip="Copy this payment's details to the clipboard.", id="detail-copy"),
]

# The other screens' keys, each list active together (with the app's, on the event log).
SCREEN_CONTEXTS: list[list[Binding]] = [
    [*APP_BINDINGS, *LOG_BINDINGS],
    PREVIEW_BINDINGS,
    DETAIL_BINDINGS,
    RECONCILE_BINDINGS,
    SUGGESTIONS_BINDINGS,
    HEALTH_BINDINGS,
]

HELP_SECTIONS: list[tuple[str, list[Binding]]] = [
    ("Main screen", MAIN_BINDINGS),
    ("Payments pane", PAYMENTS_PANE_BINDINGS),
    ("Everywhere", APP_BINDINGS),
    ("Preview", PREVIEW_BINDINGS),
    ("Event log", LOG_BINDINGS),
    ("Reconciliation items", RECONCILE_BINDINGS),
    ("Mapping suggestions", SUGGESTIONS_BINDINGS),
    ("Health", HEALTH_BINDINGS),
]

NAVIGATION_HELP: list[tuple[str, str]] = [
    ("tab / shift+tab", "Move between Commitments, Invoices and Payments."),
    ("↑ ↓ pgup pgdn", "Move in a list; the panes below follow the selection."),
    ("click a header", "Sort that list by the column; click again to reverse."),
    ("ctrl+p", "Command palette: every action by name, and the themes (the one you pick is kept)."),
]

# Lower stays longer when the footer is too narrow for every key. Unlisted ids rank 50.
FOOTER_PRIORITY: dict[str, int] = {
    "quit": 0,
    "help": 0,
    "prompt-cancel": 0,
    "log-filter-clear": 0,
    "confirm-yes": 0,
    "confirm-no": 0,
    "preview-close": 0,
    "log-close": 0,
    "modal-close": 0,
    "sync-now": 1,
    "cancel-sync": 1,
    "preview-sync": 1,
    "filter": 2,
    "log-filter": 2,
    "log-errors": 3,
    "log-audit": 3,
    "copy-payment": 3,
    "detail-copy": 3,
    "edit-payment-number": 4,
    "add-attachment": 5,
    "retract": 6,
    "preview": 7,
    "event-log": 8,
    "export-csv": 9,
    "sort": 10,
    "reload": 11,
    "log-reload": 11,
    "reconcile-close": 0,
    "suggestions-close": 0,
    "window-help": 0,
    "reconcile-send": 1,
    "suggestions-choose": 1,
    "suggest-mapping": 12,
    "reconcile": 13,
    "reconcile-items": 14,
    "health-close": 0,
    "health-reload": 1,
    "company-filter": 3,
}


def all_bindings() -> list[Binding]:
    """Every binding with an id, once: what a keymap may move."""
    seen: dict[str, Binding] = {}
    for group in (
        APP_BINDINGS,
        MAIN_BINDINGS,
        COMPANY_BINDINGS,
        PAYMENTS_PANE_BINDINGS,
        PREVIEW_BINDINGS,
        LOG_BINDINGS,
        DETAIL_BINDINGS,
        RECONCILE_BINDINGS,
        SUGGESTIONS_BINDINGS,
        HEALTH_BINDINGS,
    ):
        for binding in group:
            if binding.id:
                seen.setdefault(binding.id, binding)
    return list(seen.values())
