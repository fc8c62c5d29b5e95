"""Typed messages: how worker threads hand results back to the UI (Harlequin's pattern).

Workers never touch widgets; they `post_message` one of these, named in the past tense.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from storage.views import AuditRow, CommitmentPage, ErrorRow, InvoiceRow, Overview, PaymentDetail, PaymentPage
from sync.engine.summary import SyncSummary

if TYPE_CHECKING:
    from sync.engine.reconcile import Reconciliation
    from sync.engine.suggestions import BillSuggestions


class OverviewLoaded(Message):
    def __init__(self, overview: Overview) -> None:
        super().__init__()
        self.overview = overview


class CommitmentsLoaded(Message):
    def __init__(self, page: CommitmentPage, *, text: str, file_key: str | None = None) -> None:
        super().__init__()
        self.page = page
        self.text = text
        self.file_key = file_key  # the company filter it was read with (None: all files)


class InvoicesLoaded(Message):
    def __init__(
        self, commitment_id: int | None, invoices: Sequence[InvoiceRow], *, file_key: str | None = None
    ) -> None:
        super().__init__()
        self.commitment_id = commitment_id
        self.invoices = tuple(invoices)
        self.file_key = file_key  # the company filter it was read with (None: all files)


class PaymentsLoaded(Message):
    def __init__(
        self,
        commitment_id: int | None,
        invoice_id: int | None,
        page: PaymentPage,
        *,
        file_key: str | None = None,
    ) -> None:
        super().__init__()
        self.commitment_id = commitment_id
        self.invoice_id = invoice_id
        self.page = page
        self.file_key = file_key  # the company filter it was read with (None: all files)


class PaymentDetailLoaded(Message):
    def __init__(self, detail: PaymentDetail | None, *, open_modal: bool = False) -> None:
        super().__init__()
        self.detail = detail
        self.open_modal = open_modal


class SyncProgressed(Message):
    """Fed by the engine's progress callback, from the sync thread."""

    def __init__(self, done: int, total: int, step: str) -> None:
        super().__init__()
        self.done = done
        self.total = total
        self.step = step


class SyncFinished(Message):
    def __init__(self, summary: SyncSummary, *, trigger: str, web_connector_note: str | None = None) -> None:
        super().__init__()
        self.summary = summary
        self.trigger = trigger
        self.web_connector_note = web_connector_note


@dataclass(frozen=True)
class PreviewLine:
    """One planned action, with the commitment and invoice named the way the user knows them."""

    action: str  # create | update | void | flag_deleted | skip | retract
    commitment: str
    invoice: str
    amount: Decimal | None
    reason: str
    origin_id: str


class PreviewReady(Message):
    def __init__(self, lines: Sequence[PreviewLine]) -> None:
        super().__init__()
        self.lines = tuple(lines)


class PaymentChanged(Message):
    """A user edit went through (payment number, attachment, retraction), or changed nothing."""

    def __init__(self, text: str, *, changed: bool = True) -> None:
        super().__init__()
        self.text = text
        self.changed = changed


class ExportWritten(Message):
    """The listed payments were written to a CSV file."""

    def __init__(self, path: Path, count: int) -> None:
        super().__init__()
        self.path = path
        self.count = count


@dataclass(frozen=True)
class ProblemReport:
    """What the error modal shows: what happened, and how to fix it."""

    title: str
    message: str
    how_to_fix: str


class ProblemOccurred(Message):
    def __init__(self, problem: ProblemReport) -> None:
        super().__init__()
        self.problem = problem


class EventLogLoaded(Message):
    def __init__(self, audit: Sequence[AuditRow], errors: Sequence[ErrorRow]) -> None:
        super().__init__()
        self.audit = tuple(audit)
        self.errors = tuple(errors)


class ReconcileProgressed(Message):
    """Fed by the reconciliation's progress callback (commitments done of total), from its thread."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done = done
        self.total = total


class ReconcileFinished(Message):
    def __init__(self, result: Reconciliation, *, at: datetime) -> None:
        super().__init__()
        self.result = result
        self.at = at


class MissingResent(Message):
    """The payments missing in Procore were marked for the next push (nothing written to Procore)."""

    def __init__(self, count: int, asked: int) -> None:
        super().__init__()
        self.count = count
        self.asked = asked


class SuggestionsLoaded(Message):
    """The invoices a needs-mapping payment's bill may belong to (None: PaySync has none to offer)."""

    def __init__(self, application_id: int, suggestions: BillSuggestions | None, *, bill_ref: str) -> None:
        super().__init__()
        self.application_id = application_id
        self.suggestions = suggestions
        self.bill_ref = bill_ref
