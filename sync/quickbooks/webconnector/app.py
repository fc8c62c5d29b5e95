"""The Web Connector endpoint as a Starlette app: POST /qbwc (SOAP), GET /qbwc?wsdl, GET /healthz.

The database must be open (storage.db.open_database) before create_qbwc_app is called: the app
stores the Web Connector password's hash at start. Blocking work (XML parsing, database,
PBKDF2) runs in Starlette's thread pool so the event loop (shared with the scheduler, and in the
console with Textual) stays responsive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from storage.fields import utc_now
from storage.models import ErrorEvent, database_proxy
from sync.settings import ConfigError, Settings

from .passwords import DEFAULT_ITERATIONS
from .service import WebConnectorService
from .sessions import CloseResult
from .soap import SoapCall, SoapFault, parse_soap_request, soap_fault, soap_response
from .wsdl import build_wsdl

log = logging.getLogger(__name__)

XML_CONTENT_TYPE = "text/xml; charset=utf-8"
# QuickBooks answers can be tens of MB (NOTES); anything far beyond that is refused unread.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# Before a client has a ticket (serverVersion, clientVersion, authenticate) a body is a few hundred
# bytes; the first sendRequestXML carries QuickBooks' host facts (a few KB). Only a body that names
# the ticket of an open session may be larger.
PRE_AUTH_MAX_BODY_BYTES = 64 * 1024
BODY_IDLE_SECONDS = 30.0  # a client that sends nothing for this long is dropped
PRE_AUTH_BODY_SECONDS = 10.0  # the whole of a body without a ticket must arrive within this
BODY_SECONDS = 300.0  # the whole of any body
_TICKET = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?ticket>\s*([0-9a-fA-F]{8,64})\s*</")


class BodyRefused(Exception):
    """The body was not read whole (too large for who sent it, or too slow); the message says why."""


def is_loopback_host(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_tls_settings(settings: Settings) -> None:
    """The Web Connector talks plain HTTP only to localhost; anywhere else it needs HTTPS (NOTES §9)."""
    if settings.qbwc_tls_cert and settings.qbwc_tls_key:
        return
    if not is_loopback_host(settings.qbwc_host):
        raise ConfigError(
            f"QBWC_HOST={settings.qbwc_host} is not a loopback address, and the QuickBooks Web Connector requires "
            "HTTPS except on localhost. Set QBWC_TLS_CERT and QBWC_TLS_KEY to a certificate and key in PEM "
            "files (docs/web-connector.md shows how), or set QBWC_HOST=127.0.0.1 and run the Web Connector "
            "on this machine."
        )


def _xml(body: str, status_code: int = 200, background: BackgroundTask | None = None) -> Response:
    return Response(body, status_code=status_code, media_type=XML_CONTENT_TYPE, background=background)


def _fault(message: str, faultcode: str = "soap:Client") -> Response:
    return _xml(soap_fault(message, faultcode=faultcode), status_code=500)


def create_qbwc_app(
    settings: Settings,
    *,
    on_session_closed: Callable[[str], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
    max_returned: int = 100,
    password_iterations: int = DEFAULT_ITERATIONS,
    fetch_unknown_bills: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """Build the endpoint. Raises ConfigError when QBWC_PASSWORD is missing or too short.

    on_session_closed(file_key) is called after closeConnection has been answered, when the
    session brought new or changed payments or deletions (the engine pushes them to Procore at
    once). It runs in a worker thread; its exceptions are logged, never sent to the Web Connector.
    """
    service = WebConnectorService(
        settings,
        clock=clock,
        max_returned=max_returned,
        password_iterations=password_iterations,
        fetch_unknown_bills=fetch_unknown_bills,
    )
    service.ensure_credential()

    def run_session_closed_hook(file_key: str) -> None:
        if on_session_closed is None:
            return
        try:
            on_session_closed(file_key)
        except Exception:
            log.exception("the session-closed hook failed for company file %s", file_key)

    def dispatch(call: SoapCall, remote_addr: str | None) -> tuple[str, CloseResult | None]:
        method = call.method
        if method == "serverVersion":
            return soap_response(method, service.server_version()), None
        if method == "clientVersion":
            return soap_response(method, service.client_version(call.text("strVersion"))), None
        if method == "authenticate":
            result = service.authenticate(call.text("strUserName"), call.text("strPassword"), remote_addr)
            return soap_response(method, result), None
        if method == "sendRequestXML":
            request = service.send_request_xml(
                call.text("ticket"),
                call.text("strHCPResponse"),
                call.text("strCompanyFileName"),
                call.text("qbXMLCountry"),
                call.integer("qbXMLMajorVers"),
                call.integer("qbXMLMinorVers"),
            )
            return soap_response(method, request), None
        if method == "receiveResponseXML":
            percent = service.receive_response_xml(
                call.text("ticket"), call.text("response"), call.text("hresult"), call.text("message")
            )
            return soap_response(method, percent), None
        if method == "connectionError":
            answer = service.connection_error(call.text("ticket"), call.text("hresult"), call.text("message"))
            return soap_response(method, answer), None
        if method == "getLastError":
            return soap_response(method, service.get_last_error(call.text("ticket"))), None
        if method == "closeConnection":
            closed = service.close_connection(call.text("ticket"))
            return soap_response(method, closed.message), closed
        raise SoapFault(f"Unknown method {method!r}.")

    def handle(body: bytes, remote_addr: str | None) -> tuple[str, CloseResult | None]:
        return dispatch(parse_soap_request(body), remote_addr)

    async def read_body(request: Request) -> bytes:
        """The body, read with limits: at most PRE_AUTH_MAX_BODY_BYTES unless its first part names
        the ticket of an open session, never more than max_body_bytes, and within time limits."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body_bytes:
            raise BodyRefused(
                f"The request is larger than {max_body_bytes // (1024 * 1024)} MB and was refused unread. "
                "Ask QuickBooks for fewer records per page."
            )
        limit, deadline = (
            min(PRE_AUTH_MAX_BODY_BYTES, max_body_bytes),
            time.monotonic() + PRE_AUTH_BODY_SECONDS,
        )
        chunks: list[bytes] = []
        size = 0
        stream: AsyncIterator[bytes] = request.stream().__aiter__()
        while True:
            remaining = deadline - time.monotonic()
            try:
                chunk = await asyncio.wait_for(
                    stream.__anext__(), timeout=max(0.0, min(BODY_IDLE_SECONDS, remaining))
                )
            except StopAsyncIteration:
                return b"".join(chunks)
            except TimeoutError:
                raise BodyRefused(
                    "The request body arrived too slowly and was dropped; the Web Connector sends its requests at once."
                ) from None
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:
                if limit >= max_body_bytes:
                    raise BodyRefused(
                        f"The request is larger than {max_body_bytes // (1024 * 1024)} MB and was refused. "
                        "Ask QuickBooks for fewer records per page."
                    )
                match = _TICKET.search(b"".join(chunks)[:PRE_AUTH_MAX_BODY_BYTES])
                ticket = match.group(1).decode("ascii") if match else ""
                if not ticket or not await run_in_threadpool(service.is_open_ticket, ticket):
                    raise BodyRefused(
                        f"The request is larger than {PRE_AUTH_MAX_BODY_BYTES // 1024} KB but names no open Web "
                        "Connector session, so it was refused unread."
                    )
                limit, deadline = max_body_bytes, time.monotonic() + BODY_SECONDS

    async def soap_endpoint(request: Request) -> Response:
        if request.method == "GET":
            if "wsdl" in {key.lower() for key in request.query_params}:
                location = settings.qbwc_public_url or str(request.url.replace(query=None, fragment=None))
                return _xml(build_wsdl(location))
            return PlainTextResponse(
                "PaySync QuickBooks Web Connector endpoint. The Web Connector POSTs SOAP here; "
                "the service description is at ?wsdl.\n"
            )
        remote = request.client.host if request.client else None
        paused = service.login_paused_until(remote)
        if paused is not None:
            # An address paused for wrong passwords is answered before its body is even read: a
            # flood from it costs next to nothing, and other addresses are served as usual.
            return _xml(
                soap_fault(
                    f"Web Connector logins from {remote} are paused until {paused.strftime('%H:%M UTC')} after "
                    "repeated wrong passwords."
                ),
                status_code=429,
            )
        try:
            body = await read_body(request)
        except BodyRefused as refused:
            log.warning(
                "refused a request body from %s: %s", request.client.host if request.client else "?", refused
            )
            return _fault(str(refused))
        remote_addr = request.client.host if request.client else None
        try:
            answer, closed = await run_in_threadpool(handle, body, remote_addr)
        except SoapFault as fault:
            log.warning("refused a Web Connector request: %s", fault.message)
            return _fault(fault.message, fault.faultcode)
        except ConfigError as exc:
            return _fault(str(exc), "soap:Server")
        except Exception:
            log.exception("internal error while answering the Web Connector")
            try:
                await run_in_threadpool(
                    ErrorEvent.create,
                    where="qbwc",
                    message="PaySync hit an internal error while answering the Web Connector; the session "
                    "stops and the next run starts again. The details are in PaySync's log.",
                )
            except Exception:
                log.exception("could not record the internal error")
            return _fault(
                "PaySync hit an internal error; the details are in PaySync's log. The next Web Connector "
                "run starts again.",
                "soap:Server",
            )
        background = None
        if closed is not None and closed.changed and closed.file_key and on_session_closed is not None:
            background = BackgroundTask(
                run_session_closed_hook, closed.file_key
            )  # a thread, after the answer
        return _xml(answer, background=background)

    def check_database() -> None:
        db = database_proxy.obj
        if db is None:
            raise RuntimeError("database not open")
        db.execute_sql("SELECT 1")

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(check_database)
        except Exception as exc:
            return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "service": service.server_version()})

    app = Starlette(
        routes=[
            Route("/qbwc", soap_endpoint, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.state.qbwc_service = service
    return app
