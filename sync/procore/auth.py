"""Procore OAuth 2.0: the token endpoint, the authorization-code sign-in, and where tokens live.

Two ways to sign in (API-NOTES §5.3):
- client credentials (a Developer Managed Service Account): no user, no refresh token; the access
  token is kept in the token store (encrypted, like a sign-in) and reused by every process until it
  is about to expire, then a new one is requested (sync/procore/tokens.py);
- authorization code, out of band (`paysync login`): acts as the accountant who signed in. Refresh
  tokens are single-use and rotate on every refresh, so the new pair is committed to the token
  store *before* the new access token is used: a crash after the refresh but before the save
  would otherwise leave only a dead refresh token behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from storage.fields import utc_now
from storage.models import ProcoreToken
from storage.secrets import PREFIX as ENCRYPTED_PREFIX
from storage.secrets import SecretKeyError
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreUnavailable,
    name_resolution_failure,
    not_procore_message,
    procore_error_messages,
    unresolved_host_message,
)

OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"
DEFAULT_TOKEN_LIFETIME = 5400  # seconds; Procore's documented access-token lifetime
LOGIN_AGAIN = "run `paysync login` again to sign in to Procore"
LOGIN_BASE_EXAMPLE = "https://login.procore.com; a sandbox company uses https://login-sandbox.procore.com"
API_BASE_EXAMPLE = "https://api.procore.com; a sandbox company uses https://sandbox.procore.com"


CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True)
class StoredToken:
    grant_type: str  # "authorization_code" | "client_credentials"
    access_token: str
    refresh_token: str | None
    expires_at: datetime  # aware UTC

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        return (now or utc_now()) >= self.expires_at - timedelta(seconds=seconds)


def replaces_sign_in(current: StoredToken | None, new: StoredToken) -> bool:
    """Whether saving `new` would put a client-credentials token where a person's sign-in is."""
    return (
        current is not None
        and current.grant_type != CLIENT_CREDENTIALS
        and new.grant_type == CLIENT_CREDENTIALS
    )


class TokenStore(Protocol):
    def load(self) -> StoredToken | None: ...

    def save(self, token: StoredToken) -> None: ...


class MemoryTokenStore:
    """Keeps the token in this process only (tests, the demo)."""

    def __init__(self, token: StoredToken | None = None) -> None:
        self.token = token
        self.saves = 0

    def load(self) -> StoredToken | None:
        return self.token

    def save(self, token: StoredToken) -> None:
        if replaces_sign_in(self.token, token):
            return
        self.token = token
        self.saves += 1


class DatabaseTokenStore:
    """The `procore_token` row (default name "default") in PaySync's database.

    `save()` commits its own transaction before returning, so the rotated refresh token is on
    disk before the client uses the new access token. It refuses to run inside a caller's open
    transaction: there it would only be a savepoint, and a later rollback would silently throw
    away the one refresh token that still works.
    """

    def __init__(self, name: str = "default") -> None:
        self.name = name

    def load(self) -> StoredToken | None:
        try:
            row = ProcoreToken.get_or_none(ProcoreToken.name == self.name)
        except SecretKeyError as exc:
            grant = (
                ProcoreToken.select(ProcoreToken.grant_type).where(ProcoreToken.name == self.name).scalar()
            )
            if grant == CLIENT_CREDENTIALS:
                return None  # a new token is one request away; the stored one is useless anyway
            raise ProcoreAuthError(f"The saved Procore sign-in cannot be read: {exc}") from exc
        if row is None:
            return None
        token = StoredToken(
            grant_type=str(row.grant_type),
            access_token=str(row.access_token),
            refresh_token=row.refresh_token,
            expires_at=row.expires_at,
        )
        stored = ProcoreToken.select(ProcoreToken.access_token.alias("raw")).where(
            ProcoreToken.name == self.name
        )
        raw = stored.tuples().first()
        if raw is not None and not str(raw[0]).startswith(ENCRYPTED_PREFIX) and not self._in_transaction():
            self.save(token)  # stored in clear by an earlier PaySync: encrypt it now
        return token

    @staticmethod
    def _in_transaction() -> bool:
        return bool(ProcoreToken._meta.database.in_transaction())

    def check_can_save(self) -> None:
        """Raise now, before a single-use refresh token is spent, if save() would refuse."""
        if ProcoreToken._meta.database.in_transaction():
            raise RuntimeError(
                "The Procore client was used inside an open database transaction, where a renewed "
                "Procore sign-in could not be committed. Call the Procore client outside transactions."
            )

    def save(self, token: StoredToken) -> None:
        self.check_can_save()
        database = ProcoreToken._meta.database
        values = {
            ProcoreToken.grant_type: token.grant_type,
            ProcoreToken.access_token: token.access_token,
            ProcoreToken.refresh_token: token.refresh_token,
            ProcoreToken.expires_at: token.expires_at,
            ProcoreToken.updated_at: utc_now(),
        }
        # A client-credentials token (kept so that every process reuses it until it expires) never
        # replaces a person's sign-in: `paysync login` may have saved one since this token was asked for.
        keep_sign_in = (
            ProcoreToken.grant_type == CLIENT_CREDENTIALS if token.grant_type == CLIENT_CREDENTIALS else None
        )
        with database.atomic():
            ProcoreToken.insert({ProcoreToken.name: self.name, **values}).on_conflict(
                conflict_target=[ProcoreToken.name], update=values, where=keep_sign_in
            ).execute()


def authorization_url(login_base: str, client_id: str) -> str:
    """Where the user signs in; Procore then shows a code to paste back (out-of-band redirect)."""
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": OOB_REDIRECT_URI})
    return f"{login_base.rstrip('/')}/oauth/authorize?{query}"


def token_from_response(payload: object, grant_type: str, now: datetime | None = None) -> StoredToken:
    """Turn a token endpoint answer into a StoredToken; the expiry is counted from our own clock."""
    if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
        raise ProcoreAuthError("Procore's token endpoint answered without an access token.", body=payload)
    expires_in = payload.get("expires_in")
    lifetime = (
        int(expires_in) if isinstance(expires_in, int | float | str) and str(expires_in).isdigit() else 0
    )
    refresh = payload.get("refresh_token")
    return StoredToken(
        grant_type=grant_type,
        access_token=payload["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=(now or datetime.now(UTC)) + timedelta(seconds=lifetime or DEFAULT_TOKEN_LIFETIME),
    )


def request_token(
    http: httpx.Client,
    login_base: str,
    form: dict[str, str],
    *,
    refused_advice: str,
) -> dict[str, Any]:
    """POST to `{login_base}/oauth/token` once and return the JSON answer.

    A 4xx means Procore refused the grant: ProcoreAuthError with Procore's reason and
    `refused_advice` (what the person should do). A 5xx or a network failure raises
    ProcoreUnavailable; whether to retry is the caller's decision.
    """
    url = f"{login_base.rstrip('/')}/oauth/token"
    try:
        response = http.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        unresolved = name_resolution_failure(exc)
        if unresolved is not None:  # a wrong host name: retrying cannot help, so say so at once
            raise ProcoreError(
                unresolved_host_message(
                    "PROCORE_LOGIN_BASE", login_base, httpx.URL(url).host, unresolved, LOGIN_BASE_EXAMPLE
                ),
                method="POST",
                url=url,
            ) from exc
        raise ProcoreUnavailable(
            f"Could not reach Procore's sign-in server at {login_base} ({type(exc).__name__}: {exc}). "
            "Check the network and PROCORE_LOGIN_BASE.",
            method="POST",
            url=url,
        ) from exc
    body = _json_or_text(response)
    status = response.status_code
    error: type[ProcoreError]
    if status >= 500 or status in (408, 429):
        error = ProcoreUnavailable
        message = f"Procore's sign-in server answered {status}; try again in a few minutes."
    elif not isinstance(body, dict) and (status < 300 or looks_like_a_web_page(response)):
        error = ProcoreError
        message = not_procore_message(
            "PROCORE_LOGIN_BASE",
            login_base,
            f"POST {httpx.URL(url).path} answered {status} with {content_kind(response)}, not JSON",
            LOGIN_BASE_EXAMPLE,
        )
    elif status >= 400:
        reason, _ = procore_error_messages(body)
        error = ProcoreAuthError
        message = f"Procore refused the sign-in ({status}{': ' + reason if reason else ''}): {refused_advice}"
    elif not isinstance(body, dict):
        error = ProcoreError
        message = not_procore_message(
            "PROCORE_LOGIN_BASE",
            login_base,
            f"POST {httpx.URL(url).path} answered {status} with {content_kind(response)}, not a JSON object",
            LOGIN_BASE_EXAMPLE,
        )
    else:
        return body
    raise error(message, status=status, method="POST", url=url, body=body)


def exchange_authorization_code(
    login_base: str,
    client_id: str,
    client_secret: str,
    code: str,
    *,
    http: httpx.Client | None = None,
) -> StoredToken:
    """Trade the code the user pasted for an access token and a refresh token (single attempt:
    codes are single-use, so a retry could only fail)."""
    code = code.strip()
    if not code:
        raise ProcoreAuthError(
            "No authorization code was given: paste the code Procore showed after sign-in."
        )
    own_http = http is None
    client = http or httpx.Client(timeout=30.0)
    try:
        payload = request_token(
            client,
            login_base,
            {
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": client_secret,
                "code": code,
                "redirect_uri": OOB_REDIRECT_URI,
            },
            refused_advice=(
                "codes are single-use and expire after 10 minutes, and must come from the same app as "
                "PROCORE_CLIENT_ID; run `paysync login` again and paste the new code promptly."
            ),
        )
    finally:
        if own_http:
            client.close()
    token = token_from_response(payload, "authorization_code")
    if token.refresh_token is None:
        raise ProcoreAuthError(
            "Procore signed you in but sent no refresh token, so the sign-in would lapse in 90 minutes; "
            "check that the app in the Developer Portal uses the authorization-code grant.",
            body=payload,
        )
    return token


def _json_or_text(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def looks_like_a_web_page(response: httpx.Response) -> bool:
    """An HTML answer: a web site (or a proxy's page), not Procore's API, which answers JSON."""
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or response.text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def content_kind(response: httpx.Response) -> str:
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    if looks_like_a_web_page(response):
        return "a web page (HTML)"
    return kind or "no content type"
