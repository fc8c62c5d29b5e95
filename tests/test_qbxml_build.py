"""Every request sync.qbxml can build is valid qbXML 13.0, and bad input is refused before it is sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import product
from typing import Any, get_args

import pytest

from sync.quickbooks.qbxml import (
    IteratorMode,
    PaymentKind,
    build_bill_payment_query,
    build_bill_query,
    build_currency_query,
    build_deleted_query,
    build_host_query,
    build_vendor_query,
    format_qb_datetime,
    parse_qb_aware,
    parse_qb_local,
    parse_xml,
)
from tests.qbxml_schema import assert_valid_qbxml, qbxml_errors

WATERMARK = datetime(2024, 3, 10, 1, 59, 59)  # naive local wall clock, the night US DST starts
ITERATOR_ID = "{6A1C3F0E-1111-2222-3333-444455556666}"
HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'
# Taken from the type definitions, so a new kind or iterator mode is covered automatically.
PAYMENT_KINDS: tuple[PaymentKind, ...] = get_args(PaymentKind)
ITERATOR_MODES: tuple[IteratorMode | None, ...] = (*get_args(IteratorMode), None)


def _iterator_kwargs(iterator: str | None) -> dict[str, Any]:
    if iterator in ("Continue", "Stop"):
        return {"iterator": iterator, "iterator_id": ITERATOR_ID}
    return {"iterator": iterator}


def _every_request() -> list[tuple[str, str]]:
    """(test id, document) for every builder and argument combination the code supports."""
    docs: list[tuple[str, str]] = [("host", build_host_query("sess-1"))]
    for kind, iterator, modified_from in product(PAYMENT_KINDS, ITERATOR_MODES, (None, WATERMARK)):
        docs.append(
            (
                f"payment-{kind}-{iterator}-{'since' if modified_from else 'all'}",
                build_bill_payment_query(
                    kind, request_id="bp-1", modified_from=modified_from, **_iterator_kwargs(iterator)
                ),
            )
        )
    for kind, txn_ids in product(PAYMENT_KINDS, (["12-1700000000"], ["1-1", "2-2", "3-3"])):
        docs.append(
            (
                f"payment-{kind}-txnids{len(txn_ids)}",
                build_bill_payment_query(kind, request_id="bp-2", txn_ids=txn_ids),
            )
        )
        docs.append(
            (
                f"payment-{kind}-txnids{len(txn_ids)}-noiter",
                build_bill_payment_query(kind, request_id="bp-3", txn_ids=txn_ids, iterator=None),
            )
        )
    docs.append(("payment-max1", build_bill_payment_query("check", request_id="bp-4", max_returned=1)))
    for iterator, modified_from in product(ITERATOR_MODES, (None, WATERMARK)):
        docs.append(
            (
                f"bill-{iterator}-{'since' if modified_from else 'all'}",
                build_bill_query(request_id="b-1", modified_from=modified_from, **_iterator_kwargs(iterator)),
            )
        )
    docs += [
        ("bill-txnid", build_bill_query(request_id="b-2", txn_ids=["5A-1700000000"])),
        ("bill-txnids", build_bill_query(request_id="b-3", txn_ids=["5A-1", "5B-2"])),
        ("bill-ref", build_bill_query(request_id="b-4", ref_numbers=["INV-1001"])),
        (
            "bill-refs-special",
            build_bill_query(request_id="b&<5>", ref_numbers=["A&B <1>", '"q"\'', "x" * 20]),
        ),
        ("deleted-all", build_deleted_query(request_id="d-1")),
        ("deleted-since", build_deleted_query(request_id="d-2", deleted_from=WATERMARK)),
        ("vendors-one", build_vendor_query(request_id="v-1", list_ids=["80000005-1417040000"])),
        ("vendors-several", build_vendor_query(request_id="v-2", list_ids=["8-1", "9-2", "A-3"])),
        ("currencies", build_currency_query(request_id="c-1")),
    ]
    return docs


EVERY_REQUEST = _every_request()


def test_enumeration_covers_every_combination() -> None:
    # host + payments (2 kinds x 4 iterator modes x 2 filters) + payments by TxnID (2 x 2 x 2)
    # + MaxReturned 1 + bills (4 x 2) + bills by TxnID/RefNumber (4) + deleted (2)
    # + vendors by ListID (2) + currencies (1)
    assert len(EVERY_REQUEST) == 1 + 16 + 8 + 1 + 8 + 4 + 2 + 2 + 1
    assert len({name for name, _ in EVERY_REQUEST}) == len(EVERY_REQUEST)


@pytest.mark.parametrize(("name", "doc"), EVERY_REQUEST, ids=[name for name, _ in EVERY_REQUEST])
def test_every_request_is_valid_qbxml_13(name: str, doc: str) -> None:
    assert doc.startswith(HEADER + '<QBXML><QBXMLMsgsRq onError="continueOnError">')
    assert_valid_qbxml(doc)


@pytest.mark.parametrize(("name", "doc"), EVERY_REQUEST, ids=[name for name, _ in EVERY_REQUEST])
def test_no_request_carries_a_utc_z_or_an_offset(name: str, doc: str) -> None:
    for value in re.findall(r"<From(?:Modified|Deleted)Date>([^<]*)<", doc):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", value), value
    assert not re.search(r"\d\dZ\b", doc)


def test_schema_check_can_fail_on_element_order() -> None:
    """A hand-made request with MaxReturned after IncludeLineItems is rejected: the check has teeth."""
    wrong_order = (
        HEADER + '<QBXML><QBXMLMsgsRq onError="continueOnError">'
        '<BillPaymentCheckQueryRq requestID="1" iterator="Start">'
        "<IncludeLineItems>true</IncludeLineItems><MaxReturned>100</MaxReturned>"
        "</BillPaymentCheckQueryRq></QBXMLMsgsRq></QBXML>"
    )
    errors = qbxml_errors(wrong_order)
    assert errors and "MaxReturned" in errors[0]
    with pytest.raises(AssertionError, match="not valid qbXML 13.0"):
        assert_valid_qbxml(wrong_order)


def test_schema_rejects_a_utc_z_time() -> None:
    doc = build_bill_payment_query("check", request_id="1", modified_from=WATERMARK)
    assert_valid_qbxml(doc)
    assert qbxml_errors(doc.replace("T01:59:59<", "T01:59:59Z<"))


def test_payment_query_elements_in_schema_order() -> None:
    doc = build_bill_payment_query("check", request_id="r", modified_from=WATERMARK, max_returned=50)
    body = doc.split("<BillPaymentCheckQueryRq", 1)[1]
    positions = [
        body.index(tag)
        for tag in ("<MaxReturned>50<", "<ModifiedDateRangeFilter>", "<IncludeLineItems>true<")
    ]
    assert positions == sorted(positions)
    assert "<FromModifiedDate>2024-03-10T01:59:59</FromModifiedDate>" in doc


def test_credit_card_kind_builds_the_credit_card_query() -> None:
    doc = build_bill_payment_query("credit_card", request_id="cc")
    assert '<BillPaymentCreditCardQueryRq requestID="cc" iterator="Start">' in doc


def test_txn_ids_replace_the_filter_and_iterator() -> None:
    doc = build_bill_payment_query("check", request_id="r", txn_ids=["1-1", "2-2"])
    assert "<TxnID>1-1</TxnID><TxnID>2-2</TxnID><IncludeLineItems>true</IncludeLineItems>" in doc
    assert "MaxReturned" not in doc and "iterator" not in doc


def test_continue_carries_the_iterator_id() -> None:
    doc = build_bill_payment_query("check", request_id="r", iterator="Continue", iterator_id=ITERATOR_ID)
    assert f'iterator="Continue" iteratorID="{ITERATOR_ID}"' in doc


def test_host_query_has_host_and_company_with_derived_ids() -> None:
    doc = build_host_query("s7")
    assert '<HostQueryRq requestID="s7-host">' in doc
    assert '<CompanyQueryRq requestID="s7-company">' in doc
    assert doc.index("HostQueryRq") < doc.index("CompanyQueryRq")


def test_deleted_query_asks_for_both_payment_kinds_without_iterator() -> None:
    doc = build_deleted_query(request_id="d", deleted_from=WATERMARK)
    assert "<TxnDelType>BillPaymentCheck</TxnDelType><TxnDelType>BillPaymentCreditCard</TxnDelType>" in doc
    assert "<FromDeletedDate>2024-03-10T01:59:59</FromDeletedDate>" in doc
    assert "iterator" not in doc


def test_bill_query_flags() -> None:
    doc = build_bill_query(request_id="b", ref_numbers=["INV-1"])
    assert "<IncludeLineItems>false</IncludeLineItems><IncludeLinkedTxns>true</IncludeLinkedTxns>" in doc


def test_special_characters_are_escaped_and_round_trip() -> None:
    tricky = ["A&B <1>", '"q"\'', "]]>&amp;"]
    doc = build_bill_query(request_id='r"&<', ref_numbers=tricky)
    assert_valid_qbxml(doc)
    parsed = parse_xml(doc)["QBXML"]["QBXMLMsgsRq"]["BillQueryRq"]
    assert parsed["RefNumber"] == tricky
    assert parsed["@requestID"] == 'r"&<'


# ---------------------------------------------------------------------------------------------
# Refused input


@pytest.mark.parametrize(
    "aware",
    [
        datetime(2024, 3, 10, 9, 0, tzinfo=UTC),
        datetime(2024, 3, 10, 1, 0, tzinfo=timezone(timedelta(hours=-8))),
    ],
)
def test_aware_datetimes_are_refused(aware: datetime) -> None:
    with pytest.raises(ValueError, match="naive local wall-clock"):
        build_bill_payment_query("check", request_id="r", modified_from=aware)
    with pytest.raises(ValueError, match="naive local wall-clock"):
        build_bill_query(request_id="r", modified_from=aware)
    with pytest.raises(ValueError, match="naive local wall-clock"):
        build_deleted_query(request_id="r", deleted_from=aware)
    with pytest.raises(ValueError, match="never send UTC or 'Z'"):
        format_qb_datetime(aware)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iterator": "Continue"}, "needs the iterator_id"),
        ({"iterator": "Stop"}, "needs the iterator_id"),
        ({"iterator": "Start", "iterator_id": ITERATOR_ID}, "do not pass iterator_id"),
        ({"iterator": None, "iterator_id": ITERATOR_ID}, "without iterator"),
        ({"iterator": "Restart"}, "iterator must be"),
        ({"max_returned": 0}, "at least 1"),
        ({"max_returned": True}, "at least 1"),
        ({"txn_ids": ["1-1"], "modified_from": WATERMARK}, "cannot be combined"),
        ({"txn_ids": ["1-1"], "iterator": "Continue", "iterator_id": ITERATOR_ID}, "take no iterator"),
        ({"txn_ids": ["x" * 37]}, "at most 36"),
        ({"txn_ids": [""]}, "is empty"),
        ({"request_id": "bad\x00id"}, "control characters"),
        ({"modified_from": datetime(1969, 12, 31)}, "outside the range"),
        ({"modified_from": datetime(2038, 1, 1)}, "outside the range"),
    ],
)
def test_payment_query_refuses_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"request_id": "r", **kwargs}
    with pytest.raises(ValueError, match=message):
        build_bill_payment_query("check", **arguments)


def test_payment_query_refuses_unknown_kind_and_bare_string_ids() -> None:
    with pytest.raises(ValueError, match="'check' or 'credit_card'"):
        build_bill_payment_query("cash", request_id="r")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a single string"):
        build_bill_payment_query("check", request_id="r", txn_ids="1-1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ref_numbers": ["x" * 21]}, "at most 20"),
        ({"ref_numbers": ["  "]}, "is empty"),
        ({"ref_numbers": ["A\x07"]}, "control characters"),
        ({"txn_ids": ["1-1"], "ref_numbers": ["INV-1"]}, "not both"),
        ({"ref_numbers": ["INV-1"], "modified_from": WATERMARK}, "cannot be combined"),
        ({"ref_numbers": ["INV-1"], "iterator": "Stop", "iterator_id": ITERATOR_ID}, "take no iterator"),
        ({"iterator": "Continue"}, "needs the iterator_id"),
    ],
)
def test_bill_query_refuses_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_bill_query(request_id="r", **kwargs)


def test_host_query_refuses_empty_request_id() -> None:
    with pytest.raises(ValueError, match="request_id is empty"):
        build_host_query("")


# ---------------------------------------------------------------------------------------------
# Date-time helpers


def test_format_qb_datetime_is_plain_local_seconds() -> None:
    assert format_qb_datetime(datetime(2024, 11, 3, 1, 30, 5, 999999)) == "2024-11-03T01:30:05"


@pytest.mark.parametrize(
    ("raw", "local"),
    [
        ("2024-07-01T10:00:00-08:00", datetime(2024, 7, 1, 10, 0, 0)),  # DST: QuickBooks' offset is wrong
        ("2014-11-26T20:18:19-02:00", datetime(2014, 11, 26, 20, 18, 19)),
        ("2024-03-10T02:30:00", datetime(2024, 3, 10, 2, 30, 0)),
        ("2024-3-1T9:5:7+05:30", datetime(2024, 3, 1, 9, 5, 7)),
        ("2024-03-01", datetime(2024, 3, 1)),
        ("2024-03-01T09", datetime(2024, 3, 1, 9)),
    ],
)
def test_parse_qb_local_drops_the_offset(raw: str, local: datetime) -> None:
    parsed = parse_qb_local(raw)
    assert parsed == local
    assert parsed.tzinfo is None


def test_parse_qb_aware_keeps_the_offset_as_given() -> None:
    parsed = parse_qb_aware("2024-07-01T10:00:00-08:00")
    assert parsed.utcoffset() == timedelta(hours=-8)
    assert parsed.astimezone(UTC) == datetime(2024, 7, 1, 18, 0, tzinfo=UTC)
    assert parse_qb_aware("2024-07-01T10:00:00+05:30").utcoffset() == timedelta(hours=5, minutes=30)


def test_parse_qb_aware_needs_an_offset() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_qb_aware("2024-07-01T10:00:00")


@pytest.mark.parametrize(
    "raw", ["", "yesterday", "2024-07-01 10:00:00", "2024-07-01T10:00:00.5-08:00", "2024-02-30"]
)
def test_parse_qb_local_refuses_non_qbxml_times(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_qb_local(raw)


def test_local_round_trip() -> None:
    assert parse_qb_local(format_qb_datetime(WATERMARK)) == WATERMARK
