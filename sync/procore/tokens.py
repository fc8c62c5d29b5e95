"""The access token a ProcoreClient sends: loaded from the token store, reused until it is about to
expire, renewed when it must be, and kept in the store for every process that comes after.

- Client credentials (a Developer Managed Service Account): a new token is one request to the token
  endpoint, but each is still a request out of Procore's hourly budget. So the token is stored, with
  its expiry, in the same protected store as a person's sign-in (encrypted; auth.DatabaseTokenStore),
  and every process reuses it until TOKEN_RENEW_MARGIN before it expires. A client-credentials
  token never replaces a person's sign-in in the store (the store refuses to).
- Authorization code (`paysync login`): refresh tokens are single-use and rotate on every refresh,
  so the new pair is committed to the store *before* the new access token is used; a pair rotated
  meanwhile by another process (the console and `paysync serve` share the store) is picked up
  instead of spending a dead refresh token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from sync.procore.auth import (
    LOGIN_AGAIN,
    OOB_REDIRECT_URI,
    StoredToken,
    TokenStore,
    request_token,
    token_from_response,
)
from sync.procore.errors import ProcoreAuthError, ProcoreUnavailable

log = logging.getLogger("paysync.procore")

TOKEN_RENEW_MARGIN = 60.0  # renew an access token this many seconds before it expires

CLIENT_CREDENTIALS_ADVICE = (
    "check PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET against the app's credentials in "
    "Procore's Developer Portal (production and sandbox credentials differ), and that the "
    "app's service account is installed in this company; or run `paysync login`."
)


class ClientTokens:
    """One client's access token, shared by its threads (one renewal at a time: a refresh token
    works only once), and by every process through `store`."""

    def __init__(
        self,
        store: TokenStore,
        *,
        http: httpx.Client,
        login_base: str,
        client_id: str,
        client_secret: str,
        now: Callable[[], datetime],
        sleep: Callable[[float], None],
        backoff: Callable[[int], float],
        max_retries: int,
    ) -> None:
        self.store = store
        self._http = http
        self._login_base = login_base
        self._client_id = client_id
        self._client_secret = client_secret
        self._now = now
        self._sleep = sleep
        self._backoff = backoff
        self._max_retries = max_retries
        self._token: StoredToken | None = None
        self._lock = threading.RLock()

    # -- what the client asks ----------------------------------------------------------------

    def access_token(self) -> str:
        """A token good for at least TOKEN_RENEW_MARGIN more seconds: the one in hand, else the
        stored one (another process may have fetched it), else a new one."""
        with self._lock:
            token = self._token
            if token is None:
                token = self._token = self.store.load()
            if token is not None and not token.expires_within(TOKEN_RENEW_MARGIN, self._now()):
                return token.access_token
            return self._renew(token).access_token

    def renew_after_401(self, rejected: str) -> None:
        """Procore refused `rejected` (revoked, or expired early on its side): get another."""
        with self._lock:
            current = self._token
            if current is not None and current.access_token != rejected:
                return  # another thread renewed it meanwhile
            self._renew(current)

    # -- renewing -----------------------------------------------------------------------------

    def _renew(self, stale: StoredToken | None) -> StoredToken:
        """Replace `stale` (expired, or refused with a 401) with a working token."""
        stored = self.store.load()
        # The console and `paysync serve` share the store: another process may have renewed
        # already (and for a sign-in, its refresh token is the only one that still works).
        # Told apart by the access token itself (a stored expiry may have lost its microseconds).
        if (
            stored is not None
            and (stale is None or stored.access_token != stale.access_token)
            and not stored.expires_within(TOKEN_RENEW_MARGIN, self._now())
        ):
            self._token = stored
            return stored
        current = stored or stale
        if current is not None and current.grant_type == "authorization_code":
            return self._refresh(current)
        return self._client_credentials()

    def _client_credentials(self) -> StoredToken:
        fresh = token_from_response(
            self._request(
                {
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
                refused_advice=CLIENT_CREDENTIALS_ADVICE,
            ),
            "client_credentials",
        )
        self._token = fresh
        try:
            # Kept for the next process (and the next client of this one) until it expires. A token
            # that cannot be kept is still good here: it only costs the next process a request.
            self.store.save(fresh)
        except Exception:
            log.info("could not keep the new Procore access token for other processes", exc_info=True)
        return fresh

    def _refresh(self, current: StoredToken) -> StoredToken:
        if not current.refresh_token:
            raise ProcoreAuthError(
                f"The saved Procore sign-in has expired and cannot be renewed: {LOGIN_AGAIN}."
            )
        check_can_save = getattr(self.store, "check_can_save", None)
        if check_can_save is not None:
            check_can_save()  # fail before spending the refresh token, not after
        try:
            payload = self._request(
                {
                    "grant_type": "refresh_token",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "refresh_token": current.refresh_token,
                    "redirect_uri": OOB_REDIRECT_URI,
                },
                refused_advice=f"the saved sign-in is no longer valid (refresh tokens work once); {LOGIN_AGAIN}.",
            )
        except ProcoreAuthError:
            latest = self.store.load()
            if latest is not None and latest.refresh_token not in (None, current.refresh_token):
                # Someone else rotated the pair while we tried: use theirs.
                if not latest.expires_within(TOKEN_RENEW_MARGIN, self._now()):
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
            self.store.save(fresh)
        except Exception as exc:
            self._token = None
            raise ProcoreAuthError(
                f"Procore renewed the sign-in but the new tokens could not be saved ({exc}); the old ones "
                f"no longer work, so {LOGIN_AGAIN}."
            ) from exc
        self._token = fresh
        return fresh

    def _request(self, form: dict[str, str], *, refused_advice: str) -> dict[str, Any]:
        """The token endpoint, retried on 5xx/network like a read. Retrying a refresh is harmless:
        if Procore did process the lost attempt, the retry gets `invalid_grant`, the same outcome
        as not retrying (the old refresh token is dead either way)."""
        attempt = 0
        while True:
            try:
                return request_token(self._http, self._login_base, form, refused_advice=refused_advice)
            except ProcoreUnavailable:
                if attempt >= self._max_retries:
                    raise
            self._sleep(self._backoff(attempt))
            attempt += 1
