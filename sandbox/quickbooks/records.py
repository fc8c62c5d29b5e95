"""What a company file holds: the internal records (vendors, bills, bill payments and their
applications, vendor credits, deleted transactions) and the read-only snapshots tests and the demo
get of them. Times are epoch seconds on the QuickBooks clock (``clock.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

from sandbox.quickbooks.clock import local_wall_clock
from sandbox.quickbooks.money import ZERO

PaymentKind = Literal["check", "credit_card"]

# TxnType / TxnDelType names.
BILL_TXN_TYPE: Final = "Bill"
CREDIT_TXN_TYPE: Final = "VendorCredit"
PAYMENT_TXN_TYPES: Final[dict[PaymentKind, str]] = {
    "check": "BillPaymentCheck",
    "credit_card": "BillPaymentCreditCard",
}
# Field lengths of the 13.0 schema.
MAX_VENDOR_NAME = 41  # VendorRet/Name
MAX_BILL_REF = 20  # BillRet/RefNumber (VendorCreditRet/RefNumber too)
MAX_PAYMENT_REF = 11  # BillPaymentCheckRet/RefNumber
MAX_MEMO = 4095


def next_edit_sequence(previous: str, now: int) -> str:
    # Real EditSequences are the Unix time of the change (NOTES §7). Two changes in the same
    # second must still differ, so never repeat or go back.
    return str(max(now, int(previous) + 1))


# --------------------------------------------------------------------------------------------
# Snapshots: read-only views for tests and the demo (the internal records stay private)


@dataclass(frozen=True)
class PaymentSnapshot:
    txn_id: str
    kind: PaymentKind
    vendor_name: str
    txn_date: date
    amount: Decimal
    ref_number: str | None
    memo: str | None
    is_voided: bool
    edit_sequence: str
    time_created: datetime  # naive local wall-clock time on the QuickBooks machine
    time_modified: datetime
    applications: tuple[tuple[str, Decimal], ...]  # (bill TxnID, amount applied)
    currency: str = "USD"  # ISO code of the vendor's currency
    exchange_rate: Decimal = Decimal("1")
    discounts: tuple[tuple[str, Decimal], ...] = ()  # (bill TxnID, discount taken)
    credits: tuple[tuple[str, str, Decimal], ...] = ()  # (bill TxnID, credit TxnID, amount used)


@dataclass(frozen=True)
class BillSnapshot:
    txn_id: str
    vendor_name: str
    ref_number: str
    txn_date: date
    amount_due: Decimal
    open_amount: Decimal
    is_paid: bool
    edit_sequence: str
    time_modified: datetime
    currency: str = "USD"
    exchange_rate: Decimal = Decimal("1")


@dataclass(frozen=True)
class DeletedPaymentSnapshot:
    txn_id: str
    kind: PaymentKind
    ref_number: str | None
    time_created: datetime
    time_deleted: datetime


# --------------------------------------------------------------------------------------------
# Internal records. Transactions share txn_id, ref_number, txn_date, vendor, currency and
# time_modified; list objects share list_id, full_name and time_modified: the query filters read
# those names (matching.py).


@dataclass
class ListObject:
    list_id: str
    full_name: str


@dataclass
class Vendor(ListObject):
    currency: str = "USD"  # ISO code; the vendor's bills, credits and payments use it
    time_created: int = 0
    time_modified: int = 0
    edit_sequence: str = "0"


@dataclass
class Bill:
    txn_id: str
    txn_number: int
    vendor: Vendor
    ref_number: str
    amount_due: Decimal
    txn_date: date
    due_date: date
    expense_line_id: str
    time_created: int
    time_modified: int
    edit_sequence: str
    # payment TxnID -> amount that payment applies to this bill (0.00 once the payment is voided)
    applied_by: dict[str, Decimal] = field(default_factory=dict)
    currency: str = "USD"
    exchange_rate: Decimal = Decimal("1")  # the rate in force when the bill was entered
    # payment TxnID -> discount taken + vendor credits used on this bill in that payment
    reduced_by: dict[str, Decimal] = field(default_factory=dict)

    @property
    def open_amount(self) -> Decimal:
        paid = sum(self.applied_by.values(), ZERO) + sum(self.reduced_by.values(), ZERO)
        return self.amount_due - paid

    def snapshot(self) -> BillSnapshot:
        open_amount = self.open_amount
        return BillSnapshot(
            txn_id=self.txn_id,
            vendor_name=self.vendor.full_name,
            ref_number=self.ref_number,
            txn_date=self.txn_date,
            amount_due=self.amount_due,
            open_amount=open_amount,
            is_paid=open_amount == 0,
            edit_sequence=self.edit_sequence,
            time_modified=local_wall_clock(self.time_modified),
            currency=self.currency,
            exchange_rate=self.exchange_rate,
        )


@dataclass
class Application:
    bill_txn_id: str
    amount: Decimal  # cash
    discount: Decimal = ZERO
    credits: list[tuple[str, Decimal]] = field(default_factory=list)  # (credit TxnID, amount used)

    @property
    def reduction(self) -> Decimal:
        """What this application takes off the bill besides cash."""
        return self.discount + sum((used for _credit, used in self.credits), ZERO)


@dataclass
class VendorCredit:
    txn_id: str
    txn_number: int
    vendor: Vendor
    ref_number: str
    amount: Decimal
    txn_date: date
    time_created: int
    currency: str
    exchange_rate: Decimal
    used_by: dict[str, Decimal] = field(default_factory=dict)  # payment TxnID -> amount used
    expense_line_id: str = ""
    time_modified: int = 0
    edit_sequence: str = "0"

    @property
    def remaining(self) -> Decimal:
        return self.amount - sum(self.used_by.values(), ZERO)


@dataclass
class Payment:
    txn_id: str
    kind: PaymentKind
    txn_number: int
    vendor: Vendor
    txn_date: date
    ref_number: str | None
    memo: str | None
    applications: list[Application]
    time_created: int
    time_modified: int
    edit_sequence: str
    is_voided: bool = False
    currency: str = "USD"
    exchange_rate: Decimal = Decimal("1")  # the rate in force when the payment was entered

    @property
    def amount(self) -> Decimal:
        return sum((application.amount for application in self.applications), Decimal("0.00"))

    def snapshot(self) -> PaymentSnapshot:
        return PaymentSnapshot(
            txn_id=self.txn_id,
            kind=self.kind,
            vendor_name=self.vendor.full_name,
            txn_date=self.txn_date,
            amount=self.amount,
            ref_number=self.ref_number,
            memo=self.memo,
            is_voided=self.is_voided,
            edit_sequence=self.edit_sequence,
            time_created=local_wall_clock(self.time_created),
            time_modified=local_wall_clock(self.time_modified),
            applications=tuple((a.bill_txn_id, a.amount) for a in self.applications),
            currency=self.currency,
            exchange_rate=self.exchange_rate,
            discounts=tuple((a.bill_txn_id, a.discount) for a in self.applications if a.discount),
            credits=tuple(
                (a.bill_txn_id, credit_txn_id, used)
                for a in self.applications
                for credit_txn_id, used in a.credits
            ),
        )


@dataclass
class DeletedTxn:
    del_type: str
    txn_id: str
    time_created: int
    time_deleted: int
    ref_number: str | None

    def snapshot(self) -> DeletedPaymentSnapshot:
        return DeletedPaymentSnapshot(
            txn_id=self.txn_id,
            kind="check" if self.del_type == "BillPaymentCheck" else "credit_card",
            ref_number=self.ref_number,
            time_created=local_wall_clock(self.time_created),
            time_deleted=local_wall_clock(self.time_deleted),
        )
