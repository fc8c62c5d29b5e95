"""Reconciliation in the console: R fills the commitments' Reconciled column from a thread worker
(its progress in the top bar), i lists a commitment's items, and s there sends what is missing in
Procore through the normal preview and push: asked first, and nothing written to Procore until the
push is confirmed in the preview.

Over the fixed data set (the engine's reconcile and resend replaced, so the console alone is
tested) and over loopback on the demo's sandbox (the real engine and a real Procore sandbox)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.app import PaySyncApp
from console.demo import DemoEnvironment, start_demo
from console.screens.confirm import ConfirmModal
from console.screens.error import ErrorModal
from console.screens.help import HelpScreen
from console.screens.main import MainScreen
from console.screens.preview import PreviewScreen
from console.screens.reconcile import ReconcileScreen
from console.widgets.footer import KeyFooter
from console.widgets.topbar import TopBar
from storage.models import PaymentLink
from sync.engine.cancel import SyncCancel
from sync.engine.reconcile import CommitmentReconciliation, ReconcileItem, Reconciliation
from sync.engine.service import SyncService
from sync.procore.errors import ProcoreUnavailable
from tests.support.console import NOW, make_fixed_app, settle

SIZE = (140, 40)
USD = "USD"


def fixed_reconciliation() -> Reconciliation:
    """What R would find on the fixed data set if Procore had lost check 1043's payment on SC-001,
    held another amount for check 1039 on PO-001 and a payment entered by hand there."""
    d = Decimal
    return Reconciliation(
        commitments=(
            CommitmentReconciliation(
                commitment_id=2001,
                project_id=101,
                label="SC-001 Framing & drywall",
                currency=USD,
                quickbooks=d("68500.00"),
                procore_paysync=d("48500.00"),
                procore_other=d("0.00"),
                difference=d("20000.00"),
                status="off",
                items=(
                    ReconcileItem(
                        kind="missing_in_procore",
                        origin_id="qbd:main:PAY-2:BILL-2",
                        procore_payment_id=9002,
                        quickbooks_amount=d("20000.00"),
                        procore_amount=None,
                        label=(
                            "QuickBooks check 1043 to Summit Framing Co., bill INV-1002, 20000.00: was Procore "
                            "payment 9002, no longer on the commitment (deleted in Procore)"
                        ),
                    ),
                ),
            ),
            CommitmentReconciliation(
                commitment_id=2002,
                project_id=101,
                label="SC-002 Electrical",
                currency=USD,
                quickbooks=d("25000.00"),
                procore_paysync=d("25000.00"),
                procore_other=d("0.00"),
                difference=d("0.00"),
                status="reconciled",
                items=(),
            ),
            CommitmentReconciliation(
                commitment_id=2003,
                project_id=101,
                label="PO-001 Structural steel",
                currency=USD,
                quickbooks=d("0.00"),
                procore_paysync=d("12.50"),
                procore_other=d("300.00"),
                difference=d("-312.50"),
                status="off",
                items=(
                    ReconcileItem(
                        kind="amount_differs",
                        origin_id="qbd:main:PAY-5:BILL-4",
                        procore_payment_id=9005,
                        quickbooks_amount=d("0.00"),
                        procore_amount=d("12.50"),
                        label="QuickBooks check 1039 to Keystone Steel Supply, bill KS-7781, voided: Procore holds 12.50",
                    ),
                    ReconcileItem(
                        kind="extra_in_procore",
                        origin_id=None,
                        procore_payment_id=9100,
                        quickbooks_amount=None,
                        procore_amount=d("300.00"),
                        label="Procore payment 9100 (entered in Procore, not by PaySync)",
                    ),
                ),
            ),
        )
    )


def cell(table: DataTable[Any], row: int, column: str) -> str:
    value = table.get_row_at(row)[table.get_column_index(column)]
    return value.plain if isinstance(value, Text) else str(value)


def reconciled_cells(app: PaySyncApp) -> dict[str, str]:
    """Commitment number -> what its Reconciled cell says."""
    table = app.main_screen.query_one("#commitments", DataTable)
    return {cell(table, row, "number"): cell(table, row, "reconciled") for row in range(table.row_count)}


async def on_commitment(pilot: Pilot[None], number: str) -> None:
    table = pilot.app.screen.query_one("#commitments", DataTable)
    numbers = [cell(table, row, "number") for row in range(table.row_count)]
    table.focus()
    table.move_cursor(row=numbers.index(number))
    await settle(pilot)


async def with_reconciliation(pilot: Pilot[None], number: str = "SC-001") -> None:
    """The fixed data set with a reconciliation already done (handed to the screen as R would)."""
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    screen.show_reconciliation(fixed_reconciliation(), at=NOW)
    await settle(pilot)
    await on_commitment(pilot, number)


def said(app: PaySyncApp) -> list[str]:
    return [n.message for n in app._notifications]


class FakeEngine:
    """Stands in for SyncService.reconcile / resend_missing (and the sync) on the fixed data set,
    which has no Procore: records what the console asked."""

    def __init__(self, result: Reconciliation, *, hold: threading.Event | None = None) -> None:
        self.result = result
        self.hold = hold
        self.resent: list[tuple[tuple[str, ...], str]] = []
        self.syncs: list[str] = []

    def reconcile(
        self, project_id: int | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Reconciliation:
        total = len(self.result.commitments)
        if progress is not None:
            progress(0, total)
            progress(1, total)
        if self.hold is not None:
            self.hold.wait(10)
        if progress is not None:
            progress(total, total)
        return self.result

    def resend_missing(self, origin_ids: Sequence[str], *, actor: str) -> int:
        self.resent.append((tuple(origin_ids), actor))
        return len(origin_ids)


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    engine = FakeEngine(fixed_reconciliation())
    monkeypatch.setattr(SyncService, "reconcile", lambda self, **kw: engine.reconcile(**kw))
    monkeypatch.setattr(
        SyncService, "resend_missing", lambda self, ids, *, actor: engine.resend_missing(ids, actor=actor)
    )

    def run_sync(self: MainScreen, trigger: str, cancel: SyncCancel) -> None:
        engine.syncs.append(trigger)

    monkeypatch.setattr(MainScreen, "run_sync", run_sync)
    return engine


# ------------------------------------------------------------------------------------------------
# R: the column, filled by a worker, with progress in the top bar


async def test_the_reconciled_column_is_blank_until_R(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert set(reconciled_cells(app).values()) == {""}


async def test_at_80_columns_the_blank_column_gives_way_first_and_a_result_stays(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.main_screen.query_one("#commitments", DataTable)
        assert "reconciled" not in [str(key.value) for key in table.columns]
        app.main_screen.show_reconciliation(fixed_reconciliation(), at=NOW)
        await settle(pilot)
        # Once there is something to say, it stays on screen: other columns give way.
        assert reconciled_cells(app)["SC-001"] == "off 20,000.00 USD"


async def test_R_reconciles_in_a_worker_with_progress_in_the_top_bar_and_fills_the_column(
    tmp_path: Path, fake_engine: FakeEngine
) -> None:
    hold = threading.Event()
    fake_engine.hold = hold
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "R" in app.main_screen.query_one(KeyFooter).shown_keys
        await pilot.press("R")
        top = app.main_screen.query_one(TopBar)
        for _ in range(100):
            await pilot.pause(0.02)
            if "1 of 3 commitments" in top.plain:
                break
        assert "Reconciling with Procore: 1 of 3 commitments…" in top.plain
        assert set(reconciled_cells(app).values()) == {""}  # nothing until it has finished
        await pilot.press("R")
        assert "The reconciliation is under way: the top bar shows how far." in said(app)
        hold.set()
        await settle(pilot)

        assert "Reconciling" not in top.plain
        cells = reconciled_cells(app)
        assert cells["SC-001"] == "off 20,000.00 USD"
        assert cells["SC-002"] == "✔"
        assert cells["PO-001"] == "off 312.50 USD"
        assert cells["SC-003"] == "" and cells["(unmatched)"] == ""  # not reconciled: blank
        assert "1 reconciled ✔ · 2 off\nOn a commitment that is off, i lists what does not agree." in said(
            app
        )

        # Kept for the session: a reload leaves the column as it is.
        await pilot.press("r")
        await settle(pilot)
        assert reconciled_cells(app)["SC-002"] == "✔"


async def test_a_reconciliation_that_cannot_reach_procore_ends_in_the_error_modal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(self: SyncService, **kw: Any) -> Reconciliation:
        raise ProcoreUnavailable("Procore did not answer (connection refused).")

    monkeypatch.setattr(SyncService, "reconcile", unreachable)
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert app.screen.problem.title == "Procore cannot be reached"
        assert "Reconciling" not in app.main_screen.query_one(TopBar).plain
        assert set(reconciled_cells(app).values()) == {""}


# ------------------------------------------------------------------------------------------------
# i: the items of the selected commitment


async def test_i_before_R_says_to_reconcile_first(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await on_commitment(pilot, "SC-001")
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any(text.startswith("Press R first") for text in said(app))


async def test_the_items_screen_lists_each_item_in_words_with_its_ids_and_both_amounts(
    tmp_path: Path,
) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await with_reconciliation(pilot, "PO-001")
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReconcileScreen)
        table = screen.query_one("#reconcile-table", DataTable)
        rows = [
            tuple(cell(table, row, column) for column in ("kind", "reference", "quickbooks", "procore"))
            for row in range(table.row_count)
        ]
        assert rows == [
            ("Amount differs", "qbd:main:PAY-5:BILL-4", "0.00 USD", "12.50 USD"),
            ("Extra in Procore", "Procore payment 9100", "—", "300.00 USD"),
        ]
        summary = str(screen.query_one("#reconcile-summary", Static).content)
        assert "Off by 312.50 USD · as of 17:00 UTC" in summary
        assert (
            "QuickBooks 0.00 USD · Procore by PaySync 12.50 USD · other Procore payments 300.00 USD"
            in summary
        )
        assert "1 amount differs · 1 extra in Procore" in summary
        item = str(screen.query_one("#reconcile-item", Static).content)
        assert "Amount differs: QuickBooks check 1039" in item and "Procore payment 9005" in item

        # Nothing is missing here: s has nothing to send and says so.
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ReconcileScreen)
        assert any(text.startswith("Nothing is missing in Procore") for text in said(app))

        # Its own help, then back.
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.sections is not None and app.screen.sections[0][0] == "Reconciliation items"
        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_the_items_screen_is_usable_at_80x24(tmp_path: Path) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await with_reconciliation(pilot, "PO-001")
        await pilot.press("i")
        await settle(pilot)
        table = app.screen.query_one("#reconcile-table", DataTable)
        shown = [str(key.value) for key in table.columns]
        assert shown == ["kind", "reference", "quickbooks", "procore"]  # the amounts are never cut
        assert cell(table, 1, "procore") == "300.00 USD"
        assert set(app.screen.query_one(KeyFooter).shown_keys) == {"esc", "s", "?"}


# ------------------------------------------------------------------------------------------------
# s on the items screen: asks, marks, opens the preview; Procore is written only from the preview


async def test_sending_the_missing_asks_first_then_opens_the_preview_and_syncs_only_when_confirmed_there(
    tmp_path: Path, fake_engine: FakeEngine
) -> None:
    app = make_fixed_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await with_reconciliation(pilot, "SC-001")
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ReconcileScreen)

        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert app.screen.question.startswith("Send 1 missing payment through preview and push?")
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ReconcileScreen)
        assert fake_engine.resent == [] and "Nothing was sent." in said(app)

        await pilot.press("s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert fake_engine.resent == [(("qbd:main:PAY-2:BILL-2",), "console test")]
        assert isinstance(app.screen, PreviewScreen)  # the normal preview, over the database
        assert fake_engine.syncs == []  # nothing pushed yet
        assert any("Nothing is written to Procore until you press s in the preview." in t for t in said(app))

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and fake_engine.syncs == []

        # The same again, confirmed in the preview this time: that starts the sync.
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("s")
        await settle(pilot)
        assert fake_engine.syncs == ["console"]


# ------------------------------------------------------------------------------------------------
# Over loopback: the demo's sandbox Procore and the real engine


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoEnvironment]:
    env = start_demo(tmp_path / "demo")
    try:
        yield env
    finally:
        env.stop()


def payment_writes(env: DemoEnvironment) -> list[object]:
    return [e for e in env.procore_state.request_log if e.method != "GET" and "contract_payments" in e.path]


async def test_over_loopback_a_payment_deleted_in_procore_shows_off_and_goes_back_only_through_the_push(
    demo: DemoEnvironment,
) -> None:
    app = PaySyncApp(
        demo.settings,
        SyncService(demo.settings, actor="demo test"),
        environment=demo,
        refresh_seconds=None,
        preferences_folder=demo.folder / "config",
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        link = next(
            link
            for link in PaymentLink.select().order_by(PaymentLink.id)
            if link.procore_payment_id is not None and link.erp_status == "synced"
        )
        assert link.procore_payment_id is not None
        origin_id, procore_id = str(link.origin_id), int(link.procore_payment_id)
        demo.procore_state.delete_payment_by_hand(procore_id)  # someone deletes it in Procore
        writes_before = len(payment_writes(demo))

        await pilot.press("R")
        await settle(pilot, rounds=10)
        table = app.main_screen.query_one("#commitments", DataTable)
        cells = {
            row: cell(table, row, "reconciled")
            for row in range(table.row_count)
            if cell(table, row, "reconciled")
        }
        off = [row for row, text in cells.items() if text.startswith("off ")]
        assert off and any(text == "✔" for text in cells.values()), cells

        amount = f"{Decimal(str(link.application.amount)):,.2f}"
        row = next(row for row in off if cells[row] == f"off {amount} USD")
        table.focus()
        table.move_cursor(row=row)
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ReconcileScreen)
        items = app.screen.query_one("#reconcile-table", DataTable)
        assert (cell(items, 0, "kind"), cell(items, 0, "reference")) == ("Missing in Procore", origin_id)

        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot, rounds=10)
        assert isinstance(app.screen, PreviewScreen)
        preview = app.screen.query_one(DataTable)
        planned = {str(key.value): str(preview.get_row_at(i)[0]) for i, key in enumerate(preview.rows)}
        assert "Create" in planned[origin_id]
        assert len(payment_writes(demo)) == writes_before  # marked and previewed: nothing written yet
        assert PaymentLink.get_by_id(link.id).erp_status == "waiting"

        await pilot.press("s")  # the push, confirmed in the preview
        await settle(pilot, rounds=20)
        assert len(payment_writes(demo)) > writes_before
        assert any(p.get("origin_id") == origin_id for p in demo.procore_state.payments())

        await pilot.press("R")
        await settle(pilot, rounds=10)
        assert cell(table, row, "reconciled") == "✔"
