"""One read of everything the plan needs, as plain rows, so planning is a pure function.

`load_snapshot()` runs a handful of queries (tuples, no model instances: 100,000 applications load
in a second or two) and `compute_plan()` then works from dictionaries only. `compute_plan()` on its
own reads `load_reference()` (everything but the applications) and streams the applications with
their links from `iter_applications_with_links()`, so they are never all held. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from peewee import JOIN

from storage import models
from sync.procore.importer import PROCORE_COMPANY_CURRENCY_KEY

# peewee's bundled hints know neither the auto `id` columns nor tuple rows; rows are typed below.
BillPayment: Any = models.BillPayment
BillPaymentApplication: Any = models.BillPaymentApplication
Bill: Any = models.Bill
CompanyFile: Any = models.CompanyFile
Commitment: Any = models.Commitment
Invoice: Any = models.Invoice
PaymentLink: Any = models.PaymentLink
ProcoreVendor: Any = models.ProcoreVendor
ProcoreWrite: Any = models.ProcoreWrite
Setting: Any = models.Setting
QuickBooksVendor: Any = models.QuickBooksVendor

# Written by whoever configures the schedule (the console/CLI); the cutoff for "pre-existing".
SCHEDULE_CUTOFF_KEY = "schedule_cutoff"
DEFAULT_CURRENCY = "USD"  # the U.S. edition's home currency, and a Procore company's unless it says


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    """One bill payment application joined with its payment: one Procore payment (DESIGN rule 3)."""

    application_id: int
    file_key: str
    payment_id: int
    payment_txn_id: str
    kind: str  # check | credit_card
    edit_sequence: str
    txn_date: date
    payment_amount: Decimal
    ref_number: str | None
    vendor_list_id: str | None
    vendor_name: str | None
    is_void: bool
    pre_existing: bool
    deleted: bool
    bill_txn_id: str
    bill_ref_number: str | None
    amount: Decimal
    # Schema 3: the transaction currency (ISO code, and QuickBooks' name; both None: the home
    # currency), why the payment is held, and what was applied to the bill but not paid.
    currency: str | None = None
    currency_name: str | None = None
    hold_reason: str | None = None
    discount_amount: Decimal | None = None
    credits: str | None = None  # JSON list of vendor credits used

    @property
    def origin_id(self) -> str:
        return f"qbd:{self.file_key}:{self.payment_txn_id}:{self.bill_txn_id}"


@dataclass(frozen=True, slots=True)
class LinkRow:
    id: int
    application_id: int
    origin_id: str
    invoice_id: int | None
    commitment_id: int | None
    match_reason: str | None
    erp_status: str
    status_reason: str | None
    procore_payment_id: int | None
    pushed_fields: str | None  # PaymentLink.pushed_fingerprint: canonical JSON of what Procore holds
    payment_number: int | None
    locked: bool
    held_key: str | None = None
    awaiting_unlink: bool = False


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    project_id: int
    commitment_id: int
    number: int | None  # the draw request number
    invoice_number: str | None
    origin_id: str | None
    vendor_id: int | None


@dataclass(frozen=True, slots=True)
class CommitmentRow:
    id: int
    project_id: int
    vendor_id: int | None
    label: str
    currency: str | None = None  # currency_configuration.currency_iso_code; None: the company's
    updated_at: str | None = None  # when Procore last changed it (a refused payment is retried after)


@dataclass(frozen=True, slots=True)
class VendorRow:
    id: int
    name: str
    origin_id: str | None


@dataclass
class CurrencyContext:
    """What it takes to tell an application's currency and a commitment's (DESIGN rule 10). The
    ISO codes were worked out when QuickBooks' data was stored (sync.qbxml.currency)."""

    procore_company_currency: str = DEFAULT_CURRENCY
    home: dict[str, str | None] = field(default_factory=dict)  # file key -> home currency code
    # (file key, vendor ListID) -> (ISO code or None, QuickBooks' name) of the vendor's currency
    vendors: dict[tuple[str, str], tuple[str | None, str | None]] = field(default_factory=dict)


@dataclass
class Snapshot:
    applications: list[ApplicationRow] = field(default_factory=list)
    links_by_application: dict[int, LinkRow] = field(default_factory=dict)
    invoices: dict[int, InvoiceRow] = field(default_factory=dict)
    commitments: dict[int, CommitmentRow] = field(default_factory=dict)
    vendors: list[VendorRow] = field(default_factory=list)
    # (file_key, bill TxnID) -> the bill's RefNumber, for applications that arrived without one.
    bill_ref_numbers: dict[tuple[str, str], str] = field(default_factory=dict)
    cutoff: str | None = None  # when the schedule was first configured (ISO text), for messages
    # link id -> contract (project id, commitment id) of its last successful Procore write, for
    # payments whose commitment row has since disappeared from our copy of Procore.
    written_contracts: dict[int, tuple[int, int]] = field(default_factory=dict)
    currencies: CurrencyContext = field(default_factory=CurrencyContext)


def _money(raw: Any) -> Decimal:
    """A MoneyField column read raw: whole cents -> Decimal with two places."""
    if isinstance(raw, Decimal):
        return raw
    return Decimal(int(raw or 0)).scaleb(-2)


def _rows(query: Any) -> Any:
    """Rows of raw column values: peewee's per-value converters cost more than the plan itself
    at 100,000 rows, so the few conversions needed are done here by hand."""
    return models.database_proxy.execute(query)


def _date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    return date.fromisoformat(str(raw)[:10])


def _application_query() -> Any:
    return (
        BillPaymentApplication.select(
            BillPaymentApplication.id,
            CompanyFile.file_key,
            BillPayment.id,
            BillPayment.txn_id,
            BillPayment.kind,
            BillPayment.edit_sequence,
            BillPayment.txn_date,
            BillPayment.amount,
            BillPayment.ref_number,
            BillPayment.vendor_list_id,
            BillPayment.vendor_name,
            BillPayment.is_void,
            BillPayment.pre_existing,
            BillPayment.deleted_at,
            BillPaymentApplication.bill_txn_id,
            BillPaymentApplication.bill_ref_number,
            BillPaymentApplication.amount,
            BillPayment.currency,
            BillPayment.currency_name,
            BillPayment.hold_reason,
            BillPaymentApplication.discount_amount,
            BillPaymentApplication.credits,
        )
        .join(BillPayment)
        .join(CompanyFile)
    )


class _SharedText:
    """One str object per distinct value (file key, kind, vendor, status...): 100,000 rows repeat
    a few hundred values, and each copy read from the database costs ~60 bytes."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, value: Any) -> str:
        text = str(value)
        return self._seen.setdefault(text, text)

    def optional(self, value: Any) -> str | None:
        return self(value) if value else None


def _application_row(row: Any, shared: _SharedText | None = None) -> ApplicationRow:
    text = shared if shared is not None else _SharedText()
    return ApplicationRow(
        application_id=int(row[0]),
        file_key=text(row[1]),
        payment_id=int(row[2]),
        payment_txn_id=str(row[3]),
        kind=text(row[4]),
        edit_sequence=text(row[5]),
        txn_date=_date(row[6]),
        payment_amount=_money(row[7]),
        ref_number=str(row[8]) if row[8] else None,
        vendor_list_id=text.optional(row[9]),
        vendor_name=text.optional(row[10]),
        is_void=bool(row[11]),
        pre_existing=bool(row[12]),
        deleted=row[13] is not None,
        bill_txn_id=str(row[14]),
        bill_ref_number=str(row[15]) if row[15] else None,
        amount=_money(row[16]),
        currency=text.optional(row[17]),
        currency_name=text.optional(row[18]),
        hold_reason=str(row[19]) if row[19] else None,
        discount_amount=_money(row[20]) if row[20] is not None else None,
        credits=str(row[21]) if row[21] else None,
    )


_LINK_COLUMNS = (
    PaymentLink.id,
    PaymentLink.application,
    PaymentLink.origin_id,
    PaymentLink.invoice,
    PaymentLink.commitment,
    PaymentLink.match_reason,
    PaymentLink.erp_status,
    PaymentLink.status_reason,
    PaymentLink.procore_payment_id,
    PaymentLink.pushed_fingerprint,
    PaymentLink.payment_number,
    PaymentLink.locked,
    PaymentLink.held_key,
    PaymentLink.awaiting_unlink,
)


def _link_row(row: Any, text: _SharedText) -> LinkRow:
    return LinkRow(
        id=int(row[0]),
        application_id=int(row[1]),
        origin_id=str(row[2]),
        invoice_id=int(row[3]) if row[3] is not None else None,
        commitment_id=int(row[4]) if row[4] is not None else None,
        match_reason=row[5],
        erp_status=text(row[6]),
        status_reason=text(row[7]) if row[7] is not None else None,
        procore_payment_id=int(row[8]) if row[8] is not None else None,
        pushed_fields=row[9],
        payment_number=int(row[10]) if row[10] is not None else None,
        locked=bool(row[11]),
        held_key=str(row[12]) if row[12] else None,
        awaiting_unlink=bool(row[13]),
    )


def load_application(application_id: int) -> ApplicationRow | None:
    """One application, as the plan sees it (for the edits a person makes to one payment)."""
    for row in _rows(_application_query().where(BillPaymentApplication.id == application_id)):
        return _application_row(row)
    return None


def iter_applications_with_links() -> Iterator[tuple[ApplicationRow, LinkRow | None]]:
    """Every application with its link (if any), in application order, read as a stream: the plan
    needs one at a time, and holding all of them (100,000 rows and the JSON of what Procore holds)
    would cost more than everything else the plan reads."""
    text = _SharedText()
    query = (
        _application_query()
        .select_extend(*_LINK_COLUMNS)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .order_by(BillPaymentApplication.id)
    )
    width = len(_application_query().selected_columns)  # the application's columns, then the link's
    for row in _rows(query):
        link = _link_row(row[width:], text) if row[width] is not None else None
        yield _application_row(row, text), link


def load_reference() -> Snapshot:
    """Everything the plan reads except the applications and their links (see
    `iter_applications_with_links()`): our copy of Procore, bill numbers, the schedule cutoff."""
    snapshot = Snapshot()
    _load_procore_copy(snapshot)
    _load_context(snapshot)
    return snapshot


def load_snapshot() -> Snapshot:
    """Read the QuickBooks side, our links and our copy of Procore, without writing anything."""
    snapshot = Snapshot()
    text = _SharedText()
    for row in _rows(_application_query().order_by(BillPaymentApplication.id)):
        snapshot.applications.append(_application_row(row, text))
    for row in _rows(PaymentLink.select(*_LINK_COLUMNS)):
        link = _link_row(row, text)
        snapshot.links_by_application[link.application_id] = link
    _load_procore_copy(snapshot)
    _load_context(snapshot)
    return snapshot


def _load_procore_copy(snapshot: Snapshot) -> None:
    """Commitments, invoices and vendors: what matching looks up."""
    for row in _rows(
        Commitment.select(
            Commitment.id,
            Commitment.project,
            Commitment.vendor_id,
            Commitment.number,
            Commitment.title,
            Commitment.currency,
            Commitment.updated_at,
        )
    ):
        label = " ".join(str(part) for part in (row[3], row[4]) if part) or f"commitment {row[0]}"
        snapshot.commitments[int(row[0])] = CommitmentRow(
            id=int(row[0]),
            project_id=int(row[1]),
            vendor_id=int(row[2]) if row[2] is not None else None,
            label=label,
            currency=str(row[5]).upper() if row[5] else None,
            updated_at=str(row[6]) if row[6] is not None else None,
        )
    for row in _rows(
        Invoice.select(
            Invoice.id,
            Invoice.project,
            Invoice.commitment,
            Invoice.number,
            Invoice.invoice_number,
            Invoice.origin_id,
            Invoice.vendor_id,
        )
    ):
        snapshot.invoices[int(row[0])] = InvoiceRow(
            id=int(row[0]),
            project_id=int(row[1]),
            commitment_id=int(row[2]),
            number=int(row[3]) if row[3] is not None else None,
            invoice_number=str(row[4]) if row[4] is not None else None,
            origin_id=str(row[5]) if row[5] else None,
            vendor_id=int(row[6]) if row[6] is not None else None,
        )
    snapshot.vendors = [
        VendorRow(id=int(r[0]), name=str(r[1]), origin_id=str(r[2]) if r[2] else None)
        for r in _rows(ProcoreVendor.select(ProcoreVendor.id, ProcoreVendor.name, ProcoreVendor.origin_id))
    ]


def _load_context(snapshot: Snapshot) -> None:
    """Bill numbers for applications that arrived without one, the schedule cutoff, and where
    payments whose commitment left our copy of Procore were last written. Reads only the few
    columns these need, so it does not depend on the applications and links being held."""
    missing_refs = {
        str(txn_id)
        for (txn_id,) in BillPaymentApplication.select(BillPaymentApplication.bill_txn_id)
        .where(
            BillPaymentApplication.bill_ref_number.is_null() | (BillPaymentApplication.bill_ref_number == "")
        )
        .distinct()
        .tuples()
    }
    if missing_refs:
        for file_key, txn_id, ref in (
            Bill.select(CompanyFile.file_key, Bill.txn_id, Bill.ref_number)
            .join(CompanyFile)
            .where(Bill.ref_number.is_null(False))
            .tuples()
        ):
            if txn_id in missing_refs:
                snapshot.bill_ref_numbers[(str(file_key), str(txn_id))] = str(ref)
    cutoff = Setting.get_or_none(Setting.key == SCHEDULE_CUTOFF_KEY)
    snapshot.cutoff = str(cutoff.value) if cutoff is not None else None
    _load_currencies(snapshot.currencies)
    orphaned = [
        int(link_id)
        for link_id, commitment_id in PaymentLink.select(PaymentLink.id, PaymentLink.commitment)
        .where(PaymentLink.procore_payment_id.is_null(False))
        .tuples()
        if commitment_id is None or int(commitment_id) not in snapshot.commitments
    ]
    if orphaned:
        for link_id, project_id, contract_id in (
            ProcoreWrite.select(ProcoreWrite.link, ProcoreWrite.project_id, ProcoreWrite.contract_id)
            .where(ProcoreWrite.link.in_(orphaned), ProcoreWrite.status.in_(("done", "resolved")))
            .order_by(ProcoreWrite.id)
            .tuples()
        ):
            snapshot.written_contracts[int(link_id)] = (int(project_id), int(contract_id))


def _load_currencies(context: CurrencyContext) -> None:
    """Home currencies, vendor currencies and the Procore company's currency: small, read whole."""
    company = Setting.get_or_none(Setting.key == PROCORE_COMPANY_CURRENCY_KEY)
    if company is not None and company.value:
        context.procore_company_currency = str(company.value).upper()
    for file_key, home in CompanyFile.select(CompanyFile.file_key, CompanyFile.home_currency).tuples():
        context.home[str(file_key)] = str(home).upper() if home else None
    for file_key, list_id, code, name in (
        QuickBooksVendor.select(
            CompanyFile.file_key,
            QuickBooksVendor.list_id,
            QuickBooksVendor.currency,
            QuickBooksVendor.currency_name,
        )
        .join(CompanyFile)
        .where(QuickBooksVendor.currency.is_null(False) | QuickBooksVendor.currency_name.is_null(False))
        .tuples()
    ):
        context.vendors[(str(file_key), str(list_id))] = (str(code).upper() if code else None, name)
