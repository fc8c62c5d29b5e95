"""One read of everything the plan needs, as plain rows, so planning is a pure function.

`load_snapshot()` runs a handful of queries (raw rows read by column name, no model instances:
100,000 applications load in a second or two) and `compute_plan()` then works from dictionaries
only. `compute_plan()` on its own reads `load_reference(invoices=False)` (commitments, vendors and
context, not the invoices) and streams the applications with their links and linked invoices from
`iter_plan_rows()`, so they are never all held; of the invoices it keeps only those matching may
need (`iter_unplaced_bills()`, `iter_invoices()`). Nothing here writes.

Long because every read the plan makes is here, in SQL next to the rows it returns: the whole
snapshot for the preview, and the streamed reads a push uses.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from peewee import JOIN

from storage import models
from storage.db import tuple_rows
from storage.models import (
    Bill,
    BillMapping,
    BillPayment,
    BillPaymentApplication,
    Commitment,
    CompanyFile,
    Invoice,
    PaymentLink,
    ProcoreVendor,
    ProcoreWrite,
    QuickBooksVendor,
)
from storage.settings_store import (
    PROCORE_COMPANY_CURRENCY,
    SCHEDULE_CUTOFF,
    company_cutoff_keys,
    get_setting,
    get_settings,
)
from sync.procore.companies import project_companies

# Built from a list of names, which mypy's namedtuple() does not take; the rows are read untyped.
_namedtuple: Any = namedtuple
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
    company_id: int | None = None  # its Procore company; None: PROCORE_COMPANY_ID's


@dataclass(frozen=True, slots=True)
class MappingRow:
    """A bill a person placed on a Procore invoice (BillMapping, schema 5). `invoice`: that invoice
    as our copy of Procore has it now, None when it is no longer there."""

    file_key: str
    bill_txn_id: str
    invoice_id: int
    invoice: InvoiceRow | None
    invoice_number: str | None  # as confirmed
    confirmed_by: str
    confirmed_at: datetime


@dataclass
class CurrencyContext:
    """What it takes to tell an application's currency and a commitment's (DESIGN rule 10). The
    ISO codes were worked out when QuickBooks' data was stored (sync.quickbooks.qbxml.currency)."""

    procore_company_currency: str = DEFAULT_CURRENCY
    home: dict[str, str | None] = field(default_factory=dict)  # file key -> home currency code
    # (file key, vendor ListID) -> (ISO code or None, QuickBooks' name) of the vendor's currency
    vendors: dict[tuple[str, str], tuple[str | None, str | None]] = field(default_factory=dict)


@dataclass
class ProjectScope:
    """Which Procore projects and vendors a company file's bills may match (sync/quickbooks/companies.py).

    A file matches only its own Procore company's projects and vendors (None: PROCORE_COMPANY_ID's;
    ListIDs and TxnIDs repeat across files, so another company's vendor or invoice is never a
    candidate). Within a company, a file added with its projects sees only those; every other file
    sees the projects no file claims. With one company file nothing is claimed and every project is
    in scope."""

    claimed: dict[int, str] = field(default_factory=dict)  # project id -> the file that listed it
    listed: frozenset[str] = frozenset()  # the files that listed their projects
    # file key -> its Procore company, for files not in PROCORE_COMPANY_ID's company
    file_companies: dict[str, int] = field(default_factory=dict)
    # project id -> its Procore company, for projects not of PROCORE_COMPANY_ID's company
    project_companies: dict[int, int] = field(default_factory=dict)

    @property
    def several_companies(self) -> bool:
        return bool(self.file_companies or self.project_companies)

    def allows(self, file_key: str, project_id: int) -> bool:
        if self.file_companies.get(file_key) != self.project_companies.get(project_id):
            return False
        if file_key in self.listed:
            return self.claimed.get(project_id) == file_key
        return project_id not in self.claimed

    def for_file(self, file_key: str) -> Callable[[InvoiceRow], bool] | None:
        """The test matching applies to a file's candidate invoices (None: everything is in scope)."""
        if not self.claimed and not self.several_companies:
            return None
        return lambda invoice: self.allows(file_key, invoice.project_id)

    def vendor_test(self, file_key: str) -> Callable[[VendorRow], bool] | None:
        """The test matching applies to a file's candidate vendors (None: every vendor is its)."""
        if not self.several_companies:
            return None
        company = self.file_companies.get(file_key)
        return lambda vendor: vendor.company_id == company

    def vendors_for(self, file_key: str, vendors: list[VendorRow]) -> list[VendorRow]:
        """The vendors of the file's Procore company."""
        test = self.vendor_test(file_key)
        return vendors if test is None else [vendor for vendor in vendors if test(vendor)]


def load_project_scope() -> ProjectScope:
    claimed: dict[int, str] = {}
    file_companies: dict[str, int] = {}
    for file_key, projects, company_id in tuple_rows(
        CompanyFile.select(
            CompanyFile.file_key, CompanyFile.procore_project_ids, CompanyFile.procore_company_id
        ).where(CompanyFile.registered_at.is_null(False) & CompanyFile.removed_at.is_null(True))
    ):
        if company_id is not None:
            file_companies[str(file_key)] = int(company_id)
        for part in str(projects or "").split(","):
            if part.strip():
                claimed[int(part)] = str(file_key)
    return ProjectScope(
        claimed=claimed,
        listed=frozenset(claimed.values()),
        file_companies=file_companies,
        project_companies=project_companies(),
    )


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
    # (file_key, bill TxnID) -> the mapping a person confirmed (sync/engine/suggestions.py).
    mappings: dict[tuple[str, str], MappingRow] = field(default_factory=dict)
    # Several company files: each one's own cutoff (ISO text; absent: `cutoff`) and projects.
    cutoffs: dict[str, str | None] = field(default_factory=dict)
    scope: ProjectScope = field(default_factory=ProjectScope)

    def cutoff_for(self, file_key: str) -> str | None:
        return self.cutoffs.get(file_key, self.cutoff)


def _money(raw: Any) -> Decimal:
    """A MoneyField column read raw: whole cents -> Decimal with two places."""
    if isinstance(raw, Decimal):
        return raw
    return Decimal(int(raw or 0)).scaleb(-2)


class _Columns:
    """A SELECT's columns, chosen by name, and its rows as named tuples of the raw column values.

    peewee's per-value converters cost more than the plan itself at 100,000 rows, so rows are read
    from the cursor as they come and the few conversions needed are done here by hand; the named
    tuple lets that code read each value by its name, never by its position.
    """

    def __init__(self, columns: dict[str, Any]) -> None:
        self.columns = columns
        row_type: Any = _namedtuple("Row", list(columns))
        # Row._make without its Python frame (and its length check: the SELECT has these columns).
        self._make_row = partial(tuple.__new__, row_type)

    def select(self, model: Any) -> Any:
        return model.select(*self.columns.values())

    def rows(self, query: Any) -> Iterator[Any]:
        return map(self._make_row, models.database_proxy.execute(query))


def _date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    return date.fromisoformat(str(raw)[:10])


_APPLICATION = _Columns(
    {
        "application_id": BillPaymentApplication.id,
        "file_key": CompanyFile.file_key,
        "payment_id": BillPayment.id,
        "payment_txn_id": BillPayment.txn_id,
        "kind": BillPayment.kind,
        "edit_sequence": BillPayment.edit_sequence,
        "txn_date": BillPayment.txn_date,
        "payment_amount": BillPayment.amount,
        "ref_number": BillPayment.ref_number,
        "vendor_list_id": BillPayment.vendor_list_id,
        "vendor_name": BillPayment.vendor_name,
        "is_void": BillPayment.is_void,
        "pre_existing": BillPayment.pre_existing,
        "deleted_at": BillPayment.deleted_at,
        "bill_txn_id": BillPaymentApplication.bill_txn_id,
        "bill_ref_number": BillPaymentApplication.bill_ref_number,
        "amount": BillPaymentApplication.amount,
        "currency": BillPayment.currency,
        "currency_name": BillPayment.currency_name,
        "hold_reason": BillPayment.hold_reason,
        "discount_amount": BillPaymentApplication.discount_amount,
        "credits": BillPaymentApplication.credits,
    }
)
_LINK = _Columns(
    {
        "link_id": PaymentLink.id,
        "application_id": PaymentLink.application,
        "origin_id": PaymentLink.origin_id,
        "invoice_id": PaymentLink.invoice,
        "commitment_id": PaymentLink.commitment,
        "match_reason": PaymentLink.match_reason,
        "erp_status": PaymentLink.erp_status,
        "status_reason": PaymentLink.status_reason,
        "procore_payment_id": PaymentLink.procore_payment_id,
        "pushed_fields": PaymentLink.pushed_fingerprint,
        "payment_number": PaymentLink.payment_number,
        "locked": PaymentLink.locked,
        "held_key": PaymentLink.held_key,
        "awaiting_unlink": PaymentLink.awaiting_unlink,
    }
)
# An application with its link (left join): the link's columns beside the application's, whose
# own id stands for the link's application.
_APPLICATION_WITH_LINK = _Columns(
    {**_APPLICATION.columns, **{name: c for name, c in _LINK.columns.items() if name != "application_id"}}
)


# Our copy of Procore: what matching looks up.
_COMMITMENT = _Columns(
    {
        "id": Commitment.id,
        "project_id": Commitment.project,
        "vendor_id": Commitment.vendor_id,
        "number": Commitment.number,
        "title": Commitment.title,
        "currency": Commitment.currency,
        "updated_at": Commitment.updated_at,
    }
)
_INVOICE = _Columns(
    {
        "id": Invoice.id,
        "project_id": Invoice.project,
        "commitment_id": Invoice.commitment,
        "number": Invoice.number,
        "invoice_number": Invoice.invoice_number,
        "origin_id": Invoice.origin_id,
        "vendor_id": Invoice.vendor_id,
    }
)
_VENDOR = _Columns(
    {
        "id": ProcoreVendor.id,
        "name": ProcoreVendor.name,
        "origin_id": ProcoreVendor.origin_id,
        "company_id": ProcoreVendor.company_id,
    }
)
# The invoice a link was placed on, joined beside it (left join), under names of its own.
_LINKED_INVOICE = _Columns({f"linked_invoice_{name}": column for name, column in _INVOICE.columns.items()})
# What the streamed plan reads per application: the application, its link and the link's invoice.
_PLAN_ROW = _Columns({**_APPLICATION_WITH_LINK.columns, **_LINKED_INVOICE.columns})


def _application_query(columns: _Columns = _APPLICATION) -> Any:
    """Applications of the company files PaySync serves: a file removed with `paysync company remove`
    is left alone (its payments are neither pushed nor changed) until it is added again."""
    return (
        columns.select(BillPaymentApplication)
        .join(BillPayment)
        .join(CompanyFile)
        .where(CompanyFile.removed_at.is_null(True))
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
    """An ApplicationRow from a row of _APPLICATION's columns (or _APPLICATION_WITH_LINK's)."""
    text = shared if shared is not None else _SharedText()
    return ApplicationRow(
        application_id=int(row.application_id),
        file_key=text(row.file_key),
        payment_id=int(row.payment_id),
        payment_txn_id=str(row.payment_txn_id),
        kind=text(row.kind),
        edit_sequence=text(row.edit_sequence),
        txn_date=_date(row.txn_date),
        payment_amount=_money(row.payment_amount),
        ref_number=str(row.ref_number) if row.ref_number else None,
        vendor_list_id=text.optional(row.vendor_list_id),
        vendor_name=text.optional(row.vendor_name),
        is_void=bool(row.is_void),
        pre_existing=bool(row.pre_existing),
        deleted=row.deleted_at is not None,
        bill_txn_id=str(row.bill_txn_id),
        bill_ref_number=str(row.bill_ref_number) if row.bill_ref_number else None,
        amount=_money(row.amount),
        currency=text.optional(row.currency),
        currency_name=text.optional(row.currency_name),
        hold_reason=str(row.hold_reason) if row.hold_reason else None,
        discount_amount=_money(row.discount_amount) if row.discount_amount is not None else None,
        credits=str(row.credits) if row.credits else None,
    )


def _link_row(row: Any, text: _SharedText) -> LinkRow:
    """A LinkRow from a row of _LINK's columns (or _APPLICATION_WITH_LINK's, when it has a link)."""
    return LinkRow(
        id=int(row.link_id),
        application_id=int(row.application_id),
        origin_id=str(row.origin_id),
        invoice_id=int(row.invoice_id) if row.invoice_id is not None else None,
        commitment_id=int(row.commitment_id) if row.commitment_id is not None else None,
        match_reason=row.match_reason,
        erp_status=text(row.erp_status),
        status_reason=text(row.status_reason) if row.status_reason is not None else None,
        procore_payment_id=int(row.procore_payment_id) if row.procore_payment_id is not None else None,
        pushed_fields=row.pushed_fields,
        payment_number=int(row.payment_number) if row.payment_number is not None else None,
        locked=bool(row.locked),
        held_key=str(row.held_key) if row.held_key else None,
        awaiting_unlink=bool(row.awaiting_unlink),
    )


def _invoice_row(row: Any, prefix: str = "") -> InvoiceRow:
    """An InvoiceRow from a row of _INVOICE's columns (or _PLAN_ROW's, whose names have `prefix`)."""
    number, invoice_number, origin_id, vendor_id = (
        getattr(row, prefix + name) for name in ("number", "invoice_number", "origin_id", "vendor_id")
    )
    return InvoiceRow(
        id=int(getattr(row, prefix + "id")),
        project_id=int(getattr(row, prefix + "project_id")),
        commitment_id=int(getattr(row, prefix + "commitment_id")),
        number=int(number) if number is not None else None,
        invoice_number=str(invoice_number) if invoice_number is not None else None,
        origin_id=str(origin_id) if origin_id else None,
        vendor_id=int(vendor_id) if vendor_id is not None else None,
    )


def load_application(application_id: int) -> ApplicationRow | None:
    """One application, as the plan sees it (for the edits a person makes to one payment)."""
    for row in _APPLICATION.rows(_application_query().where(BillPaymentApplication.id == application_id)):
        return _application_row(row)
    return None


def iter_plan_rows() -> Iterator[tuple[ApplicationRow, LinkRow | None, InvoiceRow | None]]:
    """Every application with its link (if any) and the invoice that link was placed on (if it is
    still in our copy of Procore), in application order, read as a stream: the plan needs one at a
    time, and holding all of them (100,000 rows, the JSON of what Procore holds, and every invoice
    of our copy of Procore to look the linked ones up) would cost more than everything else the plan
    reads."""
    text = _SharedText()
    query = (
        _application_query(_PLAN_ROW)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .join(Invoice, JOIN.LEFT_OUTER, on=(Invoice.id == PaymentLink.invoice))
        .order_by(BillPaymentApplication.id)
    )
    for row in _PLAN_ROW.rows(query):
        link = _link_row(row, text) if row.link_id is not None else None
        invoice = _invoice_row(row, "linked_invoice_") if row.linked_invoice_id is not None else None
        yield _application_row(row, text), link, invoice


def iter_invoices() -> Iterator[InvoiceRow]:
    """Every invoice of our copy of Procore, read as a stream (the caller keeps what it needs)."""
    for row in _INVOICE.rows(_INVOICE.select(Invoice)):
        yield _invoice_row(row)


def load_invoice(invoice_id: int) -> InvoiceRow | None:
    """One invoice of our copy of Procore (a mapping names it by its Procore id)."""
    for row in _INVOICE.rows(_INVOICE.select(Invoice).where(Invoice.id == invoice_id)):
        return _invoice_row(row)
    return None


def iter_unplaced_bills() -> Iterator[tuple[str, str, str | None]]:
    """(file key, bill TxnID, bill RefNumber) of every application that may need matching: not
    pre-existing, not deleted, and not yet in Procore (no link, or a link without a Procore
    payment). A superset of what the plan matches; in a steady state only a few rows."""
    query = (
        BillPaymentApplication.select(
            CompanyFile.file_key, BillPaymentApplication.bill_txn_id, BillPaymentApplication.bill_ref_number
        )
        .join(BillPayment)
        .join(CompanyFile)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .where(
            (BillPayment.pre_existing == False)  # noqa: E712 (peewee builds SQL from ==)
            & BillPayment.deleted_at.is_null()
            & (PaymentLink.id.is_null() | PaymentLink.procore_payment_id.is_null())
        )
    )
    for file_key, txn_id, ref in tuple_rows(query):
        yield str(file_key), str(txn_id), str(ref) if ref else None


def load_bill_ref_number(file_key: str, bill_txn_id: str) -> str | None:
    """The RefNumber of a bill PaySync has read (for an application that arrived without one)."""
    for (ref,) in tuple_rows(
        Bill.select(Bill.ref_number)
        .join(CompanyFile)
        .where(CompanyFile.file_key == file_key, Bill.txn_id == bill_txn_id, Bill.ref_number.is_null(False))
        .limit(1)
    ):
        return str(ref)
    return None


def load_reference(*, invoices: bool = True) -> Snapshot:
    """Everything the plan reads except the applications and their links (see `iter_plan_rows()`):
    our copy of Procore, bill numbers, the schedule cutoff. Without `invoices`, the invoices are
    left out (the streamed plan reads a linked invoice beside its link, and keeps only the invoices
    that matching may need: `iter_invoices()`)."""
    snapshot = Snapshot()
    _load_procore_copy(snapshot, invoices=invoices)
    _load_context(snapshot)
    return snapshot


def load_snapshot() -> Snapshot:
    """Read the QuickBooks side, our links and our copy of Procore, without writing anything."""
    snapshot = Snapshot()
    text = _SharedText()
    for row in _APPLICATION.rows(_application_query().order_by(BillPaymentApplication.id)):
        snapshot.applications.append(_application_row(row, text))
    for row in _LINK.rows(_LINK.select(PaymentLink)):
        link = _link_row(row, text)
        snapshot.links_by_application[link.application_id] = link
    _load_procore_copy(snapshot)
    _load_context(snapshot)
    return snapshot


def _load_procore_copy(snapshot: Snapshot, *, invoices: bool = True) -> None:
    """Commitments, invoices and vendors: what matching looks up."""
    for row in _COMMITMENT.rows(_COMMITMENT.select(Commitment)):
        label = " ".join(str(part) for part in (row.number, row.title) if part) or f"commitment {row.id}"
        snapshot.commitments[int(row.id)] = CommitmentRow(
            id=int(row.id),
            project_id=int(row.project_id),
            vendor_id=int(row.vendor_id) if row.vendor_id is not None else None,
            label=label,
            currency=str(row.currency).upper() if row.currency else None,
            updated_at=str(row.updated_at) if row.updated_at is not None else None,
        )
    if invoices:
        snapshot.invoices = {invoice.id: invoice for invoice in iter_invoices()}
    snapshot.vendors = [
        VendorRow(
            id=int(row.id),
            name=str(row.name),
            origin_id=str(row.origin_id) if row.origin_id else None,
            company_id=int(row.company_id) if row.company_id is not None else None,
        )
        for row in _VENDOR.rows(_VENDOR.select(ProcoreVendor))
    ]


def _load_context(snapshot: Snapshot) -> None:
    """Bill numbers for applications that arrived without one, the schedule cutoff, and where
    payments whose commitment left our copy of Procore were last written. Reads only the few
    columns these need, so it does not depend on the applications and links being held."""
    missing_refs = {
        str(txn_id)
        for (txn_id,) in tuple_rows(
            BillPaymentApplication.select(BillPaymentApplication.bill_txn_id)
            .where(
                BillPaymentApplication.bill_ref_number.is_null()
                | (BillPaymentApplication.bill_ref_number == "")
            )
            .distinct()
        )
    }
    if missing_refs:
        for file_key, txn_id, ref in tuple_rows(
            Bill.select(CompanyFile.file_key, Bill.txn_id, Bill.ref_number)
            .join(CompanyFile)
            .where(Bill.ref_number.is_null(False))
        ):
            if txn_id in missing_refs:
                snapshot.bill_ref_numbers[(str(file_key), str(txn_id))] = str(ref)
    snapshot.cutoff = get_setting(SCHEDULE_CUTOFF)
    own = {
        company_cutoff_keys(str(file_key))[0]: str(file_key)
        for (file_key,) in tuple_rows(
            CompanyFile.select(CompanyFile.file_key).where(CompanyFile.registered_at.is_null(False))
        )
    }
    for key, value in get_settings(*own).items():
        snapshot.cutoffs[own[key]] = value or None
    snapshot.scope = load_project_scope()
    _load_currencies(snapshot.currencies)
    snapshot.mappings = load_mappings()
    orphaned = [
        int(link_id)
        for link_id, commitment_id in tuple_rows(
            PaymentLink.select(PaymentLink.id, PaymentLink.commitment).where(
                PaymentLink.procore_payment_id.is_null(False)
            )
        )
        if commitment_id is None or int(commitment_id) not in snapshot.commitments
    ]
    if orphaned:
        for link_id, project_id, contract_id in tuple_rows(
            ProcoreWrite.select(ProcoreWrite.link, ProcoreWrite.project_id, ProcoreWrite.contract_id)
            .where(ProcoreWrite.link.in_(orphaned), ProcoreWrite.status.in_(("done", "resolved")))
            .order_by(ProcoreWrite.id)
        ):
            snapshot.written_contracts[int(link_id)] = (int(project_id), int(contract_id))


def load_mappings(
    file_key: str | None = None, bill_txn_id: str | None = None
) -> dict[tuple[str, str], MappingRow]:
    """The confirmed bill mappings (a handful: one per bill a person placed), each with its invoice
    as our copy of Procore has it now; of one bill when `bill_txn_id` is given."""
    query = BillMapping.select(BillMapping, CompanyFile).join(CompanyFile).order_by(BillMapping.id)
    if file_key is not None:
        query = query.where(CompanyFile.file_key == file_key)
    if bill_txn_id is not None:
        query = query.where(BillMapping.bill_txn_id == bill_txn_id)
    rows: list[BillMapping] = list(query)
    if not rows:
        return {}
    invoice_ids = {int(row.invoice_id) for row in rows}
    invoices = {
        invoice.id: invoice
        for invoice in map(
            _invoice_row, _INVOICE.rows(_INVOICE.select(Invoice).where(Invoice.id.in_(invoice_ids)))
        )
    }
    mappings: dict[tuple[str, str], MappingRow] = {}
    for row in rows:
        key = (str(row.company_file.file_key), str(row.bill_txn_id))
        mappings[key] = MappingRow(
            file_key=key[0],
            bill_txn_id=key[1],
            invoice_id=int(row.invoice_id),
            invoice=invoices.get(int(row.invoice_id)),
            invoice_number=row.invoice_number,
            confirmed_by=str(row.confirmed_by),
            confirmed_at=row.confirmed_at,
        )
    return mappings


def iter_bill_applications(
    bill_txn_id: str | None = None, *, unplaced_only: bool = True
) -> Iterator[tuple[ApplicationRow, LinkRow | None]]:
    """Applications with their links, for suggestions and mappings: of one bill (`bill_txn_id`) or
    of all, and with `unplaced_only` only those matching may still place (not pre-existing, not
    deleted, no Procore payment yet), in application order."""
    text = _SharedText()
    query = (
        _application_query(_APPLICATION_WITH_LINK)
        .switch(BillPaymentApplication)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
        .order_by(BillPaymentApplication.id)
    )
    if bill_txn_id is not None:
        query = query.where(BillPaymentApplication.bill_txn_id == bill_txn_id)
    if unplaced_only:
        query = query.where(
            (BillPayment.pre_existing == False)  # noqa: E712 (peewee builds SQL from ==)
            & BillPayment.deleted_at.is_null()
            & (PaymentLink.id.is_null() | PaymentLink.procore_payment_id.is_null())
        )
    for row in _APPLICATION_WITH_LINK.rows(query):
        link = _link_row(row, text) if row.link_id is not None else None
        yield _application_row(row, text), link


def _load_currencies(context: CurrencyContext) -> None:
    """Home currencies, vendor currencies and the Procore company's currency: small, read whole."""
    company = get_setting(PROCORE_COMPANY_CURRENCY)
    if company:
        context.procore_company_currency = company.upper()
    for file_key, home in tuple_rows(CompanyFile.select(CompanyFile.file_key, CompanyFile.home_currency)):
        context.home[str(file_key)] = str(home).upper() if home else None
    for file_key, list_id, code, name in tuple_rows(
        QuickBooksVendor.select(
            CompanyFile.file_key,
            QuickBooksVendor.list_id,
            QuickBooksVendor.currency,
            QuickBooksVendor.currency_name,
        )
        .join(CompanyFile)
        .where(QuickBooksVendor.currency.is_null(False) | QuickBooksVendor.currency_name.is_null(False))
    ):
        context.vendors[(str(file_key), str(list_id))] = (str(code).upper() if code else None, name)
