"""SOAP 1.1 document/literal envelopes for the QuickBooks Web Connector (NOTES §9).

Requests are read with the hardened parser (sync.quickbooks.qbxml.safe.parse_xml: no DOCTYPE, no entities,
no external references), so a hostile body is refused before anything is expanded or fetched.
Every problem becomes a `SoapFault` whose message says what was wrong; nothing here raises a
traceback at the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.parsers import expat
from xml.sax.saxutils import escape

from sync.quickbooks.qbxml.errors import MalformedXMLError, UnsafeXMLError
from sync.quickbooks.qbxml.safe import parse_xml

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
QBWC_NS = "http://developer.intuit.com/"

# Parameters of each method, in WSDL order (intuit-TroubleshootWebServiceFS-QBWebConnectorSvc.wsdl).
METHOD_PARAMETERS: dict[str, tuple[str, ...]] = {
    "serverVersion": (),
    "clientVersion": ("strVersion",),
    "authenticate": ("strUserName", "strPassword"),
    "sendRequestXML": (
        "ticket",
        "strHCPResponse",
        "strCompanyFileName",
        "qbXMLCountry",
        "qbXMLMajorVers",
        "qbXMLMinorVers",
    ),
    "receiveResponseXML": ("ticket", "response", "hresult", "message"),
    "connectionError": ("ticket", "hresult", "message"),
    "getLastError": ("ticket",),
    "closeConnection": ("ticket",),
}

_SEND_AN_ENVELOPE = (
    "Send a SOAP 1.1 envelope (Content-Type: text/xml) with one Web Connector method in its soap:Body, "
    "as the QuickBooks Web Connector does; the WSDL at /qbwc?wsdl describes them."
)
_PREFIXES = {SOAP_ENV_NS: "soap", SOAP12_ENV_NS: "soap12", QBWC_NS: "qb"}
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class SoapFault(Exception):
    """A request the service refuses; sent back as a SOAP Fault (HTTP 500)."""

    def __init__(self, message: str, *, faultcode: str = "soap:Client") -> None:
        super().__init__(message)
        self.message = message
        self.faultcode = faultcode


@dataclass(frozen=True)
class SoapCall:
    method: str
    params: Mapping[str, str | None]

    def text(self, name: str) -> str:
        return self.params.get(name) or ""

    def integer(self, name: str) -> int | None:
        raw = (self.params.get(name) or "").strip()
        try:
            return int(raw) if raw else None
        except ValueError:
            raise SoapFault(f"{self.method}: {name} must be a whole number, got {raw[:40]!r}.") from None


def _local(key: str) -> tuple[str | None, str]:
    prefix, sep, name = key.partition(":")
    return (prefix, name) if sep else (None, key)


def _child_elements(node: object) -> list[tuple[str, object]]:
    """Element children of an xmltodict node, without attributes, xmlns and stray whitespace text."""
    if not isinstance(node, Mapping):
        return []
    return [(k, v) for k, v in node.items() if not k.startswith("@") and k != "#text"]


def parse_soap_request(body: bytes) -> SoapCall:
    """Read a Web Connector request envelope; raise SoapFault naming what is wrong."""
    if not body.strip():
        raise SoapFault("The request body is empty; the Web Connector sends a SOAP 1.1 envelope.")
    try:
        document = parse_xml(body, process_namespaces=True, namespaces=_PREFIXES, strip_whitespace=False)
    except UnsafeXMLError as exc:
        raise SoapFault(f"Refused the request: {exc}") from None
    except MalformedXMLError as exc:
        # Speak of the request: the parser's own message is about a QuickBooks response.
        cause = exc.__cause__
        detail = str(cause) if isinstance(cause, expat.ExpatError) else "it could not be parsed"
        raise SoapFault(f"The request is not XML: {detail}. {_SEND_AN_ENVELOPE}") from None
    except (ValueError, TypeError) as exc:  # e.g. an encoding expat cannot read
        raise SoapFault(f"The request is not XML: {exc}. {_SEND_AN_ENVELOPE}") from None

    roots = _child_elements(document)
    if len(roots) != 1 or roots[0][0] != "soap:Envelope":
        found = roots[0][0] if roots else "nothing"
        hint = (
            " (SOAP 1.2 is not supported; the Web Connector uses SOAP 1.1)"
            if found.startswith("soap12:")
            else ""
        )
        raise SoapFault(f"Expected a SOAP 1.1 Envelope in namespace {SOAP_ENV_NS}, found {found}{hint}.")
    bodies = [value for key, value in _child_elements(roots[0][1]) if key == "soap:Body"]
    if len(bodies) != 1:
        raise SoapFault("The SOAP Envelope must hold exactly one soap:Body.")
    calls = _child_elements(bodies[0])
    if len(calls) != 1:
        raise SoapFault(f"The soap:Body must hold exactly one method element, found {len(calls)}.")
    key, value = calls[0]
    prefix, method = _local(key)
    if prefix not in ("qb", None) or method not in METHOD_PARAMETERS:
        known = ", ".join(METHOD_PARAMETERS)
        raise SoapFault(f"Unknown method {key!r}: this service answers {known} in namespace {QBWC_NS}.")
    params: dict[str, str | None] = {}
    for child_key, child_value in _child_elements(value):
        _, name = _local(child_key)
        if isinstance(child_value, list):
            raise SoapFault(f"{method}: parameter {name} is given more than once.")
        if isinstance(child_value, Mapping):
            if _child_elements(child_value):
                raise SoapFault(f"{method}: parameter {name} must be text, not nested elements.")
            text = child_value.get("#text")
            child_value = text if isinstance(text, str) else None
        if child_value is not None and not isinstance(child_value, str):
            raise SoapFault(f"{method}: parameter {name} could not be read.")
        if name in METHOD_PARAMETERS[method]:
            params[name] = child_value
    return SoapCall(method=method, params=params)


# ---------------------------------------------------------------------------------------------
# Responses


def _text(value: str) -> str:
    return escape(_XML_ILLEGAL.sub("", value))


def _envelope(inner: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soap:Body>{inner}</soap:Body></soap:Envelope>"
    )


def soap_response(method: str, result: str | int | Sequence[str]) -> str:
    """The `<method>Response><method>Result>` envelope; a sequence becomes an ArrayOfString."""
    if isinstance(result, str):
        content = _text(result)
    elif isinstance(result, int):
        content = str(result)
    else:
        content = "".join(f"<string>{_text(item)}</string>" for item in result)
    return _envelope(
        f'<{method}Response xmlns="{QBWC_NS}"><{method}Result>{content}</{method}Result></{method}Response>'
    )


def soap_fault(message: str, *, faultcode: str = "soap:Client") -> str:
    return _envelope(
        f"<soap:Fault><faultcode>{_text(faultcode)}</faultcode><faultstring>{_text(message)}</faultstring></soap:Fault>"
    )
