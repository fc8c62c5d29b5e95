"""The console, driven the way a person uses it (Textual's pilot), over the fixed data set.

Each test asserts what a user would notice on screen, and for edits what ends up in the database.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import peewee
import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, Static, TabbedContent

from console.app import FROM_PREFERENCES, PaySyncApp
from console.screens.confirm import ConfirmModal
from console.screens.detail import PaymentDetailScreen
from console.screens.error import describe_error
from console.screens.help import HelpScreen
from console.screens.log import EventLogScreen
from console.screens.main import MainScreen
from console.screens.main_input import attachment_problem
from console.screens.preview import PreviewScreen
from console.widgets.footer import KeyFooter
from console.widgets.prompt import PromptBar
from console.widgets.status import MIN_CONTRAST, STATUS_GLYPHS, contrast, palette, theme_variables, use_theme
from console.widgets.tables import CommitmentsTable
from console.widgets.topbar import TopBar, activity_line
from storage.db import DatabaseConfigError
from storage.models import AuditLog, PaymentAttachment, PaymentLink, SyncRun
from storage.views import STATUS_LABELS
from sync.procore.attachments import MAX_ATTACHMENT_BYTES
from sync.procore.permissions import PermissionDenied
from tests.support.console import NOW, make_fixed_app, settle

SIZE = (140, 40)


def rendered_text(widget: Static) -> str:
    """What a widget shows, as plain text (wide, so nothing is cut)."""
    console = Console(width=240, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def cell_text(table: DataTable[Any], row: int, column: int) -> str:
    value = table.get_row_at(row)[column]
    return value.plain if isinstance(value, Text) else str(value)


def table_column(table: DataTable[Any], column: int) -> list[str]:
    return [cell_text(table, row, column) for row in range(table.row_count)]


def row_index(table: DataTable[object], column: int, wanted: str) -> int:
    return table_column(table, column).index(wanted)


async def move_to(pilot, table_id: str, index: int) -> None:  # type: ignore[no-untyped-def]
    table = pilot.app.screen.query_one(table_id, DataTable)
    table.focus()
    table.move_cursor(row=index)
    await settle(pilot)


async def select_payment(pilot, commitment_number: str, check_number: str) -> None:  # type: ignore[no-untyped-def]
    screen = pilot.app.screen
    commitments = screen.query_one("#commitments", DataTable)
    await move_to(pilot, "#commitments", row_index(commitments, 1, commitment_number))
    payments = screen.query_one("#payments", DataTable)
    await move_to(pilot, "#payments", row_index(payments, payments.get_column_index("check"), check_number))


async def test_selecting_a_commitment_shows_its_invoices_with_bill_numbers_and_its_payments(
    tmp_path: Path,
) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        commitments = screen.query_one("#commitments", DataTable)
        assert table_column(commitments, 1) == ["(unmatched)", "PO-001", "SC-001", "SC-002", "SC-003"]

        await move_to(pilot, "#commitments", row_index(commitments, 1, "SC-001"))

        invoices = screen.query_one("#invoices", DataTable)
        assert table_column(invoices, 1) == ["INV-1001", "INV-1002"]
        assert table_column(invoices, 2) == ["INV-1001", "INV-1002"]  # the matched QuickBooks bill numbers
        payments = screen.query_one("#payments", DataTable)
        assert sorted(table_column(payments, 3)) == ["", "0990", "1042", "1043"]
        assert "Payments of SC-001" in str(payments.border_title)

        # Moving into the invoices narrows the payments to the highlighted invoice.
        await move_to(pilot, "#invoices", 1)
        assert sorted(table_column(payments, 3)) == ["", "1043"]


async def test_every_status_shows_a_glyph_and_a_word(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        seen = set()
        for index in range(commitments.row_count):
            await move_to(pilot, "#commitments", index)
            for table_id in ("#commitments", "#invoices", "#payments"):
                table = app.screen.query_one(table_id, DataTable)
                for status in table_column(table, 0):
                    glyph, _, word = status.partition(" ")
                    assert (glyph, word) in {(g, STATUS_LABELS[s]) for s, g in STATUS_GLYPHS.items()}, status
                    seen.add(word)
        assert {
            "Synced",
            "Waiting",
            "Needs attention",
            "Failed",
            "Deleted in QuickBooks",
            "Not synced",
        } <= seen
        top = app.screen.query_one(TopBar).plain
        assert "4 Synced" in top and "1 Deleted in QuickBooks" in top and "last contact 3 min ago" in top


async def test_a_payment_number_that_is_not_a_number_is_refused_in_words_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-001", "1042")
        link = PaymentLink.get(PaymentLink.origin_id == "qbd:main:PAY-1:BILL-1")
        assert link.payment_number == 1

        await pilot.press("e")
        prompt = app.screen.query_one(PromptBar)
        assert prompt.is_open
        prompt.query_one(Input).value = ""
        await pilot.press("a", "b", "c", "enter")
        await settle(pilot)

        error = str(prompt.query_one("#prompt-error", Label).content)
        assert "“abc” is not a payment number" in error and "whole number" in error
        assert prompt.is_open  # still there, to correct
        assert PaymentLink.get_by_id(link.id).payment_number == 1

        await pilot.press("escape")
        assert not prompt.is_open
        assert PaymentLink.get_by_id(link.id).payment_number == 1


async def test_a_valid_payment_number_is_stored_and_shown(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The credit card payment waiting for its first push (not in Procore yet: stored only).
        commitments = app.screen.query_one("#commitments", DataTable)
        await move_to(pilot, "#commitments", row_index(commitments, 1, "SC-001"))
        payments = app.screen.query_one("#payments", DataTable)
        await move_to(pilot, "#payments", row_index(payments, 2, "Credit card"))
        await pilot.press("e")
        await pilot.press("7", "enter")
        await settle(pilot)

        assert PaymentLink.get(PaymentLink.origin_id == "qbd:main:PAY-9:BILL-2").payment_number == 7
        row = row_index(payments, 2, "Credit card")
        assert cell_text(payments, row, 4) == "7"


async def test_retracting_asks_for_confirmation_and_cancel_changes_nothing(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-002", "1040")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        question = str(app.screen.query_one("#confirm-question", Static).content)
        assert "deleted in QuickBooks" in question and "3,000.00" in question

        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        link = PaymentLink.get(PaymentLink.origin_id == "qbd:main:PAY-6:BILL-3")
        assert (link.erp_status, link.procore_payment_id) == ("deleted_in_quickbooks", 9006)


async def test_x_on_a_synced_payment_explains_what_retract_is_for(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-002", "1044")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # no confirmation: nothing to retract
        (said,) = [n.message for n in app._notifications]
        assert "deletes from Procore a payment that was deleted in QuickBooks" in said
        assert "This payment is Synced: it is still in QuickBooks" in said
        link = PaymentLink.get(PaymentLink.origin_id == "qbd:main:PAY-3:BILL-3")
        assert (link.erp_status, link.procore_payment_id) == ("synced", 9003)


async def test_filter_narrows_the_commitments_and_esc_clears_it(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        await pilot.press("slash", *"keystone")
        await settle(pilot)
        assert table_column(commitments, 1) == ["PO-001"]
        assert "1 of 4" in str(commitments.border_title)

        await pilot.press("escape")
        await settle(pilot)
        assert len(table_column(commitments, 1)) == 5

        # A status word filters by status.
        await pilot.press("slash", *"failed", "enter")
        await settle(pilot)
        assert table_column(commitments, 1) == ["PO-001"]


async def test_help_and_event_log_open_and_close(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, EventLogScreen)
        errors = app.screen.query_one("#errors-table", DataTable)
        assert "purchase order is not approved" in cell_text(errors, 0, 2)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_enter_on_a_payment_shows_quickbooks_and_procore_side_by_side(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "PO-001", "")
        await pilot.press("enter")
        await settle(pilot)
        from console.screens.detail import PaymentDetailScreen

        assert isinstance(app.screen, PaymentDetailScreen)
        shown = rendered_text(app.screen.query_one(Static))
        # QuickBooks side by Procore side, on the same lines.
        assert re.search(r"QuickBooks\s+Procore", shown), shown
        assert re.search(r"Bill TxnID\s+BILL-4\s+origin_id\s+qbd:main:PAY-4:BILL-4", shown), shown
        assert re.search(r"TxnID\s+PAY-4 \(edit 1732550000\)", shown), shown
        assert "5,000.00" in shown and "KS-7781" in shown and "Keystone Steel Supply" in shown
        assert "Failed" in shown and "not created yet" in shown
        assert "Reason: Procore refused the payment: the purchase order is not approved" in shown


async def test_every_action_is_in_the_command_palette(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        assert {
            "Sync now",
            "Preview",
            "Payment #",
            "Attach",
            "Retract",
            "Filter",
            "Sort",
            "Export",
            "Copy",
            "Reload",
        } <= set(commands)
        await commands["Sort"].callback()
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        assert str(commitments.border_title).endswith("· most urgent first")
        assert table_column(commitments, 1)[1] == "PO-001"  # Failed comes first after the unmatched group


# ------------------------------------------------------------------------------------------------
# Layout at every size


def footer_keys(app: PaySyncApp) -> tuple[str, ...]:
    return app.screen.query_one(KeyFooter).shown_keys


@pytest.mark.parametrize("size", [(80, 24), (120, 30), (200, 50)])
async def test_the_payments_list_and_quit_and_help_are_on_screen_at_every_size(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await move_to(pilot, "#commitments", 2)  # SC-001: four payments
        screen = app.screen
        width, height = size
        for pane in ("#commitments", "#invoices", "#payments"):
            region = screen.query_one(pane).region
            assert region.height >= 5 and region.bottom <= height - 1, (pane, region)  # above the footer
            assert region.right <= width
        payments = screen.query_one("#payments", DataTable)
        assert payments.row_count == 4
        # Every amount is shown whole, right-aligned in a column as wide as the widest amount.
        amount = payments.get_column_index("amount")
        assert sorted(cell_text(payments, row, amount) for row in range(4)) == [
            "12,500.00",
            "2,250.00",
            "20,000.00",
            "48,500.00",
        ]
        assert payments.ordered_columns[amount].width >= len("48,500.00")
        assert {"q", "?"} <= set(footer_keys(app))
        # The detail pane collapses first, below 36 rows; enter still opens the full view.
        assert screen.query_one("#detail").display == (height >= 36)


async def test_at_80_columns_the_status_words_shorten_and_other_columns_give_way(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        commitments = app.screen.query_one(CommitmentsTable)
        assert commitments.short_status
        assert "▲ Attention" in table_column(commitments, 0)
        assert "kind" not in commitments.visible_columns  # the least needed column went first
        assert {"status", "number", "title", "vendor"} <= set(commitments.visible_columns)
        total = sum(c.width + 2 for c in commitments.ordered_columns)
        assert total <= commitments.size.width  # no sideways scrolling


async def test_each_screen_footer_lists_only_its_own_keys(tmp_path: Path) -> None:
    main_only = {"s", "p", "e", "a", "x", "/", "o", "w", "r", "l"}
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert {"s", "q", "?", "l"} <= set(footer_keys(app))

        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert footer_keys(app) == ("esc",)
        await pilot.press("escape")

        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)
        assert set(footer_keys(app)) == {"esc", "s"}  # a dialog: only its own keys
        await pilot.press("escape")

        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, EventLogScreen)
        assert set(footer_keys(app)) - {"^p"} == {"esc", "e", "a", "/", "r", "?"}
        await pilot.press("escape")

        await select_payment(pilot, "SC-001", "1042")
        assert "c" in footer_keys(app)  # the Payments pane's own key, while it has the focus
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PaymentDetailScreen)
        assert set(footer_keys(app)) == {"esc", "c"}
        assert not main_only & set(footer_keys(app))


async def test_prompt_placeholders_are_not_cut_at_80_columns(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-001", "1042")
        field = app.screen.query_one("#prompt-input", Input)
        for key in ("slash", "e", "a", "w"):
            await select_payment(pilot, "SC-001", "1042")
            await pilot.press(key)
            await settle(pilot)
            assert app.screen.query_one(PromptBar).is_open, key
            room = field.content_region.width
            assert cell_len(field.placeholder) <= room, (key, field.placeholder, room)
            await pilot.press("escape")
            await settle(pilot)


# ------------------------------------------------------------------------------------------------
# Themes, time zone, keymap (kept in the config folder: tmp_path/config in these tests)


async def test_the_chosen_theme_is_kept_between_runs(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.theme = "textual-light"
        await settle(pilot)
    saved = json.loads((tmp_path / "config" / "console.json").read_text())
    assert saved["theme"] == "textual-light"

    again = PaySyncApp(
        app.settings,
        app.service,
        refresh_seconds=None,
        display_tz=UTC,
        preferences_folder=tmp_path / "config",
    )
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert again.theme == "textual-light"


def test_status_colours_are_readable_in_every_built_in_theme() -> None:
    from textual.app import App
    from textual.color import Color

    seen = set()
    for name, theme in sorted(App[None]().available_themes.items()):
        colours = use_theme(theme)
        if name.startswith("ansi"):
            assert colours.green == "green"  # the terminal's own palette decides
            continue
        variables = theme_variables(theme)
        for background in ("background", "surface", "panel"):
            bg = Color.parse(variables[background])
            for which in ("green", "blue", "yellow", "red", "grey"):
                ratio = contrast(Color.parse(getattr(colours, which)), bg)
                assert ratio >= MIN_CONTRAST, (name, which, background, ratio)
        seen.add((theme.dark, colours.green))
    assert {dark for dark, _ in seen} == {True, False}
    # Not one fixed colour: light themes get darker greens than dark ones.
    light = {green for dark, green in seen if not dark}
    dark_greens = {green for dark, green in seen if dark}
    assert light.isdisjoint(dark_greens)


async def test_a_theme_change_recolours_the_statuses(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await move_to(pilot, "#commitments", 2)
        payments = app.screen.query_one("#payments", DataTable)
        row = row_index(payments, 3, "1043")  # Synced

        def synced_colour() -> str:
            cell = payments.get_row_at(row)[0]
            assert isinstance(cell, Text)
            return str(cell.spans[0].style).split()[-1]

        before = synced_colour()
        app.theme = "solarized-light"
        await settle(pilot)
        assert synced_colour() == palette().green != before


async def test_times_are_shown_in_the_configured_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYSYNC_DISPLAY_TZ", "America/Chicago")
    app = make_fixed_app(tmp_path, display_tz=FROM_PREFERENCES)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The next hourly run is 18:00 UTC: noon in Chicago.
        assert "next 12:00 CST (in 1 h)" in app.screen.query_one(TopBar).plain

    monkeypatch.setenv("PAYSYNC_DISPLAY_TZ", "Mars/Olympus_Mons")
    (tmp_path / "again").mkdir()
    app = make_fixed_app(tmp_path / "again", display_tz=FROM_PREFERENCES)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("'Mars/Olympus_Mons' is not a time zone" in text for text in said), said
        assert app.display_tz is None  # local time


async def test_a_keymap_file_moves_keys_and_a_bad_one_is_reported_not_fatal(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "keymap.toml").write_text('reload = "f5"\nsync_now = "ctrl+s"\nexport-csv = "q"\n')
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("no key has the id 'sync_now'" in text and "sync-now" in text for text in said), said
        assert any("export-csv = 'q' would take q, which is already Quit" in text for text in said), said
        assert "f5" in footer_keys(app) and "r" not in footer_keys(app)
        assert "w" in footer_keys(app) and app.screen.active_bindings["q"].binding.action == "quit"
        app._notifications.clear()
        await pilot.press("f5")
        await settle(pilot)
        assert [n.message for n in app._notifications] == ["Reloaded from the database."]

    (config / "keymap.toml").write_text('reload = "f5\n')  # not TOML: an unclosed string
    broken = PaySyncApp(
        app.settings, app.service, refresh_seconds=None, display_tz=UTC, preferences_folder=config
    )
    async with broken.run_test(size=SIZE) as pilot:
        await settle(pilot)
        said = [n.message for n in broken._notifications]
        assert any("keymap.toml could not be read" in text for text in said), said
        assert "r" in footer_keys(broken)  # the default keys


# ------------------------------------------------------------------------------------------------
# Copy, export, sort


async def test_c_copies_the_selected_payment_to_the_clipboard(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-001", "1042")
        await pilot.press("c")
        await settle(pilot)
        lines = app.clipboard.splitlines()
        assert lines[0] == "Check 1042 · Summit Framing Co. · 48,500.00"
        assert "Invoice #: INV-1001" in lines and "Payment #: 1" in lines and "Procore payment: 9001" in lines


async def test_w_exports_the_listed_payments_to_csv_with_plain_amounts(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    target = tmp_path / "out" / "framing.csv"
    target.parent.mkdir()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-001", "1042")
        await pilot.press("w")
        await settle(pilot)
        field = app.screen.query_one("#prompt-input", Input)
        assert field.value.startswith("paysync-payments-SC-001-") and field.value.endswith(".csv")
        field.value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        with target.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["Check #"] for r in rows] == ["", "1043", "1042", "0990"]  # as listed: newest first
        assert [r["Amount"] for r in rows] == ["2250.00", "20000.00", "48500.00", "12500.00"]
        assert rows[2]["Commitment"] == "SC-001" and rows[2]["Invoice #"] == "INV-1001"
        assert any(str(target) in n.message and "Wrote 4 payments" in n.message for n in app._notifications)

        # An existing file is never overwritten: the prompt says so and stays open.
        await pilot.press("w")
        app.screen.query_one("#prompt-input", Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        assert "already exists" in str(app.screen.query_one("#prompt-error", Label).content)
        assert len(target.read_text(encoding="utf-8-sig").splitlines()) == 5


async def click_header(pilot: Pilot[None], table_id: str, column_key: str) -> None:
    table = pilot.app.screen.query_one(table_id, DataTable)
    x = 1  # the border
    for column in table.ordered_columns:
        if column.key.value == column_key:
            break
        x += column.get_render_width(table)
    await pilot.click(table_id, offset=(x + 2, 1))  # row 1: the header, under the border
    await settle(pilot)


async def test_clicking_a_column_header_sorts_by_it_and_the_title_says_so(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await move_to(pilot, "#commitments", 2)
        payments = app.screen.query_one("#payments", DataTable)
        assert str(payments.border_title) == "Payments of SC-001 · 4 · by date ↓"

        await click_header(pilot, "#payments", "amount")
        assert table_column(payments, 5) == ["48,500.00", "20,000.00", "12,500.00", "2,250.00"]
        assert str(payments.border_title) == "Payments of SC-001 · 4 · by amount ↓"

        await click_header(pilot, "#payments", "amount")  # again: the other way
        assert table_column(payments, 5) == ["2,250.00", "12,500.00", "20,000.00", "48,500.00"]
        assert str(payments.border_title).endswith("by amount ↑")

        commitments = app.screen.query_one("#commitments", DataTable)
        await click_header(pilot, "#commitments", "vendor")
        assert table_column(commitments, 1)[1:] == [
            "SC-002",
            "SC-003",
            "PO-001",
            "SC-001",
        ]  # Bright, Granite, …
        assert str(commitments.border_title) == "Commitments · 4 · by vendor ↑"


# ------------------------------------------------------------------------------------------------
# Filters and the panes that follow the list


async def test_a_filter_takes_percent_and_underscore_literally(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "percent_sign")
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        assert commitments.row_count == 0  # no commitment has a "%" in it
        assert "nothing matches the filter" in str(commitments.border_subtitle)


async def test_filtering_by_vendor_keeps_that_vendors_unmatched_payments(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"summit", "enter")
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        assert table_column(commitments, 1) == ["(unmatched)", "SC-001"]
        await move_to(pilot, "#commitments", 0)
        payments = app.screen.query_one("#payments", DataTable)
        assert table_column(payments, 3) == ["1050"]
        assert "Payments of (unmatched) · “summit”" in str(payments.border_title)


async def test_pre_existing_payments_show_under_their_invoice_as_not_synced(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        await move_to(pilot, "#commitments", row_index(commitments, 1, "SC-003"))
        payments = app.screen.query_one("#payments", DataTable)
        assert table_column(payments, 3) == ["0977"]
        assert table_column(payments, 0) == ["○ Not synced"]
        assert table_column(payments, 6) == ["GC-01"]
        assert "Listed by its bill; never synced" in cell_text(payments, 0, 7)
        await move_to(pilot, "#commitments", row_index(commitments, 1, "(unmatched)"))
        assert table_column(payments, 3) == ["1050"]


async def test_when_the_highlighted_commitment_leaves_the_list_the_panes_follow_the_new_row(
    tmp_path: Path,
) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"failed", "enter")
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        assert table_column(commitments, 1) == ["PO-001"]
        # Elsewhere (another console, the engine) PO-001's failure is resolved and SC-001's payment fails.
        PaymentLink.update(erp_status="synced").where(
            PaymentLink.origin_id == "qbd:main:PAY-4:BILL-4"
        ).execute()
        PaymentLink.update(erp_status="failed").where(
            PaymentLink.origin_id == "qbd:main:PAY-2:BILL-2"
        ).execute()
        await pilot.press("r")
        await settle(pilot)
        assert table_column(commitments, 1) == ["SC-001"]
        invoices = app.screen.query_one("#invoices", DataTable)
        payments = app.screen.query_one("#payments", DataTable)
        assert table_column(invoices, 1) == ["INV-1001", "INV-1002"]
        assert str(invoices.border_title).startswith("Invoices of SC-001")
        assert sorted(table_column(payments, 3)) == ["", "0990", "1042", "1043"]
        shown = rendered_text(app.screen.query_one("#detail", Static))
        assert "Summit Framing Co." in shown and "Keystone" not in shown


# ------------------------------------------------------------------------------------------------
# Edits


async def open_payment_number(pilot: Pilot[None], text: str) -> PromptBar:
    await pilot.press("e")
    prompt = pilot.app.screen.query_one(PromptBar)
    prompt.query_one(Input).value = text
    await pilot.press("enter")
    await settle(pilot)
    return prompt


@pytest.mark.parametrize("typed", ["²", "١٢٣", "12a", "1" * 80])
async def test_a_payment_number_is_ascii_digits_only_and_bad_input_is_quoted_short(
    tmp_path: Path, typed: str
) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-001", "1042")
        prompt = await open_payment_number(pilot, typed)
        error = str(prompt.query_one("#prompt-error", Label).content)
        assert prompt.is_open and "invalid literal" not in error
        quoted_part = error[error.index("“") + 1 : error.index("”")]
        assert len(quoted_part) <= 30
        assert quoted_part == typed or quoted_part.endswith("…")
        assert "Nothing was stored" in error
        assert PaymentLink.get(PaymentLink.origin_id == "qbd:main:PAY-1:BILL-1").payment_number == 1


async def test_the_same_payment_number_again_writes_nothing_and_says_so(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-001", "1042")
        audit_before = AuditLog.select().count()
        await open_payment_number(pilot, "1")
        (said,) = list(app._notifications)
        assert said.title == "Nothing changed" and "already 1" in said.message
        assert AuditLog.select().count() == audit_before


async def test_attach_says_first_when_a_payment_cannot_take_files(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        await move_to(pilot, "#commitments", row_index(commitments, 1, "SC-001"))
        payments = app.screen.query_one("#payments", DataTable)
        await move_to(pilot, "#payments", row_index(payments, 2, "Credit card"))  # waiting: not in Procore
        await pilot.press("a")
        await settle(pilot)
        assert not app.screen.query_one(PromptBar).is_open
        assert "not in Procore yet" in list(app._notifications)[-1].message

        await select_payment(pilot, "SC-002", "1040")  # deleted in QuickBooks
        await pilot.press("a")
        await settle(pilot)
        assert not app.screen.query_one(PromptBar).is_open
        assert "deleted in QuickBooks" in list(app._notifications)[-1].message


async def test_attach_takes_a_quoted_path_keeps_the_services_limit_and_skips_a_file_already_there(
    tmp_path: Path,
) -> None:
    scan = tmp_path / "check 1042.pdf"
    scan.write_bytes(b"%PDF-1.4 check image")
    big = tmp_path / "big.pdf"
    with big.open("wb") as handle:
        handle.truncate(MAX_ATTACHMENT_BYTES + 1)
    text = tmp_path / "setup.exe"
    text.write_text("not a check")
    assert attachment_problem(f'"{scan}"') is None  # Windows' "Copy as path" adds the quotes
    assert f"limited to {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB" in str(attachment_problem(str(big)))
    assert "cannot be attached" in str(attachment_problem(str(text)))

    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        link = PaymentLink.get(PaymentLink.origin_id == "qbd:main:PAY-1:BILL-1")
        PaymentAttachment.create(link=link, filename=scan.name, size=scan.stat().st_size, status="uploaded")
        await select_payment(pilot, "SC-001", "1042")
        await pilot.press("a")
        app.screen.query_one("#prompt-input", Input).value = f'"{scan}"'
        await pilot.press("enter")
        await settle(pilot)
        assert list(app._notifications)[-1].title == "Nothing changed"
        assert "already attached" in list(app._notifications)[-1].message
        assert PaymentAttachment.select().count() == 1  # nothing sent, nothing recorded


def test_error_windows_give_a_fix_that_fits_the_error() -> None:
    not_yet = describe_error(
        ValueError("This payment is not in Procore yet, so there is nothing to attach"),
        doing="attach the file",
    )
    assert "next sync" in not_yet.how_to_fix
    busy = describe_error(
        ValueError("Not retracted: a push is running (since 17:01). Try again when it has finished."),
        doing="retract the payment",
    )
    assert "Wait until the other sync" in busy.how_to_fix
    database = describe_error(
        DatabaseConfigError("PAYSYNC_DATABASE_URL names a file that does not exist"), doing="read commitments"
    )
    assert "PAYSYNC_DATABASE_URL" in database.how_to_fix and database.title == "Database problem"
    locked = describe_error(peewee.OperationalError("database is locked"), doing="read commitments")
    assert "reachable" in locked.how_to_fix and "database is locked" in locked.message
    export = describe_error(PermissionError(13, "Permission denied"), doing="write the CSV file")
    assert "folder you may write to" in export.how_to_fix
    retract = describe_error(PermissionDenied("may not retract"), doing="retract the payment")
    assert retract.how_to_fix.startswith("Retracting a payment needs 'Admin'")


# ------------------------------------------------------------------------------------------------
# The top bar and the event log


async def test_the_top_bar_shows_a_failed_last_sync_in_red_with_its_reason(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        SyncRun.create(
            trigger="console",
            started_at=NOW - timedelta(minutes=2),
            finished_at=NOW - timedelta(minutes=1),
            status="failed",
            message="Push stopped: Procore sign-in failed: the client secret was rejected by Procore (invalid_client); run paysync login",
        )
        await pilot.press("r")
        await settle(pilot)
        bar = app.screen.query_one(TopBar)
        failure = bar.plain.splitlines()[1].split(" │ ")[0]
        assert failure.startswith(" ✖ Last sync failed 16:59 UTC: Push stopped: Procore sign-in failed")
        assert failure.endswith("…") and len(failure) < 100  # shortened; the log has all of it
        activity = activity_line(bar._state)  # type: ignore[arg-type]
        failed = activity.plain.index("Last sync failed")
        assert any(s.start <= failed < s.end and palette().red in str(s.style) for s in activity.spans)

        await pilot.press("l")
        await settle(pilot)
        errors = app.screen.query_one("#errors-table", DataTable)
        assert cell_text(errors, 0, 1) == "sync run"
        assert cell_text(errors, 0, 2).startswith("Sync (console) failed: Push stopped")


async def test_the_event_log_reads_like_prose(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        errors = app.screen.query_one("#errors-table", DataTable)
        assert cell_text(errors, 0, 2) == (
            "Credit card · Keystone Steel Supply · 5,000.00: Procore refused 5,000.00 on PO-001: "
            "the purchase order is not approved."
        )
        await pilot.press("a")  # one key to the audit log
        await settle(pilot)
        assert app.screen.query_one(TabbedContent).active == "audit-tab"
        audit = app.screen.query_one("#audit-table", DataTable)
        row = table_column(audit, 2).index("procore.create")
        assert cell_text(audit, row, 3) == "Check 1044 · Bright Line Electric · 25,000.00"
        assert cell_text(audit, row, 4).startswith("amount 25,000.00 · check # 1044")
        audit.move_cursor(row=row)
        await pilot.press("enter")  # the whole entry, one fact a line
        await settle(pilot)
        entry = rendered_text(app.screen.query_one("#entry-body", Static))
        for line in ("amount: 25,000.00", "check #: 1044", "Procore payment: 9003", "status: done"):
            assert line in entry, entry
        assert "{" not in entry
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("slash", *"keystone")
        await settle(pilot)
        field = app.screen.query_one("#log-filter", Input)
        assert field.value == "keystone" and audit.row_count == 0
        await pilot.press("escape")  # clears the filter, the log stays open
        await settle(pilot)
        assert field.value == "" and isinstance(app.screen, EventLogScreen)
        assert audit.row_count == 2


async def test_the_full_payment_view_cuts_nothing_at_200_columns(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        link = PaymentLink.get(PaymentLink.origin_id == "qbd:main:PAY-1:BILL-1")
        long_reason = (
            "invoice number INV-1001 equals bill number INV-1001 on a commitment of Summit Framing Co. "
            "(vendor matched by origin id), checked against the draw request and the bill's due date"
        )
        PaymentLink.update(match_reason=long_reason).where(PaymentLink.id == link.id).execute()
        for name in ("check-1042-front-and-back-scan.pdf", "remittance-advice-november-2026.pdf"):
            PaymentAttachment.create(link=link, filename=name, size=1000, status="uploaded")
        await select_payment(pilot, "SC-001", "1042")
        await pilot.press("enter")
        await settle(pilot)
        body = app.screen.query_one("#detail-body", Static)
        console = Console(width=body.content_region.width, record=True, file=io.StringIO())
        console.print(body.content)
        shown = console.export_text()
        assert "…" not in shown
        words = " ".join(shown.split())
        for word in long_reason.split() + [
            "check-1042-front-and-back-scan.pdf",
            "remittance-advice-november-2026.pdf",
        ]:
            assert word in words, word
