"""The WSDL served at `GET /qbwc?wsdl`.

Same types, messages and SOAP 1.1 binding as Intuit's Web Connector test service
(reference/qbxml/wsdl/intuit-TroubleshootWebServiceFS-QBWebConnectorSvc.wsdl), generated from the
method table in soap.py so the two cannot drift apart; only the service name and location differ.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from .soap import METHOD_PARAMETERS, QBWC_NS

_INT_PARAMETERS = {"qbXMLMajorVers", "qbXMLMinorVers"}


def _request_element(method: str, parameters: tuple[str, ...]) -> str:
    if not parameters:
        return f'<s:element name="{method}"><s:complexType /></s:element>'
    fields = "".join(
        f'<s:element minOccurs="1" maxOccurs="1" name="{name}" type="s:int" />'
        if name in _INT_PARAMETERS
        else f'<s:element minOccurs="0" maxOccurs="1" name="{name}" type="s:string" />'
        for name in parameters
    )
    return f'<s:element name="{method}"><s:complexType><s:sequence>{fields}</s:sequence></s:complexType></s:element>'


def _response_element(method: str) -> str:
    if method == "authenticate":
        result = (
            '<s:element minOccurs="0" maxOccurs="1" name="authenticateResult" type="tns:ArrayOfString" />'
        )
    elif method == "receiveResponseXML":
        result = '<s:element minOccurs="1" maxOccurs="1" name="receiveResponseXMLResult" type="s:int" />'
    else:
        result = f'<s:element minOccurs="0" maxOccurs="1" name="{method}Result" type="s:string" />'
    return f'<s:element name="{method}Response"><s:complexType><s:sequence>{result}</s:sequence></s:complexType></s:element>'


def build_wsdl(location: str) -> str:
    """The service description, with `location` as the SOAP endpoint address."""
    types = "".join(
        _request_element(method, parameters) + _response_element(method)
        for method, parameters in METHOD_PARAMETERS.items()
    )
    array_of_string = (
        '<s:complexType name="ArrayOfString"><s:sequence>'
        '<s:element minOccurs="0" maxOccurs="unbounded" name="string" nillable="true" type="s:string" />'
        "</s:sequence></s:complexType>"
    )
    messages = "".join(
        f'<wsdl:message name="{m}SoapIn"><wsdl:part name="parameters" element="tns:{m}" /></wsdl:message>'
        f'<wsdl:message name="{m}SoapOut"><wsdl:part name="parameters" element="tns:{m}Response" /></wsdl:message>'
        for m in METHOD_PARAMETERS
    )
    operations = "".join(
        f'<wsdl:operation name="{m}"><wsdl:input message="tns:{m}SoapIn" />'
        f'<wsdl:output message="tns:{m}SoapOut" /></wsdl:operation>'
        for m in METHOD_PARAMETERS
    )
    bindings = "".join(
        f'<wsdl:operation name="{m}"><soap:operation soapAction="{QBWC_NS}{m}" style="document" />'
        '<wsdl:input><soap:body use="literal" /></wsdl:input>'
        '<wsdl:output><soap:body use="literal" /></wsdl:output></wsdl:operation>'
        for m in METHOD_PARAMETERS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<wsdl:definitions xmlns:s="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="{QBWC_NS}" '
        f'targetNamespace="{QBWC_NS}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/">'
        "<wsdl:documentation>PaySync: the QuickBooks Web Connector service that reads bill payments "
        "for Procore Payments Issued</wsdl:documentation>"
        f'<wsdl:types><s:schema elementFormDefault="qualified" targetNamespace="{QBWC_NS}">'
        f"{types}{array_of_string}</s:schema></wsdl:types>"
        f"{messages}"
        f'<wsdl:portType name="PaySyncWebConnectorSoap">{operations}</wsdl:portType>'
        '<wsdl:binding name="PaySyncWebConnectorSoap" type="tns:PaySyncWebConnectorSoap">'
        '<soap:binding transport="http://schemas.xmlsoap.org/soap/http" />'
        f"{bindings}</wsdl:binding>"
        '<wsdl:service name="PaySyncWebConnector">'
        '<wsdl:port name="PaySyncWebConnectorSoap" binding="tns:PaySyncWebConnectorSoap">'
        f"<soap:address location={quoteattr(location)} /></wsdl:port></wsdl:service>"
        "</wsdl:definitions>\n"
    )
