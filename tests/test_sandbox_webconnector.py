"""The Web Connector emulator speaks QBWC's SOAP over real HTTP and follows its call sequence.

It is run against a throwaway SOAP endpoint written here (canned answers, every call recorded),
not against the project's service, so these tests prove the emulator itself: well-formed SOAP 1.1
envelopes whose parameters match Intuit's WSDL, and QBWC's loop (nvu, none, busy, 100, negative
-> getLastError, NoOp, empty request, parse error, connectionError).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import httpx
import pytest
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.quickbooks import SandboxCompanyFile
from sandbox.servers import RunningServer, run_asgi_in_thread
from sandbox.webconnector import (
    QBWC_NAMESPACE,
    SOAP_ENVELOPE_NAMESPACE,
    SessionReport,
    WebConnectorEmulator,
    soap_envelope,
)
from tests.shared_reference import intuit_wsdl_path

XSD_NS = "http://www.w3.org/2001/XMLSchema"

HOST_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?>'
    '<QBXML><QBXMLMsgsRq onError="stopOnError"><HostQueryRq requestID="h1"/></QBXMLMsgsRq></QBXML>'
)
PAYMENT_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?>'
    '<QBXML><QBXMLMsgsRq onError="stopOnError"><BillPaymentCheckQueryRq requestID="p&amp;1">'
    "<IncludeLineItems>true</IncludeLineItems></BillPaymentCheckQueryRq></QBXMLMsgsRq></QBXML>"
)


@lru_cache(maxsize=1)
def wsdl_parameters() -> dict[str, list[str]]:
    """Each QBWC request element of Intuit's WSDL -> its parameter names in order."""
    schema = etree.parse(str(intuit_wsdl_path())).find(f".//{{{XSD_NS}}}schema")
    parameters: dict[str, list[str]] = {}
    for element in schema.findall(f"{{{XSD_NS}}}element"):
        sequence = element.find(f"{{{XSD_NS}}}complexType/{{{XSD_NS}}}sequence")
        names = [] if sequence is None else [e.get("name") for e in sequence.findall(f"{{{XSD_NS}}}element")]
        parameters[element.get("name")] = names
    return parameters


@dataclass
class RecordedCall:
    method: str
    params: dict[str, str | None]  # None: the element was absent; "" : present and empty
    soap_action: str
    content_type: str


@dataclass
class FakeQbwcService:
    """A minimal QBWC service with canned answers; it checks and records every call."""

    authenticate: list[str] = field(default_factory=lambda: ["TICKET-1", ""])
    client_version: str = ""
    requests: list[str] = field(default_factory=list)  # sendRequestXML answers, in order
    percents: list[int] = field(default_factory=list)  # receiveResponseXML answers, in order
    last_errors: list[str] = field(default_factory=list)
    connection_error: list[str] = field(default_factory=lambda: ["done"])
    fault_on: str | None = None
    calls: list[RecordedCall] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def of(self, method: str) -> list[dict[str, str | None]]:
        return [call.params for call in self.calls if call.method == method]

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/qbwc", self.endpoint, methods=["POST"])])

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        envelope = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        operation = envelope.find(f"{{{SOAP_ENVELOPE_NAMESPACE}}}Body")[0]
        namespace, method = operation.tag[1:].split("}")
        expected = wsdl_parameters()[method]
        given = [etree.QName(child).localname for child in operation]
        if namespace != QBWC_NAMESPACE:
            self.problems.append(f"{method}: namespace {namespace}")
        if any(etree.QName(child).namespace != QBWC_NAMESPACE for child in operation):
            self.problems.append(f"{method}: unqualified parameter")
        if given != [name for name in expected if name in given]:
            self.problems.append(f"{method}: parameters {given} are not in WSDL order {expected}")
        self.calls.append(
            RecordedCall(
                method=method,
                params={name: _param(operation, name) for name in expected},
                soap_action=request.headers.get("soapaction", ""),
                content_type=request.headers.get("content-type", ""),
            )
        )
        if method == self.fault_on:
            return Response(
                _fault("Server was unable to process request."), status_code=500, media_type="text/xml"
            )
        result = self.answer(method)
        if isinstance(result, list):
            inner = "".join(f"<string>{_escape(item)}</string>" for item in result)
        else:
            inner = _escape(result)
        reply = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<soap:Envelope xmlns:soap="{SOAP_ENVELOPE_NAMESPACE}"><soap:Body>'
            f'<{method}Response xmlns="{QBWC_NAMESPACE}"><{method}Result>{inner}</{method}Result></{method}Response>'
            "</soap:Body></soap:Envelope>"
        )
        return Response(reply, media_type="text/xml; charset=utf-8")

    def answer(self, method: str) -> str | list[str]:
        if method == "serverVersion":
            return "PaySync-fake 1.0"
        if method == "clientVersion":
            return self.client_version
        if method == "authenticate":
            return self.authenticate
        if method == "sendRequestXML":
            return self.requests.pop(0) if self.requests else ""
        if method == "receiveResponseXML":
            return str(self.percents.pop(0) if self.percents else 100)
        if method == "getLastError":
            return self.last_errors.pop(0) if self.last_errors else "No error"
        if method == "connectionError":
            return self.connection_error.pop(0) if self.connection_error else "done"
        if method == "closeConnection":
            return "OK"
        return ""


def _param(operation: etree._Element, name: str) -> str | None:
    element = operation.find(f"{{{QBWC_NAMESPACE}}}{name}")
    return None if element is None else (element.text or "")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fault(message: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENVELOPE_NAMESPACE}">'
        f"<soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>{message}</faultstring>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )


@pytest.fixture
def company() -> SandboxCompanyFile:
    company = SandboxCompanyFile()
    company.add_vendor("Granite Ridge Concrete")
    bill = company.add_bill("Granite Ridge Concrete", "INV-1", Decimal("500.00"))
    company.pay_bills("Granite Ridge Concrete", [(bill, Decimal("500.00"))], check_number="1001")
    return company


@pytest.fixture
def service() -> FakeQbwcService:
    return FakeQbwcService()


@pytest.fixture
def server(service: FakeQbwcService) -> Iterator[RunningServer]:
    with run_asgi_in_thread(service.app()) as running:
        yield running


def emulator_for(
    server: RunningServer,
    company: SandboxCompanyFile,
    *,
    verify: bool | str = True,
    max_requests: int = 10_000,
) -> WebConnectorEmulator:
    return WebConnectorEmulator(
        f"{server.url}/qbwc", "paysync", "s3cret", company, verify=verify, max_requests=max_requests
    )


def run(
    server: RunningServer,
    service: FakeQbwcService,
    company: SandboxCompanyFile,
    *,
    verify: bool | str = True,
    max_requests: int = 10_000,
) -> SessionReport:
    report = emulator_for(server, company, verify=verify, max_requests=max_requests).run_session()
    assert service.problems == []
    return report


# ---- the happy path ------------------------------------------------------------------------


def test_a_full_session_follows_the_protocol_and_the_wsdl(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.requests = [HOST_QUERY, PAYMENT_QUERY]
    service.percents = [50, 100]
    report = run(server, service, company)

    assert service.methods == [
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert report.outcome == "done"
    assert report.methods == service.methods
    assert report.http_statuses == [200] * 8
    assert report.server_version == "PaySync-fake 1.0"
    assert report.client_version_result == ""
    assert report.authenticate_result == ["TICKET-1", ""]
    assert report.ticket == "TICKET-1"
    assert report.percents == [50, 100]
    assert report.close_message == "OK"
    assert report.soap_faults == []

    for call in service.calls:
        assert call.content_type == "text/xml; charset=utf-8"
        assert call.soap_action == f'"http://developer.intuit.com/{call.method}"'
    assert service.of("clientVersion") == [{"strVersion": "2.3.0.215"}]
    assert service.of("authenticate") == [{"strUserName": "paysync", "strPassword": "s3cret"}]

    first, second = service.of("sendRequestXML")
    assert first == {
        "ticket": "TICKET-1",
        "strHCPResponse": company.hcp_response(),  # the qbXML survives escaping byte for byte
        "strCompanyFileName": company.company_file_path,
        "qbXMLCountry": "US",
        "qbXMLMajorVers": "13",
        "qbXMLMinorVers": "0",
    }
    assert second["strHCPResponse"] == ""  # only the first call of a session carries it
    assert report.requests == [HOST_QUERY, PAYMENT_QUERY]

    host_answer, payment_answer = service.of("receiveResponseXML")
    assert host_answer == {
        "ticket": "TICKET-1",
        "response": report.responses[0],
        "hresult": "",
        "message": "",
    }
    assert '<HostQueryRs requestID="h1"' in str(host_answer["response"])
    assert 'requestID="p&amp;1"' in str(payment_answer["response"])
    assert "<RefNumber>1001</RefNumber>" in str(payment_answer["response"])
    assert service.of("closeConnection") == [{"ticket": "TICKET-1"}]
    assert not company.connection_open and company.connections_opened == 1


# ---- authenticate outcomes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"), [("nvu", "not_valid_user"), ("none", "no_work"), ("busy", "busy")]
)
def test_authenticate_nvu_none_and_busy_end_the_session_at_once(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile, status: str, outcome: str
) -> None:
    service.authenticate = ["" if status == "nvu" else "TICKET-2", status, "300"]
    report = run(server, service, company)
    assert service.methods == ["serverVersion", "clientVersion", "authenticate"]
    assert report.outcome == outcome
    assert report.authenticate_result == service.authenticate
    assert report.close_message is None
    assert company.connections_opened == 0


def test_a_client_version_error_stops_before_authenticate(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.client_version = "E:Please upgrade the Web Connector."
    report = run(server, service, company)
    assert service.methods == ["serverVersion", "clientVersion"]
    assert report.outcome == "client_version_rejected"


def test_a_client_version_warning_goes_on(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.client_version = "W:A newer Web Connector is available."
    service.requests = [HOST_QUERY]
    report = run(server, service, company)
    assert report.outcome == "done"


# ---- errors inside the loop -----------------------------------------------------------------


def test_a_negative_percent_asks_get_last_error_then_closes(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.requests = [HOST_QUERY]
    service.percents = [-101]
    service.last_errors = ["QuickBooks answered with an error."]
    report = run(server, service, company)
    assert service.methods[3:] == ["sendRequestXML", "receiveResponseXML", "getLastError", "closeConnection"]
    assert service.of("getLastError") == [{"ticket": "TICKET-1"}]
    assert report.percents == [-101]
    assert report.last_errors == ["QuickBooks answered with an error."]
    assert report.outcome == "error"


def test_noop_from_get_last_error_means_ask_for_the_next_request(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.requests = [HOST_QUERY, PAYMENT_QUERY]
    service.percents = [-1, 100]
    service.last_errors = ["NoOp"]
    report = run(server, service, company)
    assert service.methods[3:] == [
        "sendRequestXML",
        "receiveResponseXML",
        "getLastError",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert report.outcome == "done"


def test_an_empty_request_asks_get_last_error_then_closes(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.requests = [""]
    service.last_errors = ["Nothing to do."]
    report = run(server, service, company)
    assert service.methods[3:] == ["sendRequestXML", "getLastError", "closeConnection"]
    assert report.requests == []
    assert report.outcome == "empty_request"


def test_a_request_quickbooks_cannot_parse_goes_back_as_an_hresult(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    broken = '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
    service.requests = [broken]
    run(server, service, company)
    (answer,) = service.of("receiveResponseXML")
    assert answer == {
        "ticket": "TICKET-1",
        "response": "",
        "hresult": "0x80040400",
        "message": "QuickBooks found an error when parsing the provided XML text stream.",
    }


def test_a_soap_fault_ends_the_session_and_is_reported(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.fault_on = "sendRequestXML"
    report = run(server, service, company)
    assert report.outcome == "soap_fault"
    assert report.http_statuses[-1] == 500
    assert report.soap_faults == ["sendRequestXML: HTTP 500: Server was unable to process request."]
    assert service.methods[-1] == "sendRequestXML"
    assert not company.connection_open


def test_the_request_guard_stops_a_service_that_never_finishes(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.requests = [HOST_QUERY] * 10
    service.percents = [50] * 10
    report = run(server, service, company, max_requests=4)
    assert report.outcome == "max_requests"
    assert len(report.requests) == 4


# ---- opening QuickBooks ---------------------------------------------------------------------


def test_quickbooks_unavailable_calls_connection_error(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    company.refuse_connections()
    report = run(server, service, company)
    assert service.methods == ["serverVersion", "clientVersion", "authenticate", "connectionError"]
    assert service.of("connectionError") == [
        {"ticket": "TICKET-1", "hresult": "0x80040401", "message": "Could not access QuickBooks."}
    ]
    assert report.outcome == "connection_error"
    assert report.connection_error_results == ["done"]


def test_another_company_file_path_fails_then_the_open_file_is_used(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.authenticate = ["TICKET-3", "C:\\Elsewhere\\Other Company.qbw"]
    service.connection_error = [""]  # "" = use the company file that is open
    service.requests = [HOST_QUERY]
    report = run(server, service, company)
    assert service.methods[3:5] == ["connectionError", "sendRequestXML"]
    assert report.outcome == "done"


def test_the_company_file_path_from_authenticate_opens_the_file(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    service.authenticate = ["TICKET-4", company.company_file_path.upper()]
    service.requests = [HOST_QUERY]
    assert run(server, service, company).outcome == "done"
    assert "connectionError" not in service.methods


# ---- low-level helpers ----------------------------------------------------------------------


def test_soap_envelope_is_qualified_and_escapes_text() -> None:
    envelope = soap_envelope(
        "receiveResponseXML", {"ticket": "T", "response": "<a>&</a>", "hresult": "", "x": None}
    )
    root = etree.fromstring(envelope.encode())
    operation = root.find(f"{{{SOAP_ENVELOPE_NAMESPACE}}}Body/{{{QBWC_NAMESPACE}}}receiveResponseXML")
    assert [etree.QName(child).localname for child in operation] == ["ticket", "response", "hresult"]
    assert operation.findtext(f"{{{QBWC_NAMESPACE}}}response") == "<a>&</a>"
    assert "<hresult />" in envelope


def test_call_and_post_send_qbwc_headers(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    emulator = emulator_for(server, company)
    response = emulator.call("getLastError", ticket="T-9")
    assert response.status_code == 200
    assert service.calls[-1].params == {"ticket": "T-9"}
    assert service.calls[-1].soap_action == '"http://developer.intuit.com/getLastError"'
    raw = emulator.post(soap_envelope("closeConnection", {"ticket": "T-9"}), soap_action='"x"')
    assert raw.status_code == 200
    assert service.calls[-1].soap_action == '"x"'


def test_the_fake_service_notices_parameters_out_of_wsdl_order(
    server: RunningServer, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    # Guards the guard: the checks above would be worthless if the fake accepted any order.
    emulator_for(server, company).post(
        soap_envelope("authenticate", {"strPassword": "s3cret", "strUserName": "paysync"}),
        soap_action='"http://developer.intuit.com/authenticate"',
    )
    assert service.problems and "not in WSDL order" in service.problems[0]


# ---- the server helper ----------------------------------------------------------------------


def test_run_asgi_in_thread_picks_a_port_and_stops() -> None:
    async def hello(request: Request) -> Response:
        return Response("hi", media_type="text/plain")

    server = run_asgi_in_thread(Starlette(routes=[Route("/", hello)]))
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(server.url + "/").text == "hi"
    server.stop()
    assert not server.is_running
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/", timeout=2)
    server.stop()  # idempotent


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_with_a_self_signed_certificate(
    tmp_path: Path, service: FakeQbwcService, company: SandboxCompanyFile
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    service.requests = [HOST_QUERY]
    with run_asgi_in_thread(service.app(), ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        assert server.url.startswith("https://")
        report = run(server, service, company, verify=str(cert))
        assert report.outcome == "done"
        untrusted = emulator_for(server, company).run_session()
        assert untrusted.outcome == "soap_fault"
        assert "ConnectError" in untrusted.soap_faults[0]
