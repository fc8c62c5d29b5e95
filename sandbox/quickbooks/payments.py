"""Pay Bills: entering, voiding, editing and deleting bill payments, and what they do to the bills
they pay and the vendor credits they use. Every function here runs under the company file's lock
and changes its ``Books``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sandbox.quickbooks.books import Books
from sandbox.quickbooks.clock import local_wall_clock
from sandbox.quickbooks.money import ZERO, checked_amount, money
from sandbox.quickbooks.records import (
    MAX_MEMO,
    MAX_PAYMENT_REF,
    PAYMENT_TXN_TYPES,
    Application,
    DeletedTxn,
    Payment,
    PaymentKind,
    Vendor,
)


def check_payment_fields(check_number: str | None, memo: str | None) -> None:
    if check_number is not None and len(check_number) > MAX_PAYMENT_REF:
        raise ValueError(f"a payment RefNumber has at most {MAX_PAYMENT_REF} characters: {check_number!r}")
    if memo is not None and len(memo) > MAX_MEMO:
        raise ValueError(f"a memo has at most {MAX_MEMO} characters")


def enter_payment(
    books: Books,
    vendor: str,
    applications: list[tuple[str, Decimal]],
    kind: PaymentKind,
    check_number: str | None,
    txn_date: date | None,
    memo: str | None,
    discounts: dict[str, Decimal] | None,
    credits: dict[str, list[tuple[str, Decimal]]] | None,
) -> str:
    """``SandboxCompanyFile.pay_bills``: a new payment, its bills and credits updated."""
    if kind not in PAYMENT_TXN_TYPES:
        raise ValueError(f"kind must be 'check' or 'credit_card', not {kind!r}")
    check_payment_fields(check_number, memo)
    found_vendor = books.vendor(vendor)
    checked = checked_applications(
        books, found_vendor, applications, replacing=None, discounts=discounts, credits=credits
    )
    payment = Payment(
        txn_id=books.new_txn_id(),
        kind=kind,
        txn_number=books.new_txn_number(),
        vendor=found_vendor,
        txn_date=txn_date or local_wall_clock(books.now).date(),
        ref_number=check_number,
        memo=memo,
        applications=checked,
        time_created=books.now,
        time_modified=books.now,
        edit_sequence=str(books.now),
        currency=found_vendor.currency,
        exchange_rate=books.currencies.rate(found_vendor.currency),
    )
    books.payments[payment.txn_id] = payment
    books.payment_index[kind].touch(payment.txn_id, payment.time_modified)
    _apply(books, payment)
    for application in checked:
        books.stamp_bill(books.bills[application.bill_txn_id])
    _stamp_credits(books, _credits_used(payment))
    return payment.txn_id


def void_payment(books: Books, txn_id: str) -> None:
    """``SandboxCompanyFile.void_payment``."""
    payment = books.payment(txn_id)
    if payment.is_voided:
        raise ValueError(f"payment {txn_id} is already void")
    released = _credits_used(payment)
    payment.is_voided = True
    payment.memo = f"VOID: {payment.memo}" if payment.memo else "VOID:"
    for application in payment.applications:
        for credit_txn_id, _used in application.credits:
            books.credits[credit_txn_id].used_by.pop(payment.txn_id, None)
        application.amount = Decimal("0.00")
        application.discount = ZERO
        application.credits = []
        bill = books.bills[application.bill_txn_id]
        bill.applied_by[payment.txn_id] = Decimal("0.00")
        bill.reduced_by.pop(payment.txn_id, None)
        books.stamp_bill(bill)
    books.stamp_payment(payment)
    _stamp_credits(books, released)


def edit_payment(
    books: Books,
    txn_id: str,
    applications: list[tuple[str, Decimal]] | None,
    check_number: str | None,
    txn_date: date | None,
    memo: str | None,
    discounts: dict[str, Decimal] | None,
    credits: dict[str, list[tuple[str, Decimal]]] | None,
) -> None:
    """``SandboxCompanyFile.edit_payment``."""
    check_payment_fields(check_number, memo)
    if applications is None and (discounts is not None or credits is not None):
        raise ValueError("discounts and credits can only change together with the applications")
    payment = books.payment(txn_id)
    if payment.is_voided:
        raise ValueError(f"payment {txn_id} is void; the sandbox does not edit void payments")
    touched_credits = _credits_used(payment)
    if applications is not None:
        checked = checked_applications(
            books, payment.vendor, applications, replacing=payment, discounts=discounts, credits=credits
        )
        touched_bills = {application.bill_txn_id for application in payment.applications}
        _unapply(books, payment)
        payment.applications = checked
        _apply(books, payment)
        for application in checked:
            touched_bills.add(application.bill_txn_id)
        for bill_txn_id in sorted(touched_bills):
            books.stamp_bill(books.bills[bill_txn_id])
    if check_number is not None:
        payment.ref_number = check_number
    if txn_date is not None:
        payment.txn_date = txn_date
    if memo is not None:
        payment.memo = memo
    books.stamp_payment(payment)
    if applications is not None:
        _stamp_credits(books, touched_credits | _credits_used(payment))


def delete_payment(books: Books, txn_id: str) -> None:
    """``SandboxCompanyFile.delete_payment``."""
    payment = books.payment(txn_id)
    del books.payments[txn_id]
    books.payment_index[payment.kind].discard(txn_id)
    _unapply(books, payment)
    for application in payment.applications:
        books.stamp_bill(books.bills[application.bill_txn_id])
    _stamp_credits(books, _credits_used(payment))
    books.deleted[payment.txn_id] = DeletedTxn(
        del_type=PAYMENT_TXN_TYPES[payment.kind],
        txn_id=payment.txn_id,
        time_created=payment.time_created,
        time_deleted=books.now,
        ref_number=payment.ref_number,
    )
    books.deletion_log.append(payment.txn_id, books.now)
    # Iterators hold TxnIDs; a deleted one is simply skipped when its page is read.


def _apply(books: Books, payment: Payment) -> None:
    """Records a payment's applications on its bills and the credits it uses."""
    for application in payment.applications:
        bill = books.bills[application.bill_txn_id]
        bill.applied_by[payment.txn_id] = application.amount
        if application.reduction:
            bill.reduced_by[payment.txn_id] = application.reduction
        for credit_txn_id, used in application.credits:
            credit = books.credits[credit_txn_id]
            credit.used_by[payment.txn_id] = credit.used_by.get(payment.txn_id, ZERO) + used


def _unapply(books: Books, payment: Payment) -> None:
    for application in payment.applications:
        bill = books.bills[application.bill_txn_id]
        bill.applied_by.pop(payment.txn_id, None)
        bill.reduced_by.pop(payment.txn_id, None)
        for credit_txn_id, _used in application.credits:
            books.credits[credit_txn_id].used_by.pop(payment.txn_id, None)


def _credits_used(payment: Payment) -> set[str]:
    return {credit_txn_id for a in payment.applications for credit_txn_id, _used in a.credits}


def _stamp_credits(books: Books, credit_txn_ids: set[str]) -> None:
    for credit_txn_id in sorted(credit_txn_ids):
        books.stamp_credit(books.credits[credit_txn_id])


def checked_applications(
    books: Books,
    vendor: Vendor,
    applications: list[tuple[str, Decimal]],
    *,
    replacing: Payment | None,
    discounts: dict[str, Decimal] | None = None,
    credits: dict[str, list[tuple[str, Decimal]]] | None = None,
) -> list[Application]:
    """A payment's (bill, cash) applications checked against the bills' open balances, with the
    discounts and vendor credits taken on them. ``replacing``: the payment being edited, whose own
    applications count as open again."""
    if not applications:
        raise ValueError("a bill payment must pay at least one bill")
    discounts = discounts or {}
    credits = credits or {}
    paid_bills = {bill_txn_id for bill_txn_id, _amount in applications}
    for bill_txn_id in [*discounts, *credits]:
        if bill_txn_id not in paid_bills:
            raise ValueError(f"bill {bill_txn_id} has a discount or credit but is not in the applications")
    checked: list[Application] = []
    seen: set[str] = set()
    credit_totals: dict[str, Decimal] = {}
    for bill_txn_id, amount in applications:
        bill = books.bills.get(bill_txn_id)
        if bill is None:
            raise KeyError(f"no bill {bill_txn_id}")
        if bill.vendor is not vendor:
            raise ValueError(f"bill {bill_txn_id} belongs to {bill.vendor.full_name}, not {vendor.full_name}")
        if bill_txn_id in seen:
            raise ValueError(f"bill {bill_txn_id} appears twice in one payment")
        seen.add(bill_txn_id)
        discount = checked_amount(discounts[bill_txn_id]) if bill_txn_id in discounts else ZERO
        used_credits: list[tuple[str, Decimal]] = []
        for credit_txn_id, used in credits.get(bill_txn_id, []):
            credit = books.credit(credit_txn_id)
            if credit.vendor is not vendor:
                raise ValueError(
                    f"credit {credit_txn_id} belongs to {credit.vendor.full_name}, not {vendor.full_name}"
                )
            used = checked_amount(used)
            credit_totals[credit_txn_id] = credit_totals.get(credit_txn_id, ZERO) + used
            used_credits.append((credit_txn_id, used))
        # Cash may be 0.00 only when a discount or credit settles the bill instead (inferred).
        amount = checked_amount(amount, allow_zero=bool(discount or used_credits))
        available = bill.open_amount
        if replacing is not None:
            available += bill.applied_by.get(replacing.txn_id, Decimal("0.00"))
            available += bill.reduced_by.get(replacing.txn_id, ZERO)
        settled = amount + discount + sum((used for _c, used in used_credits), ZERO)
        if settled > available:
            raise ValueError(
                f"bill {bill_txn_id} has only {money(available)} open; cannot apply {money(settled)}"
            )
        checked.append(
            Application(bill_txn_id=bill_txn_id, amount=amount, discount=discount, credits=used_credits)
        )
    for credit_txn_id, total in credit_totals.items():
        credit = books.credits[credit_txn_id]
        left = credit.remaining
        if replacing is not None:
            left += credit.used_by.get(replacing.txn_id, ZERO)
        if total > left:
            raise ValueError(f"credit {credit_txn_id} has only {money(left)} left; cannot use {money(total)}")
    return checked
