"""Who may open the console in a browser (`paysync web`).

With PAYSYNC_WEB_PASSWORD set, every request — the page, its files and the websocket that starts a
console — needs HTTP Basic credentials with that password (any user name), so no console process
is started for a visitor without it. The setting holds the password itself or its PBKDF2 hash
(`paysync web --hash-password` prints one), the format the Web Connector password uses.

Without a password (allowed on a loopback address only) the Host header must name this machine, so
a web page elsewhere cannot reach the console by pointing a name of its own at 127.0.0.1 (DNS
rebinding). With or without one, the websocket must come from a page of this server (its Origin),
so another site open in the same browser cannot drive the console.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sync.quickbooks.webconnector.passwords import hash_iterations, verify_password
from sync.settings import ConfigError, is_loopback

log = logging.getLogger("paysync.web")

PASSWORD_KEY = "PAYSYNC_WEB_PASSWORD"
MIN_PASSWORD_LENGTH = 8
REALM = "PaySync console"
# Wrong passwords from one address: this many within the window, then refused until it has passed.
MAX_WRONG_ATTEMPTS = 10
WRONG_ATTEMPT_WINDOW_SECONDS = 300.0


class WebPassword:
    """The configured password, as given or as a PBKDF2 hash; `matches` runs in constant time."""

    def __init__(self, configured: str) -> None:
        # A keyed digest of the accepted password: compared on each request, so a stored hash is
        # verified (0.25 s of PBKDF2) once per process, not once per request.
        self._key = secrets.token_bytes(32)
        self._hash: str | None = None
        self._accepted: bytes | None = None
        if configured.startswith("pbkdf2_sha256$"):
            if hash_iterations(configured) is None or len(configured.split("$")) != 4:
                raise ConfigError(
                    f"{PASSWORD_KEY} looks like a PBKDF2 hash but is not a whole one: paste the full line "
                    "`paysync web --hash-password` printed, or write the password itself."
                )
            self._hash = configured
        elif len(configured) < MIN_PASSWORD_LENGTH:
            raise ConfigError(
                f"{PASSWORD_KEY} is shorter than {MIN_PASSWORD_LENGTH} characters: choose a longer one."
            )
        else:
            self._accepted = self._digest(configured)

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()

    async def matches(self, password: str) -> bool:
        given = self._digest(password)
        if self._accepted is not None:
            return hmac.compare_digest(given, self._accepted)
        assert self._hash is not None
        # PBKDF2 takes a while: off the event loop, so other sessions keep running meanwhile.
        if await asyncio.to_thread(verify_password, password, self._hash):
            self._accepted = given
            return True
        return False


def basic_auth_password(request: web.Request) -> str | None:
    """The password of the request's HTTP Basic credentials, or None when it has none (or unreadable)."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")  # what older browsers send
    _user, colon, password = text.partition(":")
    return password if colon else None


@dataclass
class WrongAttempts:
    """Recent wrong passwords per remote address, to slow down guessing."""

    limit: int = MAX_WRONG_ATTEMPTS
    window: float = WRONG_ATTEMPT_WINDOW_SECONDS
    clock: Callable[[], float] = time.monotonic
    _by_address: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str) -> deque[float]:
        times = self._by_address.setdefault(address, deque())
        cutoff = self.clock() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def blocked_for(self, address: str) -> float:
        """Seconds until `address` may try again; 0 when it may now."""
        times = self._recent(address)
        if len(times) < self.limit:
            if not times:
                self._by_address.pop(address, None)
            return 0.0
        return max(0.0, times[0] + self.window - self.clock())

    def record(self, address: str) -> None:
        self._recent(address).append(self.clock())


def _unauthorized(text: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=text,
        headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )


def _host_name(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


def access_middleware(password: WebPassword | None, attempts: WrongAttempts | None = None) -> Middleware:
    """The aiohttp middleware that guards every route (see the module docstring)."""
    attempts = attempts if attempts is not None else WrongAttempts()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if password is None and not is_loopback(_host_name(request.host)):
            raise web.HTTPForbidden(
                text="This PaySync console answers only to http://127.0.0.1 or http://localhost on its own "
                "machine (it has no password set)."
            )
        origin = request.headers.get("Origin")
        if request.path == "/ws" and origin is not None and urlsplit(origin).netloc != request.host:
            log.warning("refused a console websocket from another site's page (Origin %s)", origin)
            raise web.HTTPForbidden(text="The console can be opened only from this server's own page.")
        if password is not None:
            address = request.remote or "unknown"
            wait = attempts.blocked_for(address)
            if wait > 0:
                raise web.HTTPTooManyRequests(
                    text=f"Too many wrong passwords from your address: try again in {int(wait) // 60 + 1} min.",
                    headers={"Retry-After": str(int(wait) + 1)},
                )
            given = basic_auth_password(request)
            if given is None:
                raise _unauthorized("Sign in with the PaySync console password (any user name).")
            if not await password.matches(given):
                attempts.record(address)
                log.warning("wrong console password from %s", address)
                raise _unauthorized("Wrong password: sign in with the PaySync console password.")
        return await handler(request)

    return guard
