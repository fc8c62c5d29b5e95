"""What a push did: its counts, the payments that need attention or failed, and `SyncSummary`,
what one sync did as a whole (the CLI prints it, the console shows it, `paysync status` keeps it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.vocabulary import ErpStatus
from sync.procore.importer import ImportSummary

# Outcomes counted in the summary.
CREATED, UPDATED, VOIDED, FLAGGED, SKIPPED = "created", "updated", "voided", "flagged", "skipped"
# A payment that ends a push with a problem ends it in one of these ERP statuses.
OUTCOME_NEEDS_ATTENTION, OUTCOME_FAILED = ErpStatus.NEEDS_ATTENTION, ErpStatus.FAILED


@dataclass(frozen=True)
class PaymentProblem:
    """One payment that needs attention or failed in a push, as the summary lists it."""

    outcome: str  # OUTCOME_NEEDS_ATTENTION | OUTCOME_FAILED
    message: str  # "QuickBooks check 10452 to Acme Concrete, bill ACME-2411, 5000.00: <reason>"


@dataclass
class PushCounts:
    """What a push did. The payments that need attention or failed are a list, one entry each, and
    their counts are that list's: a summary never says "Failed: 4" beside five failed payments."""

    created: int = 0
    updated: int = 0
    voided: int = 0
    flagged: int = 0
    skipped: int = 0
    problems: list[PaymentProblem] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        if outcome in (OUTCOME_NEEDS_ATTENTION, OUTCOME_FAILED):
            return  # counted by the problem recorded with it
        setattr(self, outcome, getattr(self, outcome) + 1)

    def problem(self, outcome: str, message: str) -> str:
        self.problems.append(PaymentProblem(outcome, message))
        return outcome

    @property
    def needs_attention(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_NEEDS_ATTENTION)

    @property
    def failed(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_FAILED)


@dataclass
class SyncSummary:
    """What one sync did. `problems` lists each payment that needs attention or failed, once;
    the counts are that list's. `errors` are problems of the run itself (a refresh that failed, an
    outage, a push that could not start)."""

    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    imported: object | None = None
    created: int = 0
    updated: int = 0
    voided: int = 0
    flagged: int = 0
    skipped: int = 0
    problems: list[PaymentProblem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    queued_quickbooks: list[str] = field(default_factory=list)
    # Set when this run recorded the cutoff (sync.quickbooks.cutoff): it was PaySync's first real run.
    cutoff_recorded: datetime | None = None
    notices: list[str] = field(default_factory=list)  # what the person should know first (the cutoff)
    # Set when a person (or a stopping PaySync) stopped the push between two writes (engine/cancel.py).
    cancelled_by: str | None = None
    left_for_next_sync: int = 0  # planned writes not done because the push was stopped

    @property
    def cancelled(self) -> bool:
        return self.cancelled_by is not None

    @property
    def written(self) -> int:
        """Writes to Procore this sync made: payments created, updated, voided, flagged deleted."""
        return self.created + self.updated + self.voided + self.flagged

    def cancel_note(self) -> str | None:
        """ "Cancelled by jdoe: 2 payments written; 3 wait for the next sync." (None unless cancelled)."""
        if self.cancelled_by is None:
            return None
        written = "1 payment written" if self.written == 1 else f"{self.written} payments written"
        left = self.left_for_next_sync
        rest = f"{left} wait{'s' if left == 1 else ''}" if left else "the rest waits"
        rest += " for the next sync"
        return f"Cancelled by {self.cancelled_by}: {written}; {rest}."

    @property
    def needs_attention(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_NEEDS_ATTENTION)

    @property
    def failed(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_FAILED)

    @property
    def all_right(self) -> bool:
        """Everything meant to happen happened: no payment needs attention or failed, no run problem,
        and nobody stopped it."""
        return not self.problems and not self.errors and not self.cancelled

    def as_text(self) -> str:
        lines = [f"Sync ({self.trigger}) started {self.started_at.strftime('%Y-%m-%d %H:%M:%S UTC')}"]
        lines.extend(f"  {notice}" for notice in self.notices)
        note = self.cancel_note()
        if note is not None:
            lines.append(f"  {note}")
        if isinstance(self.imported, ImportSummary):
            imp = self.imported
            lines.append(
                f"  Procore refresh: {imp.projects} projects, {imp.vendors} vendors, "
                f"{imp.commitments} commitments, {imp.invoices} invoices"
            )
            lines.extend(f"  Procore refresh warning: {warning}" for warning in imp.warnings[:10])
        lines.append(
            f"  Procore payments: {self.created} created, {self.updated} updated, {self.voided} voided, "
            f"{self.flagged} flagged as deleted in QuickBooks, {self.skipped} unchanged or skipped"
        )
        lines.append(f"  Needs attention: {self.needs_attention}   Failed: {self.failed}")
        if self.queued_quickbooks:
            # The work kinds as stored, which scripts can rely on.
            lines.append("  Queued for the Web Connector's next poll: " + ", ".join(self.queued_quickbooks))
        if self.problems:
            lines.append(f"  Payments that need attention or failed ({len(self.problems)}):")
            for problem in self.problems[:10]:
                tag = "needs attention" if problem.outcome == OUTCOME_NEEDS_ATTENTION else "failed"
                lines.append(f"    - [{tag}] {problem.message}")
            if len(self.problems) > 10:
                lines.append(
                    f"    … and {len(self.problems) - 10} more (the console and paysync status list them)"
                )
        if self.errors:
            lines.append(f"  Problems with the run ({len(self.errors)}):")
            lines.extend(f"    - {message}" for message in self.errors[:10])
            if len(self.errors) > 10:
                lines.append(f"    … and {len(self.errors) - 10} more (paysync status shows the latest)")
        if self.finished_at is not None:
            seconds = (self.finished_at - self.started_at).total_seconds()
            lines.append(f"  Finished in {seconds:.1f} s")
        return "\n".join(lines)
