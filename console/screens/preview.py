"""p: the plan a sync would carry out, with reasons, before anything is written."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.bindings import PREVIEW_BINDINGS
from console.messages import PreviewLine
from console.widgets.footer import KeyFooter
from console.widgets.status import palette
from console.widgets.tables import ColumnSpec, KeyedTable, format_money, with_thousands

ACTION_LOOK: dict[str, tuple[str, str]] = {
    "create": ("+ Create", "green"),
    "update": ("~ Update", "blue"),
    "void": ("∅ Void", "yellow"),
    "flag_deleted": ("⊘ Flag deleted", "red"),
    "retract": ("✖ Retract", "red"),
    "skip": ("· Skip", "grey"),
}
ACTION_ORDER = ("create", "update", "void", "flag_deleted", "retract", "skip")


def action_text(action: str) -> Text:
    label, colour = ACTION_LOOK.get(action, (action, "grey"))
    return Text(label, style=getattr(palette(), colour))


def plan_summary(lines: Sequence[PreviewLine]) -> Text:
    counts = Counter(line.action for line in lines)
    if not lines:
        return Text("Nothing to do: Procore already matches what PaySync knows from QuickBooks.")
    text = Text(f"{len(lines)} planned: ")
    parts = [a for a in ACTION_ORDER if counts.get(a)] + sorted(a for a in counts if a not in ACTION_ORDER)
    for i, action in enumerate(parts):
        if i:
            text.append(" · ")
        text.append(f"{counts[action]} ")
        text.append_text(action_text(action))
    text.append("   (nothing has been written)", style="italic")
    return text


class PreviewTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("action", "Action"),
        ColumnSpec("commitment", "Commitment", flex=True),
        ColumnSpec("invoice", "Invoice #"),
        ColumnSpec("amount", "Amount", right=True, money=True),
        ColumnSpec("reason", "Reason", flex=True),
    )

    def show(self, lines: Sequence[PreviewLine]) -> None:
        order = {a: i for i, a in enumerate(ACTION_ORDER)}
        ordered = sorted(lines, key=lambda line: order.get(line.action, len(order)))
        self._refill(
            [
                (
                    line.origin_id,
                    (
                        action_text(line.action),
                        line.commitment,
                        line.invoice,
                        Text(format_money(line.amount), justify="right"),
                        with_thousands(line.reason),
                    ),
                )
                for line in ordered
            ],
            None,
        )


class PreviewScreen(ModalScreen[bool]):
    """Dismisses with True when the user asks to carry out the plan now."""

    BINDINGS = [*PREVIEW_BINDINGS]

    def __init__(self, lines: Sequence[PreviewLine]) -> None:
        super().__init__()
        self.lines = tuple(lines)
        self._by_key = {line.origin_id: line for line in self.lines}

    def compose(self) -> ComposeResult:
        with Vertical(id="preview-dialog", classes="dialog") as dialog:
            dialog.border_title = "Preview: what a sync would do"
            yield Static(plan_summary(self.lines), id="preview-summary")
            yield PreviewTable(id="preview-table")
            yield Static("", id="preview-reason")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(PreviewTable)
        table.show(self.lines)
        table.focus()

    @on(DataTable.RowHighlighted)
    def show_full_reason(self, event: DataTable.RowHighlighted) -> None:
        line = self._by_key.get(str(event.row_key.value))
        text = Text("Reason: ", style="bold")
        text.append(with_thousands(line.reason) if line else "")
        self.query_one("#preview-reason", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(False)

    def action_sync_now(self) -> None:
        self.dismiss(True)
