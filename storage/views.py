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
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from peewee import JOIN, Case, fn

from storage import models
from storage.queries import application_status_expression, held_payments_not_stored, payment_status_counts
from storage.settings_store import PROCORE_RATE_LIMIT, SCHEDULE_CUTOFF, SCHEDULE_EXPRESSION, get_setting
from storage.vocabulary import STATUS_LABELS as ERP_STATUS_LABELS
from storage.vocabulary import STATUS_URGENCY, ErpStatus, StatusCounts

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
ProcoreVendor: Any = models.ProcoreVendor
ProcoreWrite: Any = models.ProcoreWrite
SyncRun: Any = models.SyncRun

# --------------------------------------------------------------------------------------------
# ERP status vocabulary (DESIGN "ERP status"): storage/vocabulary.py, plus "no payments yet"
# --------------------------------------------------------------------------------------------

NO_PAYMENTS = "none"  # a commitment or invoice with no payment yet: nothing to show a status for

ERP_STATUSES: tuple[ErpStatus, ...] = tuple(ErpStatus)
STATUS_LABELS: dict[str, str] = {
    **{str(s): label for s, label in ERP_STATUS_LABELS.items()},
    NO_PAYMENTS: "No payments",
}
# A commitment or invoice shows the most urgent status among its payments (higher is more urgent).
_STATUS_RANK: dict[str, int] = {str(status): rank for status, rank in STATUS_URGENCY.items()}
_RANK_STATUS: dict[int, str] = {rank: status for status, rank in _STATUS_RANK.items()}

# How a list may be sorted: the column key, and the direction it sorts in first.
SortOrder = Literal["number", "status", "title", "vendor", "kind", "payments", "project"]
COMMITMENT_SORTS: dict[str, bool] = {  # key -> descending by default
    "number": False,
    "status": True,  # most urgent first
    "title": False,
    "vendor": False,
    "kind": False,
    "payments": True,  # most payments first
    "project": False,
}
PaymentSort = Literal["date", "status", "method", "check", "payment_number", "amount", "invoice"]
PAYMENT_SORTS: dict[str, bool] = {
    "date": True,  # newest first
    "status": True,
    "method": False,
    "check": False,
    "payment_number": False,
    "amount": True,
    "invoice": False,
}


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


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


def status_counts() -> StatusCounts:
    """Payments (applications) per ERP status, counted in SQL."""
    return StatusCounts(**payment_status_counts())


def _rate_limit() -> RateLimit | None:
    limit, remaining, reset = (get_setting(key) for key in PROCORE_RATE_LIMIT)
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
        schedule_expression=get_setting(SCHEDULE_EXPRESSION),
        schedule_cutoff=get_setting(SCHEDULE_CUTOFF),
        last_sync=last_sync,
        rate_limit=_rate_limit(),
        recent_errors=int(errors.count()),
    )


def _contains(column: Any, text: str) -> Any:
    """`column` contains `text`, case-insensitively; `%` and `_` the user typed are taken literally."""
    return fn.LOWER(fn.COALESCE(column, "")).contains(text.lower())


def natural_key(text: str | None) -> tuple[tuple[int, int, str], ...]:
    """Numbers as people sort them: SC-2 before SC-10 (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", (text or "").strip().casefold())
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part) for part in parts if part)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------
# Payments the engine has not placed on a commitment, placed by their bill (DESIGN rule 7)
#
# A pre-existing payment is never linked to an invoice (it is never synced), yet it paid a bill
# that matches a Procore invoice: it belongs under that invoice, Not synced, rather than in the
# unmatched group. The rule is the engine's (sync/engine/matching.py), approximated on the tables:
# the invoice whose origin_id is the bill's TxnID; else the one invoice whose number is the bill's
# RefNumber on a commitment of the payment's vendor (by the Procore vendor's origin_id = ListID,
# else by name). A payment the engine judged (needs mapping, failed) stays where the engine put it.
# --------------------------------------------------------------------------------------------

_PLACEABLE_STATUSES = (ErpStatus.NOT_SYNCED, ErpStatus.WAITING, ErpStatus.DELETED_IN_QUICKBOOKS)


@dataclass(frozen=True, slots=True)
class _BillMatch:
    invoice_id: int
    commitment_id: int
    invoice_number: str
    how: str


@dataclass(frozen=True, slots=True)
class _Bill:
    txn_id: str
    ref_number: str | None
    vendor_list_id: str | None
    vendor_name: str | None


def _name_key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _number_key(text: str | None) -> str:
    return (text or "").strip().casefold()


def _match_bills(bills: Iterable[_Bill]) -> dict[str, _BillMatch]:
    """The Procore invoice each bill belongs to (bill TxnID -> match), when exactly one qualifies."""
    wanted = {bill.txn_id: bill for bill in bills}
    if not wanted:
        return {}
    by_origin: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for chunk in _chunks(sorted(wanted)):
        for iid, cid, number, origin in (
            Invoice.select(Invoice.id, Invoice.commitment, Invoice.invoice_number, Invoice.origin_id)
            .where(Invoice.origin_id.in_(list(chunk)))
            .tuples()
        ):
            by_origin[str(origin).strip()].append((int(iid), int(cid), str(number or "")))
    numbers = sorted({_number_key(b.ref_number) for b in wanted.values() if _number_key(b.ref_number)})
    by_number: dict[str, list[tuple[int, int, str, int | None, str]]] = defaultdict(list)
    for chunk in _chunks(numbers):
        for iid, cid, number, vendor_id, vendor_name in (
            Invoice.select(
                Invoice.id,
                Invoice.commitment,
                Invoice.invoice_number,
                Commitment.vendor_id,
                Commitment.vendor_name,
            )
            .join(Commitment)
            .where(fn.LOWER(fn.TRIM(Invoice.invoice_number)).in_(list(chunk)))
            .tuples()
        ):
            by_number[_number_key(number)].append(
                (
                    int(iid),
                    int(cid),
                    str(number or ""),
                    int(vendor_id) if vendor_id is not None else None,
                    str(vendor_name or ""),
                )
            )
    vendors_by_list: dict[str, set[int]] = defaultdict(set)
    vendors_by_name: dict[str, set[int]] = defaultdict(set)
    list_ids = sorted(
        {b.vendor_list_id.strip() for b in wanted.values() if b.vendor_list_id and b.vendor_list_id.strip()}
    )
    for chunk in _chunks(list_ids):
        for vid, origin in (
            ProcoreVendor.select(ProcoreVendor.id, ProcoreVendor.origin_id)
            .where(ProcoreVendor.origin_id.in_(list(chunk)))
            .tuples()
        ):
            vendors_by_list[str(origin).strip()].add(int(vid))
    names = sorted({_name_key(b.vendor_name) for b in wanted.values() if _name_key(b.vendor_name)})
    for chunk in _chunks(names):
        for vid, name in (
            ProcoreVendor.select(ProcoreVendor.id, ProcoreVendor.name)
            .where(fn.LOWER(ProcoreVendor.name).in_(list(chunk)))
            .tuples()
        ):
            vendors_by_name[_name_key(name)].add(int(vid))
    matches: dict[str, _BillMatch] = {}
    for txn_id, bill in wanted.items():
        found = by_origin.get(txn_id.strip(), [])
        if len(found) == 1:
            iid, cid, number = found[0]
            matches[txn_id] = _BillMatch(
                iid, cid, number, f"the invoice's origin id is the bill's TxnID {txn_id}"
            )
            continue
        number_key = _number_key(bill.ref_number)
        if found or not number_key:
            continue  # several invoices claim the bill, or the bill has no number: no guess
        vendor_ids = vendors_by_list.get((bill.vendor_list_id or "").strip()) or vendors_by_name.get(
            _name_key(bill.vendor_name)
        )
        candidates = [
            candidate
            for candidate in by_number.get(number_key, [])
            if (
                candidate[3] in vendor_ids
                if vendor_ids
                else _name_key(candidate[4]) == _name_key(bill.vendor_name)
            )
        ]
        if len(candidates) == 1:
            iid, cid, number, _, vendor_name = candidates[0]
            matches[txn_id] = _BillMatch(
                iid,
                cid,
                number,
                f"invoice number {number} equals bill number {(bill.ref_number or '').strip()} "
                f"on a commitment of {vendor_name or bill.vendor_name}",
            )
    return matches


@dataclass(frozen=True, slots=True)
class _Unplaced:
    """One payment application with no commitment from the engine."""

    application_id: int
    bill: _Bill
    status: str
    placeable: bool


def _unplaced_query(extra_condition: Any = None) -> Any:
    status = _effective_status()
    query = (
        BillPaymentApplication.select(
            BillPaymentApplication.id,
            BillPaymentApplication.bill_txn_id,
            BillPaymentApplication.bill_ref_number,
            BillPayment.vendor_list_id,
            BillPayment.vendor_name,
            status,
            PaymentLink.id,
            PaymentLink.erp_status,
            BillPayment.hold_reason,
        )
        .join(BillPayment)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .where(_unmatched_condition())
    )
    if extra_condition is not None:
        query = query.where(extra_condition)
    return query


def _unplaced(extra_condition: Any = None) -> list[_Unplaced]:
    rows = []
    for app_id, txn_id, ref, list_id, vendor, status, link_id, link_status, hold in _unplaced_query(
        extra_condition
    ).tuples():
        placeable = not hold and (link_id is None or str(link_status) in _PLACEABLE_STATUSES)
        rows.append(
            _Unplaced(
                int(app_id),
                _Bill(str(txn_id), str(ref) if ref else None, list_id, vendor),
                str(status),
                placeable,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class _Placement:
    placed: dict[int, tuple[_BillMatch, str]]  # application id -> (match, status)
    unmatched: list[_Unplaced]


def _placement(extra_condition: Any = None) -> _Placement:
    rows = _unplaced(extra_condition)
    matches = _match_bills(row.bill for row in rows if row.placeable)
    placed: dict[int, tuple[_BillMatch, str]] = {}
    unmatched: list[_Unplaced] = []
    for row in rows:
        match = matches.get(row.bill.txn_id) if row.placeable else None
        if match is not None:
            placed[row.application_id] = (match, row.status)
        else:
            unmatched.append(row)
    return _Placement(placed, unmatched)


def _placed_on(commitment_id: int, invoice_id: int | None = None) -> dict[int, _BillMatch]:
    """Applications placed on one commitment (or invoice) by their bill: application id -> match."""
    invoices = list(
        Invoice.select(Invoice.id, Invoice.invoice_number, Invoice.origin_id)
        .where(Invoice.commitment == commitment_id)
        .tuples()
    )
    if invoice_id is not None:
        invoices = [i for i in invoices if int(i[0]) == invoice_id]
    origins = sorted({str(o).strip() for _, _, o in invoices if o and str(o).strip()})
    numbers = sorted({_number_key(n) for _, n, _ in invoices if _number_key(n)})
    if not origins and not numbers:
        return {}
    condition = BillPaymentApplication.bill_txn_id.in_(origins) if origins else None
    if numbers:
        by_number = fn.LOWER(fn.TRIM(BillPaymentApplication.bill_ref_number)).in_(numbers)
        condition = by_number if condition is None else (condition | by_number)
    placement = _placement(condition)
    return {
        app_id: match
        for app_id, (match, _) in placement.placed.items()
        if match.commitment_id == commitment_id and (invoice_id is None or match.invoice_id == invoice_id)
    }


def _unmatched_text_match(row: _Unplaced, text: str) -> bool:
    wanted = text.strip().casefold()
    return (
        wanted in (row.bill.vendor_name or "").casefold() or wanted in (row.bill.ref_number or "").casefold()
    )


def _commitment_filter(text: str, placement: _Placement) -> Any:
    """Match the filter text against number, title, vendor and project; or, if it names a status,
    keep the commitments with at least one payment in that status."""
    text = text.strip()
    if not text:
        return None
    wanted_status = status_from_text(text)
    if wanted_status is not None:
        having = PaymentLink.select(PaymentLink.commitment).where(PaymentLink.erp_status == wanted_status)
        placed = sorted(
            {m.commitment_id for m, status in placement.placed.values() if status == wanted_status}
        )
        condition = Commitment.id.in_(having)
        return condition | Commitment.id.in_(placed) if placed else condition
    return (
        _contains(Commitment.number, text)
        | _contains(Commitment.title, text)
        | _contains(Commitment.vendor_name, text)
        | _contains(ProcoreProject.name, text)
    )


def _unmatched_condition() -> Any:
    return PaymentLink.id.is_null(True) | PaymentLink.commitment.is_null(True)


def _unmatched_in_scope(placement: _Placement, text: str) -> list[_Unplaced] | None:
    """The unmatched payments the filter keeps; None when the filter leaves the group out."""
    text = text.strip()
    wanted_status = status_from_text(text)
    if wanted_status is not None:
        return [row for row in placement.unmatched if row.status == wanted_status]
    if not text or text.lower() in "(unmatched)":
        return placement.unmatched
    return [row for row in placement.unmatched if _unmatched_text_match(row, text)]


def _unmatched_row(text: str, placement: _Placement) -> CommitmentRow | None:
    """Payments not (yet) matched to a commitment, shown as one pseudo-commitment."""
    rows = _unmatched_in_scope(placement, text)
    if rows is None:
        return None
    count = len(rows)
    ranks = [_STATUS_RANK.get(row.status, 0) for row in rows]
    attention_count = sum(1 for rank in ranks if rank >= _STATUS_RANK[ErpStatus.NEEDS_ATTENTION])
    max_rank = max(ranks, default=0)
    wanted_status = status_from_text(text)
    plain = not text.strip() or text.strip().lower() in "(unmatched)"
    if wanted_status == ErpStatus.NEEDS_ATTENTION or (wanted_status is None and plain):
        held = int(held_payments_not_stored().count())  # unreadable payments: on no commitment
        if held:
            count += held
            attention_count += held
            max_rank = max(max_rank, _STATUS_RANK[ErpStatus.NEEDS_ATTENTION])
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
        attention_count=int(attention_count),
        status=_rank_to_status(max_rank or None),
    )


def _commitment_sort_key(sort: str) -> Any:
    def key(row: CommitmentRow) -> Any:
        number = natural_key(row.number)
        if sort == "status":
            return (_STATUS_RANK.get(row.status, 0), number)
        if sort == "payments":
            return (row.payments_count, number)
        if sort == "title":
            return (row.title.casefold(), number)
        if sort == "vendor":
            return (row.vendor_name.casefold(), number)
        if sort == "kind":
            return (row.kind_label.casefold(), number)
        if sort == "project":
            return (row.project_name.casefold(), number)
        return (number, row.project_name.casefold(), row.id or 0)

    return key


def list_commitments(
    *,
    text: str = "",
    limit: int = 500,
    offset: int = 0,
    sort: SortOrder | str = "number",
    descending: bool | None = None,
) -> CommitmentPage:
    """One page of commitments with their payment counts and most urgent status.

    Counted in SQL; sorted by `sort` (numbers in natural order: SC-2 before SC-10), in its usual
    direction unless `descending` says otherwise. The unmatched group (if any) comes first on the
    first page. Payments the engine has not placed but whose bill matches an invoice count on that
    invoice's commitment.
    """
    placement = _placement()
    rank = _rank_of(PaymentLink.erp_status)
    attention = fn.SUM(Case(None, ((rank >= _STATUS_RANK[ErpStatus.NEEDS_ATTENTION], 1),), 0))
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
            fn.MAX(rank),
        )
        .join(ProcoreProject)
        .switch(Commitment)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.commitment == Commitment.id))
        .group_by(Commitment.id, ProcoreProject.name)
    )
    condition = _commitment_filter(text, placement)
    if condition is not None:
        base = base.where(condition)
    extra_count: dict[int, int] = defaultdict(int)
    extra_attention: dict[int, int] = defaultdict(int)
    extra_rank: dict[int, int] = defaultdict(int)
    for match, status in placement.placed.values():
        status_rank = _STATUS_RANK.get(status, 0)
        extra_count[match.commitment_id] += 1
        extra_attention[match.commitment_id] += status_rank >= _STATUS_RANK[ErpStatus.NEEDS_ATTENTION]
        extra_rank[match.commitment_id] = max(extra_rank[match.commitment_id], status_rank)
    rows: list[CommitmentRow] = []
    for cid, project_id, project_name, number, title, vendor, kind, count, att, mrank in base.tuples():
        cid = int(cid)
        max_rank = max(int(mrank or 0), extra_rank.get(cid, 0))
        rows.append(
            CommitmentRow(
                id=cid,
                project_id=int(project_id),
                project_name=str(project_name),
                number=str(number or ""),
                title=str(title or ""),
                vendor_name=str(vendor or ""),
                kind=str(kind),
                payments_count=int(count) + extra_count.get(cid, 0),
                attention_count=int(att or 0) + extra_attention.get(cid, 0),
                status=_rank_to_status(max_rank or None),
            )
        )
    default_descending = COMMITMENT_SORTS.get(sort, False)
    rows.sort(
        key=_commitment_sort_key(sort), reverse=default_descending if descending is None else descending
    )
    total = len(rows)
    page = rows[offset : offset + limit]
    if offset == 0:
        unmatched = _unmatched_row(text, placement)
        if unmatched is not None:
            page.insert(0, unmatched)
    return CommitmentPage(rows=tuple(page), total=total, overall=int(Commitment.select().count()))


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
    # Payments placed here by their bill (not synced): counted on their invoice too.
    placed = _placed_on(commitment_id)
    placed_count: dict[int, int] = defaultdict(int)
    placed_rank: dict[int, int] = defaultdict(int)
    placed_ref: dict[int, str] = {}
    if placed:
        status = _effective_status()
        for app_id, ref, app_status in (
            BillPaymentApplication.select(
                BillPaymentApplication.id, BillPaymentApplication.bill_ref_number, status
            )
            .join(BillPayment)
            .switch(BillPaymentApplication)
            .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
            .where(BillPaymentApplication.id.in_(sorted(placed)))
            .tuples()
        ):
            invoice_id = placed[int(app_id)].invoice_id
            placed_count[invoice_id] += 1
            placed_rank[invoice_id] = max(placed_rank[invoice_id], _STATUS_RANK.get(str(app_status), 0))
            if ref:
                placed_ref.setdefault(invoice_id, str(ref))
    rows = []
    for iid, invoice_number, draw, amount, billing_date, origin_id, count, mrank, applied_ref in raw:
        iid = int(iid)
        rows.append(
            InvoiceRow(
                id=iid,
                commitment_id=commitment_id,
                invoice_number=str(invoice_number or ""),
                bill_ref_number=bill_refs.get(str(origin_id))
                or (str(applied_ref) if applied_ref else None)
                or placed_ref.get(iid),
                draw_number=int(draw) if draw is not None else None,
                amount=_money(amount),
                billing_date=billing_date,
                payments_count=int(count) + placed_count.get(iid, 0),
                status=_rank_to_status(max(int(mrank or 0), placed_rank.get(iid, 0)) or None),
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
            PaymentLink.procore_payment_id,
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
        procore_payment_id,
    ) = raw[:_PAYMENT_COLUMNS]
    if hold_reason and str(status) == ErpStatus.NEEDS_ATTENTION and not reason:
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
        procore_payment_id=int(procore_payment_id) if procore_payment_id is not None else None,
    )


_PAYMENT_COLUMNS = 22  # the columns _payment_query selects before any `extra`


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
                status=ErpStatus.NEEDS_ATTENTION,
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


def _payment_order(sort: str, descending: bool) -> list[Any]:
    """ORDER BY for a payment list; ties newest first."""
    if sort == "status":
        column: Any = _rank_of(_effective_status())
    elif sort == "method":
        column = BillPayment.kind
    elif sort == "check":
        # Natural order for check numbers: shorter numbers first, then by text (99 before 100).
        length = fn.LENGTH(fn.COALESCE(BillPayment.ref_number, ""))
        return [
            length.desc() if descending else length.asc(),
            BillPayment.ref_number.desc() if descending else BillPayment.ref_number.asc(),
            BillPaymentApplication.id.desc(),
        ]
    elif sort == "payment_number":
        column = PaymentLink.payment_number
    elif sort == "amount":
        column = BillPaymentApplication.amount
    elif sort == "invoice":
        column = fn.COALESCE(Invoice.invoice_number, BillPaymentApplication.bill_ref_number)
    else:
        column = BillPayment.txn_date
    return [column.desc() if descending else column.asc(), BillPaymentApplication.id.desc()]


def _payment_python_key(sort: str) -> Any:
    def key(row: PaymentRow) -> Any:
        if sort == "status":
            return (_STATUS_RANK.get(row.status, 0), row.application_id)
        if sort == "method":
            return (row.kind, row.application_id)
        if sort == "check":
            return (natural_key(row.check_number), row.application_id)
        if sort == "payment_number":
            return (row.payment_number or 0, row.application_id)
        if sort == "amount":
            return (row.amount, row.application_id)
        if sort == "invoice":
            return (natural_key(row.invoice_number or row.bill_ref_number), row.application_id)
        return (row.txn_date, row.application_id)

    return key


def _with_match(row: PaymentRow, match: _BillMatch | None) -> PaymentRow:
    if match is None:
        return row
    return replace(
        row, invoice_id=match.invoice_id, invoice_number=match.invoice_number, matched_by_bill=True
    )


def list_payments(
    commitment_id: int | None,
    *,
    invoice_id: int | None = None,
    limit: int = 500,
    offset: int = 0,
    sort: PaymentSort | str = "date",
    descending: bool | None = None,
    text: str = "",
) -> PaymentPage:
    """The payments of one commitment (or of one of its invoices), newest first unless `sort` says
    otherwise. A payment PaySync has not linked whose bill matches one of the commitment's invoices
    is listed there (Not synced, for a pre-existing one).

    `commitment_id=None` lists the unmatched group; `text` (a commitment filter) keeps the
    unmatched payments of the vendors (or bill numbers) it names.
    """
    down = PAYMENT_SORTS.get(sort, True) if descending is None else descending
    if commitment_id is None:
        return _unmatched_payments(invoice_id is None, limit, offset, sort, down, text)
    placed = _placed_on(commitment_id, invoice_id)
    query = _payment_query()
    condition = PaymentLink.commitment == commitment_id
    if invoice_id is not None:
        condition &= PaymentLink.invoice == invoice_id
    if placed:
        condition |= BillPaymentApplication.id.in_(sorted(placed))
    query = query.where(condition)
    total = int(query.count())
    page = query.order_by(*_payment_order(sort, down)).limit(limit).offset(offset)
    rows = [_with_match(_payment_row(r), placed.get(int(r[0]))) for r in page.tuples()]
    return PaymentPage(rows=tuple(rows), total=total, limit=limit)


def _unmatched_payments(
    with_held: bool, limit: int, offset: int, sort: str, descending: bool, text: str
) -> PaymentPage:
    placement = _placement()
    scope = _unmatched_in_scope(placement, text)
    wanted = {row.application_id for row in scope or ()}
    rows: list[PaymentRow] = []
    ids = sorted(wanted)
    for chunk in _chunks(ids):
        rows.extend(
            _payment_row(r)
            for r in _payment_query().where(BillPaymentApplication.id.in_(list(chunk))).tuples()
        )
    rows.sort(key=_payment_python_key(sort), reverse=descending)
    total = len(rows)
    page = rows[offset : offset + limit]
    plain = not text.strip() or text.strip().lower() in "(unmatched)"
    wanted_status = status_from_text(text)
    if (
        with_held
        and offset == 0
        and (wanted_status == ErpStatus.NEEDS_ATTENTION or (wanted_status is None and plain))
    ):
        held = _held_rows(limit)
        page = held + page
        total += len(held)
    return PaymentPage(rows=tuple(page), total=total, limit=limit)


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
    else:
        placed = _placement(BillPaymentApplication.id == application_id).placed.get(application_id)
        if placed is not None:
            match = placed[0]
            row = _with_match(row, match)
            commitment_label = commitment_labels([match.commitment_id]).get(match.commitment_id)
            match_reason = f"{match.how} (listed there by its bill; PaySync has not linked it)"
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


ORIGIN_ID_PATTERN = re.compile(r"qbd:[\w.-]+:[\w-]+:[\w-]+")


def payment_names(origin_ids: Iterable[str]) -> dict[str, str]:
    """Each payment origin id as people know the payment: "Check 1042 · Summit Framing Co. · 48,500.00"."""
    wanted = sorted({str(o) for o in origin_ids if o})
    names: dict[str, str] = {}
    for chunk in _chunks(wanted):
        for origin_id, kind, ref, vendor, amount, currency in (
            PaymentLink.select(
                PaymentLink.origin_id,
                BillPayment.kind,
                BillPayment.ref_number,
                BillPayment.vendor_name,
                BillPaymentApplication.amount,
                BillPayment.currency,
            )
            .join(BillPaymentApplication, on=(PaymentLink.application == BillPaymentApplication.id))
            .join(BillPayment)
            .where(PaymentLink.origin_id.in_(list(chunk)))
            .tuples()
        ):
            method = {"check": "Check", "credit_card": "Credit card"}.get(str(kind), str(kind))
            what = f"{method} {ref}" if ref else method
            money = _money(amount)
            parts = [what, str(vendor or "(no vendor)")]
            if money is not None:
                parts.append(
                    f"{money:,.2f}" + (f" {currency}" if currency and currency != home_currency() else "")
                )
            names[str(origin_id)] = " · ".join(parts)
    return names


def _named(message: str, names: dict[str, str]) -> str:
    return ORIGIN_ID_PATTERN.sub(lambda m: names.get(m.group(0), m.group(0)), message)


def recent_audit(*, limit: int = 200, text: str = "") -> tuple[AuditRow, ...]:
    """The audit log, newest first; `text` matches the action, target, detail, actor, or the vendor
    and check number of the payment the target names (taken literally: `%` and `_` are characters)."""
    query = AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc())
    text = text.strip()
    if text:
        by_payment = (
            PaymentLink.select(PaymentLink.origin_id)
            .join(BillPaymentApplication, on=(PaymentLink.application == BillPaymentApplication.id))
            .join(BillPayment)
            .where(_contains(BillPayment.vendor_name, text) | _contains(BillPayment.ref_number, text))
        )
        query = query.where(
            _contains(AuditLog.action, text)
            | _contains(AuditLog.target, text)
            | _contains(AuditLog.detail, text)
            | _contains(AuditLog.actor, text)
            | AuditLog.target.in_(by_payment)
        )
    rows = list(query.limit(limit))
    names = payment_names(a.target for a in rows if a.target and ORIGIN_ID_PATTERN.fullmatch(a.target))
    return tuple(
        AuditRow(
            at=a.at,
            actor=a.actor,
            action=a.action,
            target=a.target,
            detail=a.detail,
            subject=names.get(a.target or ""),
        )
        for a in rows
    )


FAILED_RUN_WHERE = "sync run"


def recent_errors(*, limit: int = 200) -> tuple[ErrorRow, ...]:
    """Errors a person should see, newest first: the error events, and every sync run that failed
    (unless an error event at the same time already says the same)."""
    events = list(ErrorEvent.select().order_by(ErrorEvent.at.desc(), ErrorEvent.id.desc()).limit(limit))
    runs = list(
        SyncRun.select()
        .where(SyncRun.status == "failed")
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(limit)
    )
    found = [str(e.message) for e in events]
    found += [str(r.message) for r in runs if r.message]
    names = payment_names(m.group(0) for text in found for m in ORIGIN_ID_PATTERN.finditer(text))
    rows = [
        ErrorRow(at=e.at, where=e.where, message=_named(str(e.message), names), detail=e.detail)
        for e in events
    ]
    for run in runs:
        at = run.finished_at or run.started_at
        message = str(run.message or "").strip()
        if message and any(
            message in str(e.message) and abs((e.at - at).total_seconds()) <= 120 for e in events
        ):
            continue  # the error event says it already
        if not message:
            problems = int(run.errors or 0)
            message = (
                f"{problems} payment{'s' if problems != 1 else ''} need attention or failed (see the Reason column)"
                if problems
                else "no reason was recorded"
            )
        rows.append(
            ErrorRow(
                at=at,
                where=FAILED_RUN_WHERE,
                message=f"Sync ({run.trigger}) failed: {_named(message, names)}",
                detail=None,
            )
        )
    rows.sort(key=lambda row: row.at, reverse=True)
    return tuple(rows[:limit])


def attachment_on_payment(link_id: int, filename: str, size: int) -> bool:
    """Whether this file (same name and size) is already uploaded to the payment in Procore."""
    return bool(
        PaymentAttachment.select()
        .where(
            (PaymentAttachment.link == link_id)
            & (PaymentAttachment.filename == filename)
            & (PaymentAttachment.size == size)
            & (PaymentAttachment.status == "uploaded")
        )
        .exists()
    )


def payment_number_of(link_id: int) -> int | None:
    """The payment number stored for a payment now (to tell an edit that changes nothing)."""
    value = PaymentLink.select(PaymentLink.payment_number).where(PaymentLink.id == link_id).scalar()
    return int(value) if value is not None else None


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
