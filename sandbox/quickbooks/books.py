"""The books of one company file: every record by its TxnID or ListID, the orders queries read them
in (TimeModified, deletion time, name), the accounts, and the counters and clock that make new
records, ids and stamps. SandboxCompanyFile owns one ``Books`` and changes it under its lock."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sandbox.quickbooks.currencies import CurrencyList
from sandbox.quickbooks.money import ZERO
from sandbox.quickbooks.records import (
    Bill,
    DeletedTxn,
    ListObject,
    Payment,
    PaymentKind,
    Vendor,
    VendorCredit,
    next_edit_sequence,
)


class Ordering(Protocol):
    """Ids in the order a query answers them, restricted to a range of the order's own time
    (TimeModified; for deleted transactions the time of deletion)."""

    def ordered(self, time_from: int | None = None, time_to: int | None = None) -> Iterator[str]: ...


class ModifiedIndex:
    """TxnIDs ordered by (TimeModified, TxnID), for modified-date filters and iterator order.

    Entries are only appended near the end (the clock never goes back), and an entry made stale by
    a later change is skipped when read and dropped at the next compaction, so keeping the index
    costs O(log n) per change instead of a re-sort per query.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[int, str]] = []
        self._current: dict[str, int] = {}
        self._stale = 0

    def __len__(self) -> int:
        return len(self._current)

    def touch(self, txn_id: str, time_modified: int) -> None:
        previous = self._current.get(txn_id)
        if previous == time_modified:
            return
        if previous is not None:
            self._stale += 1
        self._current[txn_id] = time_modified
        bisect.insort(self._entries, (time_modified, txn_id))
        if self._stale > 1024 and self._stale > len(self._current):
            self._compact()

    def discard(self, txn_id: str) -> None:
        if self._current.pop(txn_id, None) is not None:
            self._stale += 1

    def ordered(self, time_from: int | None = None, time_to: int | None = None) -> Iterator[str]:
        low = 0 if time_from is None else bisect.bisect_left(self._entries, (time_from, ""))
        high = (
            len(self._entries)
            if time_to is None
            else bisect.bisect_right(self._entries, (time_to, "\U0010ffff"))
        )
        current = self._current
        entries = self._entries
        for position in range(low, high):
            time_modified, txn_id = entries[position]
            if current.get(txn_id) == time_modified:
                yield txn_id

    def _compact(self) -> None:
        self._entries = sorted((time_modified, txn_id) for txn_id, time_modified in self._current.items())
        self._stale = 0


class DeletionLog:
    """Deleted TxnIDs in the order they were deleted, for DeletedDateRangeFilter."""

    def __init__(self) -> None:
        self._txn_ids: list[str] = []
        self._times: list[int] = []

    def append(self, txn_id: str, time_deleted: int) -> None:
        self._txn_ids.append(txn_id)
        self._times.append(time_deleted)

    def ordered(self, time_from: int | None = None, time_to: int | None = None) -> Iterator[str]:
        low = 0 if time_from is None else bisect.bisect_left(self._times, time_from)
        high = len(self._times) if time_to is None else bisect.bisect_right(self._times, time_to)
        yield from self._txn_ids[low:high]


class NameOrder:
    """List objects in name order, as QuickBooks shows its lists (inferred), within a
    TimeModified range."""

    def __init__(self, records: Mapping[str, Any]) -> None:
        self._records = records

    def ordered(self, time_from: int | None = None, time_to: int | None = None) -> Iterator[str]:
        for record in sorted(self._records.values(), key=lambda r: (r.full_name.casefold(), r.list_id)):
            if time_from is not None and record.time_modified < time_from:
                continue
            if time_to is not None and record.time_modified > time_to:
                continue
            yield record.list_id


class PaymentsOfKind(Mapping[str, Payment]):
    """The bill payments of one kind (check or credit card), a live view by TxnID."""

    def __init__(self, payments: dict[str, Payment], kind: PaymentKind) -> None:
        self._payments = payments
        self._kind = kind

    def __getitem__(self, txn_id: str) -> Payment:
        payment = self._payments[txn_id]
        if payment.kind != self._kind:
            raise KeyError(txn_id)
        return payment

    def __iter__(self) -> Iterator[str]:
        return (txn_id for txn_id, payment in self._payments.items() if payment.kind == self._kind)

    def __len__(self) -> int:
        return sum(1 for payment in self._payments.values() if payment.kind == self._kind)


class Books:
    """Every record of one company file, the orders queries read them in, and the ids it makes."""

    def __init__(self, now: int, *, multicurrency: bool, home_currency: str) -> None:
        self.now = now  # the QuickBooks clock, epoch seconds
        self._next_txn_counter = 0x1A2B
        self._next_list_counter = 0x80000001
        self._next_txn_number = 1
        # Expense lines of vendor credits get ids from their own counter, so that keeping them
        # did not shift the TxnIDs of everything entered after a credit (sandbox choice).
        self._next_credit_line_counter = 0x7C000001
        self.vendors_by_id: dict[str, Vendor] = {}
        self.vendors_by_name: dict[str, Vendor] = {}  # case-folded name -> vendor
        self.bills: dict[str, Bill] = {}
        self.payments: dict[str, Payment] = {}
        self.payments_of: dict[PaymentKind, PaymentsOfKind] = {
            "check": PaymentsOfKind(self.payments, "check"),
            "credit_card": PaymentsOfKind(self.payments, "credit_card"),
        }
        self.credits: dict[str, VendorCredit] = {}
        self.deleted: dict[str, DeletedTxn] = {}  # in deletion order
        self.bill_index = ModifiedIndex()
        self.payment_index: dict[PaymentKind, ModifiedIndex] = {
            "check": ModifiedIndex(),
            "credit_card": ModifiedIndex(),
        }
        self.credit_index = ModifiedIndex()
        self.deletion_log = DeletionLog()
        self.ap_account = self.new_list_object("Accounts Payable")
        self.bank_account = self.new_list_object("Checking")
        self.credit_card_account = self.new_list_object("Company Credit Card")
        self.expense_account = self.new_list_object("Job Expenses:Subcontractors")
        # Made on first use, so files without discounts keep today's ListIDs (sandbox choice).
        self._discount_account: ListObject | None = None
        self.multicurrency = multicurrency
        self.currencies = CurrencyList(now, home_currency)

    # ---- ids -------------------------------------------------------------------------------

    def new_txn_id(self) -> str:
        # Like QuickBooks' "B7-1417040299": a hex counter, then the Unix time of creation.
        txn_id = f"{self._next_txn_counter:X}-{self.now}"
        self._next_txn_counter += 1
        return txn_id

    def new_list_id(self) -> str:
        list_id = f"{self._next_list_counter:X}-{self.now}"
        self._next_list_counter += 1
        return list_id

    def new_list_object(self, full_name: str) -> ListObject:
        return ListObject(list_id=self.new_list_id(), full_name=full_name)

    def new_txn_number(self) -> int:
        number = self._next_txn_number
        self._next_txn_number += 1
        return number

    def new_credit_line_id(self) -> str:
        line_id = f"{self._next_credit_line_counter:X}-{self.now}"
        self._next_credit_line_counter += 1
        return line_id

    # ---- new records ---------------------------------------------------------------------------

    def add_vendor(self, name: str, currency: str | None) -> str:
        home = self.currencies.home
        code = home if currency is None else currency.upper()
        if code not in self.currencies.by_code:
            raise ValueError(f"unknown currency code {currency!r}")
        if code != home and not self.multicurrency:
            raise ValueError(f"a vendor in {code} needs multicurrency; this file's only currency is {home}")
        if name.casefold() in self.vendors_by_name:
            raise ValueError(f"the name {name!r} is already in use (QuickBooks status 3100)")
        vendor = Vendor(
            list_id=self.new_list_id(),
            full_name=name,
            currency=code,
            time_created=self.now,
            time_modified=self.now,
            edit_sequence=str(self.now),
        )
        self.vendors_by_id[vendor.list_id] = vendor
        self.vendors_by_name[name.casefold()] = vendor
        return vendor.list_id

    def add_bill(self, vendor: str, ref_number: str, amount: Decimal, txn_date: date) -> str:
        found_vendor = self.vendor(vendor)
        bill = Bill(
            txn_id=self.new_txn_id(),
            txn_number=self.new_txn_number(),
            vendor=found_vendor,
            ref_number=ref_number,
            amount_due=amount,
            txn_date=txn_date,
            due_date=txn_date + timedelta(days=30),
            expense_line_id=self.new_txn_id(),
            time_created=self.now,
            time_modified=self.now,
            edit_sequence=str(self.now),
            currency=found_vendor.currency,
            exchange_rate=self.currencies.rate(found_vendor.currency),
        )
        self.bills[bill.txn_id] = bill
        self.bill_index.touch(bill.txn_id, bill.time_modified)
        return bill.txn_id

    def add_credit(self, vendor: str, ref_number: str, amount: Decimal, txn_date: date) -> str:
        found_vendor = self.vendor(vendor)
        credit = VendorCredit(
            txn_id=self.new_txn_id(),
            txn_number=self.new_txn_number(),
            vendor=found_vendor,
            ref_number=ref_number,
            amount=amount,
            txn_date=txn_date,
            time_created=self.now,
            currency=found_vendor.currency,
            exchange_rate=self.currencies.rate(found_vendor.currency),
            expense_line_id=self.new_credit_line_id(),
            time_modified=self.now,
            edit_sequence=str(self.now),
        )
        self.credits[credit.txn_id] = credit
        self.credit_index.touch(credit.txn_id, credit.time_modified)
        return credit.txn_id

    # ---- stamps: a change gives the record the clock's TimeModified and a new EditSequence ----

    def stamp_payment(self, payment: Payment) -> None:
        payment.time_modified = self.now
        payment.edit_sequence = next_edit_sequence(payment.edit_sequence, self.now)
        self.payment_index[payment.kind].touch(payment.txn_id, payment.time_modified)

    def stamp_bill(self, bill: Bill) -> None:
        # Paying a bill changes its OpenAmount / IsPaid, so the bill counts as modified (inferred).
        bill.time_modified = self.now
        bill.edit_sequence = next_edit_sequence(bill.edit_sequence, self.now)
        self.bill_index.touch(bill.txn_id, bill.time_modified)

    def stamp_credit(self, credit: VendorCredit) -> None:
        # Using a credit changes its OpenAmount, so it counts as modified, like a bill (inferred).
        credit.time_modified = self.now
        credit.edit_sequence = next_edit_sequence(credit.edit_sequence, self.now)
        self.credit_index.touch(credit.txn_id, credit.time_modified)

    # ---- lookups ---------------------------------------------------------------------------

    def vendor(self, name_or_list_id: str) -> Vendor:
        vendor = self.vendors_by_id.get(name_or_list_id) or self.vendors_by_name.get(
            name_or_list_id.strip().casefold()
        )
        if vendor is None:
            raise KeyError(f"no vendor {name_or_list_id!r}")
        return vendor

    def bill(self, txn_id: str) -> Bill:
        bill = self.bills.get(txn_id)
        if bill is None:
            raise KeyError(f"no bill {txn_id}")
        return bill

    def payment(self, txn_id: str) -> Payment:
        payment = self.payments.get(txn_id)
        if payment is None:
            raise KeyError(f"no payment {txn_id}")
        return payment

    def credit(self, txn_id: str) -> VendorCredit:
        credit = self.credits.get(txn_id)
        if credit is None:
            raise KeyError(f"no vendor credit {txn_id}")
        return credit

    def discount_account(self) -> ListObject:
        # Pay Bills asks for a discount account; a contractor file typically books early-payment
        # discounts to an income account like this one (name: sandbox choice).
        if self._discount_account is None:
            self._discount_account = self.new_list_object("Purchase Discounts")
        return self._discount_account

    def vendor_balance(self, vendor: Vendor) -> Decimal:
        """Open bills less unused credits, in the vendor's currency (inferred)."""
        owed = sum((b.open_amount for b in self.bills.values() if b.vendor is vendor), ZERO)
        return owed - sum((c.remaining for c in self.credits.values() if c.vendor is vendor), ZERO)
