"""The console, driven the way a person uses it (Textual's pilot), over the fixed data set.

Each test asserts what a user would notice on screen, and for edits what ends up in the database.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console
from rich.text import Text
from textual.widgets import DataTable, Label, Static

from console.screens.confirm import ConfirmModal
from console.screens.help import HelpScreen
from console.screens.log import EventLogScreen
from console.screens.main import MainScreen
from console.widgets.prompt import PromptBar
from console.widgets.status import STATUS_GLYPHS
from console.widgets.topbar import TopBar
from storage.models import PaymentLink
from storage.views import STATUS_LABELS
from tests.console_support import make_fixed_app, settle

SIZE = (140, 40)


def rendered_text(widget: Static) -> str:
    """What a widget shows, as plain text (wide, so nothing is cut)."""
    console = Console(width=240, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def cell_text(table: DataTable[object], row: int, column: int) -> str:
    value = table.get_row_at(row)[column]
    return value.plain if isinstance(value, Text) else str(value)


def table_column(table: DataTable[object], column: int) -> list[str]:
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
    await move_to(pilot, "#payments", row_index(payments, 3, check_number))


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
                    assert (glyph, word) in {(g, STATUS_LABELS[s]) for s, (g, _) in STATUS_GLYPHS.items()}, (
                        status
                    )
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
        prompt.query_one("Input").value = ""
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


async def test_retract_is_refused_for_a_payment_that_was_not_deleted(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_payment(pilot, "SC-002", "1044")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # no confirmation: nothing to retract
        assert any("Only a synced payment that was deleted" in n.message for n in app._notifications)


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
        assert {"Sync now", "Preview", "Payment #", "Attach", "Retract", "Filter", "Sort", "Reload"} <= set(
            commands
        )
        await commands["Sort"].callback()  # type: ignore[misc]
        await settle(pilot)
        commitments = app.screen.query_one("#commitments", DataTable)
        assert commitments.border_subtitle == "most urgent first"
        assert table_column(commitments, 1)[1] == "PO-001"  # Failed comes first after the unmatched group
