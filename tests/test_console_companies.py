"""Several QuickBooks company files in the console: the top bar gives each file's last contact, `F`
filters the panes by company file (in SQL, storage/views), and the payment detail names the file.
Over the fixed data set plus a second file, "east" (tests/support/console_companies.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import PaySyncApp
from console.widgets.detail import PaymentDetailPanel
from console.widgets.footer import KeyFooter
from console.widgets.tables import commitment_key
from storage import views
from storage.db import close_database
from tests.support.console import fixed_settings, make_fixed_app, seed_console_data, settle
from tests.support.console_companies import EAST_COMMITMENT_ID, FRAMING_ID, add_east_company
from tests.support.database import database_kinds, open_test_database

SIZE = (140, 40)


def make_two_company_app(tmp_path: Path) -> PaySyncApp:
    app = make_fixed_app(tmp_path)
    add_east_company()
    return app


@pytest.fixture(params=database_kinds())
def two_files(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = open_test_database(tmp_path, request.param, cutoff=None)
    close_database()
    seed_console_data(fixed_settings(tmp_path).with_overrides(database_url=url))
    add_east_company()
    yield
    close_database()


@pytest.mark.usefixtures("two_files")
def test_the_views_keep_one_company_files_payments_commitments_and_invoices() -> None:
    everyone = views.list_payments(FRAMING_ID)
    east = views.list_payments(FRAMING_ID, file_key="east")
    main = views.list_payments(FRAMING_ID, file_key="main")
    assert (everyone.total, east.total, main.total) == (5, 1, 4)
    assert [row.check_number for row in east.rows] == ["E3"]

    east_commitments = views.list_commitments(file_key="east").rows
    assert [(row.number, row.payments_count) for row in east_commitments] == [("SC-001", 1), ("SC-EAST", 2)]
    main_numbers = [row.number for row in views.list_commitments(file_key="main").rows]
    assert "SC-EAST" not in main_numbers
    assert main_numbers[0] == "(unmatched)"  # main's payment that needs mapping; east has none
    assert len(views.list_commitments().rows) == len(main_numbers) + 1

    assert [
        (i.invoice_number, i.payments_count) for i in views.list_invoices(FRAMING_ID, file_key="east")
    ] == [("INV-1001", 1)]
    assert len(views.list_invoices(FRAMING_ID)) == 2
    assert views.list_payments(EAST_COMMITMENT_ID, file_key="main").total == 0
    assert views.list_payments(FRAMING_ID, file_key="gone").total == 0  # a key no file has: nothing

    detail = views.payment_detail(east.rows[0].application_id)
    assert detail is not None and detail.company_file_label == "east · East Builders LLC"


async def on_framing(pilot: Pilot[None]) -> DataTable[Any]:
    """SC-001 highlighted in the commitments pane; its payments pane returned."""
    await settle(pilot)
    commitments = pilot.app.screen.query_one("#commitments", DataTable)
    commitments.move_cursor(row=commitments.get_row_index(commitment_key(FRAMING_ID)))
    await settle(pilot)
    return pilot.app.screen.query_one("#payments", DataTable)


async def test_f_cycles_the_company_filter_and_the_panes_follow(tmp_path: Path) -> None:
    app = make_two_company_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        payments = await on_framing(pilot)
        top = app.main_screen.query_one("#topbar")
        assert "Company: All companies" in getattr(top, "plain", "")
        assert "east ● 2 h ago ▲" in getattr(top, "plain", "")
        assert "main ● 3 min ago" in getattr(top, "plain", "")
        assert "F" in app.main_screen.query_one(KeyFooter).shown_keys
        assert payments.row_count == 5

        seen = []
        for _ in range(3):
            await pilot.press("F")
            payments = await on_framing(pilot)
            first_line = getattr(top, "plain", "").splitlines()[0]
            seen.append((first_line.split("Company: ")[1].split(" │")[0], payments.row_count))
        assert seen == [("East Builders LLC", 1), ("Ridgeline Builders LLC", 4), ("All companies", 5)]

        await pilot.press("F")  # east again: its own commitment is listed, main's others are not
        await settle(pilot)
        commitments = app.main_screen.query_one("#commitments", DataTable)
        assert commitments.row_count == 2
        commitments.move_cursor(row=commitments.get_row_index(commitment_key(EAST_COMMITMENT_ID)))
        await settle(pilot)
        assert payments.row_count == 2


async def test_the_payment_detail_names_the_company_file(tmp_path: Path) -> None:
    app = make_two_company_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)  # the overview (which company files there are) read first, as a person sees it
        await pilot.press("F")
        payments = await on_framing(pilot)
        payments.focus()
        await settle(pilot)
        panel = app.main_screen.query_one(PaymentDetailPanel)
        assert app.main_screen.detail is not None
        assert app.main_screen.detail.company_file_label == "east · East Builders LLC"
        shown = Console(width=240, record=True, file=io.StringIO())
        shown.print(panel.content)
        assert "Company file    east · East Builders LLC" in shown.export_text()


async def test_with_one_company_file_f_says_so_and_changes_nothing(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        payments = await on_framing(pilot)
        before = payments.row_count
        top = getattr(app.main_screen.query_one("#topbar"), "plain", "")
        assert "Company:" not in top
        assert "F" not in app.main_screen.query_one(KeyFooter).shown_keys
        await pilot.press("F")
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any(message.startswith("Only one company file") for message in said)
        assert payments.row_count == before
        assert getattr(app.main_screen.query_one("#topbar"), "plain", "") == top
