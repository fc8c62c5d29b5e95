"""The SOAP layer: hostile and malformed requests get a SOAP Fault (never a traceback), the WSDL
matches Intuit's, and the simple calls answer as the Web Connector expects.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from lxml import etree
from peewee import Database

from storage.models import BillPayment, ErrorEvent, QuickBooksWork
from sync.quickbooks.webconnector.app import create_qbwc_app
from sync.quickbooks.webconnector.service import paysync_version
from sync.quickbooks.webconnector.soap import SoapFault, parse_soap_request
from tests.conftest import RunningFactory
from tests.shared_reference import intuit_wsdl_path
from tests.support.quickbooks_world import PASSWORD, TEST_ITERATIONS, USERNAME, make_settings, qbwc_world

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<authenticate xmlns="http://developer.intuit.com/"><strUserName>&lol9;</strUserName><strPassword>x</strPassword></authenticate>
</soap:Body></soap:Envelope>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<authenticate xmlns="http://developer.intuit.com/"><strUserName>&xxe;</strUserName><strPassword>x</strPassword></authenticate>
</soap:Body></soap:Envelope>"""


def _fault_string(response: httpx.Response) -> str:
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None, response.text
    assert fault.findtext("faultcode") == "soap:Client"
    assert "Traceback" not in response.text
    return fault.findtext("faultstring") or ""


def _still_serves(world_url: str) -> None:
    answer = httpx.post(
        world_url,
        content=(
            f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
            '<serverVersion xmlns="http://developer.intuit.com/"/></soap:Body></soap:Envelope>'
        ),
        headers={"Content-Type": "text/xml; charset=utf-8"},
    )
    assert answer.status_code == 200
    assert "<serverVersionResult>PaySync " in answer.text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "this is not xml <",
            "The request is not XML: syntax error: line 1, column 0. Send a SOAP 1.1 envelope (Content-Type: "
            "text/xml) with one Web Connector method in its soap:Body, as the QuickBooks Web Connector does; "
            "the WSDL at /qbwc?wsdl describes them.",
        ),
        ("", "The request body is empty"),
        ("<Envelope/>", "Expected a SOAP 1.1 Envelope"),
        (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body/></soap:Envelope>', "exactly one method element"),
        (
            f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><authenticate xmlns="http://developer.intuit.com/">'
            "<strUserName>a</strUserName>",
            "The request is not XML: no element found: line 1, column ",
        ),
        (
            f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><deleteEverything xmlns="http://developer.intuit.com/"/>'
            "</soap:Body></soap:Envelope>",
            "Unknown method 'qb:deleteEverything'",
        ),
        (
            f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><sendRequestXML xmlns="http://developer.intuit.com/">'
            "<ticket>t</ticket><qbXMLMajorVers>thirteen</qbXMLMajorVers></sendRequestXML></soap:Body></soap:Envelope>",
            "qbXMLMajorVers must be a whole number",
        ),
    ],
)
def test_malformed_requests_get_a_soap_fault_and_the_server_keeps_serving(
    tmp_path: Path, body: str, expected: str
) -> None:
    with qbwc_world(tmp_path) as world:
        response = world.emulator().post(body, soap_action='"http://developer.intuit.com/authenticate"')

        fault = _fault_string(response)
        assert expected in fault
        # The fault speaks of the request, never of a QuickBooks response or its log.
        assert "response" not in fault and "QWCLog" not in fault
        _still_serves(world.url)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entity_payloads_are_refused_without_expansion(tmp_path: Path, body: str) -> None:
    with qbwc_world(tmp_path) as world:
        world.queue()
        response = world.emulator().post(body)

        message = _fault_string(response)
        assert "DOCTYPE" in message
        assert "root:" not in response.text  # /etc/passwd was not read
        assert "lollol" not in response.text
        assert BillPayment.select().count() == 0
        _still_serves(world.url)


def test_an_oversized_body_is_refused_unread(db: Database, db_url: str, running: RunningFactory) -> None:
    app = create_qbwc_app(make_settings(db_url), password_iterations=TEST_ITERATIONS, max_body_bytes=1024)
    with running(app) as server:
        response = httpx.post(f"{server.url}/qbwc", content=b"<x>" + b"a" * 5000 + b"</x>")
        assert "larger than" in _fault_string(response)


def test_the_wsdl_names_the_same_messages_as_intuits_and_points_at_this_server(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        response = httpx.get(f"{world.url}?wsdl")
        assert response.status_code == 200
        ours = etree.fromstring(response.content)
        reference = etree.parse(str(intuit_wsdl_path())).getroot()

        def elements(root: etree._Element) -> dict[str, list[str]]:
            schema = root.find(f"{{{WSDL}}}types/{{{XSD}}}schema")
            assert schema is not None
            return {
                str(element.get("name")): [
                    str(child.get("name")) for child in element.iter(f"{{{XSD}}}element")
                ][1:]
                for element in schema.findall(f"{{{XSD}}}element")
            }

        assert elements(ours) == elements(reference)
        address = ours.find(
            f".//{{{WSDL}}}service/{{{WSDL}}}port/{{http://schemas.xmlsoap.org/wsdl/soap/}}address"
        )
        assert address is not None
        assert address.get("location") == world.url
        actions = {
            op.get("soapAction") for op in ours.iter("{http://schemas.xmlsoap.org/wsdl/soap/}operation")
        }
        assert "http://developer.intuit.com/sendRequestXML" in actions


def test_server_and_client_version_and_health(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        report = world.session()
        assert report.server_version == f"PaySync {paysync_version()}"
        assert paysync_version()[0].isdigit()
        assert report.client_version_result == ""
        old = world.emulator(client_version="1.5.0.0").run_session()
        assert (old.client_version_result or "").startswith("W:")
        health = httpx.get(f"{world.server.url}/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "service": report.server_version}
        assert httpx.get(world.url).status_code == 200


def test_an_internal_error_is_a_server_fault_without_a_traceback(tmp_path: Path) -> None:
    with qbwc_world(tmp_path) as world:
        world.queue()
        emulator = world.emulator()
        text = emulator.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD).text
        ticket = text.split("<string>")[1].split("</string>")[0]
        # A broken database (dropped table) makes the service fail inside.
        QuickBooksWork._meta.database.execute_sql('DROP TABLE "quick_books_work"')
        response = emulator.call(
            "sendRequestXML",
            ticket=ticket,
            strHCPResponse="",
            strCompanyFileName="",
            qbXMLCountry="US",
            qbXMLMajorVers=13,
            qbXMLMinorVers=0,
        )
        assert response.status_code == 500
        assert "Traceback" not in response.text and "quick_books_work" not in response.text
        assert "internal error" in response.text
        assert ErrorEvent.select().where(ErrorEvent.message.contains("internal error")).count() == 1


def test_parameters_keep_their_exact_text() -> None:
    call = parse_soap_request(
        (
            f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>\n  <authenticate xmlns="http://developer.intuit.com/">\n'
            "    <strUserName>paysync</strUserName>\n    <strPassword>  spaced &amp; &lt;odd&gt;  </strPassword>\n"
            "  </authenticate>\n</soap:Body></soap:Envelope>"
        ).encode()
    )
    assert call.method == "authenticate"
    assert call.text("strPassword") == "  spaced & <odd>  "
    assert call.text("strUserName") == "paysync"


def test_a_soap_12_envelope_is_refused_with_a_hint() -> None:
    with pytest.raises(SoapFault, match="SOAP 1.2 is not supported"):
        parse_soap_request(
            b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>'
        )
