"""A simulated Procore REST API (Starlette app) for the tests and ``paysync demo``.

This package is an independent stand-in for Procore: it imports nothing from ``sync``,
``storage`` or ``console``, so the project's client is tested against something that does not
share its assumptions. Everything below follows ``shared/reference/procore/API-NOTES.md``;
where that file marks a fact as inferred or unknown, the choice made here is noted with
"(inferred)" or "(sandbox choice)". Where Procore's public reference leaves a behaviour the
product relies on undocumented, the sandbox has a mode per plausible answer: see "Undocumented
behaviours and their modes" below.

One app serves both the login host and the API host.

Where things are (one job per file; ``state.py`` and ``app.py`` are the places to start)
    records.py      the records (projects, vendors, commitments, invoices, payments, users, tokens)
    modes.py        the modes of undocumented behaviours (below)
    state.py        ProcoreState: the records, ids, clock, modes, faults; seeding and inspection
    faults.py       injected faults and rate limits
    permissions.py  access levels and the project access check
    errors.py       ApiError and Procore's error bodies
    rendering.py    JSON: money as strings or numbers, timestamps, payments
    requests.py     reading bodies, parameters and ``filters[...]``
    pagination.py   ``page`` / ``per_page`` and the Total, Per-Page and Link headers
    call.py         Call: what a handler gets and how it answers
    oauth.py        the ``/oauth`` endpoints and the bearer-token check
    company.py      /me, /companies, /projects, /vendors, /settings/permissions
    commitments.py  commitments and requisitions
    payments.py     contract payments (ERP lock, origin_id, attachments) and /sandbox-files
    app.py          create_procore_app: the routes and the dispatch every request goes through
    demo.py         seed_demo

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
    Counted per token owner (OAuth client + user) in the windows of ``state.rate_limit`` (fixed,
    opened by the first request, unless ``RateLimit.windows`` says "aligned" or "sliding"); every
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

from sandbox.procore.app import create_procore_app
from sandbox.procore.demo import (
    DEMO_ACCOUNTANT_LOGIN,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PROJECT_MANAGER_LOGIN,
    seed_demo,
)
from sandbox.procore.faults import FaultKind, RateLimit
from sandbox.procore.modes import (
    DUPLICATE_ORIGIN_MODES,
    ERP_UNLOCK_MODES,
    LINK_MODES,
    DuplicateOriginMode,
    ErpUnlockMode,
    LinkMode,
)
from sandbox.procore.payments import DUPLICATE_ORIGIN_MESSAGE, ERP_LOCK_MESSAGE, PAYMENTS_DISABLED_MESSAGE
from sandbox.procore.records import OOB_REDIRECT_URI, AccessLevel, CommitmentKind, RequestLogEntry
from sandbox.procore.state import ProcoreState

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
