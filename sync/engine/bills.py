"""A QuickBooks bill as PaySync read it, and its vendor in Procore: where the suggestions
(sync/engine/suggestions.py) and the mappings a person confirms (sync/engine/mappings.py) both start.

A bill is read from the payments PaySync stored against it (`group_by_bill`) and from the Bill table
the bill lookups fill (`read_bills`). Its Procore vendor is found as matching finds it (the Procore
vendor whose origin id is the QuickBooks ListID, else the same name), and failing both by names
alike once case, punctuation and company suffixes (Inc, LLC, Ltd, Co, Corp…) are set aside
(`find_vendor`). Reads only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from storage.db import chunks, tuple_rows
from storage.models import Bill, BillPaymentApplication, CompanyFile
from sync.engine.currency import application_currency, commitment_currency, currency_hold
from sync.engine.snapshot import (
    ApplicationRow,
    CommitmentRow,
    LinkRow,
    Snapshot,
    VendorRow,
    iter_bill_applications,
)

ZERO = Decimal("0.00")


class SeveralBills(Exception):
    """Bills of several company files have the TxnID asked for; the message says which files."""


# ------------------------------------------------------------------------------------------------
# Vendor names as people type them
# ------------------------------------------------------------------------------------------------

_NOT_ALNUM = re.compile(r"[\W_]+")

_SUFFIXES = frozenset(
    {"inc", "incorporated", "llc", "llp", "ltd", "limited", "co", "corp", "corporation", "company", "the"}
)


def _exact_name(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _loose_name(text: str | None) -> str:
    words = _NOT_ALNUM.sub(" ", (text or "").casefold().replace("&", " and ")).split()
    return " ".join(word for word in words if word not in _SUFFIXES)


# ------------------------------------------------------------------------------------------------
# What a bill is, as PaySync read it
# ------------------------------------------------------------------------------------------------


@dataclass
class KnownBill:
    """A QuickBooks bill as PaySync read it: from its payments and, when read, the bill itself."""

    file_key: str
    txn_id: str
    ref_number: str | None = None
    vendor_list_id: str | None = None
    vendor_name: str | None = None
    txn_date: date | None = None
    amount: Decimal | None = None  # the bill's amount (AmountDue), when PaySync read the bill
    open_balance: Decimal | None = None  # open before this payment
    applied: Decimal = ZERO  # what the payments PaySync stored applied to it
    currency: str | None = None  # ISO code, when it can be told
    applications: list[ApplicationRow] = field(default_factory=list)
    links: list[LinkRow | None] = field(default_factory=list)

    @property
    def vendor(self) -> str | None:
        return self.vendor_name or self.vendor_list_id

    @property
    def shown_amount(self) -> Decimal:
        return self.amount if self.amount is not None else self.applied

    @property
    def shown(self) -> str:
        return f"bill {self.ref_number or '(no number)'} (TxnID {self.txn_id})"


def read_bills(pairs: dict[tuple[str, str], KnownBill], reference: Snapshot) -> None:
    """Fill in what the Bill table (read by the bill lookups) and the applications tell."""
    txn_ids = sorted({txn_id for _, txn_id in pairs})
    for chunk in chunks(txn_ids):
        for file_key, txn_id, ref, list_id, name, when, due, open_amount, currency in tuple_rows(
            Bill.select(
                CompanyFile.file_key,
                Bill.txn_id,
                Bill.ref_number,
                Bill.vendor_list_id,
                Bill.vendor_name,
                Bill.txn_date,
                Bill.amount_due,
                Bill.open_amount,
                Bill.currency,
            )
            .join(CompanyFile)
            .where(Bill.txn_id.in_(chunk))
        ):
            bill = pairs.get((str(file_key), str(txn_id)))
            if bill is None:
                continue
            bill.ref_number = bill.ref_number or (str(ref) if ref else None)
            bill.vendor_list_id = bill.vendor_list_id or (str(list_id) if list_id else None)
            bill.vendor_name = bill.vendor_name or (str(name) if name else None)
            bill.txn_date = as_date(when) or bill.txn_date
            bill.amount = as_money(due)
            opened = as_money(open_amount)
            if opened is not None and opened > ZERO:
                bill.open_balance = opened
            if currency and bill.currency is None:
                bill.currency = str(currency).upper()
    apps = {app.application_id: (bill, app) for bill in pairs.values() for app in bill.applications}
    for chunk_ids in chunks(sorted(apps)):
        for app_id, when, remaining in tuple_rows(
            BillPaymentApplication.select(
                BillPaymentApplication.id,
                BillPaymentApplication.bill_txn_date,
                BillPaymentApplication.balance_remaining,
            ).where(BillPaymentApplication.id.in_(chunk_ids))
        ):
            bill, app = apps[int(app_id)]
            bill.txn_date = bill.txn_date or as_date(when)
            left = as_money(remaining)
            if bill.open_balance is None and left is not None:
                bill.open_balance = left + app.amount
    for bill in pairs.values():
        if bill.currency is None and bill.applications:
            code, _ = application_currency(bill.applications[0], reference.currencies)
            bill.currency = code


def as_money(raw: Any) -> Decimal | None:
    if raw is None:
        return None
    if isinstance(raw, Decimal):
        return raw
    return Decimal(int(raw)).scaleb(-2)


def as_date(raw: Any) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, date):
        return raw
    return date.fromisoformat(str(raw)[:10])


def group_by_bill(rows: Iterable[tuple[ApplicationRow, LinkRow | None]]) -> dict[tuple[str, str], KnownBill]:
    bills: dict[tuple[str, str], KnownBill] = {}
    for app, link in rows:
        key = (app.file_key, app.bill_txn_id)
        bill = bills.get(key)
        if bill is None:
            bill = bills[key] = KnownBill(file_key=app.file_key, txn_id=app.bill_txn_id)
        bill.applications.append(app)
        bill.links.append(link)
        bill.applied += app.amount
        bill.ref_number = bill.ref_number or app.bill_ref_number
        bill.vendor_list_id = bill.vendor_list_id or app.vendor_list_id
        bill.vendor_name = bill.vendor_name or app.vendor_name
    return bills


# ------------------------------------------------------------------------------------------------
# The bill's vendor in Procore
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VendorFound:
    """The Procore vendor(s) a bill's vendor is, and how they were found."""

    ids: frozenset[int]
    name: str
    how: str  # how the Procore vendor was found, in words


def find_vendor(bill: KnownBill, vendors: list[VendorRow]) -> VendorFound | None:
    """The bill's vendor in Procore: linked by origin id, else the same name (as matching), else
    names alike once suffixes and punctuation are set aside."""
    list_id = (bill.vendor_list_id or "").strip()
    linked = [v for v in vendors if list_id and v.origin_id and v.origin_id.strip() == list_id]
    if linked:
        return VendorFound(frozenset(v.id for v in linked), linked[0].name, "linked by origin id")
    name = _exact_name(bill.vendor_name)
    same = [v for v in vendors if name and _exact_name(v.name) == name]
    if same:
        return VendorFound(frozenset(v.id for v in same), same[0].name, "same name")
    loose = _loose_name(bill.vendor_name)
    alike = [v for v in vendors if loose and _loose_name(v.name) == loose]
    if alike:
        return VendorFound(
            frozenset(v.id for v in alike),
            alike[0].name,
            f"names alike once case, punctuation and company suffixes are set aside (QuickBooks says "
            f"{bill.vendor_name!r}); no vendor link between them",
        )
    return None


# ------------------------------------------------------------------------------------------------
# The bill's payments and a commitment's currency
# ------------------------------------------------------------------------------------------------


def currency_refusal(bill: KnownBill, commitment: CommitmentRow | None, reference: Snapshot) -> str | None:
    """Why the bill's payments cannot go to this commitment in their currency, or None."""
    for app in bill.applications:
        held = currency_hold(app, commitment, reference.currencies)
        if held is not None:
            return held
    if not bill.applications and bill.currency:
        wanted = commitment_currency(commitment, reference.currencies)
        if bill.currency != wanted:
            return f"the bill is in {bill.currency} but the commitment is in {wanted}"
    return None


def one_bill(bill_txn_id: str, reference: Snapshot, file_key: str | None = None) -> KnownBill | None:
    """The bill with this TxnID (of company file `file_key`, when given) as PaySync read it (its
    payments, or the bill itself), or None. Raises SeveralBills when two company files have a bill
    with this TxnID and no file was named (TxnIDs are unique only within a file)."""
    bills = group_by_bill(iter_bill_applications(bill_txn_id, unplaced_only=False))
    for (found_key,) in tuple_rows(
        Bill.select(CompanyFile.file_key).join(CompanyFile).where(Bill.txn_id == bill_txn_id)
    ):
        bills.setdefault(
            (str(found_key), bill_txn_id), KnownBill(file_key=str(found_key), txn_id=bill_txn_id)
        )
    if file_key is not None:
        bills = {key: bill for key, bill in bills.items() if key[0] == file_key}
    if not bills:
        return None
    if len(bills) > 1:
        files = ", ".join(sorted(file_key for file_key, _ in bills))
        raise SeveralBills(
            f"Bills of several company files ({files}) have the TxnID {bill_txn_id}; name the company file "
            "with --company KEY"
        )
    read_bills(bills, reference)
    return next(iter(bills.values()))
