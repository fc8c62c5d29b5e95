"""ProcoreState: everything the simulated Procore knows, for one company: its records and their ids,
the clock, the modes of undocumented behaviours, injected faults and rate-limit windows, and the
log of requests. Tests seed and inspect it; the app reads and writes it under ``state.lock``.

Long because it is the simulated company's whole state: every record kind, the modes of
undocumented behaviour and the rate windows share one lock and one clock.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.procore.faults import (
    FAULT_KINDS,
    Fault,
    FaultKind,
    RateLimit,
    RateWindow,
    count_request,
    take_fault,
)
from sandbox.procore.modes import DUPLICATE_ORIGIN_MODES, ERP_UNLOCK_MODES, LINK_MODES, ModeSetting
from sandbox.procore.permissions import checked_permissions, checked_tool_levels
from sandbox.procore.records import (
    ACCESS_TOKEN_LIFETIME,
    AUTHORIZATION_CODE_LIFETIME,
    COMMITMENT_TYPES,
    FIRST_ID,
    OOB_REDIRECT_URI,
    AccessLevel,
    AccessToken,
    Attachment,
    AuthorizationCode,
    Commitment,
    CommitmentKind,
    ContractPayment,
    OAuthClient,
    Project,
    RefreshToken,
    RequestLogEntry,
    Requisition,
    User,
    Vendor,
    apply_changes,
)
from sandbox.procore.rendering import date_text, plain, render_payment


class ProcoreState:
    """Everything the simulated Procore knows, for one company. Thread-safe.

    Seed it with the ``add_*`` helpers (from any thread, before or while the server runs) and
    inspect it with :meth:`payments` and :attr:`request_log`.
    """

    # Modes of the undocumented behaviours (package docstring); until set, each is its first
    # mode, the sandbox's original answer.
    erp_unlock_mode = ModeSetting(
        ERP_UNLOCK_MODES, "What a PATCH of ``origin_id`` does to an ERP-locked payment."
    )
    link_mode = ModeSetting(
        LINK_MODES,
        '``"full_query"``: ``Link`` URLs keep the request\'s query; ``"page_only"``: only ``page`` and ``per_page``.',
    )
    duplicate_origin_mode = ModeSetting(
        DUPLICATE_ORIGIN_MODES,
        '``"refuse"``: a payment write reusing a company\'s origin_id gets 422; ``"accept"``: it is stored.',
    )

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
        self._rate_windows: dict[tuple[str, str], RateWindow] = {}
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
            self._service_account.permissions = checked_permissions(value)

    @property
    def service_account_company_permissions(self) -> dict[str, AccessLevel]:
        return self._service_account.company_permissions

    @service_account_company_permissions.setter
    def service_account_company_permissions(self, value: Mapping[str, AccessLevel]) -> None:
        with self.lock:
            self._service_account.company_permissions = checked_tool_levels(value)

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
            apply_changes(self._commitments[commitment_id], changes, self.now())

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

    def edit_payment(self, payment_id: int, **changes: Any) -> None:
        """A person edits a contract payment in Procore's UI (after unlinking it, if it was
        ERP-locked: the lock does not stop this). Named fields only; bumps ``updated_at``."""
        with self.lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(f"no contract payment {payment_id}")
            apply_changes(payment, changes, self.now())

    def delete_payment_by_hand(self, payment_id: int) -> None:
        """A person deletes a contract payment in Procore's UI (locked or not)."""
        with self.lock:
            if self._payments.pop(payment_id, None) is None:
                raise KeyError(f"no contract payment {payment_id}")

    def update_requisition(self, requisition_id: int, **changes: Any) -> None:
        """Change a subcontractor invoice as if edited in Procore; bumps ``updated_at``."""
        with self.lock:
            apply_changes(self._requisitions[requisition_id], changes, self.now())

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
                permissions=checked_permissions(permissions),
                company_permissions=checked_tool_levels(company_permissions or {}),
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
                rendered = plain(render_payment(payment))
                rendered["erp_locked"] = payment.erp_locked
                rendered["payment_method"] = payment.payment_method
                rendered["invoice_date"] = date_text(payment.invoice_date)
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
            return take_fault(self._faults, method, path)

    def _count_request(self, key: str) -> tuple[bool, dict[str, str], int]:
        """Count one request against ``key``'s rate-limit windows: (allowed, headers, wait)."""
        with self.lock:
            return count_request(self._rate_windows, key, self.now(), self.rate_limit)
