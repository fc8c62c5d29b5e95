"""A synchronous Procore REST client (httpx) for what PaySync needs, and nothing else.

What it takes care of, so callers don't have to:
- OAuth: client credentials, or the authorization-code sign-in stored by `paysync login` with
  its single-use refresh tokens (see auth.py);
- the `Procore-Company-Id` header on every call;
- pagination by the `Link` header, lazily, page by page;
- pacing by the `X-Rate-Limit-*` headers, and `Retry-After` on 429/503;
- retries with exponential backoff and full jitter for reads; a write is retried only when
  Procore certainly did not process it (a 429, or a connection that never opened). Anything else
  after a write was sent raises ProcoreWriteOutcomeUnknown: the caller reconciles (DESIGN rule 4).

Long because one request's whole life is one object's state: the token it renews, the rate-limit
budget it paces by, the retries it may or may not make, the pages it follows. The endpoints
themselves are a few lines each; split by job, that shared state would be passed around instead.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import httpx

from storage.fields import utc_now
from storage.settings_store import PROCORE_RATE_LIMIT, set_setting
from sync.procore.auth import (
    API_BASE_EXAMPLE,
    LOGIN_AGAIN,
    OOB_REDIRECT_URI,
    DatabaseTokenStore,
    StoredToken,
    TokenStore,
    content_kind,
    looks_like_a_web_page,
    request_token,
    token_from_response,
)
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreRequestError,
    ProcoreUnavailable,
    ProcoreWriteOutcomeUnknown,
    name_resolution_failure,
    not_procore_message,
    procore_error_messages,
    unresolved_host_message,
)
from sync.settings import Settings

log = logging.getLogger("paysync.procore")

PER_PAGE = 100
BACKOFF_BASE = 0.5  # seconds
BACKOFF_CAP = 30.0  # seconds
TOKEN_RENEW_MARGIN = 60.0  # renew an access token this many seconds before it expires
LOW_BUDGET_FRACTION = 0.10
UPDATED_RANGE_SLACK = timedelta(hours=1)  # below this share of the rate limit left, spread the rest evenly
COMMITMENT_ENDPOINTS = (
    ("/rest/v1.0/work_order_contracts", "subcontract"),
    ("/rest/v1.0/purchase_order_contracts", "purchase_order"),
)
CONTRACT_PAYMENTS = "/rest/v1.0/contract_payments"


@dataclass
class RateLimitState:
    """The last `X-Rate-Limit-*` headers Procore sent (whichever window is closest to running out)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None


def remember_rate_limit(state: RateLimitState) -> None:
    """Keep the last X-Rate-Limit-* figures in the database, so the console and `paysync status`
    can show the Procore budget: clients are short-lived, one per operation. Never raises: a
    display nicety must never fail a sync."""
    if state.limit is None or state.remaining is None:
        return
    values = (str(state.limit), str(state.remaining), state.reset_at.isoformat() if state.reset_at else "")
    now = utc_now()
    try:
        for key, value in zip(PROCORE_RATE_LIMIT, values, strict=True):
            set_setting(key, value, now=now)
    except Exception:
        log.warning("could not store the Procore rate-limit figures", exc_info=True)


def format_procore_time(moment: datetime) -> str:
    """ISO-8601 UTC with a `Z`, as Procore's `filters[updated_at]` ranges take it."""
    if moment.tzinfo is None:
        raise ValueError("Procore filter times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ProcoreClient:
    def __init__(
        self,
        *,
        api_base: str,
        login_base: str,
        client_id: str,
        client_secret: str,
        company_id: int,
        token_store: TokenStore,
        timeout: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        max_wait: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        """`max_wait`: the longest single pause (rate limit, Retry-After) worth waiting out; a
        longer one raises ProcoreUnavailable saying when to try again instead of hanging."""
        self.api_base = api_base.rstrip("/")
        self.login_base = login_base.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.company_id = company_id
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.rate_limit = RateLimitState()
        # Procore's clock minus ours, in seconds, from the `Date` header of the last API answer.
        self.server_clock_offset: float | None = None
        self._token_store = token_store
        self._token: StoredToken | None = None
        # One renewal at a time when threads share the client (a refresh token works only once).
        self._token_lock = threading.RLock()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._api_origin = httpx.URL(self.api_base)
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "paysync/0.1"},
        )

    @classmethod
    def from_settings(cls, settings: Settings, token_store: TokenStore | None = None) -> ProcoreClient:
        settings.require_procore()
        assert settings.procore_client_id and settings.procore_client_secret
        assert settings.procore_company_id is not None
        if token_store is None:
            token_store = DatabaseTokenStore()
        return cls(
            api_base=settings.procore_api_base,
            login_base=settings.procore_login_base,
            client_id=settings.procore_client_id,
            client_secret=settings.procore_client_secret,
            company_id=settings.procore_company_id,
            token_store=token_store,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProcoreClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------
    # Reads
    # ----------------------------------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        return self._json_object(self._send("GET", "/rest/v1.0/me", action="read the signed-in user"))

    def list_projects(self) -> Iterator[dict[str, Any]]:
        return self._paginate("/rest/v1.0/projects", {"company_id": self.company_id}, action="list projects")

    def list_vendors(self) -> Iterator[dict[str, Any]]:
        return self._paginate("/rest/v1.0/vendors", {"company_id": self.company_id}, action="list vendors")

    def list_commitments(
        self, project_id: int, *, updated_since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Subcontracts then purchase orders; each item gets `"kind"`: subcontract | purchase_order."""
        params: dict[str, Any] = {"project_id": project_id}
        if updated_since is not None:
            params["filters[updated_at]"] = self._updated_range(updated_since)
        for path, kind in COMMITMENT_ENDPOINTS:
            for item in self._paginate(path, params, action=f"list {kind}s of project {project_id}"):
                item["kind"] = kind
                yield item

    def list_requisitions(
        self, project_id: int, *, updated_since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Subcontractor invoices (v1.1 requisitions; its default page size is 30, so ours is explicit)."""
        params: dict[str, Any] = {"project_id": project_id}
        if updated_since is not None:
            params["filters[updated_at]"] = self._updated_range(updated_since)
        return self._paginate(
            "/rest/v1.1/requisitions", params, action=f"list subcontractor invoices of project {project_id}"
        )

    def list_contract_payments(self, project_id: int, contract_id: int) -> list[dict[str, Any]]:
        """Every Payments Issued row of one commitment (all pages; the endpoint has no filters)."""
        return list(
            self._paginate(
                CONTRACT_PAYMENTS,
                {"project_id": project_id, "contract_id": contract_id},
                action=f"list the payments of commitment {contract_id}",
            )
        )

    def iter_contract_payments(self, project_id: int, contract_id: int) -> Iterator[dict[str, Any]]:
        """Like list_contract_payments, lazily (memory stays flat on very long lists)."""
        return self._paginate(
            CONTRACT_PAYMENTS,
            {"project_id": project_id, "contract_id": contract_id},
            action=f"list the payments of commitment {contract_id}",
        )

    def get_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> dict[str, Any]:
        """One payment as Procore holds it now: the read-back after a write whose effect is not
        documented (DESIGN rule 5)."""
        response = self._send(
            "GET",
            f"{CONTRACT_PAYMENTS}/{payment_id}",
            params={"project_id": project_id, "contract_id": contract_id},
            action=f"read payment {payment_id} on commitment {contract_id}",
        )
        return self._json_object(response)

    def get_permissions(self, project_id: int) -> dict[str, Any]:
        response = self._send(
            "GET",
            "/rest/v1.0/settings/permissions",
            params={"project_id": project_id},
            action=f"read your permissions on project {project_id}",
        )
        return self._json_object(response)

    # ----------------------------------------------------------------------------------------
    # Writes (never blindly retried: see ProcoreWriteOutcomeUnknown)
    # ----------------------------------------------------------------------------------------

    def create_contract_payment(
        self, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        response = self._send(
            "POST",
            CONTRACT_PAYMENTS,
            json_body={"project_id": project_id, "contract_id": contract_id, "contract_payment": fields},
            action=f"create a payment on commitment {contract_id}",
        )
        return self._json_object(response)

    def update_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        response = self._send(
            "PATCH",
            f"{CONTRACT_PAYMENTS}/{payment_id}",
            json_body={"project_id": project_id, "contract_id": contract_id, "contract_payment": fields},
            action=f"update payment {payment_id} on commitment {contract_id}",
        )
        return self._json_object(response)

    def delete_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> None:
        self._send(
            "DELETE",
            f"{CONTRACT_PAYMENTS}/{payment_id}",
            params={"project_id": project_id, "contract_id": contract_id},
            action=f"delete payment {payment_id} on commitment {contract_id}",
        )

    def attach_files_to_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, files: list[tuple[str, bytes, str]]
    ) -> dict[str, Any]:
        """Add files (filename, content, content type) to a payment: one multipart PATCH with the
        files as Rails-style `attachments[]` parts (API-NOTES §4). Allowed on ERP-locked payments."""
        if not files:
            raise ValueError("attach_files_to_contract_payment needs at least one file")
        response = self._send(
            "PATCH",
            f"{CONTRACT_PAYMENTS}/{payment_id}",
            data={"project_id": str(project_id), "contract_id": str(contract_id)},
            files=[("attachments[]", (name, content, content_type)) for name, content, content_type in files],
            action=f"attach {len(files)} file(s) to payment {payment_id}",
        )
        return self._json_object(response)

    # ----------------------------------------------------------------------------------------
    # Tokens
    # ----------------------------------------------------------------------------------------

    def _access_token(self) -> str:
        with self._token_lock:
            token = self._token
            if token is None:
                token = self._token = self._token_store.load()
            if token is not None and not token.expires_within(TOKEN_RENEW_MARGIN, self.now()):
                return token.access_token
            return self._renew_token(token).access_token

    def _renew_after_401(self, rejected: str) -> None:
        with self._token_lock:
            current = self._token
            if current is not None and current.access_token != rejected:
                return  # another thread renewed it meanwhile
            self._renew_token(current)

    def _renew_token(self, stale: StoredToken | None) -> StoredToken:
        """Replace `stale` (expired, or refused with a 401) with a working token."""
        stored = self._token_store.load()
        # The console and `paysync serve` share the store: another process may have refreshed
        # already, and its refresh token is the only one that still works.
        if (
            stored is not None
            and stored != stale
            and not stored.expires_within(TOKEN_RENEW_MARGIN, self.now())
        ):
            self._token = stored
            return stored
        current = stored or stale
        if current is not None and current.grant_type == "authorization_code":
            fresh = self._refresh(current)
        else:
            fresh = token_from_response(
                self._token_request(
                    {
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                    },
                    refused_advice=(
                        "check PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET against the app's credentials in "
                        "Procore's Developer Portal (production and sandbox credentials differ), and that the "
                        "app's service account is installed in this company; or run `paysync login`."
                    ),
                ),
                "client_credentials",
            )
        # Client-credentials tokens are just cached in memory: a new one is a request away.
        self._token = fresh
        return fresh

    def _refresh(self, current: StoredToken) -> StoredToken:
        if not current.refresh_token:
            raise ProcoreAuthError(
                f"The saved Procore sign-in has expired and cannot be renewed: {LOGIN_AGAIN}."
            )
        check_can_save = getattr(self._token_store, "check_can_save", None)
        if check_can_save is not None:
            check_can_save()  # fail before spending the refresh token, not after
        try:
            payload = self._token_request(
                {
                    "grant_type": "refresh_token",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "refresh_token": current.refresh_token,
                    "redirect_uri": OOB_REDIRECT_URI,
                },
                refused_advice=f"the saved sign-in is no longer valid (refresh tokens work once); {LOGIN_AGAIN}.",
            )
        except ProcoreAuthError:
            latest = self._token_store.load()
            if latest is not None and latest.refresh_token not in (None, current.refresh_token):
                # Someone else rotated the pair while we tried: use theirs.
                if not latest.expires_within(TOKEN_RENEW_MARGIN, self.now()):
                    self._token = latest
                    return latest
                return self._refresh(latest)
            raise
        fresh = token_from_response(payload, "authorization_code")
        if fresh.refresh_token is None:
            # Procore always rotates; keep the old one rather than store none (it is the best we have).
            fresh = StoredToken(fresh.grant_type, fresh.access_token, current.refresh_token, fresh.expires_at)
        try:
            # Commit the new pair before the new access token is used: the old refresh token is
            # already dead on Procore's side.
            self._token_store.save(fresh)
        except Exception as exc:
            self._token = None
            raise ProcoreAuthError(
                f"Procore renewed the sign-in but the new tokens could not be saved ({exc}); the old ones "
                f"no longer work, so {LOGIN_AGAIN}."
            ) from exc
        self._token = fresh
        return fresh

    def _token_request(self, form: dict[str, str], *, refused_advice: str) -> dict[str, Any]:
        """The token endpoint, retried on 5xx/network like a read. Retrying a refresh is harmless:
        if Procore did process the lost attempt, the retry gets `invalid_grant`, the same outcome
        as not retrying (the old refresh token is dead either way)."""
        attempt = 0
        while True:
            try:
                return request_token(self._http, self.login_base, form, refused_advice=refused_advice)
            except ProcoreUnavailable:
                if attempt >= self.max_retries:
                    raise
            self._sleep(self._backoff(attempt))
            attempt += 1

    # ----------------------------------------------------------------------------------------
    # Requests, retries, pacing
    # ----------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        action: str,
    ) -> httpx.Response:
        is_write = method != "GET"
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.api_base + path_or_url
        retries = 0
        renewed_after_401 = False
        while True:
            self._pace()
            access_token = self._access_token()
            headers = {"Authorization": f"Bearer {access_token}", "Procore-Company-Id": str(self.company_id)}
            hint: float | None = None
            try:
                response = self._http.request(
                    method, url, params=params, json=json_body, data=data, files=files, headers=headers
                )
            except httpx.UnsupportedProtocol as exc:
                raise ProcoreError(
                    f"PROCORE_API_BASE={self.api_base!r} is not an http(s) address: use e.g. https://api.procore.com",
                    method=method,
                    url=url,
                ) from exc
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                unresolved = name_resolution_failure(exc)
                if unresolved is not None:
                    # The host name does not resolve (a typo in PROCORE_API_BASE, or no network):
                    # retrying for seconds cannot help, so say so at once.
                    raise ProcoreError(
                        unresolved_host_message(
                            "PROCORE_API_BASE",
                            self.api_base,
                            httpx.URL(url).host,
                            unresolved,
                            API_BASE_EXAMPLE,
                        ),
                        method=method,
                        url=url,
                    ) from exc
                # The connection never opened (or no pooled connection was free), so no byte of the
                # request left this machine: even a write is safe to retry.
                failure = f"{type(exc).__name__}: {exc}"
            except httpx.TransportError as exc:
                if is_write:
                    raise ProcoreWriteOutcomeUnknown(
                        f"The connection to Procore failed while trying to {action} ({type(exc).__name__}); "
                        "Procore may or may not have applied it. PaySync will check before trying again.",
                        method=method,
                        url=url,
                    ) from exc
                failure = f"{type(exc).__name__}: {exc}"
            else:
                self._note_response(response)
                status = response.status_code
                if status < 300:
                    return response
                if status == 401:
                    if not renewed_after_401:
                        renewed_after_401 = True
                        self._renew_after_401(access_token)
                        continue
                    raise ProcoreAuthError(
                        f"Procore refused the access token (401) when trying to {action}, even after renewing "
                        f"it: {LOGIN_AGAIN}, or check PROCORE_CLIENT_ID/PROCORE_CLIENT_SECRET.",
                        status=status,
                        method=method,
                        url=url,
                        body=_json_or_text(response),
                    )
                if status == 429:
                    # 429 means "not processed", so even a write may be sent again.
                    hint = _retry_after(response, self._clock())
                    if hint is None:
                        hint = self._seconds_until_reset()
                    failure = "429 Too Many Requests (rate limit)"
                elif status == 408 or status >= 500:
                    if is_write:
                        # A 5xx (even a 503) or a 408 may come after the write was applied.
                        reason, _ = procore_error_messages(_json_or_text(response))
                        raise ProcoreWriteOutcomeUnknown(
                            f"Procore answered {status} when trying to {action}"
                            f"{' (' + reason + ')' if reason else ''}; it may or may not have been applied. "
                            "PaySync will check before trying again.",
                            status=status,
                            method=method,
                            url=url,
                            body=_json_or_text(response),
                        )
                    hint = _retry_after(response, self._clock()) if status == 503 else None
                    failure = f"{status} {response.reason_phrase}"
                else:
                    raise self._refused(response, method, url, action)
            if retries >= self.max_retries:
                raise ProcoreUnavailable(
                    f"Procore could not {action}: {failure}, still failing after {retries + 1} attempts. "
                    "Nothing was changed; try again later (status.procore.com shows outages).",
                    method=method,
                    url=url,
                )
            delay = max(hint or 0.0, self._backoff(retries))
            if delay > self.max_wait:
                resume = datetime.fromtimestamp(self._clock() + delay, UTC).strftime("%H:%M:%S UTC")
                raise ProcoreUnavailable(
                    f"Procore asked PaySync to wait {delay:.0f} s before it may {action} ({failure}); "
                    f"try again after {resume}.",
                    method=method,
                    url=url,
                )
            log.info("Procore: %s; retrying %s %s in %.1f s", failure, method, url, delay)
            self._sleep(delay)
            if hint is not None:
                # Waited as Procore asked: the budget figures from before the wait are stale, and
                # pacing on them would only add a second wait.
                self.rate_limit = RateLimitState(limit=self.rate_limit.limit)
            retries += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return self._rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))

    def _note_response(self, response: httpx.Response) -> None:
        server_date = _http_date(response.headers.get("Date"))
        if server_date is not None:
            self.server_clock_offset = server_date.timestamp() - self._clock()
        limit = _int_header(response, "X-Rate-Limit-Limit")
        remaining = _int_header(response, "X-Rate-Limit-Remaining")
        reset = _int_header(response, "X-Rate-Limit-Reset")
        if limit is None and remaining is None and reset is None:
            return
        self.rate_limit = RateLimitState(
            limit=limit,
            remaining=remaining,
            reset_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
        )

    def _seconds_until_reset(self) -> float | None:
        if self.rate_limit.reset_at is None:
            return None
        return max(0.0, self.rate_limit.reset_at.timestamp() - self._clock())

    def _pace(self) -> None:
        """Spread what is left of the rate-limit window so 429s stay rare: once less than 10% of
        the budget remains, wait (time to reset / requests remaining) before each request."""
        state = self.rate_limit
        if state.limit is None or state.remaining is None or state.reset_at is None:
            return
        seconds_left = state.reset_at.timestamp() - self._clock()
        if seconds_left <= 0 or state.remaining >= state.limit * LOW_BUDGET_FRACTION:
            return
        if state.remaining <= 0:
            if seconds_left > self.max_wait:
                raise ProcoreUnavailable(
                    "Procore's rate limit for this app is used up until "
                    f"{state.reset_at.strftime('%H:%M:%S UTC')}; PaySync will carry on after that."
                )
            wait = seconds_left
        else:
            wait = min(seconds_left / state.remaining, self.max_wait)
        log.info("Procore: %s of %s requests left; pausing %.2f s", state.remaining, state.limit, wait)
        self._sleep(wait)

    # ----------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------

    def _paginate(self, path: str, params: dict[str, Any], *, action: str) -> Iterator[dict[str, Any]]:
        """Yield items page by page, following `Link: <…>; rel="next"`.

        Procore's own examples show next links that carry only `page` and `per_page` (API-NOTES §12:
        that a link keeps the query is not documented). So a later page is asked for with the
        original query plus what the link carries (its page number), never the link alone.
        """
        url = self.api_base + path
        query: dict[str, Any] = {**params, "per_page": PER_PAGE}
        seen: set[tuple[str, str]] = set()
        while True:
            response = self._send("GET", url, params=query, action=action)
            yield from self._json_list(response)
            next_link = response.links.get("next", {}).get("url")
            if not next_link:
                return
            linked = httpx.URL(self._on_our_origin(next_link))
            url = str(linked.copy_with(query=None))
            query = {
                **params,
                "per_page": PER_PAGE,
                **dict(parse_qsl(linked.query.decode(), keep_blank_values=True)),
            }
            page = (url, str(query.get("page", "")))
            if page in seen or not page[1]:
                raise ProcoreError(
                    f"Procore's pagination loops back to page {page[1] or '(none)'} of {url} while trying to "
                    f"{action}."
                )
            seen.add(page)

    def _on_our_origin(self, link: str) -> str:
        """The bearer token only ever goes to PROCORE_API_BASE: a `next` link is followed by its
        path and query on our own origin, whatever host it names."""
        parsed = httpx.URL(link)
        if parsed.is_relative_url:
            return str(self._api_origin.join(link))
        return str(
            parsed.copy_with(
                scheme=self._api_origin.scheme, host=self._api_origin.host, port=self._api_origin.port
            )
        )

    def _updated_range(self, since: datetime) -> str:
        # The range ends an hour past our clock: a local clock behind Procore's must not hide the
        # newest changes (the end only has to be "now or later").
        until = datetime.fromtimestamp(self._clock(), UTC) + UPDATED_RANGE_SLACK
        return f"{format_procore_time(since)}...{format_procore_time(max(until, since))}"

    def now(self) -> datetime:
        """The current time by this client's clock (aware UTC)."""
        return datetime.fromtimestamp(self._clock(), UTC)

    def _not_procore(self, response: httpx.Response, expected: str) -> ProcoreError:
        """An answer that is not Procore's API (a web page, text): PROCORE_API_BASE is wrong."""
        request = response.request
        return ProcoreError(
            not_procore_message(
                "PROCORE_API_BASE",
                self.api_base,
                f"{request.method} {request.url.path} answered {response.status_code} with "
                f"{content_kind(response)}, not {expected}",
                API_BASE_EXAMPLE,
            ),
            status=response.status_code,
            method=request.method,
            url=str(request.url),
            body=response.text[:2000],
        )

    def _refused(self, response: httpx.Response, method: str, url: str, action: str) -> ProcoreError:
        body = _json_or_text(response)
        if isinstance(body, str) and looks_like_a_web_page(response):
            return self._not_procore(response, "JSON")
        reason, field_errors = procore_error_messages(body)
        status = response.status_code
        advice = {
            403: " Your Procore user or the app's service account lacks permission for this (ask a Procore admin).",
            404: " It does not exist, or this Procore user or app cannot see it.",
        }.get(status, "")
        if 300 <= status < 400:
            advice = f" Procore answered with a redirect to {response.headers.get('Location')}: check PROCORE_API_BASE."
        return ProcoreRequestError(
            f"Procore refused to {action} ({status} {response.reason_phrase})"
            f"{': ' + reason if reason else ''}.{advice}",
            status=status,
            method=method,
            url=url,
            body=body,
            errors=field_errors,
            procore_message=reason,
        )

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        if not response.content:
            return {}
        body = _json_or_text(response)
        if isinstance(body, str):
            raise self._not_procore(response, "JSON")
        if not isinstance(body, dict):
            raise ProcoreError(
                f"Procore answered {response.request.method} {response.request.url.path} with "
                f"{type(body).__name__}, not a JSON object.",
                status=response.status_code,
                body=body,
            )
        return body

    def _json_list(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = _json_or_text(response)
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            body = body["data"]  # v2.0 wraps lists in {"data": [...]}
        if isinstance(body, str):
            raise self._not_procore(response, "JSON")
        if not isinstance(body, list):
            raise ProcoreError(
                f"Procore answered {response.request.url.path} with {type(body).__name__}, not a JSON list.",
                status=response.status_code,
                body=body,
            )
        return [item for item in body if isinstance(item, dict)]


def _json_or_text(response: httpx.Response) -> object:
    """The body as JSON, with every JSON number that has a fraction read as a Decimal from its
    own digits: Procore sends money as strings ("1250.00") or as numbers (1250.5), and a float would
    already have lost the cents (DESIGN rule 1)."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return response.text[:2000]


def _int_header(response: httpx.Response, name: str) -> int | None:
    raw = response.headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """`Retry-After` in seconds, given either as a number or as an HTTP date."""
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    when = _http_date(raw)
    return None if when is None else max(0.0, when.timestamp() - now)


def _http_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when
