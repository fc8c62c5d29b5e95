"""Typed records read from qbXML responses. Other packages (storage, engine, sandbox tests) use them.

QuickBooks date-times (time_created, time_modified, time_deleted) are kept as the raw strings
QuickBooks sent, offset included, because the offset is wrong during DST (NOTES §8, DESIGN rule 2);
use build.parse_qb_local() to turn one into a naive local wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

PaymentKind = Literal["check", "credit_card"]

_ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class LinkedCredit:
    """A LinkedTxn inside AppliedToTxnRet: e.g. a vendor credit used against the bill in the same
    payment. It reduces what the bill still owes, but it is not money paid (DESIGN rule 10)."""

    txn_id: str
    txn_type: str  # "VendorCredit", ...
    ref_number: str | None
    amount: Decimal  # as QuickBooks signed it (from the other side's view, NOTES §2)


@dataclass(frozen=True, slots=True)
class AppliedBill:
    """One AppliedToTxnRet: how much of a payment went to one bill."""

    bill_txn_id: str
    txn_type: str  # "Bill" for the bills we care about; QuickBooks also allows e.g. "VendorCredit"
    bill_ref_number: str | None  # the bill's RefNumber = the Procore invoice number (max 20 chars)
    bill_txn_date: date | None
    amount: Decimal  # amount of THIS payment applied to the bill: cash, in the transaction currency
    # The bill's open balance, probably as of now rather than as of the payment (NOTES §2).
    balance_remaining: Decimal | None
    discount_amount: Decimal | None  # an early-payment discount: applied, not paid
    credits: tuple[LinkedCredit, ...] = ()  # vendor credits used: applied, not paid


@dataclass(frozen=True, slots=True)
class BillPaymentRecord:
    """A BillPaymentCheckRet (kind "check") or BillPaymentCreditCardRet (kind "credit_card")."""

    kind: PaymentKind
    txn_id: str
    edit_sequence: str
    txn_number: int | None
    time_created: str  # raw QuickBooks strings exactly as received (with their offset)
    time_modified: str
    vendor_list_id: str | None
    vendor_name: str | None
    txn_date: date
    amount: Decimal
    ref_number: str | None  # the check number
    memo: str | None
    account_name: str | None  # BankAccountRef or CreditCardAccountRef FullName
    applications: tuple[AppliedBill, ...]
    # Multicurrency company files only (absent: the transaction is in the home currency).
    currency_list_id: str | None = None
    currency_name: str | None = None  # CurrencyRef FullName, e.g. "Canadian Dollar"
    exchange_rate: str | None = None  # FLOATTYPE text; shown, never used to convert
    amount_in_home_currency: Decimal | None = None

    @property
    def applied_total(self) -> Decimal:
        """What the applications add up to; QuickBooks' Amount is the same figure (the cash paid)."""
        return sum((application.amount for application in self.applications), _ZERO)

    @property
    def is_void(self) -> bool:
        """True when the payment looks voided. The only place that decides it.

        qbXML has no IsVoided flag (NOTES §7). Voiding sets Amount to 0.00 and, by common knowledge
        but unconfirmed from a real capture, prefixes the memo with "VOID:". So the rule is
        inferred: Amount 0 plus a memo starting with "void", or Amount 0 with nothing applied to any
        bill (QuickBooks may keep the applications at 0.00 or drop them). Verify against a real
        company file and adjust here only.
        """
        if self.amount != _ZERO:
            return False
        if self.memo is not None and self.memo.strip().lower().startswith("void"):
            return True
        return all(application.amount == _ZERO for application in self.applications)


@dataclass(frozen=True, slots=True)
class BillRecord:
    """A BillRet, read to match a bill to its Procore subcontractor invoice and see its open balance."""

    txn_id: str
    edit_sequence: str
    time_modified: str  # raw, with offset
    vendor_list_id: str | None
    vendor_name: str | None
    txn_date: date | None
    ref_number: str | None
    amount_due: Decimal | None  # bill total
    open_amount: Decimal | None  # still unpaid
    is_paid: bool | None
    currency_list_id: str | None = None
    currency_name: str | None = None
    exchange_rate: str | None = None
    amount_due_in_home_currency: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VendorRecord:
    """The part of a VendorRet PaySync keeps: who it is and, in multicurrency files, its currency."""

    list_id: str
    name: str | None
    edit_sequence: str | None
    currency_list_id: str | None
    currency_name: str | None


@dataclass(frozen=True, slots=True)
class CurrencyRecord:
    """A CurrencyRet: QuickBooks' (editable) name for a currency and its ISO 4217 code."""

    list_id: str
    name: str
    code: str | None


@dataclass(frozen=True, slots=True)
class PreferencesInfo:
    """The multicurrency part of PreferencesRet (in the Web Connector's HCP response)."""

    multicurrency: bool | None
    home_currency_list_id: str | None
    home_currency_name: str | None


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """A *Ret element PaySync could not read: kept aside, never guessed at (DESIGN rule 11).

    The rest of its response is read normally. `reason` is the sentence a person reads.
    """

    ret_name: str  # "BillPaymentCheckRet", "BillRet", ...
    record_key: str  # the TxnID/ListID as sent (cut to 200 characters), else a digest of the record
    txn_id: str | None  # the TxnID/ListID when it is itself readable
    edit_sequence: str | None
    time_modified: str | None  # raw, when it is a QuickBooks date-time
    label: str  # "check 10045", "bill ACME-2411"
    reason: str  # "QuickBooks sent `1,234.50` as the amount of check 10045. ..."
    raw: str  # the record re-serialised as XML, cut to 20,000 characters


@dataclass(frozen=True, slots=True)
class DeletedTxnRecord:
    """A TxnDeletedRet: a payment deleted in QuickBooks (deletes never show up in modified-date queries)."""

    txn_del_type: str  # "BillPaymentCheck" or "BillPaymentCreditCard"
    txn_id: str
    time_created: str | None  # raw, with offset
    time_deleted: str | None  # raw, with offset
    ref_number: str | None


@dataclass(frozen=True, slots=True)
class HostInfo:
    """HostRet: which QuickBooks product answers, and in which country edition (the project is US-only)."""

    product_name: str | None
    major_version: str | None
    minor_version: str | None
    country: str | None  # "US", "CA" or "UK"
    supported_versions: tuple[str, ...]  # SupportedQBXMLVersion, e.g. ("1.0", ..., "13.0")
    file_mode: str | None  # QBFileMode: "SingleUser" or "MultiUser"


@dataclass(frozen=True, slots=True)
class CompanyInfo:
    """The part of CompanyRet used to check that the expected company file is open."""

    company_name: str | None
    is_sample_company: bool | None


@dataclass
class QueryResponse:
    """One *Rs element of a QBXMLMsgsRs: its status attributes and the typed records it carried."""

    rs_name: str  # "BillPaymentCheckQueryRs", "HostQueryRs", ...
    request_id: str | None
    status_code: int
    status_severity: str  # "Info", "Warn" or "Error"
    status_message: str
    ret_count: int | None
    iterator_id: str | None
    iterator_remaining: int | None
    # BillPaymentRecord, BillRecord, DeletedTxnRecord, HostInfo or CompanyInfo; [] for Rs types we do not read
    records: list[object]
    # iteratorRemainingCount as sent, when it is not a count PaySync can use (not a whole number,
    # negative, or beyond 2**31-1); iterator_remaining is then None.
    iterator_remaining_unreadable: str | None = None

    @property
    def is_ok(self) -> bool:
        """Code 0 is success and code 1 is "no match": an empty answer, not an error."""
        return self.status_code in (0, 1)

    @property
    def is_warning(self) -> bool:
        """Codes 500-999 are warnings (e.g. 500: some of several TxnIDs were not found)."""
        return 500 <= self.status_code <= 999

    @property
    def is_retryable(self) -> bool:
        """3170-3180: record in use, locked or not saved; usually transient (NOTES §8)."""
        return 3170 <= self.status_code <= 3180

    @property
    def iterator_lost(self) -> bool:
        """3391: QuickBooks no longer knows the iterator; the query has to start again."""
        return self.status_code == 3391
