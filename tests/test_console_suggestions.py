"""m on a payment that needs mapping: the invoices its bill may belong to (sync/engine/suggestions.py,
the real engine over the fixed data set), confirmed one at a time; a refusal in the one error modal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.app import PaySyncApp
from console.screens.confirm import ConfirmModal
from console.screens.error import ErrorModal
from console.screens.help import HelpScreen
from console.screens.main import MainScreen
from console.screens.suggestions import SuggestionsScreen
from console.widgets.footer import KeyFooter
from storage.models import BillMapping, Commitment, Invoice, ProcoreVendor
from storage.vocabulary import ErpStatus
from tests.support.console import NOW, make_fixed_app, settle

SIZE = (140, 40)


def add_mapping_candidates() -> None:
    """The fixed data set's Procore vendors (it has none), an invoice on SC-001 that bill ZZ-999
    (check 1050, Needs mapping) plainly belongs to (the same number once the letters and zeros are
    set aside, the same amount, the same day), and a weaker one (a number that contains the bill's,
    the same amount, weeks later)."""
    ProcoreVendor.create(id=501, name="Summit Framing Co.")
    ProcoreVendor.create(id=502, name="Bright Line Electric")
    framing = Commitment.get_by_id(2001)
    Invoice.create(
        id=3006,
        project=framing.project,
        commitment=framing,
        number=3,
        invoice_number="ZZ-0999",
        vendor_id=501,
        status="approved",
        erp_status="synced",
        origin_id=None,
        amount=Decimal("7300.00"),
        billing_date=date(2026, 11, 2),
        imported_at=NOW,
    )
    Invoice.create(
        id=3007,
        project=framing.project,
        commitment=framing,
        number=4,
        invoice_number="ZZ-9990",
        vendor_id=501,
        status="approved",
        erp_status="synced",
        origin_id=None,
        amount=Decimal("7300.00"),
        billing_date=date(2026, 11, 20),
        imported_at=NOW,
    )


def make_mapping_app(tmp_path: Path) -> PaySyncApp:
    app = make_fixed_app(tmp_path)
    add_mapping_candidates()
    return app


async def on_needs_mapping_payment(pilot: Pilot[None]) -> None:
    """The unmatched payments, check 1050 (bill ZZ-999) highlighted in the focused Payments pane."""
    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#commitments", DataTable).move_cursor(row=0)
    await settle(pilot)
    payments = screen.query_one("#payments", DataTable)
    payments.focus()
    payments.move_cursor(row=0)
    await settle(pilot)
    assert isinstance(screen, MainScreen)
    row = screen.selected_payment()
    assert row is not None and row.status == ErpStatus.NEEDS_ATTENTION and row.bill_ref_number == "ZZ-999"


async def open_suggestions(pilot: Pilot[None]) -> None:
    await on_needs_mapping_payment(pilot)
    await pilot.press("m")
    await settle(pilot)


def cell(table: DataTable[Any], row: int, column: str) -> str:
    value = table.get_row_at(row)[table.get_column_index(column)]
    return value.plain if isinstance(value, Text) else str(value)


def said(app: PaySyncApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_m_lists_the_suggestions_with_score_and_reasons_and_a_confirmed_one_is_mapped(
    tmp_path: Path,
) -> None:
    app = make_mapping_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_suggestions(pilot)
        screen = app.screen
        assert isinstance(screen, SuggestionsScreen)
        heading = str(screen.query_one("#suggestions-bill", Static).content)
        assert "Bill ZZ-999 · Summit Framing Co. · 7,300.00 USD" in heading
        assert screen.query_one("#suggestions-dialog").border_subtitle == "QuickBooks TxnID BILL-5"
        table = screen.query_one("#suggestions-table", DataTable)
        assert table.row_count == 2
        assert [cell(table, row, "invoice") for row in range(2)] == ["ZZ-0999", "ZZ-9990"]
        assert cell(table, 0, "commitment").startswith("SC-001")
        scores = [int(cell(table, row, "score")) for row in range(table.row_count)]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0
        assert cell(table, 0, "reasons")  # why, in words
        assert set(screen.query_one(KeyFooter).shown_keys) == {"esc", "⏎", "?"}

        # Asked first; "no" maps nothing.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert app.screen.question.startswith(
            "Map bill ZZ-999 (Summit Framing Co., 7,300.00 USD) to invoice ZZ-0999 on SC-001"
        )
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, SuggestionsScreen)
        assert BillMapping.select().count() == 0

        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot, rounds=10)
        assert isinstance(app.screen, MainScreen)
        mapping = BillMapping.get()
        assert (mapping.bill_txn_id, mapping.invoice_id, mapping.confirmed_by) == (
            "BILL-5",
            3006,
            "console test",
        )
        saved = [n for n in app._notifications if n.title == "Saved"]
        assert saved and "ZZ-0999" in saved[-1].message  # the engine's sentence


async def test_a_refused_mapping_reaches_the_one_error_modal(tmp_path: Path) -> None:
    app = make_mapping_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_suggestions(pilot)
        assert isinstance(app.screen, SuggestionsScreen)
        Invoice.delete().where(
            Invoice.id == 3006
        ).execute()  # the invoice leaves PaySync's copy of Procore meanwhile
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot, rounds=10)
        assert isinstance(app.screen, ErrorModal)
        assert app.screen.problem.title == "Mapping refused"
        assert "3006" in app.screen.problem.message
        assert app.screen.problem.how_to_fix.startswith("Nothing was mapped.")
        assert BillMapping.select().count() == 0


async def test_m_on_a_payment_that_needs_no_mapping_says_what_m_is_for(tmp_path: Path) -> None:
    app = make_mapping_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#commitments", DataTable).move_cursor(row=2)  # SC-001
        await settle(pilot)
        payments = screen.query_one("#payments", DataTable)
        payments.focus()
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any(text.startswith("m is for a payment that needs mapping") for text in said(app))


async def test_m_says_so_when_there_is_nothing_to_suggest(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)  # no Procore vendors: nothing to suggest
    async with app.run_test(size=SIZE) as pilot:
        await open_suggestions(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any(text.startswith("PaySync found no Procore invoice that bill ZZ-999") for text in said(app))


async def test_the_suggestions_screen_has_its_own_help_and_is_usable_at_80x24(tmp_path: Path) -> None:
    app = make_mapping_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_suggestions(pilot)
        screen = app.screen
        assert isinstance(screen, SuggestionsScreen)
        table = screen.query_one("#suggestions-table", DataTable)
        assert [str(key.value) for key in table.columns] == ["invoice", "commitment", "score", "reasons"]
        assert {"esc", "⏎", "?"} <= set(screen.query_one(KeyFooter).shown_keys)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.sections is not None and app.screen.sections[0][0] == "Mapping suggestions"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
