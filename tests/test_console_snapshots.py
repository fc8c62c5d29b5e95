"""SVG snapshots of the console's screens (pytest-textual-snapshot), over the fixed data set with a
frozen clock, so they only change when the screens do. Update on purpose with
`pytest tests/test_console_snapshots.py --snapshot-update` and review the SVGs in the diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from console.screens.error import describe_error
from sync.service import PermissionDenied
from tests.console_support import make_fixed_app, settle

SIZE = (140, 40)


async def on_framing_subcontract(pilot: Pilot[None]) -> None:
    await settle(pilot)
    table = pilot.app.screen.query_one("#commitments", DataTable)
    table.move_cursor(row=2)  # SC-001: synced, waiting and pre-existing payments
    await settle(pilot)


def test_main_screen(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=SIZE, run_before=on_framing_subcontract)


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
