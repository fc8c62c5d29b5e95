"""Speed and peak memory of sync.quickbooks.qbxml.parse_response on a large BillPaymentCheckQueryRs.

Generates a ~30 MB response (20,000 payments with 2 applications each by default), then:
  1. times parse_response without tracing (tracemalloc slows Python down a lot);
  2. parses again under tracemalloc for the peak memory the parse adds on top of the input text;
  3. with --compare, does the same for a plain xmltodict.parse of the whole document, for reference.

Usage: python bench/bench_qbxml_parse.py [--payments N] [--compare]
This prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xmltodict  # noqa: E402

from sync.quickbooks.qbxml import BillPaymentRecord, parse_response  # noqa: E402

MB = 1024 * 1024


def _applied(payment: int, line: int) -> str:
    return (
        "<AppliedToTxnRet>"
        f"<TxnID>{payment * 2 + line:X}-1700000000</TxnID><TxnType>Bill</TxnType><TxnDate>2024-02-15</TxnDate>"
        f"<RefNumber>INV-{payment:06d}-{line}</RefNumber><BalanceRemaining>0.00</BalanceRemaining>"
        "<Amount>625.00</Amount>"
        "<LinkedTxn><TxnID>VC-1</TxnID><TxnType>VendorCredit</TxnType><TxnDate>2024-02-20</TxnDate>"
        "<LinkType>AMTTYPE</LinkType><Amount>0.00</Amount></LinkedTxn>"
        "</AppliedToTxnRet>\n"
    )


def _payment(number: int) -> str:
    return (
        "<BillPaymentCheckRet>\n"
        f"<TxnID>{number:X}-1719853200</TxnID>"
        "<TimeCreated>2024-07-01T10:00:00-08:00</TimeCreated><TimeModified>2024-07-02T11:30:00-08:00</TimeModified>"
        f"<EditSequence>{1719853200 + number}</EditSequence><TxnNumber>{number}</TxnNumber>\n"
        f"<PayeeEntityRef><ListID>80000{number % 500:03d}-1417040000</ListID>"
        f"<FullName>Subcontractor number {number % 500} &amp; Sons, Incorporated</FullName></PayeeEntityRef>\n"
        "<APAccountRef><ListID>80000002-1417040000</ListID><FullName>Accounts Payable</FullName></APAccountRef>"
        "<TxnDate>2024-07-01</TxnDate>\n"
        "<BankAccountRef><ListID>80000001-1417040000</ListID><FullName>Operating Checking</FullName></BankAccountRef>"
        f"<Amount>1250.00</Amount><RefNumber>{10000 + number}</RefNumber>\n"
        f"<Memo>Progress payment for pay application {number}, retention released per contract terms</Memo>\n"
        "<Address><Addr1>Subcontractor Inc.</Addr1><Addr2>1200 Industrial Parkway, Suite 400</Addr2>"
        "<City>Springfield</City><State>IL</State><PostalCode>62701</PostalCode><Country>US</Country></Address>\n"
        "<AddressBlock><Addr1>Subcontractor Inc.</Addr1><Addr2>1200 Industrial Parkway, Suite 400</Addr2>"
        "<Addr3>Springfield, IL 62701</Addr3></AddressBlock>\n"
        "<IsToBePrinted>false</IsToBePrinted>\n"
        + _applied(number, 0)
        + _applied(number, 1)
        + "</BillPaymentCheckRet>\n"
    )


def build_response(payments: int) -> str:
    parts = [
        '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n'
        f'<BillPaymentCheckQueryRs requestID="bench" statusCode="0" statusSeverity="Info" '
        f'statusMessage="Status OK" retCount="{payments}" iteratorRemainingCount="0" '
        'iteratorID="{eb05f701-e727-472f-8ade-6753c4f0d4ad}">\n'
    ]
    parts.extend(_payment(number) for number in range(payments))
    parts.append("</BillPaymentCheckQueryRs>\n</QBXMLMsgsRs>\n</QBXML>\n")
    return "".join(parts)


def _timed(label: str, parse: object, doc: str, payments: int) -> None:
    assert callable(parse)
    gc.collect()
    started = time.perf_counter()
    result = parse(doc)
    seconds = time.perf_counter() - started
    del result
    print(
        f"{label:<28} {seconds:7.2f} s   {payments / seconds:10,.0f} payments/s   {len(doc) / MB / seconds:6.1f} MB/s"
    )


def _peak(label: str, parse: object, doc: str) -> None:
    assert callable(parse)
    gc.collect()
    tracemalloc.start()
    result = parse(doc)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    print(
        f"{label:<28} peak {peak / MB:7.1f} MB   retained result {current / MB:7.1f} MB   (input text not counted)"
    )


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--payments", type=int, default=20_000)
    arguments.add_argument("--compare", action="store_true", help="also measure a plain xmltodict.parse")
    options = arguments.parse_args()

    doc = build_response(options.payments)
    print(
        f"document: {len(doc.encode('utf-8')) / MB:.1f} MB, {options.payments:,} payments, 2 applications each"
    )

    (response,) = parse_response(doc)
    payments = [record for record in response.records if isinstance(record, BillPaymentRecord)]
    assert len(payments) == options.payments and all(len(p.applications) == 2 for p in payments)
    del response, payments

    _timed("parse_response", parse_response, doc, options.payments)
    if options.compare:
        _timed("xmltodict.parse (full dict)", xmltodict.parse, doc, options.payments)
    _peak("parse_response", parse_response, doc)
    if options.compare:
        _peak("xmltodict.parse (full dict)", xmltodict.parse, doc)


if __name__ == "__main__":
    main()
