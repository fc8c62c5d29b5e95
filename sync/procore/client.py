"""A synchronous Procore REST client (httpx) for what PaySync needs, and nothing else.

What it takes care of, so callers don't have to:
- OAuth: client credentials, or the authorization-code sign-in stored by `paysync login` with
  its single-use refresh tokens (see auth.py); the access token is kept in the token store and
  reused by every process until it is about to expire (tokens.py);
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
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import httpx

from sync.procore.auth import (
    API_BASE_EXAMPLE,
    LOGIN_AGAIN,
    DatabaseTokenStore,
    TokenStore,
    content_kind,
    looks_like_a_web_page,
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
from sync.procore.ratelimit import (
    FiguresShare,
    RateBudget,
    RateLimitState,
    SettingsShare,
    figures_from_headers,
    shared_budget,
)
from sync.procore.ratelimit import remember_rate_limit as remember_rate_limit  # engine/service.py uses it
from sync.procore.tokens import ClientTokens
from sync.settings import Settings

log = logging.getLogger("paysync.procore")

PER_PAGE = 100
BACKOFF_BASE = 0.5  # seconds
BACKOFF_CAP = 30.0  # seconds
UPDATED_RANGE_SLACK = timedelta(hours=1)  # the end of an updated_at range lies this far past our clock
COMMITMENT_ENDPOINTS = (
    ("/rest/v1.0/work_order_contracts", "subcontract"),
    ("/rest/v1.0/purchase_order_contracts", "purchase_order"),
)
CONTRACT_PAYMENTS = "/rest/v1.0/contract_payments"


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
        rate_budget: RateBudget | None = None,
        rate_share: FiguresShare | None = None,
    ) -> None:
        """`max_wait`: the longest single pause (rate limit, Retry-After) worth waiting out; a
        longer one raises ProcoreUnavailable saying when to try again instead of hanging.
        `rate_budget`: the rate-limit budget to spend (default: the one every client of this
        process shares for this API, company and OAuth client, ratelimit.py); `rate_share`: where
        other processes' figures are read and ours left for them (from_settings: the settings)."""
        self.api_base = api_base.rstrip("/")
        self.login_base = login_base.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.company_id = company_id
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._budget = rate_budget or shared_budget(self.api_base, company_id, client_id)
        if rate_share is not None and self._budget.share is None:
            self._budget.share = rate_share
        # Procore's clock minus ours, in seconds, from the `Date` header of the last API answer.
        self.server_clock_offset: float | None = None
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._api_origin = httpx.URL(self.api_base)
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "paysync/0.1"},
        )
        # The access token: kept in `token_store` and reused by every process until it is about
        # to expire; renewed (and a sign-in's refresh token rotated) in sync/procore/tokens.py.
        self._tokens = ClientTokens(
            token_store,
            http=self._http,
            login_base=self.login_base,
            client_id=client_id,
            client_secret=client_secret,
            now=self.now,
            sleep=lambda seconds: self._sleep(seconds),
            backoff=lambda attempt: self._backoff(attempt),
            max_retries=max_retries,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, token_store: TokenStore | None = None, *, company_id: int | None = None
    ) -> ProcoreClient:
        """The client of PROCORE_COMPANY_ID's company, or of `company_id` (another company the app is
        installed in: same sign-in, same token, and the same rate budget, since Procore counts the
        requests of one token whatever company they name)."""
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
            company_id=settings.procore_company_id if company_id is None else company_id,
            token_store=token_store,
            rate_budget=shared_budget(
                settings.procore_api_base, settings.procore_company_id, settings.procore_client_id
            ),
            rate_share=SettingsShare(),
        )

    def close(self) -> None:
        self._http.close()

    @property
    def rate_limit(self) -> RateLimitState:
        """The `X-Rate-Limit-*` figures of the last answer any client of this budget got."""
        return self._budget.last

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

    def list_companies(self) -> list[dict[str, Any]]:
        """The companies the app's user can see (`paysync doctor` checks PROCORE_COMPANY_ID is one)."""
        return self._json_list(self._send("GET", "/rest/v1.0/companies", action="list your companies"))

    def get_commitment(self, project_id: int, commitment_id: int) -> dict[str, Any]:
        """One commitment as /commitments shows it, with `allow_payments` (Payments Issued enabled)."""
        response = self._send(
            "GET",
            f"/rest/v1.0/commitments/{commitment_id}",
            params={"project_id": project_id},
            action=f"read commitment {commitment_id}",
        )
        return self._json_object(response)

    def get_raw(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """One GET answered as is, any status (no pagination, no error raised for a 4xx): the doctor's
        probes look at what Procore does with a request, such as a `Link` URL followed alone. The
        URL is sent on our own origin, as every other request."""
        target = url if url.startswith(("http://", "https://")) else self.api_base + url
        return self._http.request(
            "GET",
            self._on_our_origin(target),
            params=params,
            headers={
                "Authorization": f"Bearer {self._access_token()}",
                "Procore-Company-Id": str(self.company_id),
            },
        )

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
        return self._tokens.access_token()

    def _renew_after_401(self, rejected: str) -> None:
        self._tokens.renew_after_401(rejected)

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
            self._pace(is_write)
            access_token = self._access_token()
            headers = {"Authorization": f"Bearer {access_token}", "Procore-Company-Id": str(self.company_id)}
            hint: float | None = None
            try:
                response = self._paced_request(
                    is_write,
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=data,
                    files=files,
                    headers=headers,
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
                # Waited as Procore asked: the used-up windows are over, whatever their
                # rounded-up resets say, and pacing on them would only add a second wait.
                self._budget.reopen()
            retries += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return self._rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))

    def _pace(self, is_write: bool) -> None:
        """Wait until the budget has room for this request (ratelimit.py): reads keep a reserve
        for writes; a wait longer than max_wait raises ProcoreUnavailable."""
        self._budget.wait_for_room(
            write=is_write, clock=self._clock, sleep=self._sleep, max_wait=self.max_wait
        )

    def _paced_request(
        self,
        is_write: bool,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        data: dict[str, str] | None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        """One HTTP request, counted in flight against the shared budget until its answer (whose
        figures the budget then takes) or its failure."""
        self._budget.acquire(write=is_write, clock=self._clock, sleep=self._sleep, max_wait=self.max_wait)
        try:
            response = self._http.request(
                method, url, params=params, json=json, data=data, files=files, headers=headers
            )
        except BaseException:
            self._budget.release(None, now=self._clock())
            raise
        self._note_response(response)
        return response

    def _note_response(self, response: httpx.Response) -> None:
        server_date = _http_date(response.headers.get("Date"))
        if server_date is not None:
            self.server_clock_offset = server_date.timestamp() - self._clock()
        # A 429 was not counted by Procore: it used none of the windows it does not show.
        self._budget.release(
            figures_from_headers(response.headers), now=self._clock(), counted=response.status_code != 429
        )

    def _seconds_until_reset(self) -> float | None:
        return self._budget.seconds_until_reset(self._clock())

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
