"""SVG snapshots of the console's screens (pytest-textual-snapshot), over the fixed data set with a
frozen clock, so they only change when the screens do. Update on purpose with
`pytest tests/test_console_snapshots.py --snapshot-update` and review the SVGs in the diff.

The main screen is taken at the sizes people have: 80×24 (the smallest supported), 120×30 (Windows
Terminal's default) and 200×50; and once in a light theme. Then every state a person meets: a
fresh database with nothing in it yet, a payment that needs attention, a sync under way and the
question before stopping it, the prompts for a payment number and for a file to attach, the
preview, a payment's details, the event log, the error modal and the help screen (help and
details at 80×24 too); and two company files with the company filter on."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from console.app import PaySyncApp
from console.messages import SyncProgressed
from console.screens.error import describe_error
from console.screens.main import MainScreen
from storage.db import open_database
from storage.vocabulary import ErpStatus
from sync.engine.cancel import SyncCancel
from sync.engine.service import SyncService
from sync.procore.permissions import PermissionDenied
from tests.support.console import fixed_settings, frozen_now, make_fixed_app, settle
from tests.support.console_companies import add_east_company

SIZE = (140, 40)


async def on_framing_subcontract(pilot: Pilot[None]) -> None:
    await settle(pilot)
    table = pilot.app.screen.query_one("#commitments", DataTable)
    table.move_cursor(row=2)  # SC-001: synced, waiting and pre-existing payments
    await settle(pilot)


async def on_payment(pilot: Pilot[None], commitment_row: int, payment_row: int) -> None:
    """The payment on `payment_row` of the commitment on `commitment_row`, highlighted in the focused
    Payments pane (where e, a and x act)."""
    await settle(pilot)
    pilot.app.screen.query_one("#commitments", DataTable).move_cursor(row=commitment_row)
    await settle(pilot)
    payments = pilot.app.screen.query_one("#payments", DataTable)
    payments.focus()
    payments.move_cursor(row=payment_row)
    await settle(pilot)


async def open_prompt(pilot: Pilot[None], key: str) -> None:
    """Press `key`, which opens the prompt bar, and hold its cursor still (shown, not blinking), so
    the picture does not depend on when it is taken."""
    await pilot.press(key)
    await settle(pilot)
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def make_empty_app(tmp_path: Path) -> PaySyncApp:
    """The console on a new, empty database: what a person sees before the first sync."""
    settings = fixed_settings(tmp_path)
    open_database(settings.database_url)
    return PaySyncApp(
        settings,
        SyncService(settings, actor="console test"),
        now=frozen_now,
        display_tz=UTC,
        preferences_folder=tmp_path / "config",
        refresh_seconds=None,
    )


async def syncing(pilot: Pilot[None]) -> None:
    """A sync the person started (s), three payments of eight written: the engine is not run (the
    worker is replaced), its progress is told the way the engine tells it."""
    await on_framing_subcontract(pilot)
    await pilot.press("s")
    await settle(pilot)
    pilot.app.screen.post_message(SyncProgressed(3, 8, "create: qbd:main:PAY-9:BILL-2"))
    await settle(pilot)


@pytest.fixture
def no_sync_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """`s` starts a sync that stays under way: its worker does nothing (so no Procore is called and
    the picture does not depend on how far a thread got)."""

    def run_sync(self: MainScreen, trigger: str, cancel: SyncCancel) -> None:
        return None

    monkeypatch.setattr(MainScreen, "run_sync", run_sync)


@pytest.mark.parametrize("size", [(80, 24), (120, 30), (200, 50)], ids=["80x24", "120x30", "200x50"])
def test_main_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=size, run_before=on_framing_subcontract)


def test_main_screen_in_a_light_theme(snap_compare: Any, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "console.json").write_text('{"theme": "textual-light"}')
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=on_framing_subcontract)


def test_empty_database(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_empty_app(tmp_path), terminal_size=(120, 30), run_before=settle)


def test_needs_attention(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await on_payment(pilot, commitment_row=0, payment_row=0)  # the unmatched payments
        screen = pilot.app.screen
        assert isinstance(screen, MainScreen)
        row = screen.selected_payment()
        assert row is not None and row.status == ErpStatus.NEEDS_ATTENTION

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=SIZE, run_before=run_before)


@pytest.mark.usefixtures("no_sync_worker")
def test_sync_under_way(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=syncing)


@pytest.mark.usefixtures("no_sync_worker")
def test_stop_the_sync_question(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await syncing(pilot)
        await pilot.press("k")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=run_before)


def test_payment_number_prompt(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await on_payment(pilot, commitment_row=2, payment_row=2)  # check 1042, payment # 1
        await open_prompt(pilot, "e")

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=run_before)


def test_attachment_prompt(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await on_payment(pilot, commitment_row=2, payment_row=1)  # check 1043, synced
        await open_prompt(pilot, "a")

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=run_before)


async def on_help(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await settle(pilot)


def test_help_screen(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=SIZE, run_before=on_help)


def test_help_screen_at_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(80, 24), run_before=on_help)


def test_preview_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=SIZE, run_before=run_before)


async def on_payment_detail(pilot: Pilot[None]) -> None:
    await on_framing_subcontract(pilot)
    payments = pilot.app.screen.query_one("#payments", DataTable)
    payments.focus()
    payments.move_cursor(row=3)  # the pre-existing check 0990
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def test_payment_detail_screen(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=on_payment_detail)


def test_payment_detail_screen_at_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(80, 24), run_before=on_payment_detail)


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


# ------------------------------------------------------------------------------------------------
# Reconciliation (R, i) and mapping suggestions (m): a reconciliation handed to the screen as R
# would (tests/test_console_reconcile.py builds it), and the real suggestions over the fixed data
# set with the invoice a needs-mapping bill belongs to (tests/test_console_suggestions.py).


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
def test_reconcile_column(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    from tests.test_console_reconcile import with_reconciliation

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=size, run_before=with_reconciliation)


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
def test_reconcile_items_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    from tests.test_console_reconcile import with_reconciliation

    async def run_before(pilot: Pilot[None]) -> None:
        await with_reconciliation(pilot, "PO-001")
        await pilot.press("i")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=size, run_before=run_before)


def test_reconcile_send_question(snap_compare: Any, tmp_path: Path) -> None:
    from tests.test_console_reconcile import with_reconciliation

    async def run_before(pilot: Pilot[None]) -> None:
        await with_reconciliation(pilot, "SC-001")
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)

    assert snap_compare(make_fixed_app(tmp_path), terminal_size=(120, 30), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
def test_suggestions_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    from tests.test_console_suggestions import make_mapping_app, open_suggestions

    assert snap_compare(make_mapping_app(tmp_path), terminal_size=size, run_before=open_suggestions)


def test_health_screen(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """H: the doctor's checks, with a verdict of each kind (fixed, so the picture does not depend on
    the machine; tests/test_doctor.py runs the real ones)."""
    from sync.doctor.check import fail, ok, warn

    checks = [
        ok("Configuration", "Settings", "the configuration reads without a warning"),
        ok("Database", "Schema version", "5, this PaySync's"),
        warn(
            "Database",
            "Backup",
            "no backup on record",
            "Run `paysync backup PATH` (and schedule it), so a lost disk does not lose what was synced.",
        ),
        ok("Procore", "Sign-in", "reachable; signed in as service-account@example.com"),
        fail(
            "Procore",
            "Payments Issued enabled",
            "not enabled on 1 of 6 commitments: PO-002 (id 5000000011)",
            "In Procore open each commitment → Advanced Settings → tick 'Enable Payments' (Payments Issued).",
        ),
        ok("Web Connector", "Contact (main)", "last poll 12 min ago (2026-11-25T16:48:00Z)"),
        ok(
            "Schedule",
            "Cutoff",
            "2026-11-01T00:00:00Z: payments created earlier in QuickBooks are not synced",
        ),
    ]
    app = make_fixed_app(tmp_path)
    monkeypatch.setattr(app, "health_checks", lambda: checks)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("H")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


async def filtered_to_east(pilot: Pilot[None]) -> None:
    """Two company files, the filter on the second (F), its payment on SC-001 highlighted."""
    await settle(pilot)
    await pilot.press("F")
    await settle(pilot)
    payments = pilot.app.screen.query_one("#payments", DataTable)
    payments.focus()
    await settle(pilot)


def test_two_company_files_filtered_to_one(snap_compare: Any, tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    add_east_company()
    assert snap_compare(app, terminal_size=(120, 30), run_before=filtered_to_east)
