"""The simulated Procore's records: projects, vendors, commitments, invoices, payments and their
attachments, users, and the OAuth clients, tokens and codes. Plain data; ProcoreState holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol

# Procore ids exceed 32 bits (API-NOTES §1); starting above 2**32 catches int32 truncation.
FIRST_ID = 5_000_000_000
OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"
ACCESS_TOKEN_LIFETIME = timedelta(seconds=5400)
AUTHORIZATION_CODE_LIFETIME = timedelta(minutes=10)

CommitmentKind = Literal["subcontract", "purchase_order"]
AccessLevel = Literal["none", "read_only", "standard", "admin"]
COMMITMENT_TYPES: dict[str, str] = {
    "subcontract": "WorkOrderContract",
    "purchase_order": "PurchaseOrderContract",
}
PAYMENT_METHODS = ("check", "credit_card", "electronic")
# ContractPayment has a field called ``date``, which hides the type inside its class body.
_Date = date


@dataclass
class Project:
    id: int
    name: str
    project_number: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class Vendor:
    id: int
    name: str
    origin_id: str | None
    origin_data: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class Commitment:
    id: int
    project_id: int
    kind: CommitmentKind
    number: str
    title: str
    vendor_id: int
    status: str
    grand_total: Decimal
    allow_payments: bool
    executed: bool
    origin_id: str | None
    origin_code: str | None
    origin_data: str | None
    retainage_percent: Decimal
    created_at: datetime
    updated_at: datetime
    # None: no currency_configuration is rendered (the commitment is in the company's currency).
    currency_iso_code: str | None = None
    base_currency_iso_code: str | None = None
    currency_exchange_rate: str | None = None


@dataclass
class Requisition:
    id: int
    project_id: int
    commitment_id: int
    number: int
    invoice_number: str
    amount: Decimal
    status: str
    erp_status: str | None
    origin_id: str | None
    origin_data: str | None
    billing_date: date
    created_at: datetime
    updated_at: datetime


@dataclass
class Attachment:
    id: int
    filename: str
    content_type: str
    content: bytes
    url: str

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class ContractPayment:
    id: int
    project_id: int
    contract_id: int
    date: _Date
    amount: Decimal
    payment_method: str | None = None
    check_number: str | None = None
    payment_number: int | None = None
    invoice_number: str | None = None
    invoice_date: _Date | None = None
    draw_request_number: int | None = None
    requisition_id: int | None = None
    notes: str | None = None
    origin_id: str | None = None
    origin_data: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    # The ERP lock, kept apart from origin_id: set whenever the payment gets an origin_id; what
    # clears it depends on ``ProcoreState.erp_unlock_mode`` (and ``unlink_payment`` always does).
    erp_locked: bool = False
    created_by_id: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str


@dataclass
class User:
    id: int
    login: str
    name: str
    # project id -> tool name -> access level
    permissions: dict[int, dict[str, AccessLevel]]
    company_permissions: dict[str, AccessLevel]
    can_push_to_accounting: bool
    is_service_account: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    refresh_token: str | None
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    user_id: int
    used: bool = False


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    user_id: int
    redirect_uri: str
    expires_at: datetime
    used: bool = False


@dataclass(frozen=True)
class RequestLogEntry:
    method: str
    path: str
    query: str
    status: int
    time: datetime
    company_header: str | None = None  # the Procore-Company-Id the request carried


class Timestamped(Protocol):
    """What the ``filters[...]`` of list endpoints read on a record."""

    id: int
    created_at: datetime
    updated_at: datetime
    origin_id: str | None


def apply_changes(record: Any, changes: Mapping[str, Any], now: datetime) -> None:
    """Edit a record as if in Procore's UI: named fields only (Decimals stay Decimals); bumps
    ``updated_at``."""
    for name, value in changes.items():
        if name in {"id", "created_at", "updated_at"} or not hasattr(record, name):
            raise TypeError(f"{type(record).__name__} has no editable field {name!r}")
        current = getattr(record, name)
        setattr(record, name, Decimal(value) if isinstance(current, Decimal) else value)
    record.updated_at = now
