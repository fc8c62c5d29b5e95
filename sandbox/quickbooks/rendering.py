"""Writing answers: Rs elements with their status attributes, and each Ret element's children in
the exact order of the qbXML 13.0 schema (the tests validate them against ``qbxmlops130.xsd``):
one writer per kind of record. The output is built as a list of lines and joined once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sandbox.quickbooks.books import Books
from sandbox.quickbooks.clock import printed_time
from sandbox.quickbooks.currencies import Currency
from sandbox.quickbooks.money import float_text, in_home_currency, money
from sandbox.quickbooks.records import (
    BILL_TXN_TYPE,
    CREDIT_TXN_TYPE,
    PAYMENT_TXN_TYPES,
    Bill,
    DeletedTxn,
    ListObject,
    Payment,
    Vendor,
    VendorCredit,
)

STATUS_OK_MESSAGE: Final = "Status OK"
NO_MATCH_MESSAGE: Final = "A query request did not find a matching object in QuickBooks"


def text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attribute(value: str) -> str:
    return text(value).replace('"', "&quot;")


def write_ref(lines: list[str], tag: str, ref: ListObject) -> None:
    lines.append(f"<{tag}>")
    lines.append(f"<ListID>{text(ref.list_id)}</ListID>")
    lines.append(f"<FullName>{text(ref.full_name)}</FullName>")
    lines.append(f"</{tag}>")


def status_attributes(
    request_id: str | None,
    code: int,
    message: str,
    *,
    ret_count: int | None = None,
    iterator_remaining: int | str | None = None,
    iterator_id: str | None = None,
) -> str:
    parts = []
    if request_id is not None:
        parts.append(f' requestID="{attribute(request_id)}"')
    parts.append(
        f' statusCode="{code}" statusSeverity="{_severity(code)}" statusMessage="{attribute(message)}"'
    )
    if ret_count is not None:
        parts.append(f' retCount="{ret_count}"')
    if iterator_remaining is not None:
        parts.append(f' iteratorRemainingCount="{attribute(str(iterator_remaining))}"')
    if iterator_id is not None:
        parts.append(f' iteratorID="{attribute(iterator_id)}"')
    return "".join(parts)


def _severity(code: int) -> str:
    # NOTES §8: 0-499 Info, 500-999 Warn(ing), 1000+ Error. Captures spell the middle one "Warn".
    if code < 500:
        return "Info"
    if code < 1000:
        return "Warn"
    return "Error"


def empty_rs(
    tag: str,
    request_id: str | None,
    code: int,
    message: str,
    *,
    ret_count: int | None = None,
    iterator_remaining: int | str | None = None,
    iterator_id: str | None = None,
) -> list[str]:
    attributes = status_attributes(
        request_id,
        code,
        message,
        ret_count=ret_count,
        iterator_remaining=iterator_remaining,
        iterator_id=iterator_id,
    )
    return [f"<{tag}{attributes} />"]


def wanted_elements(include_ret_elements: Iterable[str] | None) -> Callable[[str], bool]:
    if include_ret_elements is None:
        return lambda _name: True
    names = frozenset(include_ret_elements)
    return names.__contains__


# --------------------------------------------------------------------------------------------
# Ret elements: each writer appends one record's children (its caller writes the Ret tags).


@dataclass(frozen=True)
class RetContext:
    """What a writer needs besides the record: the books (for linked records and accounts), which
    elements IncludeRetElement asked for, and the query's IncludeLineItems / IncludeLinkedTxns."""

    books: Books
    wanted: Callable[[str], bool]
    include_line_items: bool = False
    include_linked_txns: bool = False


def _write_currency_lines(
    lines: list[str],
    ctx: RetContext,
    code: str,
    rate: Decimal,
    amount: Decimal,
    amount_tag: str,
) -> None:
    """CurrencyRef, ExchangeRate, Amount(Due)InHomeCurrency: in multicurrency files only."""
    if not ctx.books.multicurrency:
        return
    wanted = ctx.wanted
    currency = ctx.books.currencies.by_code[code]
    if wanted("CurrencyRef"):
        lines.append("<CurrencyRef>")
        lines.append(f"<ListID>{text(currency.list_id)}</ListID>")
        lines.append(f"<FullName>{text(currency.name)}</FullName>")
        lines.append("</CurrencyRef>")
    if wanted("ExchangeRate"):
        lines.append(f"<ExchangeRate>{float_text(rate)}</ExchangeRate>")
    if wanted(amount_tag):
        lines.append(f"<{amount_tag}>{money(in_home_currency(amount, rate))}</{amount_tag}>")


def write_bill_payment(lines: list[str], payment: Payment, ctx: RetContext) -> None:
    # Element order: qbxml130.xsd BillPaymentCheckRet / BillPaymentCreditCardRet (NOTES §2).
    books, wanted = ctx.books, ctx.wanted
    is_check = payment.kind == "check"
    if wanted("TxnID"):
        lines.append(f"<TxnID>{payment.txn_id}</TxnID>")
    if wanted("TimeCreated"):
        lines.append(f"<TimeCreated>{printed_time(payment.time_created)}</TimeCreated>")
    if wanted("TimeModified"):
        lines.append(f"<TimeModified>{printed_time(payment.time_modified)}</TimeModified>")
    if wanted("EditSequence"):
        lines.append(f"<EditSequence>{payment.edit_sequence}</EditSequence>")
    if wanted("TxnNumber"):
        lines.append(f"<TxnNumber>{payment.txn_number}</TxnNumber>")
    if wanted("PayeeEntityRef"):
        write_ref(lines, "PayeeEntityRef", payment.vendor)
    if wanted("APAccountRef"):
        write_ref(lines, "APAccountRef", books.ap_account)
    if wanted("TxnDate"):
        lines.append(f"<TxnDate>{payment.txn_date.isoformat()}</TxnDate>")
    if is_check and wanted("BankAccountRef"):
        write_ref(lines, "BankAccountRef", books.bank_account)
    if not is_check and wanted("CreditCardAccountRef"):
        write_ref(lines, "CreditCardAccountRef", books.credit_card_account)
    if wanted("Amount"):
        lines.append(f"<Amount>{money(payment.amount)}</Amount>")
    _write_currency_lines(
        lines, ctx, payment.currency, payment.exchange_rate, payment.amount, "AmountInHomeCurrency"
    )
    if payment.ref_number and wanted("RefNumber"):
        lines.append(f"<RefNumber>{text(payment.ref_number)}</RefNumber>")
    if payment.memo and wanted("Memo"):
        lines.append(f"<Memo>{text(payment.memo)}</Memo>")
    if is_check and wanted("IsToBePrinted"):
        to_be_printed = "true" if not payment.ref_number and not payment.is_voided else "false"
        lines.append(f"<IsToBePrinted>{to_be_printed}</IsToBePrinted>")
    # Without IncludeLineItems QuickBooks is believed to leave the applications out (NOTES §2,
    # (inferred)); the sandbox does, so a client that forgets the flag sees no bills paid.
    if ctx.include_line_items and wanted("AppliedToTxnRet"):
        for application in payment.applications:
            bill = books.bills[application.bill_txn_id]
            lines.append("<AppliedToTxnRet>")
            lines.append(f"<TxnID>{bill.txn_id}</TxnID>")
            lines.append(f"<TxnType>{BILL_TXN_TYPE}</TxnType>")
            lines.append(f"<TxnDate>{bill.txn_date.isoformat()}</TxnDate>")
            lines.append(f"<RefNumber>{text(bill.ref_number)}</RefNumber>")
            # The bill's balance now, not at payment time (NOTES §2 note, (inferred)).
            lines.append(f"<BalanceRemaining>{money(bill.open_amount)}</BalanceRemaining>")
            # The cash part only; a discount and credits are listed after it (inferred from
            # the field names: "Amount" is what THIS payment paid, NOTES §2).
            lines.append(f"<Amount>{money(application.amount)}</Amount>")
            if application.discount:
                lines.append(f"<DiscountAmount>{money(application.discount)}</DiscountAmount>")
                write_ref(lines, "DiscountAccountRef", books.discount_account())
            for credit_txn_id, used in application.credits:
                _write_credit_link(lines, books.credits[credit_txn_id], used)
            lines.append("</AppliedToTxnRet>")


def _write_credit_link(lines: list[str], credit: VendorCredit, used: Decimal) -> None:
    lines.append("<LinkedTxn>")
    lines.append(f"<TxnID>{credit.txn_id}</TxnID>")
    lines.append(f"<TxnType>{CREDIT_TXN_TYPE}</TxnType>")
    lines.append(f"<TxnDate>{credit.txn_date.isoformat()}</TxnDate>")
    lines.append(f"<RefNumber>{text(credit.ref_number)}</RefNumber>")
    lines.append("<LinkType>AMTTYPE</LinkType>")
    # The credit used on this bill, signed from the bill's side like every linked amount the
    # sandbox prints (NOTES §2: the captured ReceivePaymentRet's LinkedTxn is -100.00 against
    # an applied 100.00), so a credit of 50.00 used shows -50.00 (inferred).
    lines.append(f"<Amount>{money(-used)}</Amount>")
    lines.append("</LinkedTxn>")


def write_bill(lines: list[str], bill: Bill, ctx: RetContext) -> None:
    # Element order: qbxml130.xsd BillRet (NOTES §3; 13.0 has no IsPending / ClassRef).
    books, wanted = ctx.books, ctx.wanted
    if wanted("TxnID"):
        lines.append(f"<TxnID>{bill.txn_id}</TxnID>")
    if wanted("TimeCreated"):
        lines.append(f"<TimeCreated>{printed_time(bill.time_created)}</TimeCreated>")
    if wanted("TimeModified"):
        lines.append(f"<TimeModified>{printed_time(bill.time_modified)}</TimeModified>")
    if wanted("EditSequence"):
        lines.append(f"<EditSequence>{bill.edit_sequence}</EditSequence>")
    if wanted("TxnNumber"):
        lines.append(f"<TxnNumber>{bill.txn_number}</TxnNumber>")
    if wanted("VendorRef"):
        write_ref(lines, "VendorRef", bill.vendor)
    if wanted("APAccountRef"):
        write_ref(lines, "APAccountRef", books.ap_account)
    if wanted("TxnDate"):
        lines.append(f"<TxnDate>{bill.txn_date.isoformat()}</TxnDate>")
    if wanted("DueDate"):
        lines.append(f"<DueDate>{bill.due_date.isoformat()}</DueDate>")
    if wanted("AmountDue"):
        lines.append(f"<AmountDue>{money(bill.amount_due)}</AmountDue>")
    _write_currency_lines(
        lines, ctx, bill.currency, bill.exchange_rate, bill.amount_due, "AmountDueInHomeCurrency"
    )
    if wanted("RefNumber"):
        lines.append(f"<RefNumber>{text(bill.ref_number)}</RefNumber>")
    if wanted("IsPaid"):
        lines.append(f"<IsPaid>{'true' if bill.open_amount == 0 else 'false'}</IsPaid>")
    if ctx.include_linked_txns and wanted("LinkedTxn"):
        for payment_txn_id, applied in bill.applied_by.items():
            payment = books.payments[payment_txn_id]
            lines.append("<LinkedTxn>")
            lines.append(f"<TxnID>{payment.txn_id}</TxnID>")
            lines.append(f"<TxnType>{PAYMENT_TXN_TYPES[payment.kind]}</TxnType>")
            lines.append(f"<TxnDate>{payment.txn_date.isoformat()}</TxnDate>")
            if payment.ref_number:
                lines.append(f"<RefNumber>{text(payment.ref_number)}</RefNumber>")
            lines.append("<LinkType>AMTTYPE</LinkType>")
            # Signed from the other side's view, as in the captured ReceivePaymentRet (NOTES §2).
            lines.append(f"<Amount>{money(-applied)}</Amount>")
            lines.append("</LinkedTxn>")
            # Vendor credits that payment used on this bill are linked to the bill too; the
            # discount is not a transaction, so it has no link (inferred).
            for application in payment.applications:
                if application.bill_txn_id == bill.txn_id:
                    for credit_txn_id, used in application.credits:
                        _write_credit_link(lines, books.credits[credit_txn_id], used)
    if ctx.include_line_items and wanted("ExpenseLineRet"):
        lines.append("<ExpenseLineRet>")
        lines.append(f"<TxnLineID>{bill.expense_line_id}</TxnLineID>")
        write_ref(lines, "AccountRef", books.expense_account)
        lines.append(f"<Amount>{money(bill.amount_due)}</Amount>")
        lines.append("</ExpenseLineRet>")
    if wanted("OpenAmount"):
        lines.append(f"<OpenAmount>{money(bill.open_amount)}</OpenAmount>")


def write_vendor(lines: list[str], vendor: Vendor, ctx: RetContext) -> None:
    # Element order: qbxml130.xsd VendorRet. Every child is optional in 13.0 (minOccurs 0);
    # the sandbox sends what it knows: ListCore, Name, IsActive, CompanyName, NameOnCheck,
    # IsVendorEligibleFor1099, Balance and, in multicurrency files only, CurrencyRef.
    books, wanted = ctx.books, ctx.wanted
    if wanted("ListID"):
        lines.append(f"<ListID>{text(vendor.list_id)}</ListID>")
    if wanted("TimeCreated"):
        lines.append(f"<TimeCreated>{printed_time(vendor.time_created)}</TimeCreated>")
    if wanted("TimeModified"):
        lines.append(f"<TimeModified>{printed_time(vendor.time_modified)}</TimeModified>")
    if wanted("EditSequence"):
        lines.append(f"<EditSequence>{text(vendor.edit_sequence)}</EditSequence>")
    if wanted("Name"):
        lines.append(f"<Name>{text(vendor.full_name)}</Name>")
    if wanted("IsActive"):
        lines.append("<IsActive>true</IsActive>")
    if wanted("CompanyName"):
        lines.append(f"<CompanyName>{text(vendor.full_name)}</CompanyName>")
    if wanted("NameOnCheck"):
        lines.append(f"<NameOnCheck>{text(vendor.full_name)}</NameOnCheck>")
    if wanted("IsVendorEligibleFor1099"):
        lines.append("<IsVendorEligibleFor1099>false</IsVendorEligibleFor1099>")
    if wanted("Balance"):
        lines.append(f"<Balance>{money(books.vendor_balance(vendor))}</Balance>")
    if books.multicurrency and wanted("CurrencyRef"):
        currency = books.currencies.by_code[vendor.currency]
        lines.append("<CurrencyRef>")
        lines.append(f"<ListID>{text(currency.list_id)}</ListID>")
        lines.append(f"<FullName>{text(currency.name)}</FullName>")
        lines.append("</CurrencyRef>")


def write_currency(lines: list[str], currency: Currency, ctx: RetContext) -> None:
    # Element order: qbxml130.xsd CurrencyRet.
    wanted = ctx.wanted
    if wanted("ListID"):
        lines.append(f"<ListID>{text(currency.list_id)}</ListID>")
    if wanted("TimeCreated"):
        lines.append(f"<TimeCreated>{printed_time(currency.time_created)}</TimeCreated>")
    if wanted("TimeModified"):
        lines.append(f"<TimeModified>{printed_time(currency.time_modified)}</TimeModified>")
    if wanted("EditSequence"):
        lines.append(f"<EditSequence>{text(currency.edit_sequence)}</EditSequence>")
    if wanted("Name"):
        lines.append(f"<Name>{text(currency.name)}</Name>")
    if wanted("IsActive"):
        lines.append("<IsActive>true</IsActive>")
    if wanted("CurrencyCode"):
        lines.append(f"<CurrencyCode>{currency.code}</CurrencyCode>")
    if wanted("IsUserDefinedCurrency"):
        lines.append("<IsUserDefinedCurrency>false</IsUserDefinedCurrency>")
    # The home currency and a currency whose rate was never set carry no rate (inferred).
    if currency.code != ctx.books.currencies.home and currency.exchange_rate is not None:
        if wanted("ExchangeRate"):
            lines.append(f"<ExchangeRate>{float_text(currency.exchange_rate)}</ExchangeRate>")
        if currency.as_of is not None and wanted("AsOfDate"):
            lines.append(f"<AsOfDate>{currency.as_of.isoformat()}</AsOfDate>")


def write_vendor_credit(lines: list[str], credit: VendorCredit, ctx: RetContext) -> None:
    # Element order: qbxml130.xsd VendorCreditRet. The sandbox keeps no memo, tax or item lines.
    books, wanted = ctx.books, ctx.wanted
    if wanted("TxnID"):
        lines.append(f"<TxnID>{credit.txn_id}</TxnID>")
    if wanted("TimeCreated"):
        lines.append(f"<TimeCreated>{printed_time(credit.time_created)}</TimeCreated>")
    if wanted("TimeModified"):
        lines.append(f"<TimeModified>{printed_time(credit.time_modified)}</TimeModified>")
    if wanted("EditSequence"):
        lines.append(f"<EditSequence>{credit.edit_sequence}</EditSequence>")
    if wanted("TxnNumber"):
        lines.append(f"<TxnNumber>{credit.txn_number}</TxnNumber>")
    if wanted("VendorRef"):
        write_ref(lines, "VendorRef", credit.vendor)
    if wanted("APAccountRef"):
        write_ref(lines, "APAccountRef", books.ap_account)
    if wanted("TxnDate"):
        lines.append(f"<TxnDate>{credit.txn_date.isoformat()}</TxnDate>")
    if wanted("CreditAmount"):
        lines.append(f"<CreditAmount>{money(credit.amount)}</CreditAmount>")
    _write_currency_lines(
        lines, ctx, credit.currency, credit.exchange_rate, credit.amount, "CreditAmountInHomeCurrency"
    )
    if wanted("RefNumber"):
        lines.append(f"<RefNumber>{text(credit.ref_number)}</RefNumber>")
    if ctx.include_linked_txns and wanted("LinkedTxn"):
        # The bills the credit was used on, each as the bill shows the credit: AMTTYPE, the amount
        # used signed from the other side's view (inferred, like every linked amount here).
        for payment_txn_id in credit.used_by:
            for application in books.payments[payment_txn_id].applications:
                for credit_txn_id, used in application.credits:
                    if credit_txn_id == credit.txn_id:
                        bill = books.bills[application.bill_txn_id]
                        lines.append("<LinkedTxn>")
                        lines.append(f"<TxnID>{bill.txn_id}</TxnID>")
                        lines.append(f"<TxnType>{BILL_TXN_TYPE}</TxnType>")
                        lines.append(f"<TxnDate>{bill.txn_date.isoformat()}</TxnDate>")
                        lines.append(f"<RefNumber>{text(bill.ref_number)}</RefNumber>")
                        lines.append("<LinkType>AMTTYPE</LinkType>")
                        lines.append(f"<Amount>{money(-used)}</Amount>")
                        lines.append("</LinkedTxn>")
    if ctx.include_line_items and wanted("ExpenseLineRet"):
        lines.append("<ExpenseLineRet>")
        lines.append(f"<TxnLineID>{credit.expense_line_id}</TxnLineID>")
        write_ref(lines, "AccountRef", books.expense_account)
        lines.append(f"<Amount>{money(credit.amount)}</Amount>")
        lines.append("</ExpenseLineRet>")
    if wanted("OpenAmount"):
        lines.append(f"<OpenAmount>{money(credit.remaining)}</OpenAmount>")


def write_txn_deleted(lines: list[str], deleted: DeletedTxn, ctx: RetContext) -> None:
    # Element order: qbxml130.xsd TxnDeletedRet.
    wanted = ctx.wanted
    if wanted("TxnDelType"):
        lines.append(f"<TxnDelType>{deleted.del_type}</TxnDelType>")
    if wanted("TxnID"):
        lines.append(f"<TxnID>{deleted.txn_id}</TxnID>")
    if wanted("TimeCreated"):
        lines.append(f"<TimeCreated>{printed_time(deleted.time_created)}</TimeCreated>")
    if wanted("TimeDeleted"):
        lines.append(f"<TimeDeleted>{printed_time(deleted.time_deleted)}</TimeDeleted>")
    if deleted.ref_number and wanted("RefNumber"):
        lines.append(f"<RefNumber>{text(deleted.ref_number)}</RefNumber>")
