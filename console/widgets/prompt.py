"""The inline prompt under the panes (k9s's command line): the filter, a payment number, a file path.

What is asked stands on the line above the field, and bad input is answered on the line under
it, in words; the prompt stays open and nothing is stored. The field takes the whole width, so
its placeholder is not cut (down to 80 columns).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label

Validator = Callable[[str], str | None]  # returns an error message, or None when the text is fine


class PromptBar(Vertical):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt-cancel")]

    class Submitted(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    class Cancelled(Message):
        def __init__(self, mode: str) -> None:
            super().__init__()
            self.mode = mode

    class Changed(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.mode = ""
        self._validate: Validator | None = None

    def compose(self) -> ComposeResult:
        yield Label("", id="prompt-label")
        yield Input(id="prompt-input", select_on_focus=False)
        yield Label("", id="prompt-error")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(
        self,
        mode: str,
        *,
        label: str,
        placeholder: str = "",
        value: str = "",
        validate: Validator | None = None,
    ) -> None:
        self.mode = mode
        self._validate = validate
        self.query_one("#prompt-label", Label).update(label)
        self.show_error("")
        field = self.query_one(Input)
        field.placeholder = placeholder
        field.value = value
        field.cursor_position = len(value)
        self.add_class("-open")
        field.focus()

    def close(self) -> None:
        self.remove_class("-open")
        self.mode = ""

    def show_error(self, message: str) -> None:
        error = self.query_one("#prompt-error", Label)
        error.update(message)
        error.set_class(bool(message), "-shown")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.is_open:
            self.show_error("")
            self.post_message(self.Changed(self.mode, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._validate is not None:
            problem = self._validate(event.value)
            if problem:
                self.show_error(problem)
                return
        mode = self.mode
        self.close()
        self.post_message(self.Submitted(mode, event.value))

    def action_cancel(self) -> None:
        mode = self.mode
        self.close()
        self.post_message(self.Cancelled(mode))
