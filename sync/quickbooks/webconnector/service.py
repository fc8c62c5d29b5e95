"""What PaySync answers to each QuickBooks Web Connector call (NOTES §9), independent of HTTP.

Call sequence: serverVersion -> clientVersion -> authenticate -> { sendRequestXML ->
receiveResponseXML }* -> closeConnection; getLastError after an empty request or a negative
percentage, connectionError when the Web Connector cannot reach QuickBooks.

`WebConnectorService` is the one object app.py calls; each call is answered by the part whose job
it is:
- logins.py    the stored password hash, authenticate, throttling per address;
- sessions.py  tickets, idle expiry, errors on record, connectionError, getLastError, closeConnection;
- exchange.py  sendRequestXML and receiveResponseXML, each item handled by its step (../steps);
- errors.py    HRESULTs in words the person at QuickBooks can act on.
State lives in the database (sessions, the work queue, payments), never only in memory.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from pathlib import Path

from storage.fields import utc_now
from sync.settings import Settings

from .exchange import Exchange
from .logins import Logins
from .passwords import DEFAULT_ITERATIONS
from .sessions import CloseResult, Sessions


def paysync_version() -> str:
    try:
        return metadata.version("paysync")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            return str(project.get("version", "unknown"))
        except (OSError, tomllib.TOMLDecodeError):
            return "unknown"


class WebConnectorService:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_returned: int = 100,
        password_iterations: int = DEFAULT_ITERATIONS,
        fetch_unknown_bills: bool = True,
    ) -> None:
        self.settings = settings
        self.sessions = Sessions(settings, clock=clock)
        self.logins = Logins(self.sessions, password_iterations=password_iterations)
        self.exchange = Exchange(
            self.sessions, max_returned=max_returned, fetch_unknown_bills=fetch_unknown_bills
        )

    # ------------------------------------------------------------------ logins

    def ensure_credential(self) -> None:
        """Store the configured password's hash unless the stored one already matches it (ConfigError
        when QBWC_PASSWORD is missing or too short)."""
        self.logins.ensure_credential()

    def login_paused_until(self, address: str | None) -> datetime | None:
        """Until when logins from `address` are paused (from memory, no database), or None."""
        return self.logins.paused_until(address)

    def authenticate(self, username: str, password: str, remote_addr: str | None = None) -> list[str]:
        return self.logins.authenticate(username, password, remote_addr)

    def is_open_ticket(self, ticket: str) -> bool:
        """Whether `ticket` names an open session (a read: no lock, nothing changed)."""
        return self.sessions.is_open_ticket(ticket)

    # ------------------------------------------------------------------ simple calls

    def server_version(self) -> str:
        return f"PaySync {paysync_version()}"

    def client_version(self, version: str) -> str:
        """ "" lets every Web Connector go on; a warning for versions older than 2.1 (pre-2012)."""
        parts = version.strip().split(".")
        try:
            major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
        except ValueError:
            return ""
        if (major, minor) < (2, 1):
            return (
                f"W:This QuickBooks Web Connector ({version.strip()}) is very old. PaySync is tested with 2.1 "
                "and later; please install the current Web Connector from Intuit."
            )
        return ""

    # ------------------------------------------------------------------ the exchange

    def send_request_xml(
        self,
        ticket: str,
        hcp_response: str,
        company_file_name: str,
        country: str,
        major_version: int | None,
        minor_version: int | None,
    ) -> str:
        return self.exchange.send_request_xml(
            ticket, hcp_response, company_file_name, country, major_version, minor_version
        )

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        return self.exchange.receive_response_xml(ticket, response, hresult, message)

    # ------------------------------------------------------------------ errors and closing

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        return self.sessions.connection_error(ticket, hresult, message)

    def get_last_error(self, ticket: str) -> str:
        return self.sessions.get_last_error(ticket)

    def close_connection(self, ticket: str) -> CloseResult:
        return self.sessions.close(ticket)
