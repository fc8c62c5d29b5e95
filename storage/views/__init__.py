"""Read models for the console and `paysync status`: small typed dataclasses and the queries behind them.

The console never touches peewee rows directly (Elia's pattern: DAOs behind, plain dataclasses
in front). Every list is paged or scoped (commitments are aggregated in SQL, payments are read
per commitment or invoice), so the console stays quick with 100,000 payments. Every query selects
its columns by name (sql.named) and reads them back as a NamedTuple, never by position.

A payment here is one bill payment *application* (DESIGN rule 3: one Procore payment each).
Its ERP status is the link's `erp_status` when the engine has linked it; before that it is
`waiting`, or `not_synced` for a pre-existing payment, or `deleted_in_quickbooks` once deleted.

One job per module:
    rows.py         the dataclasses callers are handed
    statuses.py     the ERP status vocabulary as the console shows it, and its urgency
    sorting.py      sort keys, default directions, natural order of numbers
    sql.py          what the queries share (models, named columns, money, text matching)
    overview.py     the top bar and `paysync status`
    placement.py    payments placed on an invoice by their bill (DESIGN rule 7)
    commitments.py  the commitments pane (and the unmatched group)
    invoices.py     the invoices pane
    payments.py     the payments pane
    detail.py       the payment detail view
    logs.py         the audit log and the errors, payments named as people know them
    lookups.py      small lookups for the console's actions and the preview; the read session

Everything callers use is imported here: `from storage.views import X` and `views.X` both work.
"""

from __future__ import annotations

from storage.views.commitments import list_commitments
from storage.views.detail import payment_detail
from storage.views.invoices import list_invoices
from storage.views.logs import FAILED_RUN_WHERE, ORIGIN_ID_PATTERN, payment_names, recent_audit, recent_errors
from storage.views.lookups import (
    attachment_on_payment,
    commitment_labels,
    invoice_labels,
    payment_number_of,
    read_session,
)
from storage.views.overview import overview, status_counts
from storage.views.payments import list_payments
from storage.views.rows import (
    AuditRow,
    CommitmentPage,
    CommitmentRow,
    CompanyFileInfo,
    ErrorRow,
    InvoiceRow,
    LastSync,
    Overview,
    PaymentDetail,
    PaymentPage,
    PaymentRow,
    RateLimit,
    WriteRow,
)
from storage.views.sorting import COMMITMENT_SORTS, PAYMENT_SORTS, PaymentSort, SortOrder, natural_key
from storage.views.sql import home_currency
from storage.views.statuses import (
    ERP_STATUSES,
    NO_PAYMENTS,
    STATUS_LABELS,
    status_from_text,
    status_label,
)

__all__ = [
    "COMMITMENT_SORTS",
    "ERP_STATUSES",
    "FAILED_RUN_WHERE",
    "NO_PAYMENTS",
    "ORIGIN_ID_PATTERN",
    "PAYMENT_SORTS",
    "STATUS_LABELS",
    "AuditRow",
    "CommitmentPage",
    "CommitmentRow",
    "CompanyFileInfo",
    "ErrorRow",
    "InvoiceRow",
    "LastSync",
    "Overview",
    "PaymentDetail",
    "PaymentPage",
    "PaymentRow",
    "PaymentSort",
    "RateLimit",
    "SortOrder",
    "WriteRow",
    "attachment_on_payment",
    "commitment_labels",
    "home_currency",
    "invoice_labels",
    "list_commitments",
    "list_invoices",
    "list_payments",
    "natural_key",
    "overview",
    "payment_detail",
    "payment_names",
    "payment_number_of",
    "read_session",
    "recent_audit",
    "recent_errors",
    "status_counts",
    "status_from_text",
    "status_label",
]
