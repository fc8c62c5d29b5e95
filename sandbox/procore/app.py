"""The simulated Procore as a Starlette app: the route table (login and API hosts in one app) and
the dispatch every request goes through: injected faults, the request log, and for ``/rest`` the
bearer token, the rate limit and the ``Procore-Company-Id`` header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.procore import commitments, company, oauth, payments
from sandbox.procore.call import Call, Handler
from sandbox.procore.errors import INVALID_TOKEN_MESSAGE, MISSING_COMPANY_HEADER_MESSAGE, ApiError, api_error
from sandbox.procore.faults import (
    FAULTS_BEFORE_WORK,
    bad_gateway_response,
    fault_response,
    hold_back,
    rate_limited_response,
)
from sandbox.procore.records import RequestLogEntry
from sandbox.procore.requests import as_int
from sandbox.procore.state import ProcoreState

Endpoint = Callable[[Request], Awaitable[Response]]


def create_procore_app(state: ProcoreState) -> Starlette:
    """The simulated Procore (login and API hosts in one app) over ``state``."""

    def wrap(handler: Handler, *, rest: bool = True, company_header: bool = True) -> Endpoint:
        return _endpoint(state, handler, rest=rest, company_header=company_header)

    routes = [
        Route("/oauth/token", wrap(oauth.oauth_token, rest=False), methods=["POST"]),
        Route("/oauth/token/info", wrap(oauth.oauth_token_info, rest=False), methods=["GET"]),
        Route("/oauth/revoke", wrap(oauth.oauth_revoke, rest=False), methods=["POST"]),
        Route("/oauth/authorize", wrap(oauth.oauth_authorize, rest=False), methods=["GET"]),
        Route("/rest/v1.0/me", wrap(company.me, company_header=False), methods=["GET"]),
        Route("/rest/v1.0/companies", wrap(company.companies, company_header=False), methods=["GET"]),
        Route("/rest/v1.0/projects", wrap(company.projects), methods=["GET"]),
        Route("/rest/v1.0/vendors", wrap(company.vendors), methods=["GET"]),
        Route(
            "/rest/v1.0/work_order_contracts",
            wrap(commitments.contracts_handler("subcontract")),
            methods=["GET"],
        ),
        Route(
            "/rest/v1.0/work_order_contracts/{id:int}",
            wrap(commitments.contract_handler("subcontract")),
            methods=["GET"],
        ),
        Route(
            "/rest/v1.0/purchase_order_contracts",
            wrap(commitments.contracts_handler("purchase_order")),
            methods=["GET"],
        ),
        Route(
            "/rest/v1.0/purchase_order_contracts/{id:int}",
            wrap(commitments.contract_handler("purchase_order")),
            methods=["GET"],
        ),
        Route("/rest/v1.0/commitments", wrap(commitments.commitments), methods=["GET"]),
        Route("/rest/v1.0/commitments/{id:int}", wrap(commitments.contract_handler(None)), methods=["GET"]),
        Route("/rest/v1.1/requisitions", wrap(commitments.requisitions), methods=["GET"]),
        Route("/rest/v1.1/requisitions/{id:int}", wrap(commitments.requisition), methods=["GET"]),
        Route("/rest/v1.0/settings/permissions", wrap(company.permission_manifest), methods=["GET"]),
        Route("/rest/v1.0/contract_payments", wrap(payments.list_payments), methods=["GET"]),
        Route("/rest/v1.0/contract_payments", wrap(payments.create_payment), methods=["POST"]),
        Route("/rest/v1.0/contract_payments/{id:int}", wrap(payments.show_payment), methods=["GET"]),
        Route("/rest/v1.0/contract_payments/{id:int}", wrap(payments.update_payment), methods=["PATCH"]),
        Route("/rest/v1.0/contract_payments/{id:int}", wrap(payments.delete_payment), methods=["DELETE"]),
        Route(
            "/sandbox-files/{id:int}/{filename}",
            wrap(payments.attachment_file, rest=False),
            methods=["GET"],
        ),
    ]
    return Starlette(routes=routes)


def _endpoint(state: ProcoreState, handler: Handler, *, rest: bool, company_header: bool) -> Endpoint:
    async def run(request: Request) -> Response:
        fault = state._take_fault(request.method, request.url.path)
        if fault is not None and fault.kind in FAULTS_BEFORE_WORK:
            response = fault_response(fault, state.now(), state.rate_limit.limit)
            _log(state, request, response.status_code)
            return response
        if rest:
            response = await _run_rest(state, request, handler, company_header=company_header)
        else:
            try:
                response = await handler(Call(request, state, None, None))
            except ApiError as error:
                response = error.to_response()
        _log(state, request, response.status_code)
        if fault is not None and fault.kind == "commit_then_timeout":
            await hold_back(fault.delay, state.release_delayed_responses)
        elif fault is not None and fault.kind == "commit_then_502":
            response = bad_gateway_response()
        return response

    return run


async def _run_rest(
    state: ProcoreState, request: Request, handler: Handler, *, company_header: bool
) -> Response:
    token = oauth.token_from_header(state, request)
    user = state._users.get(token.user_id) if token is not None else None
    rate_key = f"{token.client_id}:{token.user_id}" if token is not None else "anonymous"
    allowed, rate_headers, wait = state._count_request(rate_key)
    if not allowed:
        return rate_limited_response(rate_headers, wait)
    try:
        if token is None or user is None:
            raise ApiError(401, {"message": INVALID_TOKEN_MESSAGE})
        if company_header or "company_id" in request.query_params or "project_id" in request.query_params:
            _check_company_header(state, request)
        response = await handler(Call(request, state, user, token))
    except ApiError as error:
        response = error.to_response()
    response.headers.update(rate_headers)
    return response


def _check_company_header(state: ProcoreState, request: Request) -> None:
    raw = request.headers.get("procore-company-id")
    if raw is None or not raw.strip():
        raise api_error(400, MISSING_COMPANY_HEADER_MESSAGE)
    company_id = as_int(raw)
    if company_id is None:
        raise api_error(400, "Procore-Company-Id header must be an integer")
    if company_id != state.company_id:
        raise api_error(403, "App is not connected to this company")


def _log(state: ProcoreState, request: Request, status: int) -> None:
    entry = RequestLogEntry(request.method, request.url.path, request.url.query, status, state.now())
    with state.lock:
        state.request_log.append(entry)
