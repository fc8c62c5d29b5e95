"""A yes/no question before anything destructive (lazygit, Posting's confirmation modal)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from console.widgets.footer import KeyFooter


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="confirm-no"),
    ]

    def __init__(
        self, title: str, question: str, *, yes_label: str = "Yes", no_label: str = "Cancel"
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.question = question
        self.yes_label = yes_label
        self.no_label = no_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.question, id="confirm-question", classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error")
                yield Button(f"{self.no_label} (n)", id="no", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        # The safe answer has the focus, so a stray Enter cancels.
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
