"""SVG snapshots of the console's screens (pytest-textual-snapshot), over the fixed data set with a
frozen clock, so they only change when the screens do. Update on purpose with
`pytest tests/test_console_snapshots.py --snapshot-update` and review the SVGs in the diff.

The main screen is taken at the sizes people have: 80×24 (the smallest supported), 120×30 (Windows
Terminal's default) and 200×50; and once in a light theme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.screens.error import describe_error
from sync.procore.permissions import PermissionDenied
from tests.console_support import make_fixed_app, settle

SIZE = (140, 40)


async def on_framing_subcontract(pilot: Pilot[None]) -> None:
    await settle(pilot)
    table = pilot.app.screen.query_one("#commitments", DataTable)
    table.move_cursor(row=2)  # SC-001: synced, waiting and pre-existing payments
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 30), (200, 50)], ids=["80x24", "120x30", "200x50"])
def test_main_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=size, run_before=on_framing_subcontract)


def test_main_screen_in_a_light_theme(snap_compare: Any, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "console.json").write_text('{"theme": "textual-light"}')
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=on_framing_subcontract)


def test_help_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_preview_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_payment_detail_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await on_framing_subcontract(pilot)
        payments = pilot.app.screen.query_one("#payments", DataTable)
        payments.focus()
        payments.move_cursor(row=3)  # the pre-existing check 0990
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=run_before)


def test_event_log_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=run_before)


def test_error_modal(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await on_framing_subcontract(pilot)
        denied = PermissionDenied(
            "ap@summitridge.example may not sync on demand: that needs 'Admin' on the ERP Integrations tool "
            "of every synced project, or being an accounting approver. Missing on: project 101 "
            "(ERP Integrations: Read Only)."
        )
        pilot.app.show_problem(describe_error(denied, doing="sync"))  # type: ignore[attr-defined]
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=SIZE, run_before=run_before)
