"""m on a payment that needs mapping: the Procore invoices its QuickBooks bill may belong to, best
first (up to three), each with its score and why. `enter` on one asks first, then the screen
dismisses with it; the main screen maps the bill (`confirm_mapping`, in a thread worker), says the
engine's sentence and reloads. A refusal (`MappingRefused`) reaches the one error modal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.bindings import SUGGESTIONS_BINDINGS
from console.screens.confirm import ConfirmModal
from console.screens.help import HelpScreen
from console.widgets.footer import KeyFooter
from console.widgets.tables import ColumnSpec, KeyedTable

if TYPE_CHECKING:
    from sync.engine.suggestions import BillSuggestions, Suggestion


def bill_amount(bill: BillSuggestions) -> str:
    return f"{bill.amount:,.2f} {bill.currency or ''}".rstrip()


def bill_heading(bill: BillSuggestions) -> Text:
    text = Text("Bill ", style="bold")
    text.append(bill.ref_number or bill.bill_txn_id, style="bold")
    text.append(f" · {bill.vendor or '(no vendor)'} · {bill_amount(bill)}\n")
    text.append(
        "Matches no Procore invoice on its own. Best first; enter maps it (asks first).", style="italic"
    )
    return text


class SuggestionsTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("invoice", "Invoice #"),
        ColumnSpec("commitment", "Commitment", wrap=True),
        ColumnSpec("score", "Score", money=True),
        ColumnSpec("reasons", "Why", wrap=True),
    )

    def show(self, suggestions: tuple[Suggestion, ...]) -> None:
        self._refill(
            [
                (
                    str(index),
                    (
                        suggestion.invoice_number,
                        suggestion.commitment_label,
                        f"{suggestion.score:>5}",
                        "; ".join(suggestion.reasons) or "—",
                    ),
                )
                for index, suggestion in enumerate(suggestions)
            ],
            None,
        )


class SuggestionsScreen(ModalScreen["Suggestion | None"]):
    """Dismisses with the suggestion the person confirmed, or None."""

    BINDINGS = [*SUGGESTIONS_BINDINGS]

    def __init__(self, bill: BillSuggestions) -> None:
        super().__init__()
        self.bill = bill
        self.suggestions = bill.suggestions[:3]

    def compose(self) -> ComposeResult:
        with Vertical(id="suggestions-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Map bill {self.bill.ref_number or self.bill.bill_txn_id}"
            dialog.border_subtitle = f"QuickBooks TxnID {self.bill.bill_txn_id}"
            yield Static(bill_heading(self.bill), id="suggestions-bill")
            yield SuggestionsTable(id="suggestions-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(SuggestionsTable)
        table.show(self.suggestions)
        table.focus()

    def highlighted(self) -> Suggestion | None:
        key = self.query_one(SuggestionsTable).highlighted_key
        if key is None or not key.isdigit() or int(key) >= len(self.suggestions):
            return None
        return self.suggestions[int(key)]

    @on(DataTable.RowSelected)
    def row_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

    def action_choose(self) -> None:
        suggestion = self.highlighted()
        if suggestion is None:
            return
        bill = self.bill
        question = (
            f"Map bill {bill.ref_number or bill.bill_txn_id} ({bill.vendor or 'no vendor'}, {bill_amount(bill)}) "
            f"to invoice {suggestion.invoice_number} on {suggestion.commitment_label}?\n\n"
            "PaySync then places its payments there: the next push creates them in Procore (p previews "
            "it first). It is written to the audit log."
        )

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.dismiss(suggestion)
            else:
                self.notify("Nothing was mapped.", timeout=3)

        self.app.push_screen(ConfirmModal("Map this bill?", question, yes_label="Map it"), answered)

    def action_help(self) -> None:
        self.app.push_screen(
            HelpScreen([("Mapping suggestions", SUGGESTIONS_BINDINGS)], title="Help: mapping suggestions")
        )

    def action_close(self) -> None:
        self.dismiss(None)
