"""A QuickBooks Web Connector (QBWC) emulator that polls a ``/qbwc`` SOAP endpoint over real HTTP.

It plays QBWC's side of the protocol in NOTES §9 (``shared/reference/qbxml/NOTES.md``) with the
message shapes of Intuit's WSDL (``wsdl/intuit-TroubleshootWebServiceFS-QBWebConnectorSvc.wsdl``):
SOAP 1.1, document/literal, namespace ``http://developer.intuit.com/``, one POST per method with
``SOAPAction: "http://developer.intuit.com/<method>"``. The qbXML travels XML-escaped as text, and
the envelope is written the way the captured QBWC traffic is (flowlink captures).

Like the rest of ``sandbox`` it imports nothing from the project. It hands each request to a
:class:`~sandbox.quickbooks.SandboxCompanyFile`, which plays QuickBooks.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx
from lxml import etree

from sandbox.quickbooks import (
    QuickBooksConnectionError,
    QuickBooksParseError,
    QuickBooksVersionError,
    SandboxCompanyFile,
)

__all__ = [
    "QBWC_NAMESPACE",
    "REPORTED_QBXML_VERSION_CAP",
    "SOAP_ENVELOPE_NAMESPACE",
    "SessionOutcome",
    "SessionReport",
    "SoapValue",
    "WebConnectorEmulator",
    "soap_envelope",
]

QBWC_NAMESPACE: Final = "http://developer.intuit.com/"
SOAP_ENVELOPE_NAMESPACE: Final = "http://schemas.xmlsoap.org/soap/envelope/"
_XSI_NAMESPACE: Final = "http://www.w3.org/2001/XMLSchema-instance"
_XSD_NAMESPACE: Final = "http://www.w3.org/2001/XMLSchema"

SoapValue = str | int | None

SessionOutcome = Literal[
    "done",  # receiveResponseXML reached 100 and closeConnection was called
    "not_valid_user",  # authenticate answered "nvu"
    "no_work",  # authenticate answered "none"
    "busy",  # authenticate answered "busy"
    "client_version_rejected",  # clientVersion answered "E:…"
    "empty_request",  # sendRequestXML answered "" (QBWC asks getLastError, then closes)
    "error",  # receiveResponseXML answered a negative number and getLastError was not "NoOp"
    "connection_error",  # QuickBooks could not be opened and connectionError answered "done"
    "soap_fault",  # a call failed (HTTP error, SOAP fault, unreadable answer); QBWC gives up
    "max_requests",  # the emulator's guard against a service that never finishes
]

# The real QBWC waits about 5 s after "NoOp" (NOTES §9, /n software docs); tests want no wait.
REAL_QBWC_NOOP_WAIT_SECONDS: Final = 5.0
# sendRequestXML's qbXMLMajorVers/qbXMLMinorVers. NOTES §1: for a QuickBooks 2014 (newest qbXML
# 13.0) the captured QBWC sent 13/0, so QBWC reports the newest version the company file supports
# (inferred). What it reports for files newer than 13.0 is not captured; the emulator reports at
# most 13.0 by default, which keeps what it always sent for the default (2024) file and still
# reports 12/0 for a QuickBooks 2013 (sandbox choice). Pass qbxml_version to override.
REPORTED_QBXML_VERSION_CAP: Final = (13, 0)
# How often the emulator follows connectionError's "try this path" before giving up; the real
# QBWC's limit is not documented (inferred), and an endless retry would hang a test.
_MAX_CONNECTION_ATTEMPTS = 3


@dataclass
class SessionReport:
    """Everything one poll saw, in the order it happened."""

    authenticate_result: list[str] = field(default_factory=list)
    ticket: str | None = None
    requests: list[str] = field(default_factory=list)  # every qbXML request the service sent
    responses: list[str] = field(default_factory=list)  # what QuickBooks answered ("" on an hresult)
    percents: list[int] = field(default_factory=list)  # receiveResponseXML results
    last_errors: list[str] = field(default_factory=list)  # getLastError results
    close_message: str | None = None  # closeConnection result; None if it was not called
    server_version: str | None = None
    client_version_result: str | None = None
    http_statuses: list[int] = field(default_factory=list)  # one per call, in call order
    soap_faults: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)  # the SOAP methods called, in order
    hresults: list[tuple[str, str]] = field(default_factory=list)  # (hresult, message) sent to the service
    connection_error_results: list[str] = field(default_factory=list)
    outcome: SessionOutcome | None = None
    # Wall-clock seconds of each SOAP call, in call order (method, seconds): how long the service
    # took to answer, the HTTP round trip included.
    call_seconds: list[tuple[str, float]] = field(default_factory=list)
    # Seconds QuickBooks (the sandbox company file) took to answer each request, in request order.
    quickbooks_seconds: list[float] = field(default_factory=list)

    def longest(self, method: str) -> float:
        """The longest answer to ``method`` in this session (0.0 when it was not called)."""
        return max((seconds for name, seconds in self.call_seconds if name == method), default=0.0)


class _SessionEnded(Exception):
    """A call failed in a way that ends the session (the report already says why)."""


def soap_envelope(method: str, params: Mapping[str, SoapValue]) -> str:
    """A QBWC request envelope for ``method`` with its parameters in the given order.

    ``None`` leaves a parameter out; ``""`` sends an empty element (``<hresult />``), which is how
    QBWC sends an empty hresult/message.
    """
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<soap:Envelope xmlns:soap="{SOAP_ENVELOPE_NAMESPACE}" xmlns:xsi="{_XSI_NAMESPACE}" '
        f'xmlns:xsd="{_XSD_NAMESPACE}">',
        "<soap:Body>",
        f'<{method} xmlns="{QBWC_NAMESPACE}">',
    ]
    for name, value in params.items():
        if value is None:
            continue
        text = _escape(str(value))
        parts.append(f"<{name}>{text}</{name}>" if text else f"<{name} />")
    parts.append(f"</{method}></soap:Body></soap:Envelope>")
    return "".join(parts)


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class WebConnectorEmulator:
    """Polls a Web Connector service the way QBWC does, with a sandbox company file as QuickBooks."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        company_file: SandboxCompanyFile,
        *,
        client_version: str = "2.3.0.215",
        qbxml_version: tuple[int, int] | None = None,
        verify: bool | str = True,
        timeout: float = 60,
        noop_wait_seconds: float = 0.0,
        max_requests: int = 10_000,
    ) -> None:
        self.url = url
        self.username = username
        self.password = password
        self.company_file = company_file
        self.client_version = client_version
        self.qbxml_version = qbxml_version
        self.verify = verify
        self.timeout = timeout
        self.noop_wait_seconds = noop_wait_seconds
        self.max_requests = max_requests

    @property
    def reported_qbxml_version(self) -> tuple[int, int]:
        """(qbXMLMajorVers, qbXMLMinorVers) sent to sendRequestXML: ``qbxml_version`` if given,
        else the newest version the company file supports, at most REPORTED_QBXML_VERSION_CAP."""
        if self.qbxml_version is not None:
            return self.qbxml_version
        return min(self.company_file.highest_qbxml_version, REPORTED_QBXML_VERSION_CAP)

    # ---- low level -----------------------------------------------------------------------

    def soap_envelope(self, method: str, params: Mapping[str, SoapValue]) -> str:
        return soap_envelope(method, params)

    def call(self, method: str, **params: SoapValue) -> httpx.Response:
        """One SOAP call, parameters in keyword order; the raw HTTP response."""
        with self._client() as client:
            return self._post(client, method, soap_envelope(method, params))

    def post(
        self,
        body: str | bytes,
        *,
        soap_action: str | None = None,
        content_type: str = "text/xml; charset=utf-8",
    ) -> httpx.Response:
        """Sends any body (malformed, hostile…) with QBWC's headers; for tests of the service."""
        headers = {"Content-Type": content_type}
        if soap_action is not None:
            headers["SOAPAction"] = soap_action
        content = body.encode("utf-8") if isinstance(body, str) else body
        with self._client() as client:
            return client.post(self.url, content=content, headers=headers)

    # ---- one poll ------------------------------------------------------------------------

    def run_session(self) -> SessionReport:
        """One scheduled update, start to end, as QBWC runs it (NOTES §9 call sequence)."""
        report = SessionReport()
        with self._client() as client:
            try:
                self._run(client, report)
            except _SessionEnded:
                pass
            finally:
                self.company_file.close_connection()
        return report

    def _run(self, client: httpx.Client, report: SessionReport) -> None:
        report.server_version = self._call_text(client, report, "serverVersion", {})
        report.client_version_result = self._call_text(
            client, report, "clientVersion", {"strVersion": self.client_version}
        )
        # "" / None = go on; "W:" = warning (the user may go on, so the unattended emulator does);
        # "O:<version>" = fine, but a newer QBWC is wanted; "E:" = error, the update stops.
        if (report.client_version_result or "").startswith("E:"):
            report.outcome = "client_version_rejected"
            return

        report.authenticate_result = self._call_strings(
            client, report, "authenticate", {"strUserName": self.username, "strPassword": self.password}
        )
        ticket = report.authenticate_result[0] if report.authenticate_result else ""
        report.ticket = ticket
        status = report.authenticate_result[1] if len(report.authenticate_result) > 1 else ""
        # QBWC stops right after authenticate for these and calls nothing else (NOTES §9:
        # the request loop runs only "if [1] is not none/nvu"; "busy" likewise (inferred)).
        if status == "nvu":
            report.outcome = "not_valid_user"
            return
        if status == "none":
            report.outcome = "no_work"
            return
        if status == "busy":
            report.outcome = "busy"
            return

        if not self._open_quickbooks(client, report, ticket, status):
            return
        self._request_loop(client, report, ticket)

    def _open_quickbooks(self, client: httpx.Client, report: SessionReport, ticket: str, path: str) -> bool:
        """Opens the company file: [1] = "" means the one open in QuickBooks, anything else is the
        path of the file to open. On failure QBWC calls connectionError, whose answer is "done" or
        the path to try next."""
        for _attempt in range(_MAX_CONNECTION_ATTEMPTS):
            try:
                if path and path.casefold() != self.company_file.company_file_path.casefold():
                    # QBWC's exact hresult for "that file cannot be opened" is not captured (inferred).
                    raise QuickBooksConnectionError(
                        "0x80040408",
                        f'Could not start QuickBooks: the company file "{path}" cannot be opened.',
                    )
                self.company_file.open_connection()
                return True
            except QuickBooksConnectionError as failure:
                answer = self._call_text(
                    client,
                    report,
                    "connectionError",
                    {"ticket": ticket, "hresult": failure.hresult, "message": failure.message},
                )
                report.connection_error_results.append(answer or "")
                if (answer or "").casefold() == "done":
                    break
                path = answer or ""
        report.outcome = "connection_error"
        return False

    def _request_loop(self, client: httpx.Client, report: SessionReport, ticket: str) -> None:
        major, minor = self.reported_qbxml_version
        first = True
        requests_asked = 0
        while True:
            if requests_asked >= self.max_requests:
                report.outcome = "max_requests"
                return
            requests_asked += 1
            request = self._call_text(
                client,
                report,
                "sendRequestXML",
                {
                    "ticket": ticket,
                    # strHCPResponse is filled only on the first call of a session (NOTES §9).
                    "strHCPResponse": self.company_file.hcp_response() if first else "",
                    "strCompanyFileName": self.company_file.company_file_path,
                    "qbXMLCountry": self.company_file.qbxml_country,
                    "qbXMLMajorVers": major,
                    "qbXMLMinorVers": minor,
                },
            )
            first = False
            if not request:
                # "" means "no more request XML"; QBWC treats it as an error and asks why.
                if self._last_error_is_noop(client, report, ticket):
                    continue
                self._close(client, report, ticket)
                report.outcome = "empty_request"
                return

            report.requests.append(request)
            started = time.perf_counter()
            try:
                response, hresult, message = self.company_file.handle_qbxml(request), "", ""
            except (QuickBooksParseError, QuickBooksVersionError) as refusal:
                # QuickBooks answered nothing; QBWC passes the request processor's HRESULT on
                # (0x80040400 parse error, 0x80040428 unsupported qbXML version).
                response, hresult, message = "", refusal.hresult, refusal.message
            report.quickbooks_seconds.append(time.perf_counter() - started)
            report.responses.append(response)
            report.hresults.append((hresult, message))
            percent = self._call_int(
                client,
                report,
                "receiveResponseXML",
                {"ticket": ticket, "response": response, "hresult": hresult, "message": message},
            )
            report.percents.append(percent)
            if percent >= 100:
                self._close(client, report, ticket)
                report.outcome = "done"
                return
            if percent < 0:
                if self._last_error_is_noop(client, report, ticket):
                    continue
                self._close(client, report, ticket)
                report.outcome = "error"
                return
            # 0..99: percent done; QBWC asks for the next request.

    def _last_error_is_noop(self, client: httpx.Client, report: SessionReport, ticket: str) -> bool:
        last_error = self._call_text(client, report, "getLastError", {"ticket": ticket}) or ""
        report.last_errors.append(last_error)
        if last_error == "NoOp":
            # Not an error: QBWC waits, then calls sendRequestXML again (NOTES §9).
            if self.noop_wait_seconds > 0:
                time.sleep(self.noop_wait_seconds)
            return True
        return False

    def _close(self, client: httpx.Client, report: SessionReport, ticket: str) -> None:
        report.close_message = self._call_text(client, report, "closeConnection", {"ticket": ticket}) or ""

    # ---- SOAP plumbing -------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        # A path is a CA bundle to trust (e.g. the self-signed certificate of a test server).
        verify: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=self.verify) if isinstance(self.verify, str) else self.verify
        )
        return httpx.Client(verify=verify, timeout=self.timeout)

    def _post(self, client: httpx.Client, method: str, envelope: str) -> httpx.Response:
        return client.post(
            self.url,
            content=envelope.encode("utf-8"),
            headers={
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{QBWC_NAMESPACE}{method}"',
            },
        )

    def _result(
        self, client: httpx.Client, report: SessionReport, method: str, params: Mapping[str, SoapValue]
    ) -> etree._Element | None:
        """Calls ``method`` and returns its ``<methodResult>`` element (None when it is absent, which
        the WSDL allows: minOccurs 0). Any failure is recorded and ends the session."""
        report.methods.append(method)
        started = time.perf_counter()
        try:
            response = self._post(client, method, soap_envelope(method, params))
            report.call_seconds.append((method, time.perf_counter() - started))
        except httpx.HTTPError as exc:
            report.soap_faults.append(f"{method}: {type(exc).__name__}: {exc}")
            report.outcome = "soap_fault"
            raise _SessionEnded from exc
        report.http_statuses.append(response.status_code)
        try:
            envelope = _parse_xml(response.content)
        except etree.XMLSyntaxError as exc:
            report.soap_faults.append(
                f"{method}: HTTP {response.status_code}, not XML: {response.text[:200]!r}"
            )
            report.outcome = "soap_fault"
            raise _SessionEnded from exc
        fault = envelope.find(f"{{{SOAP_ENVELOPE_NAMESPACE}}}Body/{{{SOAP_ENVELOPE_NAMESPACE}}}Fault")
        if fault is not None or response.status_code != 200:
            fault_string = fault.findtext("faultstring") if fault is not None else None
            report.soap_faults.append(
                f"{method}: HTTP {response.status_code}: {fault_string or response.text[:200]}"
            )
            report.outcome = "soap_fault"
            raise _SessionEnded
        body_response = envelope.find(
            f"{{{SOAP_ENVELOPE_NAMESPACE}}}Body/{{{QBWC_NAMESPACE}}}{method}Response"
        )
        if body_response is None:
            report.soap_faults.append(
                f"{method}: the answer has no {{{QBWC_NAMESPACE}}}{method}Response element"
            )
            report.outcome = "soap_fault"
            raise _SessionEnded
        return body_response.find(f"{{{QBWC_NAMESPACE}}}{method}Result")

    def _call_text(
        self, client: httpx.Client, report: SessionReport, method: str, params: Mapping[str, SoapValue]
    ) -> str | None:
        result = self._result(client, report, method, params)
        return None if result is None else (result.text or "")

    def _call_strings(
        self, client: httpx.Client, report: SessionReport, method: str, params: Mapping[str, SoapValue]
    ) -> list[str]:
        result = self._result(client, report, method, params)
        if result is None:
            return []
        return [item.text or "" for item in result.findall(f"{{{QBWC_NAMESPACE}}}string")]

    def _call_int(
        self, client: httpx.Client, report: SessionReport, method: str, params: Mapping[str, SoapValue]
    ) -> int:
        text = self._call_text(client, report, method, params)
        try:
            return int((text or "").strip())
        except ValueError as exc:
            # receiveResponseXMLResult is an xsd:int with minOccurs 1; anything else is a broken answer.
            report.soap_faults.append(f"{method}: the result {text!r} is not an integer")
            report.outcome = "soap_fault"
            raise _SessionEnded from exc


def _parse_xml(content: bytes) -> etree._Element:
    # The service is the system under test: read its answers without DTDs, entities or network.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(content, parser)
