"""What PaySync answers to each QuickBooks Web Connector call (NOTES §9), independent of HTTP.

Call sequence: serverVersion -> clientVersion -> authenticate -> { sendRequestXML ->
receiveResponseXML }* -> closeConnection; getLastError after an empty request or a negative
percentage, connectionError when the Web Connector cannot reach QuickBooks.

State lives in the database (sessions, the work queue, payments), never only in memory, so a
restart of `paysync serve` mid-session loses nothing: the ticket is simply no longer valid and the
work goes back to the queue. Calls are serialised by one lock: the Web Connector makes one call at
a time, and the lock keeps "is another session open?" and "create the session" together.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from storage.fields import utc_now
from storage.models import (
    AuditLog,
    CompanyFile,
    ErrorEvent,
    LoginAttempt,
    QuickBooksWork,
    WebConnectorCredential,
    WebConnectorSession,
)
from sync.cutoff import record_cutoff_at_first_run
from sync.ingest import (
    CurrencyResolver,
    IngestCounts,
    PageOutcome,
    company_file_for,
    store_bills,
    store_currencies,
    store_deletions,
    store_payment_page,
    store_vendors,
    unknown_bill_ids,
    unknown_vendor_ids,
    watermark_value,
    write_transaction,
)
from sync.qbxml.build import (
    QBXML_VERSION,
    build_bill_payment_query,
    build_bill_query,
    build_currency_query,
    build_deleted_query,
    build_host_query,
    build_vendor_query,
    parse_qb_local,
)
from sync.qbxml.errors import QbXMLError, QbXMLStatusError
from sync.qbxml.parse import HcpFacts, parse_hcp, parse_response
from sync.qbxml.records import CompanyInfo, HostInfo, PaymentKind, QueryResponse
from sync.scheduler import schedule_cutoff
from sync.settings import Settings
from sync.workqueue import (
    SESSION_IDLE_TIMEOUT,
    next_queued_work,
    queue_bill_lookup,
    queue_currency_list,
    queue_lookup,
    requeue_stale_work,
    reset_to_queued,
    work_id,
)

from .passwords import (
    DEFAULT_ITERATIONS,
    burn_password_check,
    hash_iterations,
    hash_password,
    verify_password,
)

log = logging.getLogger(__name__)

WATERMARK_OVERLAP = timedelta(minutes=10)  # DESIGN rule 2 / NOTES §8: overlap, then dedupe by EditSequence
CUTOFF_MARGIN = timedelta(days=1)  # covers any U.S. offset between UTC and QuickBooks' local clock
LOGIN_WINDOW = timedelta(minutes=10)
MAX_FAILED_LOGINS = 5  # per client address, in LOGIN_WINDOW
MAX_CONCURRENT_HASHES = 2  # password checks running at once (each about 0.25 s of one core)
MAX_LOGIN_ROWS = 10_000
MAX_TRANSPORT_ATTEMPTS = 3  # hresult errors and unreadable responses
MAX_RETRYABLE_ATTEMPTS = 5  # statuses 3170-3180 and 3391
_THROTTLE_MARKER = "login_throttled"
_WORK_ID = QuickBooksWork._meta.primary_key

UNKNOWN_TICKET_MESSAGE = (
    "PaySync: unknown or expired ticket — the Web Connector will start a new session at its next run."
)
NO_ERROR_MESSAGE = "PaySync recorded no error for this session."

_RS_FOR_KIND = {
    "payments_check": "BillPaymentCheckQueryRs",
    "payments_credit_card": "BillPaymentCreditCardQueryRs",
    "deleted": "TxnDeletedQueryRs",
    "bills": "BillQueryRs",
    "vendors": "VendorQueryRs",
    "currencies": "CurrencyQueryRs",
}
_WHAT_FOR_KIND = {
    "host": "company-file check",
    "payments_check": "check bill payment",
    "payments_credit_card": "credit card bill payment",
    "deleted": "deleted payment",
    "bills": "bill",
    "vendors": "vendor",
    "currencies": "currency list",
}
# Kinds that only add detail to payments already stored: a QuickBooks error on one of them is
# recorded, and the session carries on.
_DETAIL_KINDS = frozenset({"bills", "vendors", "currencies"})
# The qbXML version every request declares, as (major, minor), and the QuickBooks that speaks it.
_NEEDED_VERSION = tuple(int(part) for part in QBXML_VERSION.split("."))
_NEEDED_QUICKBOOKS = "QuickBooks Desktop 2014"
VERSION_NOT_SUPPORTED_HRESULT = "0x80040428"
_EDITIONS = {"CA": "Canada", "UK": "UK", "GB": "UK", "AU": "Australia"}

# HRESULTs the Web Connector passes on (NOTES §8), with what the person at QuickBooks can do.
_HRESULT_HINTS = {
    "0x80040400": "QuickBooks could not parse the request PaySync sent. This is a PaySync problem: "
    "update PaySync, and send the Web Connector log (QWCLog.txt) to support if it happens again.",
    "0x80040401": "Could not access QuickBooks. Start QuickBooks on the Web Connector's computer, open the "
    "company file, and check that PaySync is allowed in Edit > Preferences > Integrated Applications.",
    "0x80040402": "QuickBooks had an unexpected error. Check the qbsdklog.txt file next to QuickBooks, "
    "restart QuickBooks and the Web Connector, and try again.",
    "0x80040408": "Could not start QuickBooks. Open QuickBooks with the company file yourself, "
    "or allow the Web Connector to run it unattended, and run the update again.",
    VERSION_NOT_SUPPORTED_HRESULT: f"This QuickBooks is older than PaySync needs: PaySync asks in qbXML "
    f"{QBXML_VERSION}, which {_NEEDED_QUICKBOOKS} and later understand. Update QuickBooks Desktop to 2014 or "
    "later (U.S. Pro, Premier, Accountant or Enterprise); PaySync itself needs no update, and the password "
    "and permissions are not the problem.",
}
_GENERIC_HRESULT_HINT = (
    "Check that QuickBooks is running with the company file open, signed in as a user who may use "
    "integrated applications, and that PaySync is allowed in Edit > Preferences > Integrated Applications."
)


def paysync_version() -> str:
    try:
        return metadata.version("paysync")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            return str(project.get("version", "unknown"))
        except (OSError, tomllib.TOMLDecodeError):
            return "unknown"


def describe_hresult(hresult: str, message: str) -> str:
    code = hresult.strip()
    hint = _HRESULT_HINTS.get(code.lower(), _GENERIC_HRESULT_HINT)
    said = f": {message.strip().rstrip('.')}" if message.strip() else ""
    return f"QuickBooks reported {code}{said}. {hint}"


def describe_country_refusal(country: str) -> str:
    code = country.strip().upper()
    edition = _EDITIONS.get(code, code)
    return (
        f"This company file is QuickBooks Desktop {edition} edition (country {code}). PaySync supports "
        "only the U.S. edition, as Procore's bill payment sync does; nothing was read from this file. "
        "Open a U.S. company file, or remove PaySync from the Web Connector for this file."
    )


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.strip().split(".")
    if not all(part.isdigit() for part in parts if part) or not parts[0]:
        return None
    return tuple(int(part) for part in parts if part)


def describe_version_refusal(product_name: str | None, supported: tuple[str, ...]) -> str:
    """Why PaySync sends nothing to a QuickBooks that does not speak its qbXML version, in
    QuickBooks' terms: the QuickBooks found, the one needed, and that PaySync needs no update."""
    numbers = sorted((v for v in (_version_tuple(s) for s in supported) if v is not None), reverse=True)
    highest = ".".join(str(part) for part in numbers[0]) if numbers else None
    found = product_name or "The QuickBooks on the Web Connector's computer"
    speaks = f" speaks qbXML up to {highest}" if highest else " does not list qbXML " + QBXML_VERSION
    return (
        f"{found}{speaks}; PaySync needs qbXML {QBXML_VERSION}, which {_NEEDED_QUICKBOOKS} and later "
        "support, so nothing was asked of this company file. Update QuickBooks Desktop to 2014 or later "
        "(U.S. Pro, Premier, Accountant or Enterprise), then run the Web Connector again. PaySync itself "
        "needs no update."
    )


def supports_needed_version(supported: tuple[str, ...]) -> bool:
    """Whether HostRet's SupportedQBXMLVersion list has the version PaySync's requests declare."""
    return any(_version_tuple(version) == _NEEDED_VERSION for version in supported)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summarise_session(counts: IngestCounts) -> str:
    text = (
        f"PaySync: {_plural(counts.received, 'payment')} received "
        f"({counts.new} new, {counts.changed} changed), {_plural(counts.deletions, 'deletion')}"
    )
    if counts.held:
        text += f"; {_plural(counts.held, 'record')} held aside as unreadable (see paysync status)"
    return text


@dataclass(frozen=True)
class CloseResult:
    message: str
    file_key: str | None
    changed: bool  # new or changed payments or deletions arrived: the engine should push now


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
        self.clock = clock
        self.max_returned = max_returned
        self.password_iterations = password_iterations
        self.fetch_unknown_bills = fetch_unknown_bills
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
        self._checking: dict[str, int] = {}  # address -> password checks under way
        self._paused: dict[str, datetime] = {}  # address -> until when its logins are refused unread

    # ------------------------------------------------------------------ credentials

    def ensure_credential(self) -> None:
        """Store the configured password's hash unless the stored one already matches it.

        Raises ConfigError when QBWC_PASSWORD is missing or too short. Only the configured user
        may log in, so rows for other user names are removed.
        """
        password = self.settings.require_qbwc_password()
        username = self.settings.qbwc_username
        file_key = self.settings.qbwc_file_key
        now = self.clock()
        row: WebConnectorCredential | None = WebConnectorCredential.get_or_none(
            WebConnectorCredential.username == username
        )
        current = (
            row is not None
            and row.file_key == file_key
            and (hash_iterations(row.password_hash) or 0) >= self.password_iterations
            and verify_password(password, row.password_hash)
        )
        with write_transaction():
            WebConnectorCredential.delete().where(WebConnectorCredential.username != username).execute()
            if current:
                return
            encoded = hash_password(password, iterations=self.password_iterations)
            if row is None:
                WebConnectorCredential.create(
                    username=username, password_hash=encoded, file_key=file_key, updated_at=now
                )
            else:
                row.password_hash = encoded
                row.file_key = file_key
                row.updated_at = now
                row.save()
            AuditLog.create(at=now, actor="paysync", action="qbwc.credential_stored", target=username)

    # ------------------------------------------------------------------ helpers

    def _audit(self, now: datetime, action: str, target: str | None, **detail: Any) -> None:
        AuditLog.create(
            at=now, actor="qbwc", action=action, target=target, detail=json.dumps(detail) if detail else None
        )

    def _record_error(
        self,
        now: datetime,
        message: str,
        *,
        session: WebConnectorSession | None = None,
        company: CompanyFile | None = None,
        detail: str | None = None,
    ) -> None:
        ErrorEvent.create(at=now, where="qbwc", message=message, detail=detail)
        if company is not None:
            company.last_error = message
            company.last_error_at = now
            company.save()
        if session is not None:
            session.last_error = message
            session.save()
        self._audit(now, "qbwc.error", session.ticket if session is not None else None, message=message)

    def _company(self, session: WebConnectorSession) -> CompanyFile:
        company: CompanyFile | None = session.company_file
        return company if company is not None else company_file_for(session.file_key)

    def _live_session(self, ticket: str, now: datetime) -> WebConnectorSession | None:
        """The open session for `ticket`, touched; None when unknown, closed or idle too long."""
        if not ticket:
            return None
        session: WebConnectorSession | None = WebConnectorSession.get_or_none(
            WebConnectorSession.ticket == ticket
        )
        if session is None:
            return None
        if session.state == "open" and session.last_seen_at < now - SESSION_IDLE_TIMEOUT:
            self._expire(session, now)
            return None
        if session.state != "open":
            return None
        session.last_seen_at = now
        session.save()
        company = self._company(session)
        company.last_contact_at = now
        company.save()
        return session

    def _expire(self, session: WebConnectorSession, now: datetime) -> None:
        session.state = "expired"
        session.closed_at = now
        session.last_error = UNKNOWN_TICKET_MESSAGE
        session.save()
        requeue_stale_work(session.file_key, now=now)
        self._audit(now, "qbwc.session_expired", session.ticket)

    def _expire_idle_sessions(self, file_key: str, now: datetime) -> None:
        for session in WebConnectorSession.select().where(
            (WebConnectorSession.file_key == file_key)
            & (WebConnectorSession.state == "open")
            & (WebConnectorSession.last_seen_at < now - SESSION_IDLE_TIMEOUT)
        ):
            self._expire(session, now)

    def _session_work(self, session: WebConnectorSession) -> QuickBooksWork | None:
        if session.current_work_id is None:
            return None
        work: QuickBooksWork | None = QuickBooksWork.get_or_none(session.current_work_id == _WORK_ID)
        if work is None or work.status != "in_progress" or work.session_ticket != session.ticket:
            return None
        return work

    def login_paused_until(self, address: str | None) -> datetime | None:
        """Until when logins from `address` are paused (from memory, no database), or None."""
        until = self._paused.get((address or "unknown")[:64])
        return until if until is not None and self.clock() < until else None

    def is_open_ticket(self, ticket: str) -> bool:
        """Whether `ticket` names an open session (a read: no lock, nothing changed)."""
        return bool(
            WebConnectorSession.select()
            .where((WebConnectorSession.ticket == ticket) & (WebConnectorSession.state == "open"))
            .exists()
        )

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

    # ------------------------------------------------------------------ authenticate

    def _failed_logins(self, address: str, now: datetime) -> tuple[int, datetime | None]:
        """Wrong passwords from `address` in the window since its last good login, and the first."""
        since = now - LOGIN_WINDOW
        last_success = (
            LoginAttempt.select(LoginAttempt.at)
            .where(
                (LoginAttempt.remote_addr == address) & LoginAttempt.succeeded & (LoginAttempt.at >= since)
            )
            .order_by(LoginAttempt.at.desc())
            .first()
        )
        if last_success is not None:
            since = last_success.at
        failures = LoginAttempt.select(LoginAttempt.at).where(
            (LoginAttempt.remote_addr == address) & ~LoginAttempt.succeeded & (LoginAttempt.at >= since)
        )
        first = failures.order_by(LoginAttempt.at).first()
        return int(failures.count()), (first.at if first is not None else None)

    def _throttled(
        self, username: str, address: str, first_failure: datetime | None, now: datetime
    ) -> list[str]:
        """Refuse, without checking the password: this address sent too many wrong ones. Said once per
        window, with when and from where; other addresses are not affected."""
        until = (first_failure or now) + LOGIN_WINDOW
        message = (
            f"Web Connector logins from {address} are paused until {until.strftime('%H:%M UTC')}: "
            f"{MAX_FAILED_LOGINS} wrong passwords came from that address in {int(LOGIN_WINDOW.total_seconds() // 60)} "
            "minutes (the last as user "
            f"{username!r}). Logins from other addresses go on as usual. If {address} is not the Web Connector's "
            "computer, someone else is trying to log in and nothing needs doing here; if it is, wait until then "
            "and make sure the Web Connector's password for PaySync matches QBWC_PASSWORD."
        )
        marker = f"{_THROTTLE_MARKER}:{address}"
        with write_transaction():
            recent = (
                ErrorEvent.select()
                .where(
                    (ErrorEvent.where == "qbwc")
                    & (ErrorEvent.at >= now - LOGIN_WINDOW)
                    & (ErrorEvent.detail == marker)
                )
                .exists()
            )
            if not recent:
                self._record_error(now, message, detail=marker)
                self._audit(now, "qbwc.login_throttled", username, remote_addr=address)
        return ["", "nvu"]

    def _prune_login_attempts(self, now: datetime) -> None:
        """Keep a day of login attempts, and never more than MAX_LOGIN_ROWS (a flood cannot grow the table)."""
        LoginAttempt.delete().where(LoginAttempt.at < now - timedelta(days=1)).execute()
        excess = LoginAttempt.select().count() - MAX_LOGIN_ROWS
        if excess > 0:
            key: Any = LoginAttempt._meta.primary_key
            oldest = LoginAttempt.select(key).order_by(LoginAttempt.at, key).limit(excess)
            LoginAttempt.delete().where(key.in_(oldest)).execute()

    def authenticate(self, username: str, password: str, remote_addr: str | None = None) -> list[str]:
        """Check a login. The password hash (about a quarter of a second) is computed outside the
        service lock, at most MAX_CONCURRENT_HASHES at once, so a flood of bad logins never holds up
        the Web Connector's calls; an address with MAX_FAILED_LOGINS wrong passwords in the window
        (counting those still being checked) is refused without hashing at all."""
        now = self.clock()
        username = username.strip()[:200]
        address = (remote_addr or "unknown")[:64]
        paused_until = self._paused.get(address)
        if paused_until is not None and now < paused_until:
            return ["", "nvu"]  # paused: refused from memory, no database work, already said
        with self._lock:
            failures, first_failure = self._failed_logins(address, now)
            if failures + self._checking.get(address, 0) >= MAX_FAILED_LOGINS:
                throttled = True
                self._paused[address] = (first_failure or now) + LOGIN_WINDOW
                for stale in [a for a, until in self._paused.items() if until <= now]:
                    del self._paused[stale]
            else:
                throttled = False
                self._checking[address] = self._checking.get(address, 0) + 1
        if throttled:
            return self._throttled(username, address, first_failure, self.clock())
        valid = False
        try:
            with self._hashing:
                valid = self._check_credentials(username, password)
        finally:
            with self._lock:
                # The attempt is on record before it stops counting as "under way": no moment in
                # which a concurrent login from the same address sees neither.
                with write_transaction():
                    now = self.clock()
                    LoginAttempt.create(username=username, remote_addr=address, succeeded=valid, at=now)
                self._checking[address] -= 1
                if not self._checking[address]:
                    del self._checking[address]
        with self._lock, write_transaction():
            now = self.clock()
            file_key = self.settings.qbwc_file_key
            company = company_file_for(file_key)
            if not valid:
                self._prune_login_attempts(now)
                self._refuse_login(username, address, company, now)
                return ["", "nvu"]
            company.last_contact_at = now
            company.save()
            answer = self._open_session(username, file_key, company, address, now)
            if answer[0]:
                # The first Web Connector session is a real run: the cutoff is recorded now, if no
                # earlier run did (sync.cutoff), before any payment of this session is read.
                record_cutoff_at_first_run(f"QuickBooks Web Connector ({username})", "web_connector", now)
            return answer

    def _refuse_login(self, username: str, address: str, company: CompanyFile, now: datetime) -> None:
        """Say once per address and window that a login was refused, and from where."""
        marker = f"login_failed:{address}"
        self._audit(now, "qbwc.login_failed", username, remote_addr=address)
        if (
            ErrorEvent.select()
            .where(
                (ErrorEvent.where == "qbwc")
                & (ErrorEvent.at >= now - LOGIN_WINDOW)
                & (ErrorEvent.detail == marker)
            )
            .exists()
        ):
            return
        self._record_error(
            now,
            f"A Web Connector login as {username!r} from {address} was refused: the password typed into the Web "
            "Connector does not match QBWC_PASSWORD (or the user name does not match "
            f"QBWC_USERNAME={self.settings.qbwc_username!r}). If {address} is the Web Connector's computer, click "
            "the Password cell of PaySync in the Web Connector, type the QBWC_PASSWORD value, and save; if you do "
            f"not know that address, someone else is trying to log in (after {MAX_FAILED_LOGINS} wrong passwords "
            "an address is paused for 10 minutes; others are not affected).",
            company=company,
            detail=marker,
        )

    def _check_credentials(self, username: str, password: str) -> bool:
        expected_user = self.settings.qbwc_username
        user_matches = secrets.compare_digest(username.encode("utf-8"), expected_user.encode("utf-8"))
        row: WebConnectorCredential | None = WebConnectorCredential.get_or_none(
            WebConnectorCredential.username == expected_user
        )
        if row is None:
            burn_password_check(password, self.password_iterations)
            return False
        # Always run the hash, so a wrong user name costs the same time as a wrong password.
        password_matches = verify_password(password, row.password_hash)
        return user_matches and password_matches

    def _open_session(
        self, username: str, file_key: str, company: CompanyFile, remote_addr: str | None, now: datetime
    ) -> list[str]:
        self._expire_idle_sessions(file_key, now)
        requeue_stale_work(file_key, now=now)
        other = (
            WebConnectorSession.select()
            .where((WebConnectorSession.file_key == file_key) & (WebConnectorSession.state == "open"))
            .first()
        )
        if other is not None:
            # "busy" is the answer the /n software QBWC server documents for this case; the exact
            # string is inferred (NOTES §9), so it is kept in this one place.
            self._audit(now, "qbwc.busy", file_key, open_ticket=other.ticket[:8])
            return ["", "busy"]
        ticket = secrets.token_hex(16)  # 128 random bits
        pending = (
            QuickBooksWork.select()
            .where((QuickBooksWork.file_key == file_key) & (QuickBooksWork.status == "queued"))
            .count()
        )
        session = WebConnectorSession.create(
            ticket=ticket,
            username=username,
            file_key=file_key,
            company_file=company,
            state="open" if pending else "no_work",
            remote_addr=remote_addr,
            created_at=now,
            last_seen_at=now,
            closed_at=None if pending else now,
            work_total=pending,
        )
        self._audit(now, "qbwc.session_started", ticket, file_key=file_key, queued=pending)
        if not pending:
            return [session.ticket, "none"]
        return [session.ticket, ""]  # "" = use the company file open in QuickBooks

    # ------------------------------------------------------------------ sendRequestXML

    def send_request_xml(
        self,
        ticket: str,
        hcp_response: str,
        company_file_name: str,
        country: str,
        major_version: int | None,
        minor_version: int | None,
    ) -> str:
        with self._lock:
            now = self.clock()
            with write_transaction():
                session = self._live_session(ticket, now)
                if session is None:
                    return ""
                company = self._company(session)
                if not session.hcp_received:
                    refusal = self._read_company_facts(
                        session,
                        company,
                        hcp_response,
                        company_file_name,
                        country,
                        major_version,
                        minor_version,
                        now,
                    )
                    if refusal:
                        return ""
                work = self._session_work(session) or next_queued_work(session.file_key)
                if work is None:
                    self._fail_session(
                        session, now, "PaySync had no further request for this session; nothing is lost."
                    )
                    return ""
                try:
                    request = self._build_request(work, company)
                except ValueError as exc:
                    work.status = "failed"
                    work.finished_at = now
                    work.last_error = (
                        f"PaySync could not build the {_WHAT_FOR_KIND.get(work.kind, work.kind)} query: {exc}"
                    )
                    work.save()
                    self._record_error(now, work.last_error, session=session, company=company)
                    self._fail_session(session, now)
                    return ""
                if work.status != "in_progress":
                    work.status = "in_progress"
                    work.started_at = work.started_at or now
                    work.session_ticket = session.ticket
                work.save()
                session.current_work_id = work_id(work)
                session.save()
                return request

    def _read_company_facts(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        hcp_response: str,
        company_file_name: str,
        country: str,
        major_version: int | None,
        minor_version: int | None,
        now: datetime,
    ) -> bool:
        """Read strHCPResponse (first call of a session); refuse non-U.S. files and QuickBooks
        versions that do not speak PaySync's qbXML. True = refused (no query is sent)."""
        session.hcp_received = True
        session.save()
        facts = HcpFacts()
        try:
            facts = parse_hcp(hcp_response or "")
        except QbXMLError as exc:
            log.warning("could not read the Web Connector's host/company response: %s", exc)
            self._audit(now, "qbwc.hcp_unreadable", session.ticket, problem=str(exc)[:300])
        host, info, preferences = facts.host, facts.company, facts.preferences
        if company_file_name:
            company.file_path = company_file_name[:1000]
        if info is not None and info.company_name:
            company.company_name = info.company_name
        if host is not None and host.product_name:
            company.product_name = host.product_name
        if host is not None and host.supported_versions:
            company.supported_qbxml_versions = ",".join(host.supported_versions)[:1000]
        if major_version is not None:
            company.qbxml_version = f"{major_version}.{minor_version or 0}"
        if preferences is not None and preferences.multicurrency is not None:
            company.multicurrency = preferences.multicurrency
            company.home_currency_list_id = preferences.home_currency_list_id
            company.home_currency_name = preferences.home_currency_name
        edition = (host.country if host is not None and host.country else country or "").strip().upper()
        if edition:
            company.country = edition[:2]
        # The home currency as the file names it; a U.S. file that names none keeps its books in USD.
        company.home_currency = CurrencyResolver(company)(
            company.home_currency_name, company.home_currency_list_id
        ) or ("USD" if edition in ("", "US") and not company.home_currency_name else None)
        company.save()
        if edition and edition != "US":
            self._refuse_edition(session, company, edition, now)
            return True
        # The version check comes from QuickBooks' own list when the HCP response has it, else from
        # the version the Web Connector says QuickBooks speaks (its highest, NOTES §1/§9).
        if host is not None and host.supported_versions:
            speaks = supports_needed_version(host.supported_versions)
            supported = host.supported_versions
        elif major_version is not None:
            speaks = (major_version, minor_version or 0) >= _NEEDED_VERSION
            supported = (f"{major_version}.{minor_version or 0}",)
        else:
            speaks, supported = True, ()
        if not speaks:
            message = describe_version_refusal(host.product_name if host is not None else None, supported)
            self._record_error(now, message, session=session, company=company)
            self._audit(now, "qbwc.version_refused", session.ticket, supported=list(supported))
            self._fail_session(session, now)
            return True
        if company.multicurrency:
            # Payments name their currency; the company file's list says which ISO code each name is.
            queue_currency_list(session.file_key, requested_by="qbwc", now=now)
        return False

    def _refuse_edition(
        self, session: WebConnectorSession, company: CompanyFile, edition: str, now: datetime
    ) -> None:
        message = describe_country_refusal(edition)
        self._record_error(now, message, session=session, company=company)
        self._fail_session(session, now)

    def _fail_session(self, session: WebConnectorSession, now: datetime, message: str | None = None) -> None:
        """Mark the session failed; its unfinished work goes back to the queue for the next session."""
        session.state = "failed"
        if message is not None:
            session.last_error = message
        session.save()
        self._requeue_unfinished(session)

    def _requeue_unfinished(self, session: WebConnectorSession) -> None:
        for work in QuickBooksWork.select().where(
            (QuickBooksWork.session_ticket == session.ticket) & (QuickBooksWork.status == "in_progress")
        ):
            reset_to_queued(work)
            work.save()

    def _query_start(self, company: CompanyFile, watermark_kind: str) -> datetime | None:
        """Where a query starts: the watermark minus the overlap, else the cutoff minus a day, else everything."""
        mark = watermark_value(company, watermark_kind)
        if mark is not None:
            return parse_qb_local(mark) - WATERMARK_OVERLAP
        cutoff = schedule_cutoff()
        if cutoff is None:
            return None
        # QuickBooks reads filter times in its own local time; a day earlier in UTC wall-clock terms
        # is earlier than the cutoff in every U.S. zone. Payments before the cutoff are marked
        # pre-existing on arrival, so reading a little too much is harmless.
        return (cutoff.astimezone(UTC) - CUTOFF_MARGIN).replace(tzinfo=None)

    def _build_request(self, work: QuickBooksWork, company: CompanyFile) -> str:
        request_id = f"w{work_id(work)}-p{work.pages + 1}"
        work.request_id = request_id
        if work.kind == "host":
            return build_host_query(request_id)
        if work.kind in ("payments_check", "payments_credit_card"):
            kind: PaymentKind = "check" if work.kind == "payments_check" else "credit_card"
            if work.iterator_id:
                return build_bill_payment_query(
                    kind,
                    request_id=request_id,
                    max_returned=self.max_returned,
                    iterator="Continue",
                    iterator_id=work.iterator_id,
                )
            start = self._query_start(company, work.kind)
            work.modified_from = None if start is None else start.strftime("%Y-%m-%dT%H:%M:%S")
            return build_bill_payment_query(
                kind,
                request_id=request_id,
                modified_from=start,
                max_returned=self.max_returned,
                iterator="Start",
            )
        if work.kind == "deleted":
            start = self._query_start(company, "deleted")
            work.modified_from = None if start is None else start.strftime("%Y-%m-%dT%H:%M:%S")
            return build_deleted_query(request_id=request_id, deleted_from=start)
        if work.kind == "bills":
            txn_ids = json.loads(work.payload or "{}").get("txn_ids", [])
            if not txn_ids:
                raise ValueError("the bill lookup names no bills")
            return build_bill_query(request_id=request_id, txn_ids=txn_ids)
        if work.kind == "vendors":
            list_ids = json.loads(work.payload or "{}").get("list_ids", [])
            if not list_ids:
                raise ValueError("the vendor lookup names no vendors")
            return build_vendor_query(request_id=request_id, list_ids=list_ids)
        if work.kind == "currencies":
            return build_currency_query(request_id=request_id)
        raise ValueError(f"unknown kind of QuickBooks work {work.kind!r}")

    # ------------------------------------------------------------------ receiveResponseXML

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        with self._lock:
            now = self.clock()
            with write_transaction():
                session = self._live_session(ticket, now)
                if session is None:
                    return -1
                company = self._company(session)
                work = self._session_work(session)
                if work is None:
                    self._record_error(
                        now,
                        "PaySync received a QuickBooks response it was not waiting for; the session stops "
                        "and the next run starts cleanly.",
                        session=session,
                    )
                    self._fail_session(session, now)
                    return -1
                if hresult.strip().lower() == VERSION_NOT_SUPPORTED_HRESULT:
                    # Asking again cannot help: QuickBooks will refuse the same version every time.
                    return self._fail_work(session, company, work, describe_hresult(hresult, message), now)
                if hresult.strip():
                    return self._transport_failure(
                        session, company, work, describe_hresult(hresult, message), now
                    )
                try:
                    responses = parse_response(response)
                except QbXMLError as exc:
                    return self._transport_failure(
                        session, company, work, f"PaySync could not read QuickBooks' answer: {exc}", now
                    )
                try:
                    with write_transaction():  # a savepoint: a failure below undoes this page only
                        return self._handle_responses(session, company, work, responses, now)
                except Exception as exc:
                    # Never an HTTP 500 for the Web Connector: the page is undone, the query is asked
                    # again at the next session, and the reason is on record.
                    log.exception("could not store a QuickBooks answer")
                    session = WebConnectorSession.get(WebConnectorSession.ticket == session.ticket)
                    company = self._company(session)
                    work = QuickBooksWork.get_by_id(work_id(work))
                    return self._transport_failure(
                        session,
                        company,
                        work,
                        f"PaySync could not store QuickBooks' answer ({type(exc).__name__}: {exc}); nothing of "
                        "this page was kept.",
                        now,
                    )

    def _transport_failure(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        problem: str,
        now: datetime,
    ) -> int:
        work.attempts += 1
        what = _WHAT_FOR_KIND.get(work.kind, work.kind)
        if work.attempts >= MAX_TRANSPORT_ATTEMPTS:
            text = f"The {what} query failed {work.attempts} times and was given up; `paysync sync` queues it again. {problem}"
            return self._fail_work(session, company, work, text, now)
        reset_to_queued(work)
        text = f"The {what} query failed (attempt {work.attempts} of {MAX_TRANSPORT_ATTEMPTS}; it runs again at the next Web Connector session). {problem}"
        return self._stop_session_on_error(session, company, work, text, now)

    def _fail_work(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        text: str,
        now: datetime,
    ) -> int:
        work.status = "failed"
        work.finished_at = now
        return self._stop_session_on_error(session, company, work, text, now)

    def _stop_session_on_error(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        text: str,
        now: datetime,
    ) -> int:
        """Keep `text` as the work's last error and an error event, and end the session (-1)."""
        work.last_error = text
        work.save()
        self._record_error(now, text, session=session, company=company)
        self._fail_session(session, now)
        return -1

    def _handle_responses(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        responses: list[QueryResponse],
        now: datetime,
    ) -> int:
        if work.kind == "host":
            return self._handle_host(session, company, work, responses, now)
        expected = _RS_FOR_KIND.get(work.kind)
        rs = next((r for r in responses if r.rs_name == expected), None)
        what = _WHAT_FOR_KIND.get(work.kind, work.kind)
        if rs is None:
            found = ", ".join(r.rs_name for r in responses) or "nothing"
            return self._transport_failure(
                session,
                company,
                work,
                f"QuickBooks answered the {what} query with {found} instead of {expected}.",
                now,
            )
        if rs.request_id and work.request_id and rs.request_id != work.request_id:
            return self._transport_failure(
                session,
                company,
                work,
                f"QuickBooks answered request {rs.request_id} while PaySync was waiting for {work.request_id}.",
                now,
            )
        if rs.is_retryable or rs.iterator_lost:
            return self._retry_page(session, company, work, rs, now)
        if not (rs.is_ok or rs.is_warning):
            status = QbXMLStatusError(rs.status_code, rs.status_severity, rs.status_message, rs.rs_name)
            if work.kind in _DETAIL_KINDS:
                # Bills, vendors and currencies only add detail; the payments are already stored.
                # Record the problem but let the session finish normally.
                work.status = "failed"
                work.finished_at = now
                read = "the currency list" if work.kind == "currencies" else f"{what}s that payments refer to"
                work.last_error = f"Reading {read} failed: {status}"
                work.save()
                ErrorEvent.create(at=now, where="qbwc", message=work.last_error)
                session.work_done += 1
                session.save()
                return self._percent_done(session, work)
            return self._fail_work(session, company, work, str(status), now)
        outcome = self._store(company, work, rs, now)
        self._audit(
            now,
            "qbwc.page_stored",
            session.ticket,
            work=work_id(work),
            kind=work.kind,
            page=work.pages,
            **outcome.counts.as_dict(),
        )
        if outcome.finished:
            session.work_done += 1
            session.save()
        if self.fetch_unknown_bills and outcome.referenced_bill_ids:
            missing = unknown_bill_ids(company, outcome.referenced_bill_ids)
            if missing:
                queue_bill_lookup(session.file_key, missing, requested_by="qbwc", now=now)
        if company.multicurrency and outcome.referenced_vendor_ids:
            # In a multicurrency file each vendor has a currency; read the ones not known yet.
            vendors = unknown_vendor_ids(company, outcome.referenced_vendor_ids)
            if vendors:
                queue_lookup(session.file_key, "vendors", vendors, requested_by="qbwc", now=now)
        return self._percent_done(session, work)

    def _store(
        self, company: CompanyFile, work: QuickBooksWork, rs: QueryResponse, now: datetime
    ) -> PageOutcome:
        if work.kind in ("payments_check", "payments_credit_card"):
            return store_payment_page(
                company, work, rs, cutoff=schedule_cutoff(), now=now, max_returned=self.max_returned
            )
        if work.kind == "deleted":
            return store_deletions(company, work, rs, now=now)
        if work.kind == "vendors":
            return store_vendors(company, work, rs, now=now)
        if work.kind == "currencies":
            return store_currencies(company, work, rs, now=now)
        return store_bills(company, work, rs, now=now)

    def _retry_page(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        rs: QueryResponse,
        now: datetime,
    ) -> int:
        work.attempts += 1
        status = QbXMLStatusError(rs.status_code, rs.status_severity, rs.status_message, rs.rs_name)
        if work.attempts >= MAX_RETRYABLE_ATTEMPTS:
            return self._fail_work(
                session,
                company,
                work,
                f"Gave up after {work.attempts} tries. {status} If QuickBooks is busy (another user editing, "
                "a backup running), `paysync sync` queues it again.",
                now,
            )
        if rs.iterator_lost:
            # The iterator is gone: ask again from the start of the same range. Pages already stored
            # come back unchanged (same TxnID and EditSequence) and are counted as such.
            work.iterator_id = None
            work.iterator_remaining = None
        work.last_error = str(status)
        work.save()
        self._audit(
            now,
            "qbwc.retry",
            session.ticket,
            work=work_id(work),
            status=rs.status_code,
            attempt=work.attempts,
        )
        return self._percent_done(session, work)

    def _handle_host(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        responses: list[QueryResponse],
        now: datetime,
    ) -> int:
        host_rs = next((r for r in responses if r.rs_name == "HostQueryRs"), None)
        if host_rs is None:
            return self._transport_failure(
                session, company, work, "QuickBooks did not answer the HostQuery.", now
            )
        if host_rs.is_retryable:
            return self._retry_page(session, company, work, host_rs, now)
        if not host_rs.is_ok:
            status = QbXMLStatusError(
                host_rs.status_code, host_rs.status_severity, host_rs.status_message, host_rs.rs_name
            )
            return self._fail_work(session, company, work, str(status), now)
        host = next((r for r in host_rs.records if isinstance(r, HostInfo)), None)
        for rs in responses:
            if rs.rs_name == "CompanyQueryRs" and rs.is_ok:
                info = next((r for r in rs.records if isinstance(r, CompanyInfo)), None)
                if info is not None and info.company_name:
                    company.company_name = info.company_name
        if host is not None:
            company.product_name = host.product_name or company.product_name
            if host.country:
                company.country = host.country.strip().upper()[:2]
        company.save()
        work.pages += 1
        work.records += 1
        if company.country and company.country != "US":
            work.save()
            self._fail_work(session, company, work, describe_country_refusal(company.country), now)
            return -1
        work.status = "done"
        work.finished_at = now
        work.save()
        session.work_done += 1
        session.save()
        return self._percent_done(session, work)

    def _percent_done(self, session: WebConnectorSession, current: QuickBooksWork) -> int:
        remaining = (
            QuickBooksWork.select()
            .where(
                (QuickBooksWork.file_key == session.file_key)
                & QuickBooksWork.status.in_(("queued", "in_progress"))
            )
            .count()
        )
        if remaining == 0:
            return 100
        fraction = 0.0
        if current.status == "in_progress" and current.iterator_remaining:
            fraction = current.records / (current.records + current.iterator_remaining)
        total = session.work_done + remaining
        return max(0, min(99, int((session.work_done + fraction) / total * 100)))

    # ------------------------------------------------------------------ errors and closing

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        with self._lock:
            now = self.clock()
            with write_transaction():
                session: WebConnectorSession | None = (
                    WebConnectorSession.get_or_none(WebConnectorSession.ticket == ticket) if ticket else None
                )
                company = (
                    self._company(session)
                    if session is not None
                    else company_file_for(self.settings.qbwc_file_key)
                )
                company.last_contact_at = now
                text = (
                    f"The Web Connector could not connect to QuickBooks. {describe_hresult(hresult, message)}"
                )
                self._record_error(now, text, session=session, company=company)
                if session is not None and session.state == "open":
                    self._fail_session(session, now)
            return "done"

    def get_last_error(self, ticket: str) -> str:
        with self._lock:
            now = self.clock()
            session: WebConnectorSession | None = (
                WebConnectorSession.get_or_none(WebConnectorSession.ticket == ticket) if ticket else None
            )
            if session is None:
                return UNKNOWN_TICKET_MESSAGE
            if session.state == "open" and session.last_seen_at < now - SESSION_IDLE_TIMEOUT:
                with write_transaction():
                    self._expire(session, now)
                return UNKNOWN_TICKET_MESSAGE
            # Never "NoOp": that makes the Web Connector wait and ask again, which PaySync never needs.
            return str(session.last_error or NO_ERROR_MESSAGE)

    def close_connection(self, ticket: str) -> CloseResult:
        with self._lock:
            now = self.clock()
            with write_transaction():
                session: WebConnectorSession | None = (
                    WebConnectorSession.get_or_none(WebConnectorSession.ticket == ticket) if ticket else None
                )
                if session is None:
                    return CloseResult("PaySync: unknown or expired ticket; nothing to close.", None, False)
                counts = self._session_counts(session.ticket)
                summary = summarise_session(counts)
                company = self._company(session)
                company.last_contact_at = now
                if session.state == "open":
                    session.state = "closed"
                    # Work not finished in this session (an unfinished iterator cannot be resumed)
                    # goes back to the queue for the next session.
                    self._requeue_unfinished(session)
                    if session.last_error is None:
                        company.last_error = None  # a clean session: the old error is resolved
                company.save()
                if session.closed_at is None:
                    session.closed_at = now
                session.current_work_id = None
                session.save()
                if session.state == "failed" and session.last_error:
                    summary = f"{summary}. Stopped early: {session.last_error}"
                elif session.state == "no_work":
                    summary = "PaySync: nothing to do this time."
                self._audit(
                    now, "qbwc.session_closed", session.ticket, state=session.state, **counts.as_dict()
                )
                return CloseResult(summary, session.file_key, counts.anything_changed)

    def _session_counts(self, ticket: str) -> IngestCounts:
        counts = IngestCounts()
        for row in AuditLog.select(AuditLog.detail).where(
            (AuditLog.action == "qbwc.page_stored") & (AuditLog.target == ticket)
        ):
            detail = json.loads(row.detail or "{}")
            counts.add(IngestCounts(**{k: int(detail.get(k, 0)) for k in IngestCounts().as_dict()}))
        return counts
