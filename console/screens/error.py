"""The one error modal (Harlequin's pattern): what went wrong, and how to fix it."""

from __future__ import annotations

import httpx
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.bindings import MODAL_BINDINGS
from console.messages import ProblemReport
from storage.db import DatabaseConfigError
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreRequestError,
    ProcoreUnavailable,
    ProcoreWriteOutcomeUnknown,
)
from sync.service import PermissionDenied
from sync.settings import ConfigError


def describe_error(error: BaseException, *, doing: str) -> ProblemReport:
    """Turn an exception into a title, the message, and what the user can do about it."""
    name = type(error).__name__
    message = str(error) or name
    if isinstance(error, PermissionDenied):
        return ProblemReport(
            f"Not allowed to {doing}",
            message,
            "On-demand sync and retracting payments need 'Admin' on the project's ERP Integrations "
            "tool in Procore. Ask a Procore company admin for it, or to add your Procore login to "
            "PAYSYNC_ACCOUNTING_APPROVERS.",
        )
    if isinstance(error, ConfigError | DatabaseConfigError):
        return ProblemReport(
            "Configuration problem",
            message,
            "Fix the key named above in .env (see .env.example), then start PaySync again.",
        )
    if isinstance(error, ProcoreAuthError):
        return ProblemReport(
            "Procore sign-in failed",
            message,
            "Check PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET in .env, or run `paysync login` again.",
        )
    if isinstance(error, ProcoreRequestError):
        return ProblemReport(
            "Procore refused the request",
            message,
            "Nothing was written. Correct what Procore names (for example the commitment's status "
            "or a field value) and sync again.",
        )
    if isinstance(error, ProcoreWriteOutcomeUnknown):
        return ProblemReport(
            "Procore's answer was lost",
            message,
            "Nothing needs doing: the next sync lists the commitment's payments and matches them "
            "before it writes again, so no payment is posted twice.",
        )
    if isinstance(error, ProcoreUnavailable | httpx.TransportError):
        return ProblemReport(
            "Procore cannot be reached",
            message,
            "Check the network and PROCORE_API_BASE, then press s to try again. Scheduled syncs retry on their own.",
        )
    if isinstance(error, ProcoreError):
        return ProblemReport("Procore error", message, "See the event log (l) for details, then try again.")
    if isinstance(error, ValueError):
        return ProblemReport(
            f"Could not {doing}", message, "Correct the value and try again; nothing was stored."
        )
    if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
        return ProblemReport(
            f"Could not {doing}", message, "Check the path and that PaySync may read the file."
        )
    return ProblemReport(
        f"Could not {doing}",
        f"{name}: {message}",
        "This is unexpected. The event log (l) has what PaySync recorded; please report it with the log.",
    )


class ErrorModal(ModalScreen[None]):
    BINDINGS = [*MODAL_BINDINGS]

    def __init__(self, problem: ProblemReport) -> None:
        super().__init__(classes="dialog-screen")
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog") as dialog:
            dialog.border_title = self.problem.title
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.problem.message, id="error-message", markup=False)
                yield Label("How to fix", classes="dialog-heading")
                yield Static(self.problem.how_to_fix, id="error-how-to-fix", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="error")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
