"""PaySync's words, defined once: the ERP statuses a payment shows, the kinds of QuickBooks work the
Web Connector carries, and the counts per status. Storage, the engine, `paysync status`, the CLI and
the console all use these; nothing spells them out again.

Both enums are `StrEnum`s, so a member *is* its stored string: `ErpStatus.SYNCED == "synced"`,
and rows read from the database compare equal to members without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErpStatus(StrEnum):
    """DESIGN "ERP status": one per commitment, invoice and payment, shown as a glyph and a word."""

    SYNCED = "synced"  # green: Procore matches QuickBooks
    WAITING = "waiting"  # blue: waiting for the Web Connector's next poll or the next push
    NEEDS_ATTENTION = "needs_attention"  # yellow: needs mapping, refused with a fixable error, held
    FAILED = "failed"  # red: the push failed
    DELETED_IN_QUICKBOOKS = "deleted_in_quickbooks"  # red: deleted in QuickBooks after it was synced
    NOT_SYNCED = "not_synced"  # grey: pre-existing, or nothing to record

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS: dict[ErpStatus, str] = {
    ErpStatus.SYNCED: "Synced",
    ErpStatus.WAITING: "Waiting",
    ErpStatus.NEEDS_ATTENTION: "Needs attention",
    ErpStatus.FAILED: "Failed",
    ErpStatus.DELETED_IN_QUICKBOOKS: "Deleted in QuickBooks",
    ErpStatus.NOT_SYNCED: "Not synced",
}

# A commitment or invoice shows the most urgent status among its payments (higher is more urgent).
STATUS_URGENCY: dict[ErpStatus, int] = {
    ErpStatus.NOT_SYNCED: 1,
    ErpStatus.SYNCED: 2,
    ErpStatus.WAITING: 3,
    ErpStatus.NEEDS_ATTENTION: 4,
    ErpStatus.DELETED_IN_QUICKBOOKS: 5,
    ErpStatus.FAILED: 6,
}


class WorkKind(StrEnum):
    """A kind of QuickBooks query the Web Connector carries (one step class each)."""

    HOST = "host"
    PAYMENTS_CHECK = "payments_check"
    PAYMENTS_CREDIT_CARD = "payments_credit_card"
    DELETED = "deleted"
    BILLS = "bills"
    VENDORS = "vendors"
    CURRENCIES = "currencies"


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Payments (bill payment applications: one Procore payment each) per ERP status."""

    synced: int = 0
    waiting: int = 0
    needs_attention: int = 0
    failed: int = 0
    deleted_in_quickbooks: int = 0
    not_synced: int = 0

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())

    def as_dict(self) -> dict[str, int]:
        return {status.value: int(getattr(self, status.value)) for status in ErpStatus}
