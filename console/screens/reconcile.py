"""i (after R): one commitment's reconciliation, item by item: what QuickBooks paid that Procore
does not have, what Procore has for a different amount, what Procore has that QuickBooks did not
pay; both amounts with their currency. `s` sends what is missing in Procore through the normal
preview and push: it asks first, and then only marks the payments for the next push (the main
screen opens the preview; nothing is written to Procore until the person presses s there)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.bindings import RECONCILE_BINDINGS
from console.screens.confirm import ConfirmModal
from console.screens.help import HelpScreen
from console.widgets.footer import KeyFooter
from console.widgets.status import palette
from console.widgets.tables import ColumnSpec, KeyedTable

if TYPE_CHECKING:
    from sync.engine.reconcile import CommitmentReconciliation, ReconcileItem

MISSING = "missing_in_procore"
KIND_WORDS: dict[str, str] = {
    MISSING: "Missing in Procore",
    "amount_differs": "Amount differs",
    "extra_in_procore": "Extra in Procore",
}
KIND_ORDER = (MISSING, "amount_differs", "extra_in_procore")
COUNT_WORDS: dict[str, str] = {
    MISSING: "missing in Procore",
    "amount_differs": "amount differs",
    "extra_in_procore": "extra in Procore",
}


def kind_text(kind: str) -> Text:
    colours = palette()
    colour = {MISSING: colours.yellow, "amount_differs": colours.blue, "extra_in_procore": colours.red}
    return Text(KIND_WORDS.get(kind, kind.replace("_", " ")), style=colour.get(kind, colours.grey))


def money_with(amount: Decimal | None, currency: str) -> str:
    """ "25,000.00 USD"; "—" when that side has nothing."""
    return "—" if amount is None else f"{amount:,.2f} {currency}".rstrip()


def item_reference(item: ReconcileItem) -> str:
    """The payment as PaySync and Procore know it: the origin id, else the Procore payment id."""
    if item.origin_id:
        return item.origin_id
    if item.procore_payment_id is not None:
        return f"Procore payment {item.procore_payment_id}"
    return "—"


def missing_origin_ids(items: Sequence[ReconcileItem]) -> tuple[str, ...]:
    """What `s` would send: the items missing in Procore that PaySync can create (an origin id)."""
    return tuple(item.origin_id for item in items if item.kind == MISSING and item.origin_id)


def reconcile_summary(result: CommitmentReconciliation, *, as_of: str) -> Text:
    colours = palette()
    text = Text()
    if result.status == "reconciled":
        text.append("✔ QuickBooks and Procore agree", style=f"bold {colours.green}")
    else:
        text.append(
            f"Off by {abs(result.difference):,.2f} {result.currency}".rstrip(), style=f"bold {colours.yellow}"
        )
    text.append(f" · as of {as_of}\n", style=colours.grey)
    currency = result.currency
    text.append("QuickBooks ", style="bold")
    text.append(money_with(result.quickbooks, currency))
    text.append(" · Procore by PaySync ", style="bold")
    text.append(money_with(result.procore_paysync, currency))
    text.append(" · other Procore payments ", style="bold")
    text.append(money_with(result.procore_other, currency))
    counts = Counter(item.kind for item in result.items)
    parts = [f"{counts[kind]} {COUNT_WORDS[kind]}" for kind in KIND_ORDER if counts[kind]]
    text.append("\n")
    if not parts:
        text.append("Nothing to list: every payment agrees.", style="italic")
        return text
    text.append(" · ".join(parts))
    if missing_origin_ids(result.items):
        text.append(" · s sends the missing ones through the preview and a push", style="italic")
    return text


class ReconcileItemsTable(KeyedTable):
    COLUMNS = (
        ColumnSpec("kind", "What"),
        ColumnSpec("reference", "Origin id / Procore id", flex=True),
        ColumnSpec("quickbooks", "QuickBooks", right=True, money=True),
        ColumnSpec("procore", "Procore", right=True, money=True),
    )  # the highlighted item's payment, in words, and its ids in full: under the table

    def show(self, items: Sequence[ReconcileItem], currency: str) -> None:
        ordered = sorted(
            enumerate(items),
            key=lambda pair: KIND_ORDER.index(pair[1].kind) if pair[1].kind in KIND_ORDER else 9,
        )
        self._refill(
            [
                (
                    str(index),
                    (
                        kind_text(item.kind),
                        item_reference(item),
                        Text(money_with(item.quickbooks_amount, currency), justify="right"),
                        Text(money_with(item.procore_amount, currency), justify="right"),
                    ),
                )
                for index, item in ordered
            ],
            None,
        )


class ReconcileScreen(ModalScreen[tuple[str, ...] | None]):
    """Dismisses with the origin ids to send through the preview and a push (the person said yes),
    or None."""

    BINDINGS = [*RECONCILE_BINDINGS]

    def __init__(self, result: CommitmentReconciliation, *, as_of: str) -> None:
        super().__init__()
        self.result = result
        self.as_of = as_of

    def compose(self) -> ComposeResult:
        with Vertical(id="reconcile-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Reconciliation: {self.result.label}"
            yield Static(reconcile_summary(self.result, as_of=self.as_of), id="reconcile-summary")
            yield ReconcileItemsTable(id="reconcile-table")
            yield Static("", id="reconcile-item")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(ReconcileItemsTable)
        table.show(self.result.items, self.result.currency)
        if not self.result.items:
            self.query_one("#reconcile-item", Static).update(
                Text("QuickBooks and Procore agree on this commitment: nothing to send.", style="italic")
            )
        table.focus()

    @on(DataTable.RowHighlighted)
    def show_item(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is None or not key.isdigit() or int(key) >= len(self.result.items):
            return
        item = self.result.items[int(key)]
        text = Text(f"{KIND_WORDS.get(item.kind, item.kind)}: ", style="bold")
        text.append(item.label or "—")
        text.append("\n")
        if item.origin_id:
            text.append("origin_id ", style="bold")
            text.append(item.origin_id + "  ")
        if item.procore_payment_id is not None:
            text.append("Procore payment ", style="bold")
            text.append(str(item.procore_payment_id))
        self.query_one("#reconcile-item", Static).update(text)

    def action_send_missing(self) -> None:
        origin_ids = missing_origin_ids(self.result.items)
        if not origin_ids:
            self.notify(
                "Nothing is missing in Procore on this commitment: there is nothing to send. Amounts "
                "that differ and payments only in Procore are for a person to look into.",
                title="Nothing to send",
                timeout=8,
            )
            return
        count = len(origin_ids)
        plural = "s" if count != 1 else ""
        question = (
            f"Send {count} missing payment{plural} through preview and push?\n\n"
            f"PaySync marks {'them' if count != 1 else 'it'} to be created by the next push and opens the "
            "preview. Nothing is written to Procore until you press s there (or the next scheduled "
            "sync runs)."
        )

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.dismiss(origin_ids)
            else:
                self.notify("Nothing was sent.", timeout=3)

        self.app.push_screen(
            ConfirmModal(f"Send missing payment{plural}?", question, yes_label="Send"), answered
        )

    def action_help(self) -> None:
        self.app.push_screen(
            HelpScreen([("Reconciliation items", RECONCILE_BINDINGS)], title="Help: reconciliation items")
        )

    def action_close(self) -> None:
        self.dismiss(None)
