"""Read models for the console and `paysync status`: small typed dataclasses and the queries behind them.

The console never touches peewee rows directly (Elia's pattern: DAOs behind, plain dataclasses
in front). Every list is paged or scoped (commitments are aggregated in SQL, payments are read
per commitment or invoice), so the console stays quick with 100,000 payments.

A payment here is one bill payment *application* (DESIGN rule 3: one Procore payment each).
Its ERP status is the link's `erp_status` when the engine has linked it; before that it is
`waiting`, or `not_synced` for a pre-existing payment, or `deleted_in_quickbooks` once deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from peewee import JOIN, Case, fn

from storage import models
from storage.queries import application_status_expression, held_payments_not_stored, payment_status_counts

# peewee's bundled type hints know neither the auto-created `id` columns nor tuple rows, so the
# models are used untyped here; the dataclasses below are what callers see (and what is typed).
AuditLog: Any = models.AuditLog
Bill: Any = models.Bill
BillPayment: Any = models.BillPayment
BillPaymentApplication: Any = models.BillPaymentApplication
Commitment: Any = models.Commitment
CompanyFile: Any = models.CompanyFile
ErrorEvent: Any = models.ErrorEvent
HeldRecord: Any = models.HeldRecord
Invoice: Any = models.Invoice
PaymentAttachment: Any = models.PaymentAttachment
PaymentLink: Any = models.PaymentLink
ProcoreProject: Any = models.ProcoreProject
ProcoreWrite: Any = models.ProcoreWrite
Setting: Any = models.Setting
SyncRun: Any = models.SyncRun

# --------------------------------------------------------------------------------------------
# ERP status vocabulary (DESIGN "ERP status")
# --------------------------------------------------------------------------------------------

SYNCED = "synced"
WAITING = "waiting"
NEEDS_ATTENTION = "needs_attention"
FAILED = "failed"
DELETED_IN_QUICKBOOKS = "deleted_in_quickbooks"
NOT_SYNCED = "not_synced"
NO_PAYMENTS = "none"  # a commitment or invoice with no payment yet: nothing to show a status for

ERP_STATUSES: tuple[str, ...] = (SYNCED, WAITING, NEEDS_ATTENTION, FAILED, DELETED_IN_QUICKBOOKS, NOT_SYNCED)

STATUS_LABELS: dict[str, str] = {
    SYNCED: "Synced",
    WAITING: "Waiting",
    NEEDS_ATTENTION: "Needs attention",
    FAILED: "Failed",
    DELETED_IN_QUICKBOOKS: "Deleted in QuickBooks",
    NOT_SYNCED: "Not synced",
    NO_PAYMENTS: "No payments",
}

# A commitment or invoice shows the most urgent status among its payments.
_STATUS_RANK: dict[str, int] = {
    NOT_SYNCED: 1,
    SYNCED: 2,
    WAITING: 3,
    NEEDS_ATTENTION: 4,
    DELETED_IN_QUICKBOOKS: 5,
    FAILED: 6,
}
_RANK_STATUS: dict[int, str] = {rank: status for status, rank in _STATUS_RANK.items()}

SCHEDULE_EXPRESSION_KEY = "schedule_expression"
SCHEDULE_CUTOFF_KEY = "schedule_cutoff"
# Written by the Procore client from the X-Rate-Limit-* headers, when it has seen any.
RATE_LIMIT_KEYS = ("procore_rate_limit_limit", "procore_rate_limit_remaining", "procore_rate_limit_reset")

SortOrder = Literal["number", "status"]


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


def _rank_to_status(rank: Any) -> str:
    if rank is None:
        return NO_PAYMENTS
    return _RANK_STATUS.get(int(rank), NO_PAYMENTS)


def _effective_status() -> Any:
    """SQL for one application's ERP status: the one rule `paysync status` also counts with."""
    return application_status_expression()


def _rank_of(status_expression: Any) -> Any:
    return Case(status_expression, tuple(_STATUS_RANK.items()), 0)


# --------------------------------------------------------------------------------------------
# The dataclasses the console shows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusCounts:
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
        return {status: int(getattr(self, status)) for status in ERP_STATUSES}


@dataclass(frozen=True, slots=True)
class CompanyFileInfo:
    file_key: str
    company_name: str | None
    country: str | None
    last_contact_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


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


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class ErrorRow:
    at: datetime
    where: str
    message: str
    detail: str | None


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


def status_counts() -> StatusCounts:
    """Payments (applications) per ERP status, counted in SQL."""
    return StatusCounts(**payment_status_counts())


def _setting(key: str) -> str | None:
    row = Setting.get_or_none(Setting.key == key)
    return str(row.value) if row is not None else None


def _rate_limit() -> RateLimit | None:
    limit, remaining, reset = (_setting(key) for key in RATE_LIMIT_KEYS)
    if not limit or not remaining:
        return None
    try:
        reset_at = datetime.fromisoformat(reset) if reset else None
        return RateLimit(limit=int(limit), remaining=int(remaining), reset_at=reset_at)
    except ValueError:
        return None


def overview(*, errors_since: datetime | None = None) -> Overview:
    files = tuple(
        CompanyFileInfo(
            file_key=cf.file_key,
            company_name=cf.company_name,
            country=cf.country,
            last_contact_at=cf.last_contact_at,
            last_error=cf.last_error,
            last_error_at=cf.last_error_at,
        )
        for cf in CompanyFile.select().order_by(CompanyFile.file_key)
    )
    run = SyncRun.select().order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).first()
    last_sync = (
        LastSync(
            trigger=run.trigger,
            started_at=run.started_at,
            finished_at=run.finished_at,
            status=run.status,
            created=run.created,
            updated=run.updated,
            voided=run.voided,
            flagged=run.flagged,
            skipped=run.skipped,
            errors=run.errors,
            message=run.message,
        )
        if run is not None
        else None
    )
    errors = ErrorEvent.select()
    if errors_since is not None:
        errors = errors.where(ErrorEvent.at >= errors_since)
    return Overview(
        company_files=files,
        counts=status_counts(),
        schedule_expression=_setting(SCHEDULE_EXPRESSION_KEY),
        schedule_cutoff=_setting(SCHEDULE_CUTOFF_KEY),
        last_sync=last_sync,
        rate_limit=_rate_limit(),
        recent_errors=int(errors.count()),
    )


def _commitment_filter(text: str) -> Any:
    """Match the filter text against number, title, vendor and project; or, if it names a status,
    keep the commitments with at least one payment in that status."""
    text = text.strip()
    if not text:
        return None
    wanted_status = status_from_text(text)
    if wanted_status is not None:
        having = PaymentLink.select(PaymentLink.commitment).where(PaymentLink.erp_status == wanted_status)
        return Commitment.id.in_(having)
    pattern = f"%{text.lower()}%"
    return (
        (fn.LOWER(fn.COALESCE(Commitment.number, "")) ** pattern)
        | (fn.LOWER(fn.COALESCE(Commitment.title, "")) ** pattern)
        | (fn.LOWER(fn.COALESCE(Commitment.vendor_name, "")) ** pattern)
        | (fn.LOWER(ProcoreProject.name) ** pattern)
    )


def _unmatched_condition() -> Any:
    return PaymentLink.id.is_null(True) | PaymentLink.commitment.is_null(True)


def _unmatched_row(text: str) -> CommitmentRow | None:
    """Payments not (yet) matched to a commitment, shown as one pseudo-commitment."""
    status = _effective_status()
    rank = _rank_of(status)
    attention = fn.SUM(Case(None, ((rank >= _STATUS_RANK[NEEDS_ATTENTION], 1),), 0))
    query = (
        BillPaymentApplication.select(fn.COUNT(BillPaymentApplication.id), fn.MAX(rank), attention)
        .join(BillPayment)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .where(_unmatched_condition())
    )
    wanted_status = status_from_text(text)
    if wanted_status is not None:
        query = query.where(status == wanted_status)
    elif text.strip() and text.strip().lower() not in "unmatched":
        return None
    count, max_rank, attention_count = query.tuples().get()
    if wanted_status in (None, NEEDS_ATTENTION):
        held = int(held_payments_not_stored().count())  # unreadable payments: on no commitment
        if held:
            count = int(count or 0) + held
            attention_count = int(attention_count or 0) + held
            max_rank = max(int(max_rank or 0), _STATUS_RANK[NEEDS_ATTENTION])
    if not count:
        return None
    return CommitmentRow(
        id=None,
        project_id=None,
        project_name="",
        number="(unmatched)",
        title="Payments not matched to a Procore invoice",
        vendor_name="",
        kind="unmatched",
        payments_count=int(count),
        attention_count=int(attention_count or 0),
        status=_rank_to_status(max_rank),
    )


def list_commitments(
    *, text: str = "", limit: int = 500, offset: int = 0, sort: SortOrder = "number"
) -> CommitmentPage:
    """One page of commitments with their payment counts and most urgent status, aggregated in SQL.

    The unmatched group (if any) comes first on the first page.
    """
    rank = _rank_of(PaymentLink.erp_status)
    max_rank = fn.MAX(rank)
    attention = fn.SUM(Case(None, ((rank >= _STATUS_RANK[NEEDS_ATTENTION], 1),), 0))
    base = (
        Commitment.select(
            Commitment.id,
            Commitment.project,
            ProcoreProject.name,
            Commitment.number,
            Commitment.title,
            Commitment.vendor_name,
            Commitment.kind,
            fn.COUNT(PaymentLink.id),
            attention,
            max_rank,
        )
        .join(ProcoreProject)
        .switch(Commitment)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.commitment == Commitment.id))
        .group_by(Commitment.id, ProcoreProject.name)
    )
    condition = _commitment_filter(text)
    counted = Commitment.select().join(ProcoreProject)
    if condition is not None:
        base = base.where(condition)
        counted = counted.where(condition)
    if sort == "status":
        base = base.order_by(fn.COALESCE(max_rank, 0).desc(), ProcoreProject.name, Commitment.number)
    else:
        base = base.order_by(ProcoreProject.name, Commitment.number, Commitment.id)
    rows: list[CommitmentRow] = []
    if offset == 0:
        unmatched = _unmatched_row(text)
        if unmatched is not None:
            rows.append(unmatched)
    for cid, project_id, project_name, number, title, vendor, kind, count, att, mrank in (
        base.limit(limit).offset(offset).tuples()
    ):
        rows.append(
            CommitmentRow(
                id=int(cid),
                project_id=int(project_id),
                project_name=str(project_name),
                number=str(number or ""),
                title=str(title or ""),
                vendor_name=str(vendor or ""),
                kind=str(kind),
                payments_count=int(count),
                attention_count=int(att or 0),
                status=_rank_to_status(mrank),
            )
        )
    return CommitmentPage(
        rows=tuple(rows), total=int(counted.count()), overall=int(Commitment.select().count())
    )


def list_invoices(commitment_id: int) -> tuple[InvoiceRow, ...]:
    """A commitment's subcontractor invoices, each with its matched QuickBooks bill number."""
    rank = _rank_of(PaymentLink.erp_status)
    query = (
        Invoice.select(
            Invoice.id,
            Invoice.invoice_number,
            Invoice.number,
            Invoice.amount,
            Invoice.billing_date,
            Invoice.origin_id,
            fn.COUNT(PaymentLink.id),
            fn.MAX(rank),
            fn.MAX(BillPaymentApplication.bill_ref_number),
        )
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.invoice == Invoice.id))
        .join(
            BillPaymentApplication,
            JOIN.LEFT_OUTER,
            on=(BillPaymentApplication.id == PaymentLink.application),
        )
        .where(Invoice.commitment == commitment_id)
        .group_by(Invoice.id)
        .order_by(Invoice.number, Invoice.id)
        .tuples()
    )
    raw = list(query)
    commitment_currency = (
        Commitment.select(Commitment.currency).where(Commitment.id == commitment_id).scalar()
    )
    shown_currency = (
        commitment_currency if commitment_currency and commitment_currency != home_currency() else None
    )
    origin_ids = {str(r[5]) for r in raw if r[5]}
    bill_refs: dict[str, str] = {}
    if origin_ids:
        for txn_id, ref in (
            Bill.select(Bill.txn_id, Bill.ref_number).where(Bill.txn_id.in_(origin_ids)).tuples()
        ):
            if ref:
                bill_refs[str(txn_id)] = str(ref)
    rows = []
    for iid, invoice_number, draw, amount, billing_date, origin_id, count, mrank, applied_ref in raw:
        rows.append(
            InvoiceRow(
                id=int(iid),
                commitment_id=commitment_id,
                invoice_number=str(invoice_number or ""),
                bill_ref_number=bill_refs.get(str(origin_id)) or (str(applied_ref) if applied_ref else None),
                draw_number=int(draw) if draw is not None else None,
                amount=_money(amount),
                billing_date=billing_date,
                payments_count=int(count),
                status=_rank_to_status(mrank),
                currency=shown_currency,
            )
        )
    return tuple(rows)


def home_currency() -> str:
    """The QuickBooks home currency amounts are shown in without a code (USD for the U.S. edition)."""
    code = (
        CompanyFile.select(CompanyFile.home_currency)
        .where(CompanyFile.home_currency.is_null(False))
        .order_by(CompanyFile.id)
        .scalar()
    )
    return str(code) if code else "USD"


def _money(raw: Any) -> Decimal | None:
    """peewee's .tuples() hands MoneyField columns back through the field, but aggregates arrive raw."""
    if raw is None:
        return None
    if isinstance(raw, Decimal):
        return raw
    return (Decimal(int(raw)) / 100).quantize(Decimal("0.01"))


def _aware(raw: Any, column: Any) -> datetime | None:
    if raw is None or isinstance(raw, datetime):
        return raw
    value: datetime | None = column.python_value(raw)
    return value


def _unlinked_reason(pre_existing: bool, deleted: bool) -> str:
    if pre_existing:
        return "Created in QuickBooks before the sync schedule was first configured: never synced."
    if deleted:
        return "Deleted in QuickBooks before it was synced."
    return "Not matched yet: waiting for the next push."


def _payment_query(extra: Iterable[Any] = ()) -> Any:
    status = _effective_status()
    return (
        BillPaymentApplication.select(
            BillPaymentApplication.id,
            PaymentLink.id,
            BillPayment.txn_id,
            BillPayment.kind,
            BillPayment.txn_date,
            BillPayment.ref_number,
            PaymentLink.payment_number,
            BillPaymentApplication.amount,
            status,
            PaymentLink.status_reason,
            BillPayment.vendor_name,
            BillPaymentApplication.bill_ref_number,
            Invoice.id,
            Invoice.invoice_number,
            BillPayment.is_void,
            BillPayment.pre_existing,
            BillPayment.deleted_at,
            BillPayment.currency,
            BillPayment.currency_name,
            CompanyFile.home_currency,
            BillPayment.hold_reason,
            *extra,
        )
        .join(BillPayment)
        .join(CompanyFile)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .join(Invoice, JOIN.LEFT_OUTER, on=(Invoice.id == PaymentLink.invoice))
    )


def _payment_row(raw: tuple[Any, ...]) -> PaymentRow:
    (
        app_id,
        link_id,
        txn_id,
        kind,
        txn_date,
        ref_number,
        payment_number,
        amount,
        status,
        reason,
        vendor_name,
        bill_ref,
        invoice_id,
        invoice_number,
        is_void,
        pre_existing,
        deleted_at,
        currency,
        currency_name,
        home_currency,
        hold_reason,
    ) = raw[:_PAYMENT_COLUMNS]
    if hold_reason and str(status) == NEEDS_ATTENTION and not reason:
        reason = hold_reason
    if link_id is None and not reason:
        reason = _unlinked_reason(bool(pre_existing), deleted_at is not None)
    money = _money(amount)
    shown_currency = currency or currency_name
    if shown_currency and str(shown_currency).upper() == str(home_currency or "USD").upper():
        shown_currency = None
    return PaymentRow(
        application_id=int(app_id),
        link_id=int(link_id) if link_id is not None else None,
        payment_txn_id=str(txn_id),
        kind=str(kind),
        txn_date=txn_date if isinstance(txn_date, date) else date.fromisoformat(str(txn_date)),
        check_number=str(ref_number) if ref_number else None,
        payment_number=int(payment_number) if payment_number is not None else None,
        amount=money if money is not None else Decimal("0.00"),
        status=str(status),
        reason=str(reason) if reason else None,
        vendor_name=str(vendor_name) if vendor_name else None,
        bill_ref_number=str(bill_ref) if bill_ref else None,
        invoice_id=int(invoice_id) if invoice_id is not None else None,
        invoice_number=str(invoice_number) if invoice_number else None,
        is_void=bool(is_void),
        currency=str(shown_currency) if shown_currency else None,
    )


_PAYMENT_COLUMNS = 21  # the columns _payment_query selects before any `extra`


def _held_rows(limit: int) -> list[PaymentRow]:
    """Payments QuickBooks sent that PaySync could not read and has no earlier version of: shown in
    the unmatched group, needing attention, with the reason."""
    rows = []
    for held in held_payments_not_stored().order_by(HeldRecord.id.desc()).limit(limit):
        rows.append(
            PaymentRow(
                application_id=-int(held.id),
                link_id=None,
                payment_txn_id=str(held.txn_id or held.record_key),
                kind="check" if held.record_type == "payment_check" else "credit_card",
                txn_date=held.first_seen_at.date(),
                check_number=None,
                payment_number=None,
                amount=Decimal("0.00"),
                status=NEEDS_ATTENTION,
                reason=str(held.reason),
                vendor_name=None,
                bill_ref_number=None,
                invoice_id=None,
                invoice_number=None,
                is_void=False,
                held=True,
            )
        )
    return rows


def list_payments(
    commitment_id: int | None, *, invoice_id: int | None = None, limit: int = 500, offset: int = 0
) -> PaymentPage:
    """The payments of one commitment (or of one of its invoices), newest first.

    `commitment_id=None` lists the unmatched group.
    """
    query = _payment_query()
    if commitment_id is None:
        query = query.where(_unmatched_condition())
    else:
        query = query.where(PaymentLink.commitment == commitment_id)
    if invoice_id is not None:
        query = query.where(PaymentLink.invoice == invoice_id)
    total = int(query.count())
    page = (
        query.order_by(BillPayment.txn_date.desc(), BillPaymentApplication.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = [_payment_row(r) for r in page.tuples()]
    if commitment_id is None and invoice_id is None and offset == 0:
        held = _held_rows(limit)
        rows = held + rows
        total += len(held)
    return PaymentPage(rows=tuple(rows), total=total, limit=limit)


def payment_detail(application_id: int) -> PaymentDetail | None:
    """Everything known about one application, for the side-by-side detail view."""
    if application_id < 0:
        return _held_detail(-application_id)
    raw = (
        _payment_query(
            (
                CompanyFile.file_key,
                BillPayment.amount,
                BillPayment.edit_sequence,
                BillPayment.time_modified,
                BillPayment.account_name,
                BillPayment.memo,
                BillPaymentApplication.bill_txn_id,
                BillPaymentApplication.bill_txn_date,
                PaymentLink.origin_id,
                PaymentLink.match_reason,
                PaymentLink.procore_payment_id,
                PaymentLink.pushed_amount,
                PaymentLink.locked,
                PaymentLink.last_attempt_at,
                Commitment.number,
                Commitment.title,
                BillPayment.exchange_rate,
                BillPayment.amount_in_home_currency,
                BillPaymentApplication.discount_amount,
                BillPaymentApplication.credits,
            )
        )
        .switch(PaymentLink)
        .join(Commitment, JOIN.LEFT_OUTER, on=(Commitment.id == PaymentLink.commitment))
        .where(BillPaymentApplication.id == application_id)
        .tuples()
        .first()
    )
    if raw is None:
        return None
    row = _payment_row(raw)
    (
        file_key,
        total,
        edit_sequence,
        time_modified,
        account_name,
        memo,
        bill_txn_id,
        bill_txn_date,
        origin_id,
        match_reason,
        procore_payment_id,
        pushed_amount,
        locked,
        last_attempt_at,
        commitment_number,
        commitment_title,
        exchange_rate,
        amount_in_home_currency,
        discount_amount,
        credits,
    ) = raw[_PAYMENT_COLUMNS:]
    attachments: tuple[str, ...] = ()
    writes: tuple[WriteRow, ...] = ()
    if row.link_id is not None:
        attachments = tuple(
            f"{a.filename} ({a.status})"
            for a in PaymentAttachment.select()
            .where(PaymentAttachment.link == row.link_id)
            .order_by(PaymentAttachment.id)
        )
        writes = tuple(
            WriteRow(at=w.created_at, operation=w.operation, status=w.status, error=w.error)
            for w in ProcoreWrite.select()
            .where(ProcoreWrite.link == row.link_id)
            .order_by(ProcoreWrite.id.desc())
            .limit(10)
        )
    commitment_label = None
    if commitment_number is not None or commitment_title is not None:
        commitment_label = " ".join(str(p) for p in (commitment_number, commitment_title) if p)
    pre_existing, deleted_at = bool(raw[15]), raw[16]
    return PaymentDetail(
        exchange_rate=str(exchange_rate) if exchange_rate else None,
        amount_in_home_currency=_money(amount_in_home_currency),
        home_currency=str(raw[19]) if raw[19] else None,
        not_paid=_not_paid(_money(discount_amount), credits),
        row=row,
        file_key=str(file_key),
        payment_total=_money(total) or Decimal("0.00"),
        edit_sequence=str(edit_sequence),
        time_modified=str(time_modified),
        account_name=str(account_name) if account_name else None,
        memo=str(memo) if memo else None,
        pre_existing=pre_existing,
        deleted_at=_aware(deleted_at, BillPayment.deleted_at),
        bill_txn_id=str(bill_txn_id),
        bill_txn_date=bill_txn_date,
        origin_id=str(origin_id) if origin_id else None,
        match_reason=str(match_reason) if match_reason else None,
        commitment_label=commitment_label,
        procore_payment_id=int(procore_payment_id) if procore_payment_id is not None else None,
        pushed_amount=_money(pushed_amount),
        locked=bool(locked),
        last_attempt_at=_aware(last_attempt_at, PaymentLink.last_attempt_at),
        attachments=attachments,
        writes=writes,
    )


def _not_paid(discount: Decimal | None, credits: Any) -> tuple[str, ...]:
    """Discounts and vendor credits applied to the bill in the same payment: not money paid."""
    parts = [f"discount {discount:,.2f}"] if discount else []
    try:
        listed = json.loads(credits) if credits else []
    except ValueError:
        listed = []
    for credit in listed if isinstance(listed, list) else []:
        if isinstance(credit, dict):
            try:
                amount = abs(Decimal(str(credit.get("amount"))))
            except ArithmeticError:
                continue
            parts.append(f"vendor credit {credit.get('ref_number') or credit.get('txn_id')} {amount:,.2f}")
    return tuple(parts)


def _held_detail(held_id: int) -> PaymentDetail | None:
    """A held record, as the detail view shows it: the reason and the text QuickBooks sent."""
    held = (
        HeldRecord.select(HeldRecord, CompanyFile.file_key)
        .join(CompanyFile)
        .where(HeldRecord.id == held_id)
        .first()
    )
    if held is None:
        return None
    row = next((r for r in _held_rows(10_000) if r.application_id == -held_id), None)
    if row is None:
        return None
    return PaymentDetail(
        row=row,
        file_key=str(held.company_file.file_key),
        payment_total=Decimal("0.00"),
        edit_sequence=str(held.edit_sequence or "—"),
        time_modified="—",
        account_name=None,
        memo=None,
        pre_existing=False,
        deleted_at=None,
        bill_txn_id="—",
        bill_txn_date=None,
        origin_id=None,
        match_reason=None,
        commitment_label=None,
        procore_payment_id=None,
        pushed_amount=None,
        locked=False,
        last_attempt_at=None,
        attachments=(),
        raw_record=str(held.raw_text),
    )


def recent_audit(*, limit: int = 200, text: str = "") -> tuple[AuditRow, ...]:
    query = AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if text.strip():
        pattern = f"%{text.strip().lower()}%"
        query = query.where(
            (fn.LOWER(AuditLog.action) ** pattern)
            | (fn.LOWER(fn.COALESCE(AuditLog.target, "")) ** pattern)
            | (fn.LOWER(fn.COALESCE(AuditLog.detail, "")) ** pattern)
            | (fn.LOWER(AuditLog.actor) ** pattern)
        )
    return tuple(
        AuditRow(at=a.at, actor=a.actor, action=a.action, target=a.target, detail=a.detail)
        for a in query.limit(limit)
    )


def recent_errors(*, limit: int = 200) -> tuple[ErrorRow, ...]:
    query = ErrorEvent.select().order_by(ErrorEvent.at.desc(), ErrorEvent.id.desc()).limit(limit)
    return tuple(ErrorRow(at=e.at, where=e.where, message=e.message, detail=e.detail) for e in query)


def commitment_labels(ids: Iterable[int]) -> dict[int, str]:
    """`SC-001 Framing` for each commitment id, for naming commitments in the preview."""
    wanted = {int(i) for i in ids}
    if not wanted:
        return {}
    return {
        int(cid): " ".join(str(p) for p in (number, title) if p) or f"#{cid}"
        for cid, number, title in Commitment.select(Commitment.id, Commitment.number, Commitment.title)
        .where(Commitment.id.in_(wanted))
        .tuples()
    }


def invoice_labels(ids: Iterable[int]) -> dict[int, str]:
    wanted = {int(i) for i in ids}
    if not wanted:
        return {}
    return {
        int(iid): str(number or f"#{iid}")
        for iid, number in Invoice.select(Invoice.id, Invoice.invoice_number)
        .where(Invoice.id.in_(wanted))
        .tuples()
    }


def read_session() -> Any:
    """A connection for the calling thread, closed on exit.

    The console reads from short-lived worker threads; peewee keeps one connection per thread,
    so each worker opens its own and closes it here instead of leaking it.
    """
    return models.database_proxy.obj.connection_context()
