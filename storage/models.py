"""PaySync's tables.

Schema version 1 holds the QuickBooks side (company files, Web Connector sessions, queued
QuickBooks work, bill payments and their applications to bills, deletions, watermarks, sync
runs, the audit log). Version 2 adds the Procore side (projects, commitments, invoices, the
one-Procore-payment-per-application links and the intent journal of Procore writes). Version 3 adds
currencies and records held aside; version 4 names who ran each sync (SyncRun.actor); version 5 keeps
the bill-to-invoice mappings a person confirmed (BillMapping).
See storage/migrations.py for how a database moves between versions.

Long because every table is declared here, in the order of the schema versions that added it, so
the whole schema reads in one place (migrations.py reads these tuples by version).

The kinds of QuickBooks work (QuickBooksWork.kind) and the ERP statuses (PaymentLink.erp_status)
are storage/vocabulary.py's words, stored as text: a new kind needs no change here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from storage.fields import EncryptedTextField, MoneyField, UtcDateTimeField, utc_now
from storage.vocabulary import ErpStatus

if TYPE_CHECKING:
    from peewee import ModelDelete

    from storage.fields import ForeignKeyId

database_proxy = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False

    if TYPE_CHECKING:
        # peewee's stubs declare `delete` as an instance attribute of type classmethod_only[Self, ...],
        # which mypy will not read through the class ("generic instance variables ... ambiguous");
        # at run time it is a class-only method, as here.
        @classmethod
        def delete(cls) -> ModelDelete: ...


if TYPE_CHECKING:

    class IdModel(BaseModel):
        """A table keyed by the `id` peewee adds to every model that declares no primary key of its own
        (all but SchemaVersion, Setting and ProcoreToken, and the Procore tables keyed by Procore's ids).
        It exists for type checkers only: at run time IdModel is BaseModel."""

        id: ClassVar[AutoField[int]]

else:
    IdModel = BaseModel


# --------------------------------------------------------------------------------------------
# Schema version 1: the QuickBooks side
# --------------------------------------------------------------------------------------------


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    description = TextField()
    applied_at = UtcDateTimeField(default=utc_now)


class Setting(BaseModel):
    """Small key/value facts PaySync must remember, e.g. when the schedule was first configured."""

    key = CharField(primary_key=True, max_length=100)
    value = TextField()
    updated_at = UtcDateTimeField(default=utc_now)


class CompanyFile(IdModel):
    """A QuickBooks company file, named by a short `file_key` used in Procore origin ids."""

    file_key = CharField(unique=True, max_length=64)
    company_name = TextField(null=True)
    file_path = TextField(null=True)
    country = CharField(max_length=2, null=True)
    product_name = TextField(null=True)
    qbxml_version = CharField(max_length=16, null=True)
    # Schema 3: what the HCP response said about versions and currencies.
    supported_qbxml_versions = TextField(null=True)  # comma list, as HostRet lists them
    multicurrency = BooleanField(null=True)
    home_currency_list_id = CharField(max_length=36, null=True)
    home_currency_name = TextField(null=True)
    home_currency = CharField(max_length=3, null=True)  # ISO code; None: not told (U.S. edition: USD)
    last_contact_at = UtcDateTimeField(null=True)
    last_error = TextField(null=True)
    last_error_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField(default=utc_now)
    # Schema 6: several company files. A file added with `paysync company add` is *registered*
    # (its name, Web Connector user, cutoff and schedule are its own); the one configured in .env
    # (QBWC_FILE_KEY) is not, and keeps the single-company settings. `removed_at`: `paysync
    # company remove` stops syncing it but keeps what was recorded, so adding it again continues.
    label = TextField(null=True)
    registered_at = UtcDateTimeField(null=True)
    removed_at = UtcDateTimeField(null=True)
    procore_project_ids = TextField(null=True)  # comma list; None: the projects no other file claims
    schedule = TextField(null=True)  # None: PAYSYNC_SCHEDULE
    # The Procore company this file's payments go to; None: PROCORE_COMPANY_ID's (the default).
    procore_company_id = BigIntegerField(null=True)


class WebConnectorCredential(IdModel):
    """The Web Connector login; the password is kept only as a salted PBKDF2 hash."""

    username = CharField(unique=True, max_length=100)
    password_hash = TextField()
    file_key = CharField(max_length=64)
    updated_at = UtcDateTimeField(default=utc_now)


class LoginAttempt(IdModel):
    """Recent authenticate calls, so repeated failures can be throttled."""

    username = CharField(max_length=200)
    remote_addr = CharField(max_length=64, null=True)
    succeeded = BooleanField()
    at = UtcDateTimeField(default=utc_now, index=True)


class WebConnectorSession(IdModel):
    """One Web Connector poll, from authenticate to closeConnection, keyed by its ticket."""

    ticket = CharField(unique=True, max_length=64)
    username = CharField(max_length=200)
    file_key = CharField(max_length=64, index=True)
    company_file = ForeignKeyField(CompanyFile, null=True, backref="sessions", on_delete="SET NULL")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int | None]]
    # open | closed | failed | expired | no_work
    state = CharField(max_length=16, default="open", index=True)
    remote_addr = CharField(max_length=64, null=True)
    client_version = CharField(max_length=32, null=True)
    created_at = UtcDateTimeField(default=utc_now)
    last_seen_at = UtcDateTimeField(default=utc_now)
    closed_at = UtcDateTimeField(null=True)
    hcp_received = BooleanField(default=False)
    current_work_id = IntegerField(null=True)
    work_total = IntegerField(default=0)
    work_done = IntegerField(default=0)
    last_error = TextField(null=True)


class QuickBooksWork(IdModel):
    """A query waiting for (or being run through) the Web Connector.

    kind: a storage.vocabulary.WorkKind, stored as its text (sync/quickbooks/steps has one step each)
    status: queued | in_progress | done | failed | cancelled
    """

    file_key = CharField(max_length=64)
    kind = CharField(max_length=32)
    status = CharField(max_length=16, default="queued")
    priority = IntegerField(default=0)
    requested_by = TextField(default="")
    created_at = UtcDateTimeField(default=utc_now)
    started_at = UtcDateTimeField(null=True)
    finished_at = UtcDateTimeField(null=True)
    session_ticket = CharField(max_length=64, null=True)
    request_id = CharField(max_length=64, null=True)
    iterator_id = CharField(max_length=64, null=True)
    iterator_remaining = IntegerField(null=True)
    # QuickBooks-local wall-clock strings (no offset), see DESIGN rule 2.
    modified_from = CharField(max_length=32, null=True)
    max_time_modified = CharField(max_length=32, null=True)
    pages = IntegerField(default=0)
    records = IntegerField(default=0)
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)
    payload = TextField(null=True)  # JSON, e.g. the bill TxnIDs a `bills` query asks for

    class Meta:
        indexes = ((("file_key", "status", "priority"), False),)


class BillPayment(IdModel):
    """A QuickBooks BillPaymentCheck or BillPaymentCreditCard, as last received."""

    company_file = ForeignKeyField(CompanyFile, backref="payments", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    txn_id = CharField(max_length=36)
    kind = CharField(max_length=12)  # check | credit_card
    edit_sequence = CharField(max_length=16)
    txn_number = IntegerField(null=True)
    # Raw QuickBooks strings, offset and all (the offset is wrong during DST; DESIGN rule 2).
    time_created = CharField(max_length=32)
    time_modified = CharField(max_length=32)
    vendor_list_id = CharField(max_length=36, null=True)
    vendor_name = TextField(null=True)
    txn_date = DateField()
    amount = MoneyField()
    ref_number = CharField(max_length=20, null=True)
    memo = TextField(null=True)
    account_name = TextField(null=True)
    # Schema 3: the transaction currency as QuickBooks names it (absent = the home currency), its ISO
    # code once known (sync.quickbooks.qbxml.currency), and the home-currency figures QuickBooks computed:
    # shown, never used to convert.
    currency_list_id = CharField(max_length=36, null=True)
    currency_name = TextField(null=True)
    currency = CharField(max_length=3, null=True)
    exchange_rate = CharField(max_length=32, null=True)  # FLOATTYPE, kept as the text QuickBooks sent
    amount_in_home_currency = MoneyField(null=True)
    # Set when QuickBooks sent a later version of this payment that PaySync cannot read, or when its
    # figures do not add up: nothing is written to Procore for it until QuickBooks sends it readable.
    hold_reason = TextField(null=True)
    is_void = BooleanField(default=False)
    # Created in QuickBooks before the schedule was first configured: never synced (seed rule).
    pre_existing = BooleanField(default=False)
    deleted_at = UtcDateTimeField(null=True)
    time_deleted = CharField(max_length=32, null=True)
    first_seen_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now, index=True)

    class Meta:
        indexes = ((("company_file", "txn_id"), True),)


class BillPaymentApplication(IdModel):
    """The part of a bill payment applied to one bill: one Procore payment each (DESIGN rule 3)."""

    payment = ForeignKeyField(BillPayment, backref="applications", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        payment_id: ClassVar[ForeignKeyId[int]]
    bill_txn_id = CharField(max_length=36, index=True)
    bill_ref_number = CharField(max_length=20, null=True, index=True)
    bill_txn_date = DateField(null=True)
    amount = MoneyField()
    balance_remaining = MoneyField(null=True)
    discount_amount = MoneyField(null=True)
    # Schema 3: vendor credits used against this bill in the same payment (JSON list of
    # {"txn_id", "txn_type", "ref_number", "amount"}): applied in QuickBooks, but not money paid.
    credits = TextField(null=True)

    class Meta:
        indexes = ((("payment", "bill_txn_id"), True),)


class Bill(IdModel):
    company_file = ForeignKeyField(CompanyFile, backref="bills", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    txn_id = CharField(max_length=36)
    edit_sequence = CharField(max_length=16, null=True)
    time_modified = CharField(max_length=32, null=True)
    vendor_list_id = CharField(max_length=36, null=True)
    vendor_name = TextField(null=True)
    txn_date = DateField(null=True)
    ref_number = CharField(max_length=20, null=True, index=True)
    amount_due = MoneyField(null=True)
    open_amount = MoneyField(null=True)
    is_paid = BooleanField(null=True)
    currency_list_id = CharField(max_length=36, null=True)
    currency_name = TextField(null=True)
    currency = CharField(max_length=3, null=True)
    exchange_rate = CharField(max_length=32, null=True)
    amount_due_in_home_currency = MoneyField(null=True)
    updated_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("company_file", "txn_id"), True),)


class QuickBooksDeletion(IdModel):
    company_file = ForeignKeyField(CompanyFile, backref="deletions", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    txn_del_type = CharField(max_length=32)
    txn_id = CharField(max_length=36)
    time_created = CharField(max_length=32, null=True)
    time_deleted = CharField(max_length=32, null=True)
    ref_number = CharField(max_length=20, null=True)
    recorded_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("company_file", "txn_id"), True),)


class Watermark(IdModel):
    """How far a query has read, as a QuickBooks-local wall-clock string (no offset)."""

    company_file = ForeignKeyField(CompanyFile, backref="watermarks", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    kind = CharField(max_length=32)
    value = CharField(max_length=32)
    updated_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("company_file", "kind"), True),)


class SyncRun(IdModel):
    """One sync or push, and how it ended. A run that could not start (configuration, permission,
    Procore unreachable) is kept too: status "failed", with the reason in `message`."""

    trigger = CharField(max_length=32)  # cli | console | schedule | web_connector | …
    started_at = UtcDateTimeField(default=utc_now, index=True)
    finished_at = UtcDateTimeField(null=True)
    status = CharField(max_length=16, default="running")  # running | ok | failed | cancelled
    created = IntegerField(default=0)
    updated = IntegerField(default=0)
    voided = IntegerField(default=0)
    flagged = IntegerField(default=0)
    skipped = IntegerField(default=0)
    errors = IntegerField(default=0)
    message = TextField(null=True)
    # Schema 4: who ran it (sync.settings.acting_person): the Procore user signed in with
    # `paysync login`, else the computer account at the console or CLI, else "paysync serve".
    actor = CharField(max_length=100, null=True)


class AuditLog(IdModel):
    """Every write PaySync makes or sees: Procore writes, Web Connector sessions, user edits."""

    at = UtcDateTimeField(default=utc_now, index=True)
    actor = CharField(max_length=100)
    action = CharField(max_length=64)
    target = TextField(null=True)
    detail = TextField(null=True)  # JSON


class ErrorEvent(IdModel):
    """An error a person should see: where it happened and how to fix it."""

    at = UtcDateTimeField(default=utc_now, index=True)
    where = CharField(max_length=32)  # qbwc | procore | engine | schedule | config
    message = TextField()
    detail = TextField(null=True)


QUICKBOOKS_SIDE_MODELS: tuple[type[BaseModel], ...] = (
    SchemaVersion,
    Setting,
    CompanyFile,
    WebConnectorCredential,
    LoginAttempt,
    WebConnectorSession,
    QuickBooksWork,
    BillPayment,
    BillPaymentApplication,
    Bill,
    QuickBooksDeletion,
    Watermark,
    SyncRun,
    AuditLog,
    ErrorEvent,
)


# --------------------------------------------------------------------------------------------
# Schema version 2: the Procore side
# --------------------------------------------------------------------------------------------


class ProcoreToken(BaseModel):
    """The current OAuth tokens. Refresh tokens are single-use, so a new one is stored before use.
    Both are encrypted with a key kept outside the database (storage/secrets.py)."""

    name = CharField(primary_key=True, max_length=32, default="default")
    grant_type = CharField(max_length=32)
    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField(null=True)
    expires_at = UtcDateTimeField()
    updated_at = UtcDateTimeField(default=utc_now)


class ProcoreProject(BaseModel):
    id = BigIntegerField(primary_key=True)
    name = TextField()
    # Schema 6: the Procore company it belongs to; None: PROCORE_COMPANY_ID's (and rows from before).
    company_id = BigIntegerField(null=True)
    updated_at = UtcDateTimeField(null=True)
    imported_at = UtcDateTimeField(default=utc_now)


class ProcoreVendor(BaseModel):
    id = BigIntegerField(primary_key=True)
    name = TextField()
    origin_id = CharField(max_length=100, null=True, index=True)
    # Schema 6: the Procore company whose directory lists it; None: PROCORE_COMPANY_ID's.
    company_id = BigIntegerField(null=True)


class Commitment(BaseModel):
    id = BigIntegerField(primary_key=True)
    project = ForeignKeyField(ProcoreProject, backref="commitments", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        project_id: ClassVar[ForeignKeyId[int]]
    kind = CharField(max_length=16)  # subcontract | purchase_order
    number = CharField(max_length=100, null=True)
    title = TextField(null=True)
    status = CharField(max_length=32, null=True)
    vendor_id = BigIntegerField(null=True, index=True)
    vendor_name = TextField(null=True)
    origin_id = CharField(max_length=100, null=True)
    # Schema 3: currency_configuration (absent = the Procore company's currency).
    currency = CharField(max_length=3, null=True)
    base_currency = CharField(max_length=3, null=True)
    exchange_rate = CharField(max_length=32, null=True)
    updated_at = UtcDateTimeField(null=True)
    imported_at = UtcDateTimeField(default=utc_now)


class Invoice(BaseModel):
    """A Procore subcontractor invoice (a 'requisition' in the API)."""

    id = BigIntegerField(primary_key=True)
    project = ForeignKeyField(ProcoreProject, backref="invoices", on_delete="CASCADE")
    commitment = ForeignKeyField(Commitment, backref="invoices", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        project_id: ClassVar[ForeignKeyId[int]]
        commitment_id: ClassVar[ForeignKeyId[int]]
    number = IntegerField(null=True)  # the draw request number
    invoice_number = CharField(max_length=100, null=True, index=True)
    vendor_id = BigIntegerField(null=True)
    status = CharField(max_length=32, null=True)
    erp_status = CharField(max_length=32, null=True)
    origin_id = CharField(max_length=100, null=True, index=True)
    amount = MoneyField(null=True)
    billing_date = DateField(null=True)
    updated_at = UtcDateTimeField(null=True)
    imported_at = UtcDateTimeField(default=utc_now)


class PaymentLink(IdModel):
    """One bill payment application and the one Procore payment that mirrors it.

    erp_status: a storage.vocabulary.ErpStatus, stored as its text
    """

    application = ForeignKeyField(BillPaymentApplication, unique=True, backref="links", on_delete="CASCADE")
    origin_id = CharField(max_length=200, unique=True)
    invoice = ForeignKeyField(Invoice, null=True, backref="payment_links", on_delete="SET NULL")
    commitment = ForeignKeyField(Commitment, null=True, backref="payment_links", on_delete="SET NULL")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        application_id: ClassVar[ForeignKeyId[int]]
        invoice_id: ClassVar[ForeignKeyId[int | None]]
        commitment_id: ClassVar[ForeignKeyId[int | None]]
    match_reason = TextField(null=True)
    erp_status = CharField(max_length=32, default=ErpStatus.WAITING.value, index=True)
    status_reason = TextField(null=True)
    procore_payment_id = BigIntegerField(null=True)
    pushed_fingerprint = TextField(null=True)
    pushed_amount = MoneyField(null=True)
    pushed_edit_sequence = CharField(max_length=16, null=True)
    payment_number = IntegerField(null=True)
    locked = BooleanField(default=False)
    # Schema 3. held_key: what the payment and its commitment looked like when Procore refused it;
    # the refusal is not repeated until one of them changes (or a person syncs by hand).
    held_key = TextField(null=True)
    # Procore kept the payment locked after origin_id was cleared: an accounting approver must
    # unlink it in ERP Integrations; the change is applied once the payment shows unlinked.
    awaiting_unlink = BooleanField(default=False)
    last_attempt_at = UtcDateTimeField(null=True)
    updated_at = UtcDateTimeField(default=utc_now)


class ProcoreWrite(IdModel):
    """The intent journal: a row is committed before every Procore write (DESIGN rule 4).

    operation: create | unlock | patch | relock | delete | attach
    status: intent | done | failed | unknown | resolved
    """

    link = ForeignKeyField(PaymentLink, null=True, backref="writes", on_delete="SET NULL")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        link_id: ClassVar[ForeignKeyId[int | None]]
    origin_id = CharField(max_length=200, index=True)
    operation = CharField(max_length=16)
    project_id = BigIntegerField()
    contract_id = BigIntegerField()
    procore_payment_id = BigIntegerField(null=True)
    request_body = TextField(null=True)  # JSON
    status = CharField(max_length=16, default="intent", index=True)
    error = TextField(null=True)
    created_at = UtcDateTimeField(default=utc_now)
    finished_at = UtcDateTimeField(null=True)


class PaymentAttachment(IdModel):
    link = ForeignKeyField(PaymentLink, backref="attachments", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        link_id: ClassVar[ForeignKeyId[int]]
    filename = TextField()
    size = IntegerField()
    procore_attachment_id = BigIntegerField(null=True)
    status = CharField(max_length=16, default="waiting")  # waiting | uploaded | failed
    error = TextField(null=True)
    added_at = UtcDateTimeField(default=utc_now)


PROCORE_SIDE_MODELS: tuple[type[BaseModel], ...] = (
    ProcoreToken,
    ProcoreProject,
    ProcoreVendor,
    Commitment,
    Invoice,
    PaymentLink,
    ProcoreWrite,
    PaymentAttachment,
)


# --------------------------------------------------------------------------------------------
# Schema version 3: real-world data (currencies, vendors, records PaySync could not read)
# --------------------------------------------------------------------------------------------


class QuickBooksVendor(IdModel):
    """A QuickBooks vendor, read for its currency (multicurrency company files)."""

    company_file = ForeignKeyField(CompanyFile, backref="vendors", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    list_id = CharField(max_length=36)
    name = TextField(null=True)
    edit_sequence = CharField(max_length=16, null=True)
    currency_list_id = CharField(max_length=36, null=True)
    currency_name = TextField(null=True)
    currency = CharField(max_length=3, null=True)
    updated_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("company_file", "list_id"), True),)


class QuickBooksCurrency(IdModel):
    """A currency of a multicurrency company file: QuickBooks' name for it and its ISO code."""

    company_file = ForeignKeyField(CompanyFile, backref="currencies", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    list_id = CharField(max_length=36)
    name = TextField()
    code = CharField(max_length=3, null=True)
    updated_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("company_file", "list_id"), True),)


class HeldRecord(IdModel):
    """A QuickBooks record PaySync could not read, kept aside with the raw text and the reason.

    The rest of its page was stored and the watermark moved on; when QuickBooks sends the record
    again readable (a new EditSequence after someone corrects it), the row is deleted.
    record_type: payment_check | payment_credit_card | bill | deletion | vendor | currency
    """

    company_file = ForeignKeyField(CompanyFile, backref="held_records", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    record_type = CharField(max_length=32)
    record_key = CharField(
        max_length=200
    )  # the TxnID/ListID as sent (cut to 200), else a digest of the record
    txn_id = CharField(max_length=36, null=True)  # the TxnID when it is readable
    edit_sequence = CharField(max_length=64, null=True)
    label = TextField()  # how a person recognises it: "check 10045 to Acme Concrete"
    reason = TextField()  # "QuickBooks sent `1,234.50` as the amount of check 10045"
    raw_text = TextField()  # the record as received (re-serialised), cut to 20,000 characters
    first_seen_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("company_file", "record_type", "record_key"), True),)


REAL_WORLD_MODELS: tuple[type[BaseModel], ...] = (QuickBooksVendor, QuickBooksCurrency, HeldRecord)

# Columns schema 3 adds to tables of versions 1 and 2: table model -> field names.
SCHEMA_3_COLUMNS: tuple[tuple[type[BaseModel], tuple[str, ...]], ...] = (
    (
        CompanyFile,
        (
            "supported_qbxml_versions",
            "multicurrency",
            "home_currency_list_id",
            "home_currency_name",
            "home_currency",
        ),
    ),
    (
        BillPayment,
        (
            "currency_list_id",
            "currency_name",
            "currency",
            "exchange_rate",
            "amount_in_home_currency",
            "hold_reason",
        ),
    ),
    (BillPaymentApplication, ("credits",)),
    (Bill, ("currency_list_id", "currency_name", "currency", "exchange_rate", "amount_due_in_home_currency")),
    (Commitment, ("currency", "base_currency", "exchange_rate")),
    (PaymentLink, ("held_key", "awaiting_unlink")),
)

# Columns schema 4 adds: who ran each sync.
SCHEMA_4_COLUMNS: tuple[tuple[type[BaseModel], tuple[str, ...]], ...] = ((SyncRun, ("actor",)),)

# Schema 6: several company files (CompanyFile above).
SCHEMA_6_COLUMNS: tuple[tuple[type[BaseModel], tuple[str, ...]], ...] = (
    (
        CompanyFile,
        ("label", "registered_at", "removed_at", "procore_project_ids", "schedule", "procore_company_id"),
    ),
    (ProcoreProject, ("company_id",)),
    (ProcoreVendor, ("company_id",)),
)


# --------------------------------------------------------------------------------------------
# Schema version 5: mappings a person confirmed
# --------------------------------------------------------------------------------------------


class BillMapping(IdModel):
    """A QuickBooks bill placed on a Procore invoice by a person (`paysync map`, the console), for a
    bill the matching rules could not place (*needs mapping*). It overrides the number rule for that
    bill only; a suggestion alone never places anything (sync/engine/suggestions.py).

    `invoice_id` is Procore's id, kept without a foreign key: an invoice that leaves our copy of
    Procore leaves the mapping in place (the plan then says so) rather than silently dropping it.
    `invoice_number` and `commitment_id` are as they were when the mapping was confirmed.
    """

    company_file = ForeignKeyField(CompanyFile, backref="bill_mappings", on_delete="CASCADE")
    if TYPE_CHECKING:  # the key column beside each foreign key, as peewee adds it
        company_file_id: ClassVar[ForeignKeyId[int]]
    bill_txn_id = CharField(max_length=36)
    invoice_id = BigIntegerField(index=True)
    invoice_number = CharField(max_length=100, null=True)
    commitment_id = BigIntegerField(null=True)
    confirmed_by = CharField(max_length=100)  # sync.settings.acting_person
    confirmed_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("company_file", "bill_txn_id"), True),)


MAPPING_MODELS: tuple[type[BaseModel], ...] = (BillMapping,)

ALL_MODELS: tuple[type[BaseModel], ...] = (
    QUICKBOOKS_SIDE_MODELS + PROCORE_SIDE_MODELS + REAL_WORLD_MODELS + MAPPING_MODELS
)
