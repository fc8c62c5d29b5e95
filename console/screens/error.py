"""The one error modal (Harlequin's pattern): what went wrong, and how to fix it."""

from __future__ import annotations

import httpx
import peewee
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.bindings import MODAL_BINDINGS
from console.messages import ProblemReport
from console.widgets.footer import KeyFooter
from storage.db import DatabaseConfigError
from sync.engine.suggestions import MappingRefused
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreRequestError,
    ProcoreUnavailable,
    ProcoreWriteOutcomeUnknown,
)
from sync.procore.permissions import PermissionDenied
from sync.settings import ConfigError


def describe_error(error: BaseException, *, doing: str) -> ProblemReport:
    """Turn an exception into a title, the message, and what the user can do about it."""
    name = type(error).__name__
    message = str(error) or name
    if isinstance(error, PermissionDenied):
        need = "Retracting a payment" if "retract" in doing else "Syncing on demand"
        return ProblemReport(
            f"Not allowed to {doing}",
            message,
            f"{need} needs 'Admin' on the ERP Integrations tool of the project in Procore. Ask a Procore "
            "company admin for it, or to add your Procore login to PAYSYNC_ACCOUNTING_APPROVERS.",
        )
    if isinstance(error, MappingRefused):
        return ProblemReport(
            "Mapping refused",
            message,
            "Nothing was mapped. Do what the message says (or choose another invoice with m), then try "
            "again; a payment that needs mapping stays under (unmatched) until then.",
        )
    if isinstance(error, DatabaseConfigError):
        return ProblemReport(
            "Database problem",
            message,
            "Check PAYSYNC_DATABASE_URL in .env (see .env.example): the database it names must exist and "
            "be reachable, as the message says. Then start PaySync again.",
        )
    if isinstance(error, ConfigError):
        return ProblemReport(
            "Configuration problem",
            message,
            "Fix the setting the message names in .env (see .env.example), then start PaySync again.",
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
    if isinstance(error, peewee.DatabaseError):
        return ProblemReport(
            f"Could not {doing}",
            f"The database answered: {message}",
            "Make sure the database is reachable (PostgreSQL running, or the SQLite file and its folder "
            "present and writable); another PaySync may be busy with it. Then press r to read again.",
        )
    if isinstance(error, ValueError):
        return ProblemReport(f"Could not {doing}", message, _value_fix(message, doing))
    if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError | FileExistsError):
        if "CSV" in doing:
            return ProblemReport(
                f"Could not {doing}",
                message,
                "Choose a file name in a folder you may write to (the current folder, or your Documents), "
                "then press w again. Nothing was written.",
            )
        return ProblemReport(
            f"Could not {doing}", message, "Check the path and that PaySync may read the file."
        )
    if isinstance(error, OSError):
        return ProblemReport(
            f"Could not {doing}",
            message,
            "The computer refused the file operation (the disk may be full or the file in use). "
            "Free the file or choose another place, then try again.",
        )
    return ProblemReport(
        f"Could not {doing}",
        f"{name}: {message}",
        "This is unexpected. The event log (l) has what PaySync recorded; please report it with the log.",
    )


def _value_fix(message: str, doing: str) -> str:
    """How to fix a refusal (ValueError), from what was refused."""
    said = message.lower()
    if "payment number" in doing:
        return (
            "Type a whole number from 1 to 2,147,483,647 with the digits 0–9, or leave it empty to clear "
            "it. Nothing was stored."
        )
    if "not in procore yet" in said:
        return (
            "Wait for the next sync to create the payment in Procore (it then shows Synced), then try again."
        )
    if "try again when" in said or "is running" in said or "push is running" in said:
        return "Wait until the other sync or push has finished (the top bar shows it), then try again. Nothing was changed."
    if "refresh" in said:
        return "Press s to sync: it refreshes PaySync's copy of Procore first. Then try again. Nothing was changed."
    if "attach" in doing:
        return "Pick an existing PDF, image or Office file of at most 25 MB, then press a again. Nothing was attached."
    return "Nothing was stored. Do what the message says, then try again."


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
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
