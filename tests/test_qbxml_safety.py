"""Hostile XML is refused before anything is declared, expanded or fetched (DESIGN rule 8)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync.quickbooks.qbxml import (
    MalformedXMLError,
    QbXMLError,
    UnsafeXMLError,
    parse_hcp_response,
    parse_response,
    parse_xml,
)

# Ten levels of ten: fully expanded, "lol9" is 10**9 copies of "lol" (about 3 GB).
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE QBXML [\n  <!ENTITY lol "lol">\n'
    + "".join(
        f'  <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)
    )
    + "]>\n<QBXML><QBXMLMsgsRs>"
    '<BillQueryRs statusCode="0" statusSeverity="Info" statusMessage="&lol9;"/>'
    "</QBXMLMsgsRs></QBXML>"
)

EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE QBXML [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
    "<QBXML><QBXMLMsgsRs>"
    '<BillQueryRs statusCode="0" statusSeverity="Info"><BillRet><TxnID>&xxe;</TxnID></BillRet></BillQueryRs>'
    "</QBXMLMsgsRs></QBXML>"
)

PARAMETER_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE QBXML [ <!ENTITY % remote SYSTEM "file:///etc/passwd"> %remote; ]>\n'
    "<QBXML/>"
)

EXTERNAL_DTD = '<?xml version="1.0"?>\n<!DOCTYPE QBXML SYSTEM "http://127.0.0.1:9/evil.dtd">\n<QBXML/>'

PLAIN_DOCTYPE = '<?xml version="1.0"?>\n<!DOCTYPE QBXML>\n<QBXML/>'

HOSTILE = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
    "parameter-entity": PARAMETER_ENTITY,
    "external-dtd": EXTERNAL_DTD,
    "plain-doctype": PLAIN_DOCTYPE,
}

PARSERS: dict[str, Callable[[Any], object]] = {
    "parse_xml": parse_xml,
    "parse_response": parse_response,
    "parse_hcp_response": parse_hcp_response,
}


def test_billion_laughs_payload_really_is_a_bomb() -> None:
    assert BILLION_LAUGHS.count("<!ENTITY") == 10
    assert len(BILLION_LAUGHS) < 2_000


@pytest.mark.parametrize("parser_name", list(PARSERS))
@pytest.mark.parametrize("payload_name", list(HOSTILE))
def test_hostile_documents_are_refused(parser_name: str, payload_name: str) -> None:
    with pytest.raises(UnsafeXMLError, match="DOCTYPE"):
        PARSERS[parser_name](HOSTILE[payload_name])


@pytest.mark.parametrize("payload_name", list(HOSTILE))
def test_hostile_bytes_are_refused(payload_name: str) -> None:
    with pytest.raises(UnsafeXMLError):
        parse_response(HOSTILE[payload_name].encode("utf-8"))


def test_billion_laughs_is_refused_quickly_with_flat_memory() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UnsafeXMLError):
            parse_response(BILLION_LAUGHS)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1_000_000, f"peak {peak} bytes: something was expanded"


def test_external_entity_is_never_read() -> None:
    with pytest.raises(UnsafeXMLError) as raised:
        parse_response(EXTERNAL_ENTITY)
    text = str(raised.value)
    if Path("/etc/passwd").exists():
        assert "root:" not in text
    assert "DOCTYPE" in text and "plain qbXML" in text  # says what is wrong and how to fix it


def test_unsafe_error_is_a_qbxml_error() -> None:
    assert issubclass(UnsafeXMLError, QbXMLError)
    assert issubclass(MalformedXMLError, QbXMLError)


def test_undeclared_entity_is_malformed_not_expanded() -> None:
    with pytest.raises(MalformedXMLError, match="undefined entity"):
        parse_xml("<QBXML><Memo>&xxe;</Memo></QBXML>")


def test_ordinary_escapes_still_work() -> None:
    """Refusing DTDs must not break the predefined entities and character references qbXML uses."""
    parsed = parse_xml("<QBXML><Memo>A&amp;B &lt;!DOCTYPE x&gt; &#169; &#x2713;</Memo></QBXML>")
    assert parsed == {"QBXML": {"Memo": "A&B <!DOCTYPE x> © ✓"}}


def test_doctype_text_inside_cdata_is_not_a_doctype() -> None:
    parsed = parse_xml('<QBXML><Memo><![CDATA[<!DOCTYPE x [<!ENTITY a "b">]>]]></Memo></QBXML>')
    assert parsed == {"QBXML": {"Memo": '<!DOCTYPE x [<!ENTITY a "b">]>'}}


@pytest.mark.parametrize("keyword", ["expat", "disable_entities"])
def test_parse_xml_cannot_be_weakened(keyword: str) -> None:
    with pytest.raises(TypeError, match="hardened parser"):
        parse_xml("<QBXML/>", **{keyword: False})
