"""A simulated Procore REST API (Starlette app) for the tests and ``paysync demo``.

This module is an independent stand-in for Procore: it imports nothing from ``sync``,
``storage`` or ``console``, so the project's client is tested against something that does not
share its assumptions. Everything below follows ``shared/reference/procore/API-NOTES.md``;
where that file marks a fact as inferred or unknown, the choice made here is noted with
"(inferred)" or "(sandbox choice)". Where Procore's public reference leaves a behaviour the
product relies on undocumented, the sandbox has a mode per plausible answer: see "Undocumented
behaviours and their modes" below.

One app serves both the login host and the API host.

OAuth (API-NOTES §5)
    POST /oauth/token          grant_type client_credentials | authorization_code | refresh_token;
                               body as JSON, x-www-form-urlencoded or multipart (the docs' curl -F);
                               client credentials in the body or HTTP Basic.
    GET  /oauth/token/info     Bearer token -> {resource_owner_id, scopes, expires_in_seconds, ...}
    POST /oauth/revoke         token -> revokes the access token and its refresh token; always 200
    GET  /oauth/authorize      signs in ``state.default_authorize_login`` (there is no login form)
                               and shows the code for redirect_uri=urn:ietf:wg:oauth:2.0:oob

REST (every call needs ``Authorization: Bearer``; all but /me and /companies need
``Procore-Company-Id``)
    GET  /rest/v1.0/me
    GET  /rest/v1.0/companies
    GET  /rest/v1.0/projects?company_id=
    GET  /rest/v1.0/vendors?company_id=           (the company-level list; the
                                                   /companies/{id}/vendors variant is not served)
    GET  /rest/v1.0/work_order_contracts?project_id=      filters[id|status|created_at|
    GET  /rest/v1.0/purchase_order_contracts?project_id=  updated_at|origin_id], page, per_page
    GET  /rest/v1.0/{work_order|purchase_order}_contracts/{id}?project_id=   (+ payments_issued)
    GET  /rest/v1.0/commitments?project_id=       both kinds, ``type`` WorkOrderContract |
                                                  PurchaseOrderContract; no filters (as the spec)
    GET  /rest/v1.0/commitments/{id}?project_id=  (+ allow_payments, payments_issued)
    GET  /rest/v1.1/requisitions?project_id=      filters[id|commitment_id|status|created_at|
                                                  updated_at|origin_id], page, per_page (30)
    GET  /rest/v1.1/requisitions/{id}?project_id=
    GET  /rest/v1.0/settings/permissions?project_id=  (or ?company_id= for the company manifest)
    GET    /rest/v1.0/contract_payments?project_id&contract_id&page&per_page   (per_page 100)
    GET    /rest/v1.0/contract_payments/{id}?project_id&contract_id
    POST   /rest/v1.0/contract_payments            -> 201
    PATCH  /rest/v1.0/contract_payments/{id}       -> 200
    DELETE /rest/v1.0/contract_payments/{id}?project_id&contract_id  -> 200, empty body

Not Procore: ``GET /sandbox-files/{id}/{filename}`` serves uploaded attachments (the ``url`` of an
attachment points there, the way a real one points at pre-signed storage).

Permission manifest (API-NOTES §7 says the real strings are unknown; sandbox choice)
    tools[].name / friendly_name: ``"commitments"`` / ``"Commitments"`` and
    ``"erp_integrations"`` / ``"ERP Integrations"`` (a ``"directory"`` tool is listed first so
    a client has to look tools up by name). ``user_access_level.name`` is one of ``"None"``,
    ``"Read Only"``, ``"Standard"``, ``"Admin"`` (ids 0-3). An accounting approver (Standard or
    Admin on ERP Integrations plus the privilege) gets
    ``{"action_name": "can_push_to_accounting"}`` in the ERP Integrations ``permitted_actions``.
    Enforced: reading commitments, invoices and payments needs Read Only or more on Commitments;
    writing payments needs ``state.payment_write_level`` (default Admin: Procore's permissions
    matrix ticks "Add a New Payment to the Payments Issued Tab" for Admin only).

Commitments (API-NOTES §1)
    Money fields are decimal strings (item 4 of "Undocumented behaviours and their
    modes" below is the other mode).
    ``currency_configuration`` ``{currency_iso_code, base_currency_iso_code,
    currency_exchange_rate}`` is rendered only for a commitment given a
    ``currency_iso_code`` (list and show of work order / purchase order contracts, /commitments
    show, and its ``payments_issued[]`` items); a commitment without one is in the company's
    currency and has no such key. ``allow_payments`` (/commitments show) is the commitment's
    "Enable Payments" setting (``payments_enabled``).

Contract payments (API-NOTES §3)
    Amounts are decimal strings (``"1250.00"``); a JSON number in a request is refused with 422,
    on purpose stricter than Rails, so floats cannot slip through (in every mode). ``date`` and
    ``amount`` are required on create. ``payment_method`` and ``invoice_date`` are stored but not
    echoed (the response schema has neither); :meth:`ProcoreState.payments` shows them.
    A POST on a commitment whose payments are not enabled gets 422
    ``{"contract_id": ["does not allow payments"]}`` (``PAYMENTS_DISABLED_MESSAGE``; the wording
    is a sandbox choice). ``origin_id`` uniqueness and the ERP lock: see below.
    ERP lock (inferred from the PATCH description and the integration guide): the stored
    payment carries its own lock flag (``erp_locked``, shown by :meth:`ProcoreState.payments`,
    never by the API), set whenever the payment gets an ``origin_id``. While it is set, a PATCH
    that changes anything but ``origin_id``, ``origin_data`` and attachments, and any DELETE, get
    422 ``{"code": 422, "message": ERP_LOCK_MESSAGE, "errors": {"base": [ERP_LOCK_MESSAGE]}}``.
    The lock is judged on the stored record, so an unlock and an edit are two PATCHes, and
    relocking (setting an ``origin_id`` again) is one more. What clears the lock depends on
    ``state.erp_unlock_mode``; :meth:`ProcoreState.unlink_payment` (an accounting approver's
    "Unlink" in ERP Integrations) always does.

Faults (``state.inject_fault``)
    429/500/503 answer before any work; ``commit_then_timeout`` commits and then holds the
    answer back (asyncio sleep, so other requests are served meanwhile); ``commit_then_502``
    commits and answers 502 with an HTML body, as a gateway would.

Errors
    401 ``{"message": "The access token is invalid"}`` (missing, unknown, revoked or expired);
    400 ``{"code": 400, "message": "Missing Procore-Company-Id header!"}``; other errors use the
    generic model ``{"code", "message", "errors": {field: [msg]}}`` with Rails-style messages
    (``"Origin has already been taken"``). OAuth errors are ``{"error", "error_description"}``.

Pagination (API-NOTES §6.1 and Procore's pagination page)
    ``page`` is 1-based; ``per_page`` is clamped to 1000 (sandbox choice); headers ``Total``,
    ``Per-Page`` and ``Link`` with absolute URLs (what their query holds: ``state.link_mode``).
    As Procore's page documents: page 1 has next+last; page 2 has first+next+last (no prev);
    later pages add prev; the last page has no next.

Rate limits (API-NOTES §6.2)
    Counted per token owner (OAuth client + user) in fixed windows of ``state.rate_limit``; every
    /rest response, failed or not, counts and carries ``X-Rate-Limit-Limit/Remaining/Reset`` for
    whichever window has fewer requests left. Over the limit: 429 with ``Retry-After``.

Time: ``state.now()`` is the wall clock plus ``state.advance_clock()`` offsets; token and code
expiry, rate-limit windows and created_at/updated_at all use it.

Undocumented behaviours and their modes
    API-NOTES §12 lists what PaySync relies on that Procore's public reference does not
    document. Each such behaviour has a mode on :class:`ProcoreState` so the product can be
    tested against every plausible answer; the first mode listed is the default (the sandbox's
    original answer). Setting an unknown mode raises ValueError.

    1. Unlocking an ERP-locked payment: ``state.erp_unlock_mode`` (§12, item 1).
       ``"clearing_origin_unlocks"`` (default): a PATCH of ``origin_id`` to null is accepted and
       unlocks the payment; a later PATCH may edit it.
       ``"stays_locked"``: a PATCH of ``origin_id`` to null is accepted and stored
       (``origin_id`` null in responses), but the payment stays locked: every later change to a
       locked field and any DELETE still get 422 ``ERP_LOCK_MESSAGE``, until
       :meth:`ProcoreState.unlink_payment`.
       ``"origin_id_frozen"``: on a locked payment, a PATCH that changes ``origin_id`` (to null
       or to another value) gets 422 ``ERP_LOCK_MESSAGE``; ``origin_data`` and attachments stay
       editable.
       In every mode, :meth:`ProcoreState.unlink_payment` clears ``origin_id`` and the lock
       (and bumps ``updated_at``); setting an ``origin_id`` again locks the payment again.
    2. ``Link`` URLs: ``state.link_mode`` (§12, item 2).
       ``"full_query"`` (default): absolute URLs keeping the whole query (project_id,
       contract_id, company_id, filters) with the new ``page`` and ``per_page``.
       ``"page_only"``: absolute URLs with only ``page`` and ``per_page``, as in the examples on
       Procore's pagination page. Followed literally they lose the required parameters and get
       what any request without them gets: 400 ``"param is missing or the value is empty:
       project_id"`` (``company_id`` for /projects and /vendors).
    3. A payment write reusing an ``origin_id`` already on one of the company's payments (create,
       or a PATCH setting it): ``state.duplicate_origin_mode`` (§12, item 3).
       ``"refuse"`` (default): 422 ``{"message": "Origin has already been taken", "errors":
       {"origin_id": ["has already been taken"]}}`` (``DUPLICATE_ORIGIN_MESSAGE``).
       ``"accept"``: the payment is written with the same ``origin_id`` (201 on create).
    4. How money is rendered: ``state.money_as_numbers`` (the spec types money as strings; a
       serializer writing decimals as numbers is plausible).
       ``False`` (default): decimal strings with two decimals (``"1234.50"``).
       ``True``: JSON numbers written with the same exact digits (``1234.50``, never a binary
       float artefact): payment ``amount``, ``payments_issued[].amount``, every commitment
       amount (``grand_total``, ``total_payments``, ..., and the decimal ``percentage_paid``
       and ``retainage_percent``), requisition ``total_claimed_amount`` and ``summary`` amounts.
       ``percent_complete`` stays text (``"10.00%"``), ``currency_exchange_rate`` stays text,
       and requests still refuse a JSON number for ``amount``.
    5. Commitment currency (sandbox choice): no ``currency_configuration`` key at all for a
       commitment in the company's currency (``add_commitment`` without ``currency_iso_code``);
       requisitions always render one (their commitment's, else the USD triple with rate
       ``"1.0"``); ``/contract_payments`` responses never do (their schema has none).
    6. Payments not enabled on a commitment (API-NOTES §12, "Deployment conflicts": documented
       as refused, not how): 422 ``{"contract_id": ["does not allow payments"]}``, message
       ``PAYMENTS_DISABLED_MESSAGE`` (sandbox choice); only POST checks it, so existing payments
       stay editable and deletable.
    Fixed choices with no mode (§12, item 4): ``amount`` and ``date`` are required on create; a locked
    write is refused with 422; ``erp_status`` is ``"synced"`` / ``"not_synced"``; the demo's
    origin_id shapes (QuickBooks TxnID / ListID) are inferred.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.parser
import email.policy
import json
import math
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = [
    "DEMO_ACCOUNTANT_LOGIN",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_PROJECT_MANAGER_LOGIN",
    "DUPLICATE_ORIGIN_MESSAGE",
    "DUPLICATE_ORIGIN_MODES",
    "ERP_LOCK_MESSAGE",
    "ERP_UNLOCK_MODES",
    "LINK_MODES",
    "OOB_REDIRECT_URI",
    "PAYMENTS_DISABLED_MESSAGE",
    "AccessLevel",
    "CommitmentKind",
    "DuplicateOriginMode",
    "ErpUnlockMode",
    "FaultKind",
    "LinkMode",
    "ProcoreState",
    "RateLimit",
    "RequestLogEntry",
    "create_procore_app",
    "seed_demo",
]

OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"
ERP_LOCK_MESSAGE = "The Contract Payment cannot be edited or deleted because it is synced with an ERP system"
INVALID_TOKEN_MESSAGE = "The access token is invalid"
MISSING_COMPANY_HEADER_MESSAGE = "Missing Procore-Company-Id header!"
# The full messages of two 422 refusals (the ``errors`` are {"origin_id": ["has already been
# taken"]} and {"contract_id": ["does not allow payments"]}).
DUPLICATE_ORIGIN_MESSAGE = "Origin has already been taken"
PAYMENTS_DISABLED_MESSAGE = "Contract does not allow payments"

# Procore ids exceed 32 bits (API-NOTES §1); starting above 2**32 catches int32 truncation.
FIRST_ID = 5_000_000_000
ACCESS_TOKEN_LIFETIME = timedelta(seconds=5400)
AUTHORIZATION_CODE_LIFETIME = timedelta(minutes=10)

DEFAULT_PER_PAGE = 100
CONTRACT_PAYMENTS_PER_PAGE = 100
REQUISITIONS_PER_PAGE = 30  # "Elements per page, default 30" in the v1.1 spec
MAX_PER_PAGE = 1000

CommitmentKind = Literal["subcontract", "purchase_order"]
AccessLevel = Literal["none", "read_only", "standard", "admin"]
FaultKind = Literal["429", "500", "503", "commit_then_timeout", "commit_then_502"]
# Modes of the behaviours Procore does not document (see the module docstring).
ErpUnlockMode = Literal["clearing_origin_unlocks", "stays_locked", "origin_id_frozen"]
LinkMode = Literal["full_query", "page_only"]
DuplicateOriginMode = Literal["refuse", "accept"]
ERP_UNLOCK_MODES: tuple[ErpUnlockMode, ...] = ("clearing_origin_unlocks", "stays_locked", "origin_id_frozen")
LINK_MODES: tuple[LinkMode, ...] = ("full_query", "page_only")
DUPLICATE_ORIGIN_MODES: tuple[DuplicateOriginMode, ...] = ("refuse", "accept")

ACCESS_LEVEL_RANK: dict[str, int] = {"none": 0, "read_only": 1, "standard": 2, "admin": 3}
ACCESS_LEVEL_NAMES: dict[str, str] = {
    "none": "None",
    "read_only": "Read Only",
    "standard": "Standard",
    "admin": "Admin",
}
TOOL_FRIENDLY_NAMES: dict[str, str] = {
    "directory": "Directory",
    "commitments": "Commitments",
    "erp_integrations": "ERP Integrations",
}
TOOL_IDS: dict[str, int] = {"directory": 101, "commitments": 102, "erp_integrations": 103}
PAYMENT_METHODS = ("check", "credit_card", "electronic")
FAULT_KINDS = ("429", "500", "503", "commit_then_timeout", "commit_then_502")
COMMITMENT_TYPES: dict[str, str] = {
    "subcontract": "WorkOrderContract",
    "purchase_order": "PurchaseOrderContract",
}
# Fields a PATCH may still change on an ERP-locked payment (API-NOTES §3.3; attachments are
# uploads, handled apart from the contract_payment fields).
ERP_EDITABLE_FIELDS = frozenset({"origin_id", "origin_data"})
CENT = Decimal("0.01")
# ContractPayment has a field called ``date``, which hides the type inside its class body.
_Date = date


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class Project:
    id: int
    name: str
    project_number: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class Vendor:
    id: int
    name: str
    origin_id: str | None
    origin_data: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class Commitment:
    id: int
    project_id: int
    kind: CommitmentKind
    number: str
    title: str
    vendor_id: int
    status: str
    grand_total: Decimal
    allow_payments: bool
    executed: bool
    origin_id: str | None
    origin_code: str | None
    origin_data: str | None
    retainage_percent: Decimal
    created_at: datetime
    updated_at: datetime
    # None: no currency_configuration is rendered (the commitment is in the company's currency).
    currency_iso_code: str | None = None
    base_currency_iso_code: str | None = None
    currency_exchange_rate: str | None = None


@dataclass
class Requisition:
    id: int
    project_id: int
    commitment_id: int
    number: int
    invoice_number: str
    amount: Decimal
    status: str
    erp_status: str | None
    origin_id: str | None
    origin_data: str | None
    billing_date: date
    created_at: datetime
    updated_at: datetime


@dataclass
class Attachment:
    id: int
    filename: str
    content_type: str
    content: bytes
    url: str

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class ContractPayment:
    id: int
    project_id: int
    contract_id: int
    date: _Date
    amount: Decimal
    payment_method: str | None = None
    check_number: str | None = None
    payment_number: int | None = None
    invoice_number: str | None = None
    invoice_date: _Date | None = None
    draw_request_number: int | None = None
    requisition_id: int | None = None
    notes: str | None = None
    origin_id: str | None = None
    origin_data: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    # The ERP lock, kept apart from origin_id: set whenever the payment gets an origin_id; what
    # clears it depends on ``ProcoreState.erp_unlock_mode`` (and ``unlink_payment`` always does).
    erp_locked: bool = False
    created_by_id: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str


@dataclass
class User:
    id: int
    login: str
    name: str
    # project id -> tool name -> access level
    permissions: dict[int, dict[str, AccessLevel]]
    company_permissions: dict[str, AccessLevel]
    can_push_to_accounting: bool
    is_service_account: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    refresh_token: str | None
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    user_id: int
    used: bool = False


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    user_id: int
    redirect_uri: str
    expires_at: datetime
    used: bool = False


@dataclass(frozen=True)
class RateLimit:
    """Requests allowed per token owner: an hourly window and an optional spike window.

    Procore's docs show ``600`` per hour and ``25`` per 10 s as examples; the sandbox default
    is 3600 per hour with no spike window so that long test runs are not throttled by accident.
    """

    limit: int = 3600
    window_seconds: float = 3600.0
    spike_limit: int | None = None
    spike_window_seconds: float = 10.0


@dataclass
class Fault:
    method: str
    path_prefix: str
    kind: FaultKind
    remaining: int
    retry_after: int
    delay: float


@dataclass(frozen=True)
class RequestLogEntry:
    method: str
    path: str
    query: str
    status: int
    time: datetime


@dataclass
class _RateWindow:
    started_at: datetime
    count: int


@dataclass(frozen=True)
class UploadedFile:
    field_name: str
    filename: str
    content_type: str
    content: bytes


class _Timestamped(Protocol):
    id: int
    created_at: datetime
    updated_at: datetime
    origin_id: str | None


_T = TypeVar("_T", bound=_Timestamped)


class ApiError(Exception):
    """An HTTP error answer; handlers raise it and the dispatcher turns it into a response."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def to_response(self) -> Response:
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def _error(status: int, message: str, errors: Mapping[str, list[str]] | None = None) -> ApiError:
    body: dict[str, Any] = {"code": status, "message": message}
    if errors is not None:
        body["errors"] = dict(errors)
    return ApiError(status, body)


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    return ApiError(
        status,
        {"error": error, "error_description": description},
        {"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


class ProcoreState:
    """Everything the simulated Procore knows, for one company. Thread-safe.

    Seed it with the ``add_*`` helpers (from any thread, before or while the server runs) and
    inspect it with :meth:`payments` and :attr:`request_log`.
    """

    def __init__(self, company_name: str = "Sandbox Construction Co.", *, first_id: int = FIRST_ID) -> None:
        self.lock = threading.RLock()
        self._next_id_value = first_id
        self._clock_offset = timedelta(0)
        self.company_id = self._next_id()
        self.company_name = company_name
        self.rate_limit = RateLimit()
        # Access level needed to create, update or delete contract payments.
        self.payment_write_level: AccessLevel = "admin"
        self.access_token_lifetime = ACCESS_TOKEN_LIFETIME
        # Who GET /oauth/authorize signs in (the sandbox has no login form).
        self.default_authorize_login: str | None = None
        # Modes of the undocumented behaviours (module docstring); the defaults are the
        # sandbox's original answers.
        self._erp_unlock_mode: ErpUnlockMode = "clearing_origin_unlocks"
        self._link_mode: LinkMode = "full_query"
        self._duplicate_origin_mode: DuplicateOriginMode = "refuse"
        # True: money (and the other decimal fields) in responses are JSON numbers, not strings.
        self.money_as_numbers = False
        self.request_log: list[RequestLogEntry] = []

        self._projects: dict[int, Project] = {}
        self._vendors: dict[int, Vendor] = {}
        self._commitments: dict[int, Commitment] = {}
        self._requisitions: dict[int, Requisition] = {}
        self._payments: dict[int, ContractPayment] = {}
        self._attachments: dict[int, Attachment] = {}
        self._clients: dict[str, OAuthClient] = {}
        self._users: dict[int, User] = {}
        self._access_tokens: dict[str, AccessToken] = {}
        self._refresh_tokens: dict[str, RefreshToken] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._faults: list[Fault] = []
        self._rate_windows: dict[tuple[str, str], _RateWindow] = {}
        # Set to end every commit_then_timeout sleep at once (e.g. before a server stops).
        self.release_delayed_responses = threading.Event()

        # The Developer Managed Service Account that client-credentials tokens act as.
        self._service_account = User(
            id=self._next_id(),
            login="service-account@sandbox.procore.invalid",
            name="PaySync Service Account",
            permissions={},
            company_permissions={},
            can_push_to_accounting=False,
            is_service_account=True,
        )
        self._users[self._service_account.id] = self._service_account

    # -- modes of undocumented behaviours ----------------------------------------------------

    @property
    def erp_unlock_mode(self) -> ErpUnlockMode:
        """What a PATCH of ``origin_id`` does to an ERP-locked payment (module docstring)."""
        return self._erp_unlock_mode

    @erp_unlock_mode.setter
    def erp_unlock_mode(self, value: ErpUnlockMode) -> None:
        self._erp_unlock_mode = _checked_mode(value, ERP_UNLOCK_MODES, "erp_unlock_mode")

    @property
    def link_mode(self) -> LinkMode:
        """``"full_query"``: ``Link`` URLs keep the request's query; ``"page_only"``: only
        ``page`` and ``per_page``."""
        return self._link_mode

    @link_mode.setter
    def link_mode(self, value: LinkMode) -> None:
        self._link_mode = _checked_mode(value, LINK_MODES, "link_mode")

    @property
    def duplicate_origin_mode(self) -> DuplicateOriginMode:
        """``"refuse"``: a payment write reusing a company's origin_id gets 422; ``"accept"``:
        it is stored."""
        return self._duplicate_origin_mode

    @duplicate_origin_mode.setter
    def duplicate_origin_mode(self, value: DuplicateOriginMode) -> None:
        self._duplicate_origin_mode = _checked_mode(value, DUPLICATE_ORIGIN_MODES, "duplicate_origin_mode")

    # -- clock and ids ---------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the simulated clock forward (token expiry, rate windows, timestamps)."""
        with self.lock:
            self._clock_offset += timedelta(seconds=seconds)

    def _next_id(self) -> int:
        with self.lock:
            value = self._next_id_value
            self._next_id_value += 1
            return value

    # -- service account -------------------------------------------------------------------

    @property
    def service_account_id(self) -> int:
        return self._service_account.id

    @property
    def service_account_permissions(self) -> dict[int, dict[str, AccessLevel]]:
        """Project id -> tool -> level for client-credentials tokens (the DMSA's permitted projects)."""
        return self._service_account.permissions

    @service_account_permissions.setter
    def service_account_permissions(self, value: Mapping[int, Mapping[str, AccessLevel]]) -> None:
        with self.lock:
            self._service_account.permissions = _checked_permissions(value)

    @property
    def service_account_company_permissions(self) -> dict[str, AccessLevel]:
        return self._service_account.company_permissions

    @service_account_company_permissions.setter
    def service_account_company_permissions(self, value: Mapping[str, AccessLevel]) -> None:
        with self.lock:
            self._service_account.company_permissions = _checked_tool_levels(value)

    @property
    def service_account_can_push_to_accounting(self) -> bool:
        return self._service_account.can_push_to_accounting

    @service_account_can_push_to_accounting.setter
    def service_account_can_push_to_accounting(self, value: bool) -> None:
        with self.lock:
            self._service_account.can_push_to_accounting = value

    # -- seeding ----------------------------------------------------------------------------

    def add_project(self, name: str, *, project_number: str | None = None) -> int:
        with self.lock:
            now = self.now()
            project = Project(self._next_id(), name, project_number, now, now)
            self._projects[project.id] = project
            return project.id

    def add_vendor(self, name: str, origin_id: str | None = None, *, origin_data: str | None = None) -> int:
        with self.lock:
            now = self.now()
            vendor = Vendor(self._next_id(), name, origin_id, origin_data, now, now)
            self._vendors[vendor.id] = vendor
            return vendor.id

    def add_commitment(
        self,
        project_id: int,
        kind: CommitmentKind,
        number: str,
        title: str,
        vendor_id: int,
        origin_id: str | None = None,
        *,
        grand_total: Decimal | str = "0.00",
        status: str = "Approved",
        allow_payments: bool = True,
        executed: bool = True,
        origin_code: str | None = None,
        origin_data: str | None = None,
        retainage_percent: Decimal | str = "0.00",
        currency_iso_code: str | None = None,
        base_currency_iso_code: str | None = None,
        currency_exchange_rate: Decimal | str | None = None,
        payments_enabled: bool = True,
    ) -> int:
        """A commitment. ``payments_enabled`` is Procore's "Enable Payments" setting, rendered as
        ``allow_payments`` (the same switch as ``allow_payments``: payments are allowed only if
        both are true). ``currency_iso_code`` gives the commitment a ``currency_configuration``
        (with the base currency and exchange rate, when given); without it none is rendered."""
        if kind not in COMMITMENT_TYPES:
            raise ValueError(f"kind must be 'subcontract' or 'purchase_order', not {kind!r}")
        rate = None if currency_exchange_rate is None else str(currency_exchange_rate)
        if currency_iso_code is None and (base_currency_iso_code is not None or rate is not None):
            raise ValueError("base_currency_iso_code and currency_exchange_rate need a currency_iso_code")
        with self.lock:
            if project_id not in self._projects:
                raise KeyError(f"no project {project_id}")
            if vendor_id not in self._vendors:
                raise KeyError(f"no vendor {vendor_id}")
            now = self.now()
            commitment = Commitment(
                id=self._next_id(),
                project_id=project_id,
                kind=kind,
                number=number,
                title=title,
                vendor_id=vendor_id,
                status=status,
                grand_total=Decimal(grand_total),
                allow_payments=allow_payments,
                executed=executed,
                origin_id=origin_id,
                origin_code=origin_code,
                origin_data=origin_data,
                retainage_percent=Decimal(retainage_percent),
                created_at=now,
                updated_at=now,
                currency_iso_code=currency_iso_code,
                base_currency_iso_code=base_currency_iso_code,
                currency_exchange_rate=rate,
            )
            commitment.allow_payments = allow_payments and payments_enabled
            self._commitments[commitment.id] = commitment
            return commitment.id

    def add_requisition(
        self,
        project_id: int,
        commitment_id: int,
        invoice_number: str,
        number: int,
        amount: Decimal | str,
        origin_id: str | None = None,
        erp_status: str | None = "synced",
        *,
        status: str = "approved",
        billing_date: date | None = None,
        origin_data: str | None = None,
    ) -> int:
        """A subcontractor invoice. ``erp_status`` values are not enumerated by Procore's spec;
        the sandbox uses ``"synced"`` and ``"not_synced"`` (inferred)."""
        with self.lock:
            commitment = self._commitments.get(commitment_id)
            if commitment is None or commitment.project_id != project_id:
                raise KeyError(f"no commitment {commitment_id} in project {project_id}")
            now = self.now()
            requisition = Requisition(
                id=self._next_id(),
                project_id=project_id,
                commitment_id=commitment_id,
                number=number,
                invoice_number=invoice_number,
                amount=Decimal(amount),
                status=status,
                erp_status=erp_status,
                origin_id=origin_id,
                origin_data=origin_data,
                billing_date=billing_date or now.date(),
                created_at=now,
                updated_at=now,
            )
            self._requisitions[requisition.id] = requisition
            return requisition.id

    def add_payment(
        self,
        project_id: int,
        contract_id: int,
        amount: Decimal | str,
        payment_date: date,
        **fields: Any,
    ) -> int:
        """A payment that already exists in Procore (entered by hand, or by another integration).

        ``fields`` are ContractPayment attributes (origin_id, payment_number, notes, ...).
        No validation: this is for arranging a scenario, not for testing the API. A payment
        seeded with an ``origin_id`` is ERP-locked unless ``erp_locked`` says otherwise.
        """
        with self.lock:
            commitment = self._commitments.get(contract_id)
            if commitment is None or commitment.project_id != project_id:
                raise KeyError(f"no commitment {contract_id} in project {project_id}")
            now = self.now()
            payment = ContractPayment(
                id=self._next_id(),
                project_id=project_id,
                contract_id=contract_id,
                date=payment_date,
                amount=Decimal(amount),
                created_at=now,
                updated_at=now,
            )
            for name, value in fields.items():
                if not hasattr(payment, name) or name in {"id", "project_id", "contract_id"}:
                    raise TypeError(f"unknown contract payment field {name!r}")
                setattr(payment, name, value)
            if "erp_locked" not in fields:
                payment.erp_locked = payment.origin_id is not None
            self._payments[payment.id] = payment
            return payment.id

    def update_commitment(self, commitment_id: int, **changes: Any) -> None:
        """Change a commitment as if edited in Procore; bumps ``updated_at``.

        ``payments_enabled`` is accepted as another name for ``allow_payments`` (Procore's
        "Enable Payments" setting); ``currency_exchange_rate`` is stored as text.
        """
        changes = dict(changes)
        if "payments_enabled" in changes:
            enabled = changes.pop("payments_enabled")
            if "allow_payments" in changes and changes["allow_payments"] != enabled:
                raise ValueError("payments_enabled and allow_payments disagree")
            changes["allow_payments"] = enabled
        if changes.get("currency_exchange_rate") is not None:
            changes["currency_exchange_rate"] = str(changes["currency_exchange_rate"])
        with self.lock:
            _apply_changes(self._commitments[commitment_id], changes, self.now())

    def unlink_payment(self, payment_id: int) -> None:
        """An accounting approver's "Unlink" in the ERP Integrations tool: clears the payment's
        ``origin_id`` and its ERP lock, whatever ``erp_unlock_mode`` is, and bumps
        ``updated_at``. The payment is editable until an origin_id is set again (which locks it)."""
        with self.lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(f"no contract payment {payment_id}")
            payment.origin_id = None
            payment.erp_locked = False
            payment.updated_at = self.now()

    def update_requisition(self, requisition_id: int, **changes: Any) -> None:
        """Change a subcontractor invoice as if edited in Procore; bumps ``updated_at``."""
        with self.lock:
            _apply_changes(self._requisitions[requisition_id], changes, self.now())

    def add_client(self, client_id: str, client_secret: str) -> None:
        with self.lock:
            self._clients[client_id] = OAuthClient(client_id, client_secret)

    def add_user(
        self,
        login: str,
        permissions: Mapping[int, Mapping[str, AccessLevel]],
        *,
        name: str | None = None,
        company_permissions: Mapping[str, AccessLevel] | None = None,
        can_push_to_accounting: bool = False,
    ) -> int:
        """A Procore user. ``permissions`` maps project id -> {"commitments": level,
        "erp_integrations": level}; a project not listed is one the user is not a member of."""
        with self.lock:
            if any(user.login == login for user in self._users.values()):
                raise ValueError(f"user {login!r} exists")
            user = User(
                id=self._next_id(),
                login=login,
                name=name or login.split("@")[0],
                permissions=_checked_permissions(permissions),
                company_permissions=_checked_tool_levels(company_permissions or {}),
                can_push_to_accounting=can_push_to_accounting,
            )
            self._users[user.id] = user
            return user.id

    def issue_authorization_code(
        self, client_id: str, user_login: str, redirect_uri: str = OOB_REDIRECT_URI
    ) -> str:
        """What Procore shows the user after sign-in: a single-use code valid for 10 minutes."""
        with self.lock:
            if client_id not in self._clients:
                raise KeyError(f"no OAuth client {client_id!r}")
            user = self._user_by_login(user_login)
            code = AuthorizationCode(
                code=secrets.token_hex(16),
                client_id=client_id,
                user_id=user.id,
                redirect_uri=redirect_uri,
                expires_at=self.now() + AUTHORIZATION_CODE_LIFETIME,
            )
            self._codes[code.code] = code
            return code.code

    def expire_all_tokens(self) -> None:
        """Make every access token expired (refresh tokens stay usable, as in Procore)."""
        with self.lock:
            expired_at = self.now() - timedelta(seconds=1)
            for token in self._access_tokens.values():
                token.expires_at = min(token.expires_at, expired_at)

    def inject_fault(
        self,
        method: str,
        path_prefix: str,
        kind: FaultKind,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 5.0,
    ) -> None:
        """Answer the next ``times`` matching requests with a failure.

        ``method`` is an HTTP method or ``"*"``; ``path_prefix`` matches the URL path.
        ``"429"``, ``"500"`` and ``"503"`` answer before anything is done (429 and 503 carry
        ``Retry-After: retry_after``). ``"commit_then_timeout"`` does the work, commits it, then
        waits ``delay`` seconds before answering, so a client with a shorter read timeout loses
        the response of a write that happened. ``"commit_then_502"`` commits and answers 502.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self.lock:
            self._faults.append(Fault(method.upper(), path_prefix, kind, times, retry_after, delay))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def reset_rate_limits(self) -> None:
        with self.lock:
            self._rate_windows.clear()

    # -- inspection ---------------------------------------------------------------------------

    def payments(self, contract_id: int | None = None) -> list[dict[str, Any]]:
        """Every live contract payment (optionally of one commitment), as the API renders it
        (money always as decimal strings) plus what the API does not echo: ``payment_method``,
        ``invoice_date``, attachment sizes and ``erp_locked``."""
        with self.lock:
            selected = [
                payment
                for payment in sorted(self._payments.values(), key=lambda p: p.id)
                if contract_id is None or payment.contract_id == contract_id
            ]
            result = []
            for payment in selected:
                rendered = _plain(_render_payment(payment))
                rendered["erp_locked"] = payment.erp_locked
                rendered["payment_method"] = payment.payment_method
                rendered["invoice_date"] = _date_text(payment.invoice_date)
                rendered["attachments"] = [
                    {"id": a.id, "url": a.url, "filename": a.filename, "size": a.size}
                    for a in payment.attachments
                ]
                result.append(rendered)
            return result

    def log_entries(self, method: str | None = None, path_prefix: str = "") -> list[RequestLogEntry]:
        """Logged requests, optionally only one method and path prefix (e.g. to count writes)."""
        with self.lock:
            return [
                entry
                for entry in self.request_log
                if (method is None or entry.method == method.upper()) and entry.path.startswith(path_prefix)
            ]

    # -- internals used by the app ------------------------------------------------------------

    def _user_by_login(self, login: str) -> User:
        for user in self._users.values():
            if user.login == login:
                return user
        raise KeyError(f"no user {login!r}")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.method in ("*", method) and path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return replace(fault)
            return None

    def _tool_level(self, user: User, project_id: int | None, tool: str) -> AccessLevel:
        if project_id is None:
            return user.company_permissions.get(tool, "none")
        return user.permissions.get(project_id, {}).get(tool, "none")

    def _count_request(self, key: str) -> tuple[bool, dict[str, str], int]:
        """Count one request against ``key``'s windows.

        Returns (allowed, rate headers, seconds to wait when refused). A refused request is
        not counted, so a client that waits as told gets in.
        """
        with self.lock:
            now = self.now()
            limits = self.rate_limit
            windows: list[tuple[int, _RateWindow, datetime]] = []
            specs: list[tuple[str, int, float]] = []
            if limits.spike_limit is not None:
                specs.append(("spike", limits.spike_limit, limits.spike_window_seconds))
            specs.append(("hourly", limits.limit, limits.window_seconds))
            for name, limit, seconds in specs:
                window = self._rate_windows.get((key, name))
                if window is None or now >= window.started_at + timedelta(seconds=seconds):
                    window = _RateWindow(now, 0)
                    self._rate_windows[(key, name)] = window
                windows.append((limit, window, window.started_at + timedelta(seconds=seconds)))
            refused = [item for item in windows if item[1].count >= item[0]]
            if refused:
                # Wait for the exhausted window that reopens last.
                limit, _, reset = max(refused, key=lambda item: item[2])
                wait = max(1, math.ceil((reset - now).total_seconds()))
                return False, _rate_headers(limit, 0, reset), wait
            for _, counted, _ in windows:
                counted.count += 1
            # Report the window closest to running out, as Procore does (ties: the spike one).
            limit, reported, reset = min(windows, key=lambda item: item[0] - item[1].count)
            return True, _rate_headers(limit, limit - reported.count, reset), 0


def _rate_headers(limit: int, remaining: int, reset: datetime) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(max(0, remaining)),
        # Rounded up: a client that waits until this second has really passed the reset.
        "X-Rate-Limit-Reset": str(math.ceil(reset.timestamp())),
    }


_M = TypeVar("_M", bound=str)


def _checked_mode(value: _M, allowed: tuple[_M, ...], name: str) -> _M:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")
    return value


def _checked_tool_levels(levels: Mapping[str, AccessLevel]) -> dict[str, AccessLevel]:
    for tool, level in levels.items():
        if level not in ACCESS_LEVEL_RANK:
            raise ValueError(
                f"{tool}: access level must be one of {sorted(ACCESS_LEVEL_RANK)}, not {level!r}"
            )
    return dict(levels)


def _checked_permissions(
    permissions: Mapping[int, Mapping[str, AccessLevel]],
) -> dict[int, dict[str, AccessLevel]]:
    return {int(project_id): _checked_tool_levels(levels) for project_id, levels in permissions.items()}


def _apply_changes(record: Any, changes: Mapping[str, Any], now: datetime) -> None:
    for name, value in changes.items():
        if name in {"id", "created_at", "updated_at"} or not hasattr(record, name):
            raise TypeError(f"{type(record).__name__} has no editable field {name!r}")
        current = getattr(record, name)
        setattr(record, name, Decimal(value) if isinstance(current, Decimal) else value)
    record.updated_at = now


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _cents(amount: Decimal) -> Decimal:
    """A money value as rendered: rounded to cents, never ``-0.00``.

    Renderers put these Decimals in response bodies; the response encoder writes them as decimal
    strings (``"1250.00"``) or, with ``state.money_as_numbers``, as JSON numbers (``1250.00``).
    """
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return cents if cents != 0 else Decimal("0.00")


def _decimal_text(amount: Decimal) -> str:
    return format(amount, "f")  # never an exponent


def _money(amount: Decimal) -> str:
    return _decimal_text(_cents(amount))


ZERO_MONEY = Decimal("0.00")


def _plain(value: Any) -> Any:
    """A rendered body with its Decimals as decimal strings (what the default mode sends)."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _decimal_as_string(value: Any) -> str:
    if isinstance(value, Decimal):
        return _decimal_text(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_with_decimal_numbers(value: Any) -> str:
    """JSON text in which every Decimal is a bare number written with its own digits
    (``Decimal("1234.50")`` -> ``1234.50``), so no binary float ever rounds it."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, dict):
        members = (
            f"{json.dumps(str(key), ensure_ascii=False)}:{_json_with_decimal_numbers(item)}"
            for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_with_decimal_numbers(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


class _ApiJSONResponse(JSONResponse):
    """A JSON body whose Decimals are decimal strings, or JSON numbers if ``decimals_as_numbers``."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        decimals_as_numbers: bool = False,
    ) -> None:
        self.decimals_as_numbers = decimals_as_numbers
        super().__init__(content, status_code=status_code, headers=headers)

    def render(self, content: Any) -> bytes:
        if self.decimals_as_numbers:
            return _json_with_decimal_numbers(content).encode("utf-8")
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_decimal_as_string
        ).encode("utf-8")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_text(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _render_attachment(attachment: Attachment) -> dict[str, Any]:
    return {"id": attachment.id, "url": attachment.url, "filename": attachment.filename}


def _render_payment(payment: ContractPayment) -> dict[str, Any]:
    # The response schema has neither payment_method nor invoice_date (API-NOTES §3.1-3.2),
    # so they are stored but not echoed; nor currency_configuration (only payments_issued items
    # have one) nor the ERP lock flag.
    return {
        "id": payment.id,
        "amount": _cents(payment.amount),
        "check_number": payment.check_number,
        "contract_id": payment.contract_id,
        "created_at": _timestamp(payment.created_at),
        "updated_at": _timestamp(payment.updated_at),
        "date": payment.date.isoformat(),
        "date_payment_settled": None,
        "date_payment_initiated": None,
        "draw_request_number": payment.draw_request_number,
        "external_payment_id": None,  # only Procore Pay payments have one
        "invoice_number": payment.invoice_number,
        "notes": payment.notes,
        "payment_number": payment.payment_number,
        "attachments": [_render_attachment(a) for a in payment.attachments],
        "project_id": payment.project_id,
        "requisition_id": payment.requisition_id,
        "origin_id": payment.origin_id,
        "origin_code": None,  # no origin_code input exists for contract payments
        "origin_data": payment.origin_data,
        "status": None,  # a Procore Pay lifecycle status; none for recorded payments (inferred)
    }


def _currency_configuration(commitment: Commitment) -> dict[str, Any] | None:
    """A commitment's currency_configuration, or None when it has none (company currency)."""
    if commitment.currency_iso_code is None:
        return None
    return {
        "currency_iso_code": commitment.currency_iso_code,
        "base_currency_iso_code": commitment.base_currency_iso_code,
        "currency_exchange_rate": commitment.currency_exchange_rate,
    }


def _render_payment_issued(payment: ContractPayment, commitment: Commitment) -> dict[str, Any]:
    """The smaller payment object nested in commitment show responses (API-NOTES §3.2); it
    carries its commitment's currency_configuration when the commitment has one."""
    rendered: dict[str, Any] = {
        "id": payment.id,
        "amount": _cents(payment.amount),
        "check_number": payment.check_number,
        "created_at": _timestamp(payment.created_at),
        "date": payment.date.isoformat(),
        "draw_request_number": payment.draw_request_number,
        "invoice_number": payment.invoice_number,
        "notes": payment.notes,
        "payment_number": payment.payment_number,
        "attachments": [_render_attachment(a) for a in payment.attachments],
        "origin_id": payment.origin_id,
        "origin_data": payment.origin_data,
    }
    currency = _currency_configuration(commitment)
    if currency is not None:
        rendered["currency_configuration"] = currency
    return rendered


# --------------------------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------------------------

_RAILS_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_DECIMAL_TEXT = re.compile(r"^[+-]?\d+(\.\d+)?$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")


def _nest_rails_fields(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``contract_payment[amount]=1`` -> ``{"contract_payment": {"amount": "1"}}``; ``a[]`` -> list."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        match = _RAILS_KEY.match(key)
        if match is None:
            result[key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        container: dict[str, Any] = result
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            if last:
                container[part] = value
            elif following == "":
                existing = container.setdefault(part, [])
                if isinstance(existing, list):
                    existing.append(value)
                break
            else:
                nested = container.setdefault(part, {})
                if not isinstance(nested, dict):
                    nested = {}
                    container[part] = nested
                container = nested
    return result


def _parse_multipart(body: bytes, content_type: str) -> tuple[list[tuple[str, str]], list[UploadedFile]]:
    """multipart/form-data with the standard library (starlette's parser needs python-multipart)."""
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise _error(400, "Malformed multipart/form-data body")
    fields: list[tuple[str, str]] = []
    files: list[UploadedFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append(UploadedFile(name, filename, part.get_content_type(), content))
        else:
            fields.append((name, content.decode("utf-8", errors="replace")))
    return fields, files


async def _read_body(request: Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        return {}, []
    if media_type == "multipart/form-data":
        pairs, files = _parse_multipart(raw, content_type)
        return _nest_rails_fields(pairs), files
    if media_type == "application/x-www-form-urlencoded":
        return _nest_rails_fields(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)), []
    try:
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _error(400, "The request body is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise _error(400, "The request body must be a JSON object")
    return decoded, []


def _as_int(value: Any) -> int | None:
    """An integer from JSON (not bool, not float) or from a form field's digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        return int(value.strip())
    return None


def _required_int(value: Any, name: str) -> int:
    if value is None or value == "":
        raise _error(400, f"param is missing or the value is empty: {name}")
    number = _as_int(value)
    if number is None:
        raise _error(400, f"{name} must be an integer")
    return number


def _query_int(request: Request, name: str, *, required: bool = True) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise _error(400, f"param is missing or the value is empty: {name}")
        return None
    return _required_int(value, name)


def _humanize(field_name: str) -> str:
    """Rails' humanize, which is why errors on origin_id read "Origin ...": drops ``_id``."""
    text = field_name.removesuffix("_id").replace("_", " ")
    return text[:1].upper() + text[1:]


def _full_messages(errors: Mapping[str, list[str]]) -> str:
    messages = [
        message if name == "base" else f"{_humanize(name)} {message}"
        for name, field_messages in errors.items()
        for message in field_messages
    ]
    return "; ".join(messages)


def _unprocessable(errors: Mapping[str, list[str]]) -> ApiError:
    return _error(422, _full_messages(errors), errors)


def _parse_time_bound(text: str, *, end: bool) -> datetime:
    text = text.strip()
    if _DATE_TEXT.match(text):
        day = date.fromisoformat(text)
        start_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # A date-only end bound covers that whole day.
        return start_of_day + timedelta(days=1, microseconds=-1) if end else start_of_day
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _parse_time_range(raw: str, parameter: str) -> tuple[datetime, datetime]:
    """``start...end`` (ISO 8601 dates or date-times); both ends inclusive (inferred).

    Procore's filtering guide shows the range wrapped in double quotes, so quotes are allowed.
    """
    text = raw.strip().strip('"')
    if "..." not in text:
        raise _error(400, f"{parameter} must be a range written start...end")
    start_text, end_text = text.split("...", 1)
    try:
        return _parse_time_bound(start_text, end=False), _parse_time_bound(end_text, end=True)
    except ValueError:
        raise _error(400, f"{parameter} must be ISO 8601 dates or date-times: {raw}") from None


def _filter_values(request: Request, name: str) -> list[str]:
    return request.query_params.getlist(f"filters[{name}]") + request.query_params.getlist(
        f"filters[{name}][]"
    )


def _filter_ints(request: Request, name: str) -> set[int] | None:
    values = _filter_values(request, name)
    if not values:
        return None
    result: set[int] = set()
    for value in values:
        for piece in value.split(","):
            number = _as_int(piece)
            if number is None:
                raise _error(400, f"filters[{name}] must be integers")
            result.add(number)
    return result


def _apply_filters(
    request: Request,
    items: list[_T],
    *,
    status_of: Callable[[_T], str] | None = None,
    commitment_of: Callable[[_T], int] | None = None,
) -> list[_T]:
    """The ``filters[...]`` the spec lists for commitments and requisitions (API-NOTES §6.5)."""
    ids = _filter_ints(request, "id")
    if ids is not None:
        items = [item for item in items if item.id in ids]
    for attribute in ("created_at", "updated_at"):
        raw = request.query_params.get(f"filters[{attribute}]")
        if raw:
            start, end = _parse_time_range(raw, f"filters[{attribute}]")
            items = [item for item in items if start <= getattr(item, attribute) <= end]
    origin_ids = _filter_values(request, "origin_id")
    if origin_ids:
        items = [item for item in items if item.origin_id in origin_ids]
    statuses = _filter_values(request, "status")
    if statuses and status_of is not None:
        items = [item for item in items if status_of(item) in statuses]
    if commitment_of is not None:
        commitment_ids = _filter_ints(request, "commitment_id")
        if commitment_ids is not None:
            items = [item for item in items if commitment_of(item) in commitment_ids]
    return items


def _paginate(
    request: Request, items: list[Any], default_per_page: int, link_mode: LinkMode = "full_query"
) -> tuple[list[Any], dict[str, str]]:
    requested_page = _query_int(request, "page", required=False)
    requested_per_page = _query_int(request, "per_page", required=False)
    page = 1 if requested_page is None else requested_page
    per_page = default_per_page if requested_per_page is None else requested_per_page
    if page < 1 or per_page < 1:
        raise _error(400, "page and per_page must be positive integers")
    per_page = min(per_page, MAX_PER_PAGE)
    total = len(items)
    last_page = max(1, math.ceil(total / per_page))
    window = items[(page - 1) * per_page : page * per_page]

    # "page_only" links carry nothing of the request's query but page and per_page, like the
    # examples on Procore's pagination page; a client that follows them literally loses
    # project_id, contract_id and filters.
    query_pairs = (
        []
        if link_mode == "page_only"
        else [
            (key, value)
            for key, value in parse_qsl(request.url.query, keep_blank_values=True)
            if key not in {"page", "per_page"}
        ]
    )
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"

    def link(target: int, relation: str) -> str:
        query = urlencode([*query_pairs, ("page", str(target)), ("per_page", str(per_page))], safe="[]")
        return f'<{base}?{query}>; rel="{relation}"'

    links: list[str] = []
    # Which relations appear follows Procore's pagination page: page 2 has no "prev".
    if page > 1:
        links.append(link(1, "first"))
    if page > 2:
        links.append(link(min(page - 1, last_page), "prev"))
    if page < last_page:
        links.append(link(page + 1, "next"))
    if last_page > 1:
        links.append(link(last_page, "last"))
    headers = {"Total": str(total), "Per-Page": str(per_page)}
    if links:
        headers["Link"] = ", ".join(links)
    return window, headers


# --------------------------------------------------------------------------------------------
# Contract payment fields
# --------------------------------------------------------------------------------------------

_STRING_FIELD_LIMITS: dict[str, int | None] = {
    # 255 for the short fields is the usual Rails string column (inferred).
    "check_number": 255,
    "invoice_number": 255,
    "origin_id": 255,
    "origin_data": None,
    "notes": None,
}
_INTEGER_FIELDS = ("payment_number", "draw_request_number", "requisition_id")
_DATE_FIELDS = ("date", "invoice_date")
PAYMENT_FIELDS = frozenset(
    {"amount", "payment_method", *_STRING_FIELD_LIMITS, *_INTEGER_FIELDS, *_DATE_FIELDS}
)


def _parse_payment_fields(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Normalise the ``contract_payment`` fields that were sent; unknown keys are ignored,
    as Rails strong parameters do."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, value in raw.items():
        if name not in PAYMENT_FIELDS:
            continue
        if name == "amount":
            if value is None or value == "":
                values[name] = None
            elif isinstance(value, bool | int | float):
                # Stricter than Rails, on purpose: money travels as decimal strings, and a JSON
                # number is how a float sneaks in.
                fail(name, 'must be a decimal string such as "1250.00", not a JSON number')
            elif not isinstance(value, str) or not _DECIMAL_TEXT.match(value.strip()):
                fail(name, "is not a number")
            else:
                try:
                    # More than two decimals are rounded, as a decimal(_, 2) column would.
                    values[name] = Decimal(value.strip()).quantize(CENT, rounding=ROUND_HALF_UP)
                except InvalidOperation:
                    fail(name, "is not a number")
        elif name in _DATE_FIELDS:
            if value is None or value == "":
                values[name] = None
            elif not isinstance(value, str) or not _DATE_TEXT.match(value):
                fail(name, "must be a date written YYYY-MM-DD")
            else:
                try:
                    values[name] = date.fromisoformat(value)
                except ValueError:
                    fail(name, "is not a valid date")
        elif name == "payment_method":
            if value is None or value == "":
                values[name] = None
            elif value not in PAYMENT_METHODS:
                fail(name, "is not included in the list")
            else:
                values[name] = value
        elif name in _INTEGER_FIELDS:
            if value is None or value == "":
                values[name] = None
            else:
                number = _as_int(value)
                if number is None:
                    fail(name, "must be an integer")
                else:
                    values[name] = number
        else:
            limit = _STRING_FIELD_LIMITS[name]
            if value is None:
                values[name] = None
            elif isinstance(value, bool) or not isinstance(value, str | int):
                fail(name, "is invalid")
            else:
                text = str(value)
                if limit is not None and len(text) > limit:
                    fail(name, f"is too long (maximum is {limit} characters)")
                # A blank origin_id is treated as none: it neither locks nor collides (inferred).
                values[name] = None if name == "origin_id" and not text.strip() else text
    return values, errors


# --------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------

Handler = Callable[["_Call"], Awaitable[Response]]


@dataclass
class _Call:
    request: Request
    user: User | None
    token: AccessToken | None

    @property
    def principal(self) -> User:
        assert self.user is not None, "handler of an authenticated route called without a user"
        return self.user


class _ProcoreApp:
    def __init__(self, state: ProcoreState) -> None:
        self.state = state

    def _json(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A JSON answer whose Decimals follow ``state.money_as_numbers``."""
        return _ApiJSONResponse(
            content, status_code, headers, decimals_as_numbers=self.state.money_as_numbers
        )

    def _page(self, request: Request, items: list[Any], default_per_page: int) -> Response:
        """One page of ``items`` with Total, Per-Page and Link headers (``state.link_mode``)."""
        page, headers = _paginate(request, items, default_per_page, self.state.link_mode)
        return self._json(page, headers=headers)

    # -- dispatch --------------------------------------------------------------------------------

    def endpoint(
        self, handler: Handler, *, rest: bool = True, company_header: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            fault = self.state._take_fault(request.method, request.url.path)
            if fault is not None and fault.kind in ("429", "500", "503"):
                response = self._fault_response(fault)
                self._log(request, response.status_code)
                return response
            if rest:
                response = await self._run_rest(request, handler, company_header=company_header)
            else:
                try:
                    response = await handler(_Call(request, None, None))
                except ApiError as error:
                    response = error.to_response()
            self._log(request, response.status_code)
            if fault is not None and fault.kind == "commit_then_timeout":
                await self._delay(fault.delay)
            elif fault is not None and fault.kind == "commit_then_502":
                response = HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)
            return response

        return run

    async def _run_rest(self, request: Request, handler: Handler, *, company_header: bool) -> Response:
        token = self._token_from_header(request)
        user = self.state._users.get(token.user_id) if token is not None else None
        rate_key = f"{token.client_id}:{token.user_id}" if token is not None else "anonymous"
        allowed, rate_headers, wait = self.state._count_request(rate_key)
        if not allowed:
            return JSONResponse(
                {"code": 429, "message": "Rate limit exceeded"},
                status_code=429,
                headers={**rate_headers, "Retry-After": str(wait)},
            )
        try:
            if token is None or user is None:
                raise ApiError(401, {"message": INVALID_TOKEN_MESSAGE})
            if company_header or "company_id" in request.query_params or "project_id" in request.query_params:
                self._check_company_header(request)
            response = await handler(_Call(request, user, token))
        except ApiError as error:
            response = error.to_response()
        response.headers.update(rate_headers)
        return response

    def _token_from_header(self, request: Request) -> AccessToken | None:
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        with self.state.lock:
            token = self.state._access_tokens.get(value.strip())
            if token is None or token.revoked or token.expires_at <= self.state.now():
                return None
            return token

    def _check_company_header(self, request: Request) -> None:
        raw = request.headers.get("procore-company-id")
        if raw is None or not raw.strip():
            raise _error(400, MISSING_COMPANY_HEADER_MESSAGE)
        company_id = _as_int(raw)
        if company_id is None:
            raise _error(400, "Procore-Company-Id header must be an integer")
        if company_id != self.state.company_id:
            raise _error(403, "App is not connected to this company")

    def _fault_response(self, fault: Fault) -> Response:
        if fault.kind == "429":
            reset = self.state.now() + timedelta(seconds=fault.retry_after)
            limit = self.state.rate_limit.limit
            return JSONResponse(
                {"code": 429, "message": "Rate limit exceeded"},
                status_code=429,
                headers={**_rate_headers(limit, 0, reset), "Retry-After": str(fault.retry_after)},
            )
        if fault.kind == "503":
            # Heavy-load throttling: plain text, with Retry-After (API-NOTES §6.2).
            return PlainTextResponse(
                "Service Unavailable", status_code=503, headers={"Retry-After": str(fault.retry_after)}
            )
        return JSONResponse({"code": 500, "message": "Internal Server Error"}, status_code=500)

    async def _delay(self, seconds: float) -> None:
        # Short sleeps so that release_delayed_responses can end the wait (a stopping server
        # otherwise waits for the sleeping response); asyncio.sleep keeps the server serving.
        deadline = asyncio.get_running_loop().time() + seconds
        while not self.state.release_delayed_responses.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(0.05, remaining))

    def _log(self, request: Request, status: int) -> None:
        entry = RequestLogEntry(request.method, request.url.path, request.url.query, status, self.state.now())
        with self.state.lock:
            self.state.request_log.append(entry)

    # -- access checks -----------------------------------------------------------------------

    def _project(
        self, call: _Call, project_id: int, tool: str = "commitments", level: str = "read_only"
    ) -> Project:
        project = self.state._projects.get(project_id)
        if project is None:
            raise _error(404, f"Couldn't find Project with 'id'={project_id}")
        granted = self.state._tool_level(call.principal, project_id, tool)
        if ACCESS_LEVEL_RANK[granted] < ACCESS_LEVEL_RANK[level]:
            raise _error(
                403,
                f"You do not have {ACCESS_LEVEL_NAMES[level]} access to the "
                f"{TOOL_FRIENDLY_NAMES.get(tool, tool)} tool of this project",
            )
        return project

    def _check_company_param(self, call: _Call) -> None:
        company_id = _query_int(call.request, "company_id")
        if company_id != self.state.company_id:
            raise _error(404, f"Couldn't find Company with 'id'={company_id}")

    # -- OAuth ---------------------------------------------------------------------------------

    async def oauth_token(self, call: _Call) -> Response:
        fields, _ = await _read_body(call.request)
        client_id, client_secret = self._client_credentials(call.request, fields)
        grant_type = str(fields.get("grant_type") or "")
        state = self.state
        with state.lock:
            client = state._clients.get(client_id)
            if client is None or not secrets.compare_digest(client.client_secret, client_secret):
                raise _oauth_error(
                    401,
                    "invalid_client",
                    "Client authentication failed due to unknown client, no client authentication "
                    "included, or unsupported authentication method.",
                )
            if grant_type == "client_credentials":
                token = self._issue_token(client_id, state.service_account_id, with_refresh=False)
            elif grant_type == "authorization_code":
                code = state._codes.get(str(fields.get("code") or ""))
                redirect_uri = str(fields.get("redirect_uri") or "")
                if (
                    code is None
                    or code.used
                    or code.client_id != client_id
                    or code.expires_at <= state.now()
                    or redirect_uri != code.redirect_uri
                    or redirect_uri != OOB_REDIRECT_URI
                ):
                    raise self._invalid_grant()
                code.used = True
                token = self._issue_token(client_id, code.user_id, with_refresh=True)
            elif grant_type == "refresh_token":
                refresh = state._refresh_tokens.get(str(fields.get("refresh_token") or ""))
                if refresh is None or refresh.used or refresh.client_id != client_id:
                    raise self._invalid_grant()
                # Single use: the old refresh token dies now, even if this response is lost.
                refresh.used = True
                token = self._issue_token(client_id, refresh.user_id, with_refresh=True)
            elif not grant_type:
                raise _oauth_error(
                    400, "invalid_request", "The request is missing a required parameter: grant_type."
                )
            else:
                raise _oauth_error(
                    400,
                    "unsupported_grant_type",
                    "The authorization grant type is not supported by the authorization server.",
                )
            body: dict[str, Any] = {
                "access_token": token.token,
                "token_type": "bearer",
                "expires_in": int((token.expires_at - token.created_at).total_seconds()),
                "created_at": int(token.created_at.timestamp()),
            }
            if token.refresh_token is not None:
                body["refresh_token"] = token.refresh_token
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @staticmethod
    def _invalid_grant() -> ApiError:
        return _oauth_error(
            400,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the "
            "redirection URI used in the authorization request, or was issued to another client.",
        )

    @staticmethod
    def _client_credentials(request: Request, fields: Mapping[str, Any]) -> tuple[str, str]:
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return "", ""
            client_id, _, client_secret = decoded.partition(":")
            return client_id, client_secret
        return str(fields.get("client_id") or ""), str(fields.get("client_secret") or "")

    def _issue_token(self, client_id: str, user_id: int, *, with_refresh: bool) -> AccessToken:
        now = self.state.now()
        refresh_value: str | None = None
        if with_refresh:
            refresh_value = "sbx-rt-" + secrets.token_hex(24)
            self.state._refresh_tokens[refresh_value] = RefreshToken(refresh_value, client_id, user_id)
        token = AccessToken(
            token="sbx-at-" + secrets.token_hex(24),
            client_id=client_id,
            user_id=user_id,
            created_at=now,
            expires_at=now + self.state.access_token_lifetime,
            refresh_token=refresh_value,
        )
        self.state._access_tokens[token.token] = token
        return token

    async def oauth_token_info(self, call: _Call) -> Response:
        token = self._token_from_header(call.request)
        if token is None:
            raise _oauth_error(401, "invalid_token", "The access token is invalid")
        return JSONResponse(
            {
                "resource_owner_id": token.user_id,
                "scopes": [],
                "expires_in_seconds": max(0, int((token.expires_at - self.state.now()).total_seconds())),
                "application": {"uid": token.client_id},
                "created_at": int(token.created_at.timestamp()),
            }
        )

    async def oauth_revoke(self, call: _Call) -> Response:
        fields, _ = await _read_body(call.request)
        value = str(fields.get("token") or "")
        with self.state.lock:
            for token in self.state._access_tokens.values():
                if value in (token.token, token.refresh_token):
                    token.revoked = True
                    if token.refresh_token in self.state._refresh_tokens:
                        self.state._refresh_tokens[token.refresh_token].used = True
            if value in self.state._refresh_tokens:
                self.state._refresh_tokens[value].used = True
        # Revocation answers 200 even for an unknown token (API-NOTES §5.2).
        return JSONResponse({})

    async def oauth_authorize(self, call: _Call) -> Response:
        params = call.request.query_params
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if params.get("response_type") != "code" or client_id not in self.state._clients:
            return HTMLResponse("<h1>Invalid authorization request</h1>", status_code=400)
        if redirect_uri != OOB_REDIRECT_URI:
            # The sandbox app is registered with the out-of-band redirect URI only.
            return HTMLResponse("<h1>The redirect uri included is not valid.</h1>", status_code=400)
        login = self.state.default_authorize_login
        if login is None:
            return HTMLResponse(
                "<h1>No user is signed in to the sandbox (set default_authorize_login)</h1>", status_code=400
            )
        code = self.state.issue_authorization_code(client_id, login, redirect_uri)
        return HTMLResponse(
            "<html><body><h1>Authorization code</h1>"
            f'<p>Copy this code into your application:</p><code id="code">{code}</code></body></html>'
        )

    # -- identity, company, projects, vendors ----------------------------------------------

    async def me(self, call: _Call) -> Response:
        user = call.principal
        return JSONResponse({"id": user.id, "login": user.login, "name": user.name})

    async def companies(self, call: _Call) -> Response:
        return JSONResponse(
            [{"id": self.state.company_id, "name": self.state.company_name, "is_active": True}]
        )

    async def projects(self, call: _Call) -> Response:
        self._check_company_param(call)
        with self.state.lock:
            user = call.principal
            visible = [
                p
                for p in sorted(self.state._projects.values(), key=lambda p: p.id)
                if p.id in user.permissions
            ]
            rendered = [
                {
                    "id": project.id,
                    "name": project.name,
                    "display_name": f"{project.project_number} - {project.name}"
                    if project.project_number
                    else project.name,
                    "project_number": project.project_number,
                    "active": True,
                    "origin_id": None,
                    "company": {"id": self.state.company_id, "name": self.state.company_name},
                    "created_at": _timestamp(project.created_at),
                    "updated_at": _timestamp(project.updated_at),
                }
                for project in visible
            ]
        return self._page(call.request, rendered, DEFAULT_PER_PAGE)

    async def vendors(self, call: _Call) -> Response:
        self._check_company_param(call)
        with self.state.lock:
            rendered = [
                {
                    "id": vendor.id,
                    "name": vendor.name,
                    "is_active": True,
                    "origin_id": vendor.origin_id,
                    "origin_code": None,
                    "origin_data": vendor.origin_data,
                    "synced_to_erp": vendor.origin_id is not None,
                    "created_at": _timestamp(vendor.created_at),
                    "updated_at": _timestamp(vendor.updated_at),
                }
                for vendor in sorted(self.state._vendors.values(), key=lambda v: v.id)
            ]
        return self._page(call.request, rendered, DEFAULT_PER_PAGE)

    # -- commitments ---------------------------------------------------------------------------

    def _commitment_totals(self, commitment: Commitment) -> dict[str, Decimal]:
        paid = sum(
            (p.amount for p in self.state._payments.values() if p.contract_id == commitment.id), Decimal("0")
        )
        invoiced = sum(
            (r.amount for r in self.state._requisitions.values() if r.commitment_id == commitment.id),
            Decimal("0"),
        )
        revised = commitment.grand_total
        percentage = (paid / revised * 100) if revised else Decimal("0")
        return {
            "grand_total": _cents(commitment.grand_total),
            "revised_contract": _cents(revised),
            "approved_change_orders": ZERO_MONEY,
            "pending_change_orders": ZERO_MONEY,
            "draft_change_orders_amount": ZERO_MONEY,
            "pending_revised_contract": _cents(revised),
            "total_payments": _cents(paid),
            "total_requisitions_amount": _cents(invoiced),
            "total_draw_requests_amount": _cents(invoiced),
            "remaining_balance_outstanding": _cents(revised - paid),
            "percentage_paid": _cents(percentage),
            "retainage_percent": _cents(commitment.retainage_percent),
        }

    def _render_contract(self, commitment: Commitment, *, show: bool) -> dict[str, Any]:
        project = self.state._projects[commitment.project_id]
        vendor = self.state._vendors[commitment.vendor_id]
        rendered: dict[str, Any] = {
            "id": commitment.id,
            "number": commitment.number,
            "title": commitment.title,
            "description": None,
            "status": commitment.status,
            "executed": commitment.executed,
            "private": False,
            "accounting_method": "amount",
            "requisitions_are_enabled": True,
            "origin_id": commitment.origin_id,
            "origin_code": commitment.origin_code,
            "origin_data": commitment.origin_data,
            "created_at": _timestamp(commitment.created_at),
            "updated_at": _timestamp(commitment.updated_at),
            "deleted_at": None,
            **self._commitment_totals(commitment),
            "project": {"id": project.id, "name": project.name},
            "vendor": {"id": vendor.id, "company": vendor.name},
        }
        currency = _currency_configuration(commitment)
        if currency is not None:
            rendered["currency_configuration"] = currency
        if show:
            rendered["vendor"] = {
                "id": vendor.id,
                "company": vendor.name,
                "origin_id": vendor.origin_id,
                "origin_data": vendor.origin_data,
            }
            rendered["attachments"] = []
            rendered["line_items"] = []
            rendered["payments_issued"] = self._payments_issued(commitment)
        return rendered

    def _payments_issued(self, commitment: Commitment) -> list[dict[str, Any]]:
        return [
            _render_payment_issued(p, commitment)
            for p in sorted(self.state._payments.values(), key=lambda p: p.id)
            if p.contract_id == commitment.id
        ]

    def _project_commitments(self, project_id: int, kind: CommitmentKind | None) -> list[Commitment]:
        return [
            c
            for c in sorted(self.state._commitments.values(), key=lambda c: c.id)
            if c.project_id == project_id and (kind is None or c.kind == kind)
        ]

    def contracts(self, kind: CommitmentKind) -> Handler:
        async def list_contracts(call: _Call) -> Response:
            project_id = _query_int(call.request, "project_id")
            assert project_id is not None
            with self.state.lock:
                self._project(call, project_id)
                selected = _apply_filters(
                    call.request, self._project_commitments(project_id, kind), status_of=lambda c: c.status
                )
                rendered = [self._render_contract(c, show=False) for c in selected]
            return self._page(call.request, rendered, DEFAULT_PER_PAGE)

        return list_contracts

    def contract(self, kind: CommitmentKind | None) -> Handler:
        async def show_contract(call: _Call) -> Response:
            project_id = _query_int(call.request, "project_id")
            assert project_id is not None
            contract_id = int(call.request.path_params["id"])
            with self.state.lock:
                self._project(call, project_id)
                commitment = self.state._commitments.get(contract_id)
                if (
                    commitment is None
                    or commitment.project_id != project_id
                    or kind not in (None, commitment.kind)
                ):
                    raise _error(404, f"Couldn't find commitment with 'id'={contract_id}")
                if kind is None:
                    rendered = self._render_generic_commitment(commitment)
                    rendered["allow_payments"] = commitment.allow_payments
                    rendered["allow_payment_applications"] = True
                    rendered["payments_issued"] = self._payments_issued(commitment)
                    rendered.update(self._commitment_totals(commitment))
                    currency = _currency_configuration(commitment)
                    if currency is not None:
                        rendered["currency_configuration"] = currency
                else:
                    rendered = self._render_contract(commitment, show=True)
            return self._json(rendered)

        return show_contract

    def _render_generic_commitment(self, commitment: Commitment) -> dict[str, Any]:
        vendor = self.state._vendors[commitment.vendor_id]
        return {
            "id": commitment.id,
            "title": commitment.title,
            "number": commitment.number,
            "status": commitment.status,
            "type": COMMITMENT_TYPES[commitment.kind],
            "description": None,
            "executed": commitment.executed,
            "private": False,
            "delivery_date": None,
            "created_at": _timestamp(commitment.created_at),
            "vendor": {"id": vendor.id, "name": vendor.name},
        }

    async def commitments(self, call: _Call) -> Response:
        project_id = _query_int(call.request, "project_id")
        assert project_id is not None
        with self.state.lock:
            self._project(call, project_id)
            rendered = [
                self._render_generic_commitment(c) for c in self._project_commitments(project_id, None)
            ]
        return self._page(call.request, rendered, DEFAULT_PER_PAGE)

    # -- requisitions -------------------------------------------------------------------------

    def _render_requisition(self, requisition: Requisition) -> dict[str, Any]:
        commitment = self.state._commitments[requisition.commitment_id]
        vendor = self.state._vendors[commitment.vendor_id]
        siblings = sorted(
            (r for r in self.state._requisitions.values() if r.commitment_id == requisition.commitment_id),
            key=lambda r: (r.number, r.id),
        )
        earlier = [r for r in siblings if (r.number, r.id) < (requisition.number, requisition.id)]
        previous_total = sum((r.amount for r in earlier), Decimal("0"))
        to_date = previous_total + requisition.amount
        retainage = (to_date * commitment.retainage_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        previous_retainage = (previous_total * commitment.retainage_percent / 100).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
        contract_sum = commitment.grand_total
        percent = (to_date / contract_sum * 100) if contract_sum else Decimal("0")
        period_start = requisition.billing_date.replace(day=1)
        return {
            "id": requisition.id,
            "previous_requisition_id": earlier[-1].id if earlier else None,
            "project_id": requisition.project_id,
            "commitment_id": requisition.commitment_id,
            "commitment_type": COMMITMENT_TYPES[commitment.kind],
            "contract_name": commitment.title,
            "vendor_id": vendor.id,
            "vendor_name": vendor.name,
            "number": requisition.number,
            "invoice_number": requisition.invoice_number,
            "invoice_type": None,
            "billing_date": requisition.billing_date.isoformat(),
            "period_id": None,
            "requisition_start": period_start.isoformat(),
            "requisition_end": requisition.billing_date.isoformat(),
            "submitted_at": _timestamp(requisition.created_at),
            "payment_date": None,
            "created_at": _timestamp(requisition.created_at),
            "updated_at": _timestamp(requisition.updated_at),
            "status": requisition.status,
            "erp_status": requisition.erp_status,
            "final": False,
            "deletable": requisition.origin_id is None,
            "origin_id": requisition.origin_id,
            "origin_data": requisition.origin_data,
            "total_claimed_amount": _cents(requisition.amount),
            "percent_complete": f"{_money(percent)}%",  # text with a % sign in every mode
            "summary": {
                "current_payment_due": _cents(requisition.amount - (retainage - previous_retainage)),
                "contract_sum_to_date": _cents(contract_sum),
                "original_contract_sum": _cents(contract_sum),
                "net_change_by_change_orders": ZERO_MONEY,
                "total_completed_and_stored_to_date": _cents(to_date),
                "total_earned_less_retainage": _cents(to_date - retainage),
                "total_retainage": _cents(retainage),
                "completed_work_retainage_amount": _cents(retainage),
                "less_previous_certificates_for_payment": _cents(previous_total - previous_retainage),
                "balance_to_finish_including_retainage": _cents(contract_sum - to_date + retainage),
                "formatted_period": requisition.billing_date.strftime("%b %Y"),
            },
            # The invoice is in its commitment's currency; without one, the USD triple the
            # sandbox has always rendered (sandbox choice).
            "currency_configuration": _currency_configuration(commitment)
            or {
                "currency_iso_code": "USD",
                "currency_exchange_rate": "1.0",
                "base_currency_iso_code": "USD",
            },
            "attachments": [],
        }

    async def requisitions(self, call: _Call) -> Response:
        project_id = _query_int(call.request, "project_id")
        assert project_id is not None
        with self.state.lock:
            self._project(call, project_id)
            in_project = [
                r
                for r in sorted(self.state._requisitions.values(), key=lambda r: r.id)
                if r.project_id == project_id
            ]
            selected = _apply_filters(
                call.request,
                in_project,
                status_of=lambda r: r.status,
                commitment_of=lambda r: r.commitment_id,
            )
            rendered = [self._render_requisition(r) for r in selected]
        return self._page(call.request, rendered, REQUISITIONS_PER_PAGE)

    async def requisition(self, call: _Call) -> Response:
        project_id = _query_int(call.request, "project_id")
        assert project_id is not None
        requisition_id = int(call.request.path_params["id"])
        with self.state.lock:
            self._project(call, project_id)
            requisition = self.state._requisitions.get(requisition_id)
            if requisition is None or requisition.project_id != project_id:
                raise _error(404, f"Couldn't find Requisition with 'id'={requisition_id}")
            return self._json(self._render_requisition(requisition))

    # -- permissions ---------------------------------------------------------------------------

    async def permissions(self, call: _Call) -> Response:
        project_id = _query_int(call.request, "project_id", required=False)
        company_id = _query_int(call.request, "company_id", required=False)
        user = call.principal
        if project_id is None and company_id is None:
            raise ApiError(
                400, {"error": {"code": "bad_request", "message": "project_id or company_id is required"}}
            )
        with self.state.lock:
            if project_id is not None:
                if project_id not in self.state._projects:
                    raise _error(404, f"Couldn't find Project with 'id'={project_id}")
                if project_id not in user.permissions:
                    raise _error(403, "You are not a member of this project")
                tools: tuple[str, ...] = ("directory", "commitments", "erp_integrations")
                base_url = f"/{project_id}/project"
            else:
                if company_id != self.state.company_id:
                    raise _error(404, f"Couldn't find Company with 'id'={company_id}")
                tools = ("directory", "erp_integrations")
                base_url = f"/{company_id}/company"
            rendered = []
            for tool in tools:
                # Everyone in a project can read its directory; the rest comes from the user.
                level: AccessLevel = (
                    "read_only" if tool == "directory" else self.state._tool_level(user, project_id, tool)
                )
                actions: list[dict[str, Any]] = []
                if (
                    tool == "erp_integrations"
                    and user.can_push_to_accounting
                    and ACCESS_LEVEL_RANK[level] >= ACCESS_LEVEL_RANK["standard"]
                ):
                    actions.append(
                        {
                            "id": 9001,
                            "action_name": "can_push_to_accounting",
                            "label": "Can Push to Accounting",
                            "tool_name": tool,
                        }
                    )
                rendered.append(
                    {
                        "id": TOOL_IDS[tool],
                        "name": tool,
                        "friendly_name": TOOL_FRIENDLY_NAMES[tool],
                        "domain_id": TOOL_IDS[tool],
                        "tab_group": "financial_management" if tool != "directory" else "core_tools",
                        "available_for_user": level != "none",
                        "url": f"{base_url}/{tool}",
                        "user_access_level": {
                            "id": ACCESS_LEVEL_RANK[level],
                            "name": ACCESS_LEVEL_NAMES[level],
                        },
                        "permitted_actions": actions,
                        "create_url": None,
                        "can_create": ACCESS_LEVEL_RANK[level] >= ACCESS_LEVEL_RANK["standard"],
                        "trial": False,
                    }
                )
        return JSONResponse({"tools": rendered})

    # -- contract payments ----------------------------------------------------------------------

    def _contract(self, project_id: int, contract_id: int) -> Commitment:
        commitment = self.state._commitments.get(contract_id)
        if commitment is None or commitment.project_id != project_id:
            raise _error(404, f"Couldn't find Contract with 'id'={contract_id}")
        return commitment

    def _payment(self, project_id: int, contract_id: int, payment_id: int) -> ContractPayment:
        payment = self.state._payments.get(payment_id)
        if payment is None or payment.project_id != project_id or payment.contract_id != contract_id:
            raise _error(404, f"Couldn't find ContractPayment with 'id'={payment_id}")
        return payment

    def _ids_from_query(self, call: _Call) -> tuple[int, int]:
        project_id = _query_int(call.request, "project_id")
        contract_id = _query_int(call.request, "contract_id")
        assert project_id is not None and contract_id is not None
        return project_id, contract_id

    async def list_payments(self, call: _Call) -> Response:
        project_id, contract_id = self._ids_from_query(call)
        with self.state.lock:
            self._project(call, project_id)
            self._contract(project_id, contract_id)
            rendered = [
                _render_payment(p)
                for p in sorted(self.state._payments.values(), key=lambda p: p.id)
                if p.contract_id == contract_id
            ]
        return self._page(call.request, rendered, CONTRACT_PAYMENTS_PER_PAGE)

    async def show_payment(self, call: _Call) -> Response:
        project_id, contract_id = self._ids_from_query(call)
        with self.state.lock:
            self._project(call, project_id)
            self._contract(project_id, contract_id)
            payment = self._payment(project_id, contract_id, int(call.request.path_params["id"]))
            return self._json(_render_payment(payment))

    async def _write_request(
        self, call: _Call
    ) -> tuple[int, int, dict[str, Any] | None, dict[str, Any], list[UploadedFile]]:
        fields, files = await _read_body(call.request)
        project_id = _required_int(fields.get("project_id"), "project_id")
        contract_id = _required_int(fields.get("contract_id"), "contract_id")
        raw_payment = fields.get("contract_payment")
        if raw_payment is not None and not isinstance(raw_payment, dict):
            raise _error(400, "contract_payment must be an object")
        return project_id, contract_id, raw_payment, fields, files

    @staticmethod
    def _uploads(
        fields: Mapping[str, Any], files: list[UploadedFile], raw_payment: Mapping[str, Any] | None
    ) -> list[UploadedFile]:
        """The ``attachments[]`` files of a write; checked after permissions, like any field."""
        if isinstance(fields.get("attachments"), list) and fields["attachments"]:
            # Files can only come as multipart parts; say so rather than drop them (sandbox choice).
            raise _unprocessable(
                {"attachments": ["must be uploaded as attachments[] files in multipart/form-data"]}
            )
        uploads = [f for f in files if f.field_name == "attachments[]"]
        if raw_payment is not None and raw_payment.get("prostore_file_ids"):
            message = (
                "are mutually exclusive with attachments"
                if uploads
                else "are not simulated by the sandbox; upload attachments[] as multipart/form-data"
            )
            raise _unprocessable({"prostore_file_ids": [message]})
        return uploads

    def _store_uploads(self, call: _Call, uploads: list[UploadedFile]) -> list[Attachment]:
        base = f"{call.request.url.scheme}://{call.request.url.netloc}"
        attachments = []
        for upload in uploads:
            attachment_id = self.state._next_id()
            attachment = Attachment(
                id=attachment_id,
                filename=upload.filename,
                content_type=upload.content_type,
                content=upload.content,
                url=f"{base}/sandbox-files/{attachment_id}/{quote(upload.filename)}",
            )
            self.state._attachments[attachment.id] = attachment
            attachments.append(attachment)
        return attachments

    def _business_errors(
        self, project_id: int, commitment: Commitment, values: Mapping[str, Any], payment_id: int | None
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        requisition_id = values.get("requisition_id")
        if requisition_id is not None:
            requisition = self.state._requisitions.get(requisition_id)
            if requisition is None or requisition.project_id != project_id:
                errors["requisition_id"] = ["does not exist in this project"]
            elif requisition.commitment_id != commitment.id:
                errors["requisition_id"] = ["must belong to the same contract"]
        origin_id = values.get("origin_id")
        if (
            origin_id is not None
            and self.state.duplicate_origin_mode == "refuse"
            and any(p.origin_id == origin_id and p.id != payment_id for p in self.state._payments.values())
        ):
            # Uniqueness per company is documented for origin_id in general (API-NOTES §6.4);
            # that contract-payment writes enforce it, and with 422, is unverified: the
            # "accept" mode stores the duplicate instead.
            errors["origin_id"] = ["has already been taken"]
        return errors

    async def create_payment(self, call: _Call) -> Response:
        project_id, contract_id, raw_payment, fields, files = await self._write_request(call)
        if raw_payment is None:
            raise _error(400, "param is missing or the value is empty: contract_payment")
        with self.state.lock:
            self._project(call, project_id, level=self.state.payment_write_level)
            uploads = self._uploads(fields, files, raw_payment)
            values, errors = _parse_payment_fields(raw_payment)
            for required in ("amount", "date"):
                if values.get(required) is None and required not in errors:
                    errors[required] = ["can't be blank"]
            commitment = self.state._commitments.get(contract_id)
            if commitment is None or commitment.project_id != project_id:
                errors["contract_id"] = ["does not exist in this project"]
            elif not commitment.allow_payments:
                errors["contract_id"] = ["does not allow payments"]
            if commitment is not None and "contract_id" not in errors:
                errors.update(self._business_errors(project_id, commitment, values, None))
            if errors:
                raise _unprocessable(errors)
            assert commitment is not None
            now = self.state.now()
            payment = ContractPayment(
                id=self.state._next_id(),
                project_id=project_id,
                contract_id=contract_id,
                date=values["date"],
                amount=values["amount"],
                created_by_id=call.principal.id,
                created_at=now,
                updated_at=now,
            )
            for name, value in values.items():
                setattr(payment, name, value)
            payment.erp_locked = payment.origin_id is not None
            payment.attachments.extend(self._store_uploads(call, uploads))
            self.state._payments[payment.id] = payment
            return self._json(_render_payment(payment), status_code=201)

    async def update_payment(self, call: _Call) -> Response:
        project_id, contract_id, raw_payment, fields, files = await self._write_request(call)
        with self.state.lock:
            self._project(call, project_id, level=self.state.payment_write_level)
            commitment = self._contract(project_id, contract_id)
            payment = self._payment(project_id, contract_id, int(call.request.path_params["id"]))
            uploads = self._uploads(fields, files, raw_payment)
            values, errors = _parse_payment_fields(raw_payment or {})
            if errors:
                raise _unprocessable(errors)
            changes = {name: value for name, value in values.items() if getattr(payment, name) != value}
            # ERP lock (API-NOTES §3.3, inferred from the PATCH description and the integration
            # guide): while the *stored* payment is locked, only origin_id, origin_data and
            # attachments may change (and in "origin_id_frozen" mode not origin_id either). The
            # lock is judged on the stored record, so unlocking (origin_id -> null, where that
            # unlocks) and editing must be two PATCHes; relocking may come with edits.
            unlock_mode = self.state.erp_unlock_mode
            if payment.erp_locked:
                locked_changes = set(changes) - ERP_EDITABLE_FIELDS
                if unlock_mode == "origin_id_frozen" and "origin_id" in changes:
                    locked_changes.add("origin_id")
                if locked_changes:
                    raise _error(422, ERP_LOCK_MESSAGE, {"base": [ERP_LOCK_MESSAGE]})
            for required in ("amount", "date"):
                if required in changes and changes[required] is None:
                    errors[required] = ["can't be blank"]
            errors.update(self._business_errors(project_id, commitment, changes, payment.id))
            if errors:
                raise _unprocessable(errors)
            for name, value in changes.items():
                setattr(payment, name, value)
            if "origin_id" in changes:
                if payment.origin_id is not None:
                    payment.erp_locked = True
                elif unlock_mode == "clearing_origin_unlocks":
                    payment.erp_locked = False
                # "stays_locked": origin_id is gone but the lock stays until unlink_payment.
            if changes or uploads:
                payment.attachments.extend(self._store_uploads(call, uploads))
                payment.updated_at = self.state.now()
            return self._json(_render_payment(payment))

    async def delete_payment(self, call: _Call) -> Response:
        project_id, contract_id = self._ids_from_query(call)
        with self.state.lock:
            self._project(call, project_id, level=self.state.payment_write_level)
            self._contract(project_id, contract_id)
            payment = self._payment(project_id, contract_id, int(call.request.path_params["id"]))
            if payment.erp_locked:
                # 422 rather than 403: the caller has the permission; the record's state forbids it
                # (a business rule, which Procore's error reference maps to 422). Inferred.
                raise _error(422, ERP_LOCK_MESSAGE, {"base": [ERP_LOCK_MESSAGE]})
            del self.state._payments[payment.id]
        return Response(status_code=200)

    # -- files -------------------------------------------------------------------------------

    async def attachment_file(self, call: _Call) -> Response:
        attachment = self.state._attachments.get(int(call.request.path_params["id"]))
        if attachment is None:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(attachment.content, media_type=attachment.content_type)


def create_procore_app(state: ProcoreState) -> Starlette:
    """The simulated Procore (login and API hosts in one app) over ``state``."""
    app = _ProcoreApp(state)
    wrap = app.endpoint
    routes = [
        Route("/oauth/token", wrap(app.oauth_token, rest=False), methods=["POST"]),
        Route("/oauth/token/info", wrap(app.oauth_token_info, rest=False), methods=["GET"]),
        Route("/oauth/revoke", wrap(app.oauth_revoke, rest=False), methods=["POST"]),
        Route("/oauth/authorize", wrap(app.oauth_authorize, rest=False), methods=["GET"]),
        Route("/rest/v1.0/me", wrap(app.me, company_header=False), methods=["GET"]),
        Route("/rest/v1.0/companies", wrap(app.companies, company_header=False), methods=["GET"]),
        Route("/rest/v1.0/projects", wrap(app.projects), methods=["GET"]),
        Route("/rest/v1.0/vendors", wrap(app.vendors), methods=["GET"]),
        Route("/rest/v1.0/work_order_contracts", wrap(app.contracts("subcontract")), methods=["GET"]),
        Route("/rest/v1.0/work_order_contracts/{id:int}", wrap(app.contract("subcontract")), methods=["GET"]),
        Route("/rest/v1.0/purchase_order_contracts", wrap(app.contracts("purchase_order")), methods=["GET"]),
        Route(
            "/rest/v1.0/purchase_order_contracts/{id:int}",
            wrap(app.contract("purchase_order")),
            methods=["GET"],
        ),
        Route("/rest/v1.0/commitments", wrap(app.commitments), methods=["GET"]),
        Route("/rest/v1.0/commitments/{id:int}", wrap(app.contract(None)), methods=["GET"]),
        Route("/rest/v1.1/requisitions", wrap(app.requisitions), methods=["GET"]),
        Route("/rest/v1.1/requisitions/{id:int}", wrap(app.requisition), methods=["GET"]),
        Route("/rest/v1.0/settings/permissions", wrap(app.permissions), methods=["GET"]),
        Route("/rest/v1.0/contract_payments", wrap(app.list_payments), methods=["GET"]),
        Route("/rest/v1.0/contract_payments", wrap(app.create_payment), methods=["POST"]),
        Route("/rest/v1.0/contract_payments/{id:int}", wrap(app.show_payment), methods=["GET"]),
        Route("/rest/v1.0/contract_payments/{id:int}", wrap(app.update_payment), methods=["PATCH"]),
        Route("/rest/v1.0/contract_payments/{id:int}", wrap(app.delete_payment), methods=["DELETE"]),
        Route("/sandbox-files/{id:int}/{filename}", wrap(app.attachment_file, rest=False), methods=["GET"]),
    ]
    return Starlette(routes=routes)


# --------------------------------------------------------------------------------------------
# Demo data
# --------------------------------------------------------------------------------------------

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_ACCOUNTANT_LOGIN = "ap@summitridge.example"
DEMO_PROJECT_MANAGER_LOGIN = "pm@summitridge.example"

_DEMO_VENDORS: list[tuple[str, str, str]] = [
    # key, name, QuickBooks vendor ListID (the QBD connector's origin_id, inferred)
    ("acme", "Acme Concrete", "80000001-1700000001"),
    ("brightline", "Brightline Electric", "80000002-1700000002"),
    ("ironclad", "Ironclad Steel Erectors", "80000003-1700000003"),
    ("keystone", "Keystone Rebar & Supply", "80000004-1700000004"),
    ("cascade", "Cascade Plumbing & Mechanical", "80000005-1700000005"),
    ("northwind", "Northwind Lumber Supply", "80000006-1700000006"),
]

_DEMO_COMMITMENTS: list[tuple[str, str, CommitmentKind, str, str, str, str]] = [
    # key, project key, kind, number, title, vendor key, grand total
    ("riverside/SC-001", "riverside", "subcontract", "SC-001", "Cast-in-place concrete", "acme", "485000.00"),
    ("riverside/SC-002", "riverside", "subcontract", "SC-002", "Electrical", "brightline", "312500.00"),
    (
        "riverside/PO-001",
        "riverside",
        "purchase_order",
        "PO-001",
        "Structural steel package",
        "ironclad",
        "198750.00",
    ),
    (
        "riverside/PO-002",
        "riverside",
        "purchase_order",
        "PO-002",
        "Reinforcing steel",
        "keystone",
        "46200.00",
    ),
    ("oak-street/SC-001", "oak-street", "subcontract", "SC-001", "Plumbing and HVAC", "cascade", "268000.00"),
    (
        "oak-street/PO-001",
        "oak-street",
        "purchase_order",
        "PO-001",
        "Framing lumber package",
        "northwind",
        "87450.00",
    ),
]

_DEMO_REQUISITIONS: list[tuple[str, int, str, str, str, bool]] = [
    # commitment key, number, invoice number, amount, billing date, exported to QuickBooks
    ("riverside/SC-001", 1, "ACME-2411", "48500.00", "2025-01-31", True),
    ("riverside/SC-001", 2, "ACME-2438", "72750.00", "2025-02-28", True),
    ("riverside/SC-001", 3, "ACME-2467", "61200.00", "2025-03-31", True),
    ("riverside/SC-001", 4, "ACME-2495", "55125.50", "2025-04-30", False),
    ("riverside/SC-002", 1, "BLE-10234", "31250.00", "2025-01-31", True),
    ("riverside/SC-002", 2, "BLE-10291", "46875.00", "2025-02-28", True),
    ("riverside/SC-002", 3, "BLE-10355", "38410.25", "2025-03-31", True),
    ("riverside/PO-001", 1, "ISE-7781", "99375.00", "2025-02-15", True),
    ("riverside/PO-001", 2, "ISE-7824", "66250.00", "2025-03-15", True),
    ("riverside/PO-002", 1, "KRS-55012", "23100.00", "2025-02-10", True),
    ("riverside/PO-002", 2, "KRS-55087", "15400.00", "2025-03-10", False),
    ("oak-street/SC-001", 1, "CPM-3301", "26800.00", "2025-02-28", True),
    ("oak-street/SC-001", 2, "CPM-3342", "40200.00", "2025-03-31", True),
    ("oak-street/PO-001", 1, "NLS-90417", "43725.00", "2025-03-05", True),
    ("oak-street/PO-001", 2, "NLS-90466", "21862.50", "2025-04-05", True),
]


def seed_demo(state: ProcoreState) -> dict[str, Any]:
    """Fill ``state`` with a small general contractor, the same every time.

    Returns ``{"company_id", "client_id", "client_secret", "projects": {key: id},
    "vendors": {key: id}, "commitments": {"project/number": id},
    "requisitions": {invoice_number: id}, "users": {login: id}, "service_account_id"}``.
    On a fresh state the ids are the same on every run.
    """
    state.company_name = "Summit Ridge Builders"
    state.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    projects = {
        "riverside": state.add_project("Riverside Medical Office Building", project_number="2024-017"),
        "oak-street": state.add_project("Oak Street Lofts", project_number="2025-003"),
    }
    vendors = {key: state.add_vendor(name, origin_id) for key, name, origin_id in _DEMO_VENDORS}
    commitments: dict[str, int] = {}
    for index, (key, project_key, kind, contract_number, title, vendor_key, total) in enumerate(
        _DEMO_COMMITMENTS, 1
    ):
        commitments[key] = state.add_commitment(
            projects[project_key],
            kind,
            contract_number,
            title,
            vendors[vendor_key],
            origin_id=f"{index:X}0-1700100{index:03d}",  # QuickBooks PO TxnID (inferred shape)
            grand_total=total,
            retainage_percent="10.00" if kind == "subcontract" else "0.00",
        )
    requisitions: dict[str, int] = {}
    for index, (commitment_key, number, invoice_number, amount, billing, exported) in enumerate(
        _DEMO_REQUISITIONS, 1
    ):
        project_key = commitment_key.split("/")[0]
        requisitions[invoice_number] = state.add_requisition(
            projects[project_key],
            commitments[commitment_key],
            invoice_number,
            number,
            amount,
            # After export the invoice's origin_id is probably the QuickBooks Bill TxnID (inferred).
            origin_id=f"{index + 0x100:X}-1700200{index:03d}" if exported else None,
            erp_status="synced" if exported else "not_synced",
            billing_date=date.fromisoformat(billing),
        )
    full_access: dict[str, AccessLevel] = {"commitments": "admin", "erp_integrations": "admin"}
    users = {
        DEMO_ACCOUNTANT_LOGIN: state.add_user(
            DEMO_ACCOUNTANT_LOGIN,
            dict.fromkeys(projects.values(), full_access),
            name="Dana Reyes",
            company_permissions={"erp_integrations": "admin"},
            can_push_to_accounting=True,
        ),
        DEMO_PROJECT_MANAGER_LOGIN: state.add_user(
            DEMO_PROJECT_MANAGER_LOGIN,
            {projects["riverside"]: {"commitments": "read_only", "erp_integrations": "none"}},
            name="Sam Okafor",
        ),
    }
    state.service_account_permissions = dict.fromkeys(projects.values(), full_access)
    state.service_account_company_permissions = {"erp_integrations": "admin"}
    state.service_account_can_push_to_accounting = True
    state.default_authorize_login = DEMO_ACCOUNTANT_LOGIN
    return {
        "company_id": state.company_id,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "projects": projects,
        "vendors": vendors,
        "commitments": commitments,
        "requisitions": requisitions,
        "users": users,
        "service_account_id": state.service_account_id,
    }
