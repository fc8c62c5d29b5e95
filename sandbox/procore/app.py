"""The simulated Procore as a Starlette app: the route table (login and API hosts in one app) and
the dispatch every request goes through: injected faults, the request log, and for ``/rest`` the
bearer token, the rate limit and the ``Procore-Company-Id`` header.

Several companies from one API, as Procore serves them: ``create_procore_app(state, *more)``. The
first state is where OAuth happens (its clients issue the tokens, its rate window counts every
request of a token); each ``/rest`` request goes to the company its ``Procore-Company-Id`` header
names (else its ``company_id`` query parameter, else the first). A token works in every company
that has its OAuth client installed (``add_client`` there): a client-credentials token acts as that
company's service account, a user's token as the user with the same login there."""

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
from sandbox.procore.records import AccessToken, RequestLogEntry, User
from sandbox.procore.requests import as_int
from sandbox.procore.state import ProcoreState

Endpoint = Callable[[Request], Awaitable[Response]]


def create_procore_app(state: ProcoreState, *more_companies: ProcoreState) -> Starlette:
    """The simulated Procore (login and API hosts in one app) over ``state``, and over
    ``more_companies`` too (module docstring: one token, each request routed by its company)."""
    companies = (state, *more_companies)
    if len({served.company_id for served in companies}) != len(companies):
        raise ValueError("each company needs its own company_id (give the states different first_id)")

    def wrap(handler: Handler, *, rest: bool = True, company_header: bool = True) -> Endpoint:
        return _endpoint(companies, handler, rest=rest, company_header=company_header)

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


def _endpoint(
    companies: tuple[ProcoreState, ...], handler: Handler, *, rest: bool, company_header: bool
) -> Endpoint:
    async def run(request: Request) -> Response:
        state = _company_of(companies, request) if rest else companies[0]
        fault = state._take_fault(request.method, request.url.path)
        if fault is not None and fault.kind in FAULTS_BEFORE_WORK:
            response = fault_response(fault, state.now(), state.rate_limit.limit)
            _log(state, request, response.status_code)
            return response
        if rest:
            response = await _run_rest(companies, state, request, handler, company_header=company_header)
        else:
            try:
                response = await handler(Call(request, state, None, None, companies))
            except ApiError as error:
                response = error.to_response()
        _log(state, request, response.status_code)
        if fault is not None and fault.kind == "commit_then_timeout":
            await hold_back(fault.delay, state.release_delayed_responses)
        elif fault is not None and fault.kind == "commit_then_502":
            response = bad_gateway_response()
        return response

    return run


def _company_of(companies: tuple[ProcoreState, ...], request: Request) -> ProcoreState:
    """The company a request is for: its header's, else its ``company_id`` parameter's, else the
    first (which then answers a wrong or missing header as Procore does)."""
    if len(companies) == 1:
        return companies[0]
    for raw in (request.headers.get("procore-company-id"), request.query_params.get("company_id")):
        wanted = as_int(raw) if raw is not None else None
        for served in companies:
            if wanted is not None and served.company_id == wanted:
                return served
    return companies[0]


def _acting_user(issuer: ProcoreState, state: ProcoreState, token: AccessToken) -> User | None:
    """Who a token acts as in ``state``: in the company that issued it, its user; in another, that
    company's service account (client credentials) or the user with the same login, if the token's
    OAuth client is installed there."""
    user = issuer._users.get(token.user_id)
    if state is issuer or user is None:
        return user
    if token.client_id not in state._clients:
        raise api_error(403, "App is not connected to this company")
    if user.is_service_account:
        return state._service_account
    found = next((other for other in state._users.values() if other.login == user.login), None)
    if found is None:
        raise api_error(403, "You do not have access to this company")
    return found


async def _run_rest(
    companies: tuple[ProcoreState, ...],
    state: ProcoreState,
    request: Request,
    handler: Handler,
    *,
    company_header: bool,
) -> Response:
    issuer = companies[0]
    token = oauth.token_from_header(issuer, request)
    rate_key = f"{token.client_id}:{token.user_id}" if token is not None else "anonymous"
    allowed, rate_headers, wait = issuer._count_request(rate_key)
    if not allowed:
        return rate_limited_response(rate_headers, wait)
    try:
        user = _acting_user(issuer, state, token) if token is not None else None
        if token is None or user is None:
            raise ApiError(401, {"message": INVALID_TOKEN_MESSAGE})
        if company_header or "company_id" in request.query_params or "project_id" in request.query_params:
            _check_company_header(state, request)
        response = await handler(Call(request, state, user, token, companies))
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
    entry = RequestLogEntry(
        request.method,
        request.url.path,
        request.url.query,
        status,
        state.now(),
        request.headers.get("procore-company-id"),
    )
    with state.lock:
        state.request_log.append(entry)
