"""An in-memory QuickBooks Desktop company file that answers qbXML the way QuickBooks does.

This is a stand-in for the real system. It imports nothing from ``sync``, ``storage`` or
``console`` and has its own small qbXML reader and writer, so the project's code is tested against
something that does not share its assumptions. Facts come from
``shared/reference/qbxml/NOTES.md`` (cited as "NOTES §n"); where NOTES marks a behaviour as
inferred, the choice made here says "(inferred)" so it is easy to find and change.

What it models:
- vendors, bills, vendor credits and bill payments (check and credit card; full, partial,
  multi-bill), voids, edits and deletes, with TxnID / EditSequence / TimeModified behaving like
  QuickBooks';
- a QuickBooks machine in US Eastern time with the DST offset bug (NOTES §8);
- the queries PaySync needs: HostQueryRq, CompanyQueryRq, BillPaymentCheckQueryRq,
  BillPaymentCreditCardQueryRq, BillQueryRq, VendorCreditQueryRq and TxnDeletedQueryRq, with
  iterators, status codes and the parse-error behaviour (requests that break the schema's element
  order are rejected); every query kind is one entry of the table in ``queries.py``, answered by
  one generic path;
- fault injection: a status code on the next payment queries, iterators dropped mid-session, and
  QuickBooks refusing the connection;
- real-world variety: multicurrency company files (currency list, vendor currencies, exchange
  rates, CurrencyQueryRq / VendorQueryRq), early-payment discounts and vendor credits used in a
  bill payment, older QuickBooks versions that refuse newer qbXML (hresult 0x80040428), and records
  a person typed badly (``corrupt_field``) or hostile iterator counts
  (``inject_iterator_remaining``).

Answers list every Ret element's children in the exact order of the qbXML 13.0 schema; the tests
validate them against ``qbxmlops130.xsd``.

Where things are (one job per file; ``company.py`` and ``queries.py`` are the places to start)
    company.py     SandboxCompanyFile: every operation a test drives; the lock
    records.py     the records (vendors, bills, credits, payments, deletions) and their snapshots
    books.py       the records by id, the orders queries read them in, ids, accounts, the clock
    currencies.py  the currency list and exchange rates
    payments.py    Pay Bills: entering, voiding, editing, deleting payments
    clock.py       the QuickBooks clock and its DST offset bug
    money.py       amounts in cents, AMTTYPE and FLOATTYPE text
    versions.py    product years, qbXML versions, the version check of a request
    errors.py      refusals: parse, version, connection errors; a status on one request
    requests.py    reading and checking request documents: schema order, attributes, ``Query``
    queries.py     the table of query kinds the sandbox answers
    matching.py    which records answer a query, in answer order
    answers.py     the request processor: statuses, iterators, MaxReturned, metaData
    rendering.py   Rs status attributes and the Ret writers, in 13.0 schema order
    host.py        HostRet, CompanyRet, PreferencesRet
    faults.py      injected statuses, iterator counts and corruption, refused connections

Only the names below are the sandbox's API; the modules' other names are its internals.
"""

from sandbox.quickbooks.clock import PRINTED_OFFSET, QUICKBOOKS_TIME_ZONE
from sandbox.quickbooks.company import SandboxCompanyFile
from sandbox.quickbooks.currencies import MULTICURRENCY_OFF_MESSAGE
from sandbox.quickbooks.errors import (
    CONNECTION_ERROR_HRESULT,
    CONNECTION_ERROR_MESSAGE,
    PARSE_ERROR_HRESULT,
    PARSE_ERROR_MESSAGE,
    VERSION_ERROR_HRESULT,
    VERSION_ERROR_MESSAGE,
    QuickBooksConnectionError,
    QuickBooksParseError,
    QuickBooksVersionError,
)
from sandbox.quickbooks.records import BillSnapshot, DeletedPaymentSnapshot, PaymentKind, PaymentSnapshot
from sandbox.quickbooks.rendering import NO_MATCH_MESSAGE, STATUS_OK_MESSAGE
from sandbox.quickbooks.versions import (
    DEFAULT_PRODUCT_NAMES,
    DEFAULT_PRODUCT_YEAR,
    PRODUCT_MAJOR_VERSION,
    PRODUCT_MINOR_VERSION,
    highest_qbxml_version_of,
)

__all__ = [
    "CONNECTION_ERROR_HRESULT",
    "CONNECTION_ERROR_MESSAGE",
    "DEFAULT_PRODUCT_NAMES",
    "DEFAULT_PRODUCT_YEAR",
    "MULTICURRENCY_OFF_MESSAGE",
    "NO_MATCH_MESSAGE",
    "PARSE_ERROR_HRESULT",
    "PARSE_ERROR_MESSAGE",
    "PRINTED_OFFSET",
    "PRODUCT_MAJOR_VERSION",
    "PRODUCT_MINOR_VERSION",
    "QUICKBOOKS_TIME_ZONE",
    "STATUS_OK_MESSAGE",
    "VERSION_ERROR_HRESULT",
    "VERSION_ERROR_MESSAGE",
    "BillSnapshot",
    "DeletedPaymentSnapshot",
    "PaymentKind",
    "PaymentSnapshot",
    "QuickBooksConnectionError",
    "QuickBooksParseError",
    "QuickBooksVersionError",
    "SandboxCompanyFile",
    "highest_qbxml_version_of",
]
