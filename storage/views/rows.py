"""The rows the console and `paysync status` are handed: small frozen dataclasses, named fields
only (the queries behind them build them by column name, never by position)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from storage.vocabulary import StatusCounts


@dataclass(frozen=True, slots=True)
class CompanyFileInfo:
    file_key: str
    company_name: str | None
    country: str | None
    last_contact_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    label: str | None = None  # the name given with `paysync company add`
    active: bool = True  # False: removed with `paysync company remove` (its records are kept)

    @property
    def display_name(self) -> str:
        """What people call the file: its given name, else QuickBooks' company name, else its key."""
        return self.label or self.company_name or self.file_key


@dataclass(frozen=True, slots=True)
class LastSync:
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    created: int
    updated: int
    voided: int
    flagged: int
    skipped: int
    errors: int
    message: str | None


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    remaining: int
    reset_at: datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    """What the console's top bar and `paysync status` show."""

    company_files: tuple[CompanyFileInfo, ...]
    counts: StatusCounts
    schedule_expression: str | None
    schedule_cutoff: str | None
    last_sync: LastSync | None
    rate_limit: RateLimit | None
    recent_errors: int

    @property
    def active_company_files(self) -> tuple[CompanyFileInfo, ...]:
        """The company files PaySync syncs now (a removed one is left out), by key."""
        return tuple(cf for cf in self.company_files if cf.active)

    @property
    def last_contact_at(self) -> datetime | None:
        seen = [cf.last_contact_at for cf in self.company_files if cf.last_contact_at is not None]
        return max(seen) if seen else None


@dataclass(frozen=True, slots=True)
class CommitmentRow:
    """One commitment, or (id None) the group of payments not matched to any commitment."""

    id: int | None
    project_id: int | None
    project_name: str
    number: str
    title: str
    vendor_name: str
    kind: str  # subcontract | purchase_order | unmatched
    payments_count: int
    attention_count: int
    status: str

    @property
    def kind_label(self) -> str:
        return {"subcontract": "Subcontract", "purchase_order": "PO", "unmatched": "—"}.get(
            self.kind, self.kind.replace("_", " ").capitalize()
        )


@dataclass(frozen=True, slots=True)
class CommitmentPage:
    rows: tuple[CommitmentRow, ...]
    total: int  # commitments matching the filter, before paging
    overall: int  # all commitments


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    commitment_id: int
    invoice_number: str
    bill_ref_number: str | None  # the matched QuickBooks bill's RefNumber
    draw_number: int | None
    amount: Decimal | None
    billing_date: date | None
    payments_count: int
    status: str
    currency: str | None = None  # the commitment's currency, when it is not the home currency

    @property
    def amount_text(self) -> str:
        if self.amount is None:
            return ""
        return f"{self.amount:,.2f}" + (f" {self.currency}" if self.currency else "")


@dataclass(frozen=True, slots=True)
class PaymentRow:
    application_id: int
    link_id: int | None
    payment_txn_id: str
    kind: str  # check | credit_card
    txn_date: date
    check_number: str | None  # the QuickBooks RefNumber
    payment_number: int | None
    amount: Decimal  # applied to this bill
    status: str
    reason: str | None
    vendor_name: str | None
    bill_ref_number: str | None
    invoice_id: int | None
    invoice_number: str | None
    is_void: bool
    # The currency code (or QuickBooks' name for it) when it is not the company file's home
    # currency: shown next to the amount. None: the home currency.
    currency: str | None = None
    # Set for a record QuickBooks sent that PaySync could not read (its application_id is then the
    # negative HeldRecord id: it has no application).
    held: bool = False
    procore_payment_id: int | None = None  # None: not in Procore (nothing to attach to or retract)
    # Set when PaySync has not linked the payment to a commitment but its bill matches a Procore
    # invoice (a pre-existing payment, say): it is listed under that invoice, and says so.
    matched_by_bill: bool = False

    @property
    def amount_text(self) -> str:
        """The amount as the console shows it: "1,000.00", or "1,000.00 CAD" in another currency."""
        if self.held:
            return "unreadable"
        text = f"{self.amount:,.2f}"
        return f"{text} {self.currency}" if self.currency else text

    @property
    def method_label(self) -> str:
        return {"check": "Check", "credit_card": "Credit card"}.get(self.kind, self.kind)


@dataclass(frozen=True, slots=True)
class PaymentPage:
    rows: tuple[PaymentRow, ...]
    total: int
    limit: int


@dataclass(frozen=True, slots=True)
class WriteRow:
    at: datetime
    operation: str
    status: str
    error: str | None


@dataclass(frozen=True, slots=True)
class PaymentDetail:
    """One application, QuickBooks side against Procore side."""

    row: PaymentRow
    file_key: str
    payment_total: Decimal
    edit_sequence: str
    time_modified: str
    account_name: str | None
    memo: str | None
    pre_existing: bool
    deleted_at: datetime | None
    bill_txn_id: str
    bill_txn_date: date | None
    origin_id: str | None
    match_reason: str | None
    commitment_label: str | None
    procore_payment_id: int | None
    pushed_amount: Decimal | None
    locked: bool
    last_attempt_at: datetime | None
    attachments: tuple[str, ...]
    writes: tuple[WriteRow, ...] = field(default_factory=tuple)
    exchange_rate: str | None = None
    amount_in_home_currency: Decimal | None = None
    home_currency: str | None = None
    # Applied to the bill in QuickBooks but not money paid (never in the Procore amount).
    not_paid: tuple[str, ...] = ()
    raw_record: str | None = None  # a held record: the text QuickBooks sent
    # "east · East Builders LLC" when PaySync serves several company files; None with only one.
    company_file_label: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None  # JSON, as written
    # The payment the target names, as people know it ("Check 1042 · Summit Framing Co. · 48,500.00"),
    # when the target is a payment's origin id.
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorRow:
    at: datetime
    where: str
    message: str  # payments' origin ids replaced by the check and vendor
    detail: str | None
