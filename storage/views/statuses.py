"""The ERP status vocabulary as the console shows it (storage/vocabulary.py, plus "no payments
yet"): labels, the status a user typed, and how urgent each status is, in Python and in SQL."""

from __future__ import annotations

from typing import Any

from peewee import Case

from storage.queries import application_status_expression
from storage.vocabulary import STATUS_LABELS as ERP_STATUS_LABELS
from storage.vocabulary import STATUS_URGENCY, ErpStatus

NO_PAYMENTS = "none"  # a commitment or invoice with no payment yet: nothing to show a status for

ERP_STATUSES: tuple[ErpStatus, ...] = tuple(ErpStatus)
STATUS_LABELS: dict[str, str] = {
    **{str(s): label for s, label in ERP_STATUS_LABELS.items()},
    NO_PAYMENTS: "No payments",
}
# A commitment or invoice shows the most urgent status among its payments (higher is more urgent).
STATUS_RANK: dict[str, int] = {str(status): rank for status, rank in STATUS_URGENCY.items()}
_RANK_STATUS: dict[int, str] = {rank: status for status, rank in STATUS_RANK.items()}
ATTENTION_RANK = STATUS_RANK[ErpStatus.NEEDS_ATTENTION]  # this rank and above: needs a person


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def status_from_text(text: str) -> str | None:
    """The ERP status a user typed ("failed", "Needs attention", "deleted"), if the text names one."""
    wanted = text.strip().lower().replace("_", " ")
    if not wanted:
        return None
    for status, label in STATUS_LABELS.items():
        if status == NO_PAYMENTS:
            continue
        if wanted in (label.lower(), status.replace("_", " ")):
            return status
    for status, label in STATUS_LABELS.items():
        if status != NO_PAYMENTS and label.lower().startswith(wanted) and len(wanted) >= 4:
            return status
    return None


def rank_to_status(rank: Any) -> str:
    if rank is None:
        return NO_PAYMENTS
    return _RANK_STATUS.get(int(rank), NO_PAYMENTS)


def effective_status() -> Any:
    """SQL for one application's ERP status: the one rule `paysync status` also counts with."""
    return application_status_expression()


def rank_of(status_expression: Any) -> Any:
    """SQL for the urgency rank of a status expression (0: unknown)."""
    return Case(status_expression, tuple(STATUS_RANK.items()), 0)
