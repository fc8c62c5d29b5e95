"""Web Connector logins: the stored password hash, `authenticate`, and throttling per address.

Only a salted PBKDF2 hash of QBWC_PASSWORD is stored (passwords.py). A check costs about a quarter
of a second of one core, so it runs outside the service lock, at most MAX_CONCURRENT_HASHES at once;
an address that sent MAX_FAILED_LOGINS wrong passwords in LOGIN_WINDOW is paused (refused from
memory, unread), and other addresses, such as the Web Connector's own, go on as usual. A good login
opens a session (sessions.py) and, the first time, records the cutoff: it is a real run.
"""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta

from storage.db import write_transaction
from storage.models import AuditLog, CompanyFile, ErrorEvent, LoginAttempt, WebConnectorCredential
from sync.quickbooks.company_file import company_file_for
from sync.quickbooks.cutoff import record_cutoff_at_first_run

from .passwords import burn_password_check, hash_iterations, hash_password, verify_password
from .sessions import Sessions

LOGIN_WINDOW = timedelta(minutes=10)
MAX_FAILED_LOGINS = 5  # per client address, in LOGIN_WINDOW
MAX_CONCURRENT_HASHES = 2  # password checks running at once (each about 0.25 s of one core)
MAX_LOGIN_ROWS = 10_000
_THROTTLE_MARKER = "login_throttled"


class Logins:
    def __init__(self, sessions: Sessions, *, password_iterations: int) -> None:
        self.sessions = sessions
        self.settings = sessions.settings
        self.clock = sessions.clock
        self.password_iterations = password_iterations
        self._hashing = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
        self._checking: dict[str, int] = {}  # address -> password checks under way
        self._paused: dict[str, datetime] = {}  # address -> until when its logins are refused unread

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
            # Only the .env file's user is configured here; users of files added with `paysync
            # company add` are kept.
            registered = CompanyFile.select(CompanyFile.file_key).where(
                CompanyFile.registered_at.is_null(False) & CompanyFile.removed_at.is_null(True)
            )
            WebConnectorCredential.delete().where(
                (WebConnectorCredential.username != username)
                & WebConnectorCredential.file_key.not_in(registered)
            ).execute()
            if current:
                return
            encoded = hash_password(password, iterations=self.password_iterations)
            # Read again under the lock: another process starting at the same moment may have stored it.
            row = WebConnectorCredential.get_or_none(WebConnectorCredential.username == username)
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

    def paused_until(self, address: str | None) -> datetime | None:
        """Until when logins from `address` are paused (from memory, no database), or None."""
        until = self._paused.get((address or "unknown")[:64])
        return until if until is not None and self.clock() < until else None

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
                self.sessions.record_error(now, message, detail=marker)
                self.sessions.audit(now, "qbwc.login_throttled", username, remote_addr=address)
        return ["", "nvu"]

    def _prune_login_attempts(self, now: datetime) -> None:
        """Keep a day of login attempts, and never more than MAX_LOGIN_ROWS (a flood cannot grow the table)."""
        LoginAttempt.delete().where(LoginAttempt.at < now - timedelta(days=1)).execute()
        excess = LoginAttempt.select().count() - MAX_LOGIN_ROWS
        if excess > 0:
            oldest = (
                LoginAttempt.select(LoginAttempt.id).order_by(LoginAttempt.at, LoginAttempt.id).limit(excess)
            )
            LoginAttempt.delete().where(LoginAttempt.id.in_(oldest)).execute()

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
        with self.sessions.lock:
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
        file_key: str | None = None
        try:
            with self._hashing:
                file_key = self._check_credentials(username, password)
                valid = file_key is not None
        finally:
            with self.sessions.lock:
                # The attempt is on record before it stops counting as "under way": no moment in
                # which a concurrent login from the same address sees neither.
                with write_transaction():
                    now = self.clock()
                    LoginAttempt.create(username=username, remote_addr=address, succeeded=valid, at=now)
                self._checking[address] -= 1
                if not self._checking[address]:
                    del self._checking[address]
        with self.sessions.lock, write_transaction():
            now = self.clock()
            # A login names its company file by its user (one Web Connector user per file).
            company = company_file_for(file_key or self.settings.qbwc_file_key)
            if file_key is None:
                self._prune_login_attempts(now)
                self._refuse_login(username, address, company, now)
                return ["", "nvu"]
            company.last_contact_at = now
            company.save()
            answer = self.sessions.open(username, file_key, company, address, now)
            if answer[0]:
                # The first Web Connector session is a real run: the cutoff is recorded now, if no
                # earlier run did (sync.quickbooks.cutoff), before any payment of this session is read.
                record_cutoff_at_first_run(
                    f"QuickBooks Web Connector ({username})", "web_connector", now, file_key=file_key
                )
            return answer

    def _refuse_login(self, username: str, address: str, company: CompanyFile, now: datetime) -> None:
        """Say once per address and window that a login was refused, and from where."""
        marker = f"login_failed:{address}"
        self.sessions.audit(now, "qbwc.login_failed", username, remote_addr=address)
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
        self.sessions.record_error(
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

    def _check_credentials(self, username: str, password: str) -> str | None:
        """The company file whose Web Connector user this is, when the password is right; else None.
        A wrong user name costs the same time as a wrong password (the hash always runs)."""
        row: WebConnectorCredential | None = WebConnectorCredential.get_or_none(
            WebConnectorCredential.username == username
        )
        if row is None:
            burn_password_check(password, self.password_iterations)
            return None
        user_matches = secrets.compare_digest(username.encode("utf-8"), str(row.username).encode("utf-8"))
        password_matches = verify_password(password, row.password_hash)
        return str(row.file_key) if user_matches and password_matches else None
