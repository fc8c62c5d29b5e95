"""SandboxCompanyFile: one QuickBooks Desktop company file, and every operation a test, the demo or
the Web Connector emulator drives: building it (vendors, currencies, bills, credits), paying,
voiding, editing and deleting bill payments, reading it back, injecting faults, and answering qbXML.
It keeps the lock; the records live in its ``Books`` and the answering in its request processor.
"""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal

from sandbox.quickbooks import payments
from sandbox.quickbooks.answers import RequestProcessor
from sandbox.quickbooks.books import Books
from sandbox.quickbooks.clock import QUICKBOOKS_TIME_ZONE, epoch_of_wall_clock, local_wall_clock, printed_time
from sandbox.quickbooks.currencies import checked_rate
from sandbox.quickbooks.errors import (
    CONNECTION_ERROR_HRESULT,
    CONNECTION_ERROR_MESSAGE,
    QuickBooksConnectionError,
)
from sandbox.quickbooks.faults import Faults, check_element_path
from sandbox.quickbooks.money import checked_amount
from sandbox.quickbooks.queries import QUERY_KINDS
from sandbox.quickbooks.records import (
    MAX_BILL_REF,
    MAX_VENDOR_NAME,
    BillSnapshot,
    DeletedPaymentSnapshot,
    ListObject,
    PaymentKind,
    PaymentSnapshot,
)
from sandbox.quickbooks.requests import parse_document
from sandbox.quickbooks.versions import (
    DEFAULT_PRODUCT_YEAR,
    check_requested_version,
    default_product_name,
    highest_qbxml_version_of,
    supported_qbxml_versions,
    version_number,
)


class SandboxCompanyFile:
    """An in-memory QuickBooks Desktop company file with a simulated clock.

    Thread-safe: the Web Connector emulator, the project's server thread and the test may all
    touch it. Every change stamps TimeModified with the clock and gives the object a new
    EditSequence; call :meth:`advance` to move time on between changes.

    ``multicurrency`` turns QuickBooks' multicurrency feature on (a currency list, a currency per
    vendor, exchange rates on every transaction); ``home_currency`` is the ISO code of the home
    currency. ``product_year`` makes the file act as that year's QuickBooks: its ProductName,
    MajorVersion and the qbXML versions it supports (:func:`highest_qbxml_version_of`).
    """

    def __init__(
        self,
        country: str = "US",
        company_name: str = "Summit Builders LLC",
        product_name: str | None = None,
        clock_start: datetime = datetime(2026, 11, 2, 8, 0, 0),
        *,
        file_name: str | None = None,
        multicurrency: bool = False,
        home_currency: str = "USD",
        product_year: int = DEFAULT_PRODUCT_YEAR,
    ) -> None:
        self.country = country.upper()
        self.company_name = company_name
        self.product_year = product_year
        self._highest_version = highest_qbxml_version_of(product_year)
        self.product_name = product_name or default_product_name(self.country, product_year)
        self._file_name = file_name or _default_file_name(company_name)
        if clock_start.tzinfo is not None:
            clock_start = clock_start.astimezone(QUICKBOOKS_TIME_ZONE).replace(tzinfo=None)
        self._lock = threading.RLock()
        self._books = Books(
            epoch_of_wall_clock(clock_start), multicurrency=multicurrency, home_currency=home_currency
        )
        self._faults = Faults()
        self._processor = RequestProcessor(self._books, self._faults, self)
        self.connection_open = False
        self.connections_opened = 0

    # ---- identity ------------------------------------------------------------------------

    @property
    def company_file_path(self) -> str:
        return "C:\\Users\\Public\\Documents\\Intuit\\QuickBooks\\Company Files\\" + self._file_name

    @property
    def qbxml_country(self) -> str:
        return self.country

    @property
    def supported_qbxml_versions(self) -> list[str]:
        return supported_qbxml_versions(self.country, self._highest_version)

    @property
    def highest_qbxml_version(self) -> tuple[int, int]:
        """(major, minor) of the newest qbXML this QuickBooks supports, e.g. (16, 0) or (12, 0)."""
        return version_number(self._highest_version)

    @property
    def product_major_version(self) -> str:
        """HostRet/MajorVersion: 24 for QuickBooks 2014 (NOTES §5), so year - 1990 (inferred
        for other years; 2024 gives the module's PRODUCT_MAJOR_VERSION, 34)."""
        return str(self.product_year - 1990)

    @property
    def multicurrency(self) -> bool:
        return self._books.multicurrency

    @multicurrency.setter
    def multicurrency(self, value: bool) -> None:
        self._books.multicurrency = value

    @property
    def home_currency(self) -> str:
        return self._books.currencies.home

    @property
    def ap_account(self) -> ListObject:
        return self._books.ap_account

    @property
    def bank_account(self) -> ListObject:
        return self._books.bank_account

    @property
    def credit_card_account(self) -> ListObject:
        return self._books.credit_card_account

    @property
    def expense_account(self) -> ListObject:
        return self._books.expense_account

    # ---- clock ---------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The QuickBooks machine's local wall-clock time (naive)."""
        return local_wall_clock(self._books.now)

    @property
    def now_printed(self) -> str:
        """The clock as QuickBooks would print it in TimeModified (offset always -05:00)."""
        return printed_time(self._books.now)

    def advance(
        self, minutes: float = 0, *, seconds: float = 0, hours: float = 0, days: float = 0
    ) -> datetime:
        """Move the clock forward in real elapsed time (so crossing a DST change moves the wall
        clock by an hour more or less). Returns the new local wall-clock time."""
        step = round(timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds())
        if step < 0:
            raise ValueError("the QuickBooks clock only moves forward")
        with self._lock:
            self._books.now += step
            return self.now

    # ---- building the company file -------------------------------------------------------

    def add_vendor(self, name: str, currency: str | None = None) -> str:
        """Adds a vendor and returns its ListID.

        ``currency`` is the vendor's ISO currency code (default: the home currency). Only a
        multicurrency file accepts a foreign currency; the vendor's bills, credits and payments are
        all in its currency, as in QuickBooks.
        """
        name = name.strip()
        if not name or len(name) > MAX_VENDOR_NAME:
            raise ValueError(f"a vendor name must have 1 to {MAX_VENDOR_NAME} characters: {name!r}")
        with self._lock:
            return self._books.add_vendor(name, currency)

    def rename_currency(self, code: str, new_name: str) -> None:
        """Gives a currency another name (users can edit currency names in QuickBooks). Every
        CurrencyRef then carries the new name; the ISO code stays."""
        with self._lock:
            self._books.currencies.rename(code, new_name, self._books.now)

    def set_exchange_rate(self, code: str, rate: Decimal) -> None:
        """Sets a foreign currency's exchange rate (units of home currency per unit of it). Bills,
        credits and payments entered afterwards keep the rate in force when they were entered;
        earlier ones keep theirs, as QuickBooks keeps an ExchangeRate per transaction."""
        checked_rate(rate)
        with self._lock:
            if not self._books.multicurrency:
                raise ValueError("exchange rates need multicurrency, which is off in this file")
            self._books.currencies.set_rate(code, rate, self._books.now, self.now.date())

    def exchange_rate(self, code: str) -> Decimal:
        """The rate now in force: 1 for the home currency and for a rate never set (inferred)."""
        with self._lock:
            return self._books.currencies.rate(code)

    def currency_list_id(self, code: str) -> str:
        with self._lock:
            return self._books.currencies.get(code).list_id

    def add_vendor_credit(
        self, vendor: str, ref_number: str, amount: Decimal, txn_date: date | None = None
    ) -> str:
        """Adds a vendor credit (in the vendor's currency) that a later payment can use; returns
        its TxnID. ``vendor`` is the vendor's name or ListID. VendorCreditQueryRq answers it."""
        if len(ref_number) > MAX_BILL_REF:
            raise ValueError(f"a credit RefNumber has at most {MAX_BILL_REF} characters: {ref_number!r}")
        amount = checked_amount(amount)
        with self._lock:
            return self._books.add_credit(vendor, ref_number, amount, txn_date or self.now.date())

    def vendor_credit_remaining(self, txn_id: str) -> Decimal:
        """What is left of a vendor credit after the payments that used it."""
        with self._lock:
            return self._books.credit(txn_id).remaining

    def add_bill(self, vendor: str, ref_number: str, amount: Decimal, txn_date: date | None = None) -> str:
        """Adds a bill (as if entered from a Procore subcontractor invoice); returns its TxnID.

        ``vendor`` is the vendor's name or ListID.
        """
        if len(ref_number) > MAX_BILL_REF:
            raise ValueError(f"a bill RefNumber has at most {MAX_BILL_REF} characters: {ref_number!r}")
        amount = checked_amount(amount)
        with self._lock:
            return self._books.add_bill(vendor, ref_number, amount, txn_date or self.now.date())

    # ---- bill payments (payments.py) -----------------------------------------------------------

    def pay_bills(
        self,
        vendor: str,
        applications: list[tuple[str, Decimal]],
        kind: PaymentKind = "check",
        check_number: str | None = None,
        txn_date: date | None = None,
        memo: str | None = None,
        *,
        discounts: dict[str, Decimal] | None = None,
        credits: dict[str, list[tuple[str, Decimal]]] | None = None,
    ) -> str:
        """Enters a bill payment (Pay Bills) and returns its TxnID.

        ``applications`` lists (bill TxnID, cash applied); an amount below the bill's open
        balance is a partial payment, several bills make a multi-bill payment. ``check_number`` is
        the RefNumber (for a card payment, its reference). A check without a number is "to be
        printed".

        ``discounts`` maps a bill TxnID to the early-payment discount taken on it, ``credits`` maps
        a bill TxnID to the vendor credits used on it, as (credit TxnID, amount). Both take the
        bill's open balance down with the cash, but the payment's Amount is the cash only. A bill
        settled entirely by a discount or credits may have 0.00 cash.
        """
        with self._lock:
            return payments.enter_payment(
                self._books, vendor, applications, kind, check_number, txn_date, memo, discounts, credits
            )

    def void_payment(self, txn_id: str) -> None:
        """Voids a payment the way QuickBooks does (NOTES §7): it stays, with Amount 0.00 and the
        memo prefixed "VOID: "; its applications stay with Amount 0.00 (one of the two
        possibilities NOTES names, (inferred)); the bills it paid are open again. Discounts and
        vendor credits it used are released: the applications lose them and the credits can be
        used again (inferred)."""
        with self._lock:
            payments.void_payment(self._books, txn_id)

    def edit_payment(
        self,
        txn_id: str,
        applications: list[tuple[str, Decimal]] | None = None,
        check_number: str | None = None,
        txn_date: date | None = None,
        memo: str | None = None,
        *,
        discounts: dict[str, Decimal] | None = None,
        credits: dict[str, list[tuple[str, Decimal]]] | None = None,
    ) -> None:
        """Edits a payment in place: same TxnID, new EditSequence and TimeModified. Arguments left
        as None stay unchanged; ``applications`` replaces the whole list, together with its
        ``discounts`` and ``credits`` (as in :meth:`pay_bills`; omitted = none)."""
        with self._lock:
            payments.edit_payment(
                self._books, txn_id, applications, check_number, txn_date, memo, discounts, credits
            )

    def delete_payment(self, txn_id: str) -> None:
        """Deletes a payment: it disappears from queries, TxnDeletedQuery reports it, and the bills
        it paid are open again (NOTES §4)."""
        with self._lock:
            payments.delete_payment(self._books, txn_id)

    # ---- reading the company file (tests, demo) -------------------------------------------

    def payment(self, txn_id: str) -> PaymentSnapshot:
        with self._lock:
            return self._books.payment(txn_id).snapshot()

    def payments(self) -> list[PaymentSnapshot]:
        """Every payment that exists, in TxnID creation order."""
        with self._lock:
            return [payment.snapshot() for payment in self._books.payments.values()]

    def bill(self, txn_id: str) -> BillSnapshot:
        with self._lock:
            return self._books.bill(txn_id).snapshot()

    def bills(self) -> list[BillSnapshot]:
        with self._lock:
            return [bill.snapshot() for bill in self._books.bills.values()]

    def deleted_payments(self) -> list[DeletedPaymentSnapshot]:
        with self._lock:
            return [deleted.snapshot() for deleted in self._books.deleted.values()]

    def vendor_list_id(self, name: str) -> str:
        with self._lock:
            return self._books.vendor(name).list_id

    # ---- connection and fault injection (faults.py) --------------------------------------------

    def open_connection(self) -> None:
        """The Web Connector opens a QuickBooks session (BeginSession)."""
        with self._lock:
            if self._faults.refusal is not None:
                raise QuickBooksConnectionError(*self._faults.refusal)
            self.connection_open = True
            self.connections_opened += 1

    def close_connection(self) -> None:
        """The session ends; QuickBooks forgets every iterator (NOTES §8 "Iterators")."""
        with self._lock:
            self.connection_open = False
            self._processor.iterators.clear()

    def refuse_connections(
        self, hresult: str = CONNECTION_ERROR_HRESULT, message: str = CONNECTION_ERROR_MESSAGE
    ) -> None:
        """Make :meth:`open_connection` fail (QuickBooks not running, file in use…) until
        :meth:`accept_connections`. The Web Connector then calls connectionError."""
        with self._lock:
            self._faults.refusal = (hresult, message)

    def accept_connections(self) -> None:
        with self._lock:
            self._faults.refusal = None

    def inject_status(self, code: int, times: int = 1, message: str | None = None) -> None:
        """The next ``times`` payment queries (check or credit card) answer only with this status,
        e.g. 3175 (locked; retryable) or 3120. An iterator is not advanced by such an answer.
        (Which query kinds take it: ``takes_injected_status`` in queries.py.)"""
        with self._lock:
            self._faults.inject_status(code, times, message)

    def drop_iterators(self) -> None:
        """QuickBooks loses its iterators mid-session: the next Continue gets status 3391."""
        with self._lock:
            self._processor.iterators.clear()

    @property
    def open_iterator_count(self) -> int:
        with self._lock:
            return len(self._processor.iterators)

    def corrupt_field(self, txn_id: str, element: str, raw_text: str | None) -> None:
        """A record a person typed badly (or a QuickBooks bug): every answer that carries this
        payment's, bill's or vendor credit's Ret (or a vendor's VendorRet, by ListID) shows
        ``raw_text`` as the text of ``element`` instead of the real value, until
        :meth:`clear_corruption`.

        ``element`` is a child of the Ret ("TxnDate", "Amount", "TxnID") or a path below it
        ("PayeeEntityRef/FullName", "AppliedToTxnRet/Amount": every match). ``raw_text`` is sent as
        is, with no length or format check ("X" * 40 gives a 40-character TxnID); None leaves the
        element out entirely (e.g. a missing TxnID or TxnDate). An element the Ret does not carry
        (IncludeRetElement left it out, a check without a RefNumber…) stays absent. The answers
        that hold such a Ret are deliberately not schema-valid.
        """
        check_element_path(element)
        with self._lock:
            if not any(
                txn_id in kind.records(self._books) for kind in QUERY_KINDS.values() if kind.corruptible
            ):
                raise KeyError(f"no payment, bill, vendor credit, vendor or currency {txn_id}")
            self._faults.corrupt(txn_id, element, raw_text)

    def clear_corruption(self, txn_id: str) -> None:
        """Answers carry that record's true values again."""
        with self._lock:
            self._faults.corruptions.pop(txn_id, None)

    def inject_iterator_remaining(self, text: str, times: int = 1) -> None:
        """The next ``times`` iterator pages (Start or Continue, of any query) carry
        ``iteratorRemainingCount="<text>"`` (e.g. "99999999999999999999999", "-3", "many")
        instead of the true count. The iterator itself goes on working: the next Continue gets the
        next page as usual."""
        with self._lock:
            self._faults.inject_iterator_count(text, times)

    # ---- qbXML (answers.py) --------------------------------------------------------------------

    def hcp_response(self) -> str:
        """strHCPResponse: what QBWC sends on the first sendRequestXML of a session — QuickBooks'
        answer to a Host, Company and Preferences query in one message (NOTES §9)."""
        with self._lock:
            return self._processor.hcp_response()

    def handle_qbxml(self, request_xml: str) -> str:
        """Answers one qbXML request document, as QuickBooks' ProcessRequest does.

        Raises QuickBooksParseError for anything QuickBooks would refuse to parse: malformed XML,
        a DOCTYPE, a missing or unknown ``<?qbxml version?>``, or elements out of schema order.
        Raises QuickBooksVersionError for a real qbXML version of this country that is too new for
        this QuickBooks (13.0 on QuickBooks 2013). Raises NotImplementedError for valid qbXML the
        sandbox does not emulate.
        """
        root = parse_document(request_xml)
        with self._lock:
            check_requested_version(
                root, country=self.country, highest=self._highest_version, product_name=self.product_name
            )
            return self._processor.answer_document(root)


def _default_file_name(company_name: str) -> str:
    base = re.sub(
        r"[,.]?\s+(LLC|L\.L\.C\.|Inc\.?|Ltd\.?|Corp\.?|Co\.?)$", "", company_name.strip(), flags=re.I
    )
    base = re.sub(r'[\\/:*?"<>|]', "", base) or "Company"
    return f"{base}.qbw"
