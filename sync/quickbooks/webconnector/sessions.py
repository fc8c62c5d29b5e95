"""Web Connector sessions: tickets, idle expiry, errors on record, and closing.

A session runs from a good `authenticate` (a new ticket) to `closeConnection`. It lives in the
database (WebConnectorSession), never only in memory, so a restart of `paysync serve` mid-session
loses nothing: the ticket is simply no longer valid and the work goes back to the queue. A session
idle for SESSION_IDLE_TIMEOUT expires. Calls are serialised by one lock (`Sessions.lock`, shared by
the logins and the exchange): the Web Connector makes one call at a time, and the lock keeps "is
another session open?" and "create the session" together.

Several processes may serve one database (two `paysync serve` on PostgreSQL behind one address),
and a session's calls may reach any of them: everything a call needs (the session, its current
item, its counts) is read from the database, and each call reads and writes in one
`write_transaction`, which lets one process at a time write on SQLite and on PostgreSQL alike. So
"busy" (one session per company file) is decided in the database, and `Sessions.lock` only keeps
one process's own threads in line.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import write_transaction
from storage.models import AuditLog, CompanyFile, ErrorEvent, QuickBooksWork, WebConnectorSession
from sync.quickbooks.company_file import company_file_for
from sync.quickbooks.ingest import IngestCounts
from sync.quickbooks.workqueue import SESSION_IDLE_TIMEOUT, requeue_stale_work, reset_to_queued
from sync.settings import Settings

from .errors import describe_hresult

UNKNOWN_TICKET_MESSAGE = (
    "PaySync: unknown or expired ticket — the Web Connector will start a new session at its next run."
)
NO_ERROR_MESSAGE = "PaySync recorded no error for this session."


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


class Sessions:
    """The sessions of one Web Connector endpoint, and what its calls share: the settings, the
    clock, the lock, and how an error is put on record."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ on record

    def audit(self, now: datetime, action: str, target: str | None, **detail: Any) -> None:
        AuditLog.create(
            at=now, actor="qbwc", action=action, target=target, detail=json.dumps(detail) if detail else None
        )

    def record_error(
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
        self.audit(now, "qbwc.error", session.ticket if session is not None else None, message=message)

    # ------------------------------------------------------------------ finding a session

    def company(self, session: WebConnectorSession) -> CompanyFile:
        company: CompanyFile | None = session.company_file
        return company if company is not None else company_file_for(session.file_key)

    def live(self, ticket: str, now: datetime) -> WebConnectorSession | None:
        """The open session for `ticket`, touched; None when unknown, closed or idle too long."""
        if not ticket:
            return None
        session: WebConnectorSession | None = WebConnectorSession.get_or_none(
            WebConnectorSession.ticket == ticket
        )
        if session is None:
            return None
        if session.state == "open" and session.last_seen_at < now - SESSION_IDLE_TIMEOUT:
            self.expire(session, now)
            return None
        if session.state != "open":
            return None
        session.last_seen_at = now
        session.save()
        company = self.company(session)
        company.last_contact_at = now
        company.save()
        return session

    def is_open_ticket(self, ticket: str) -> bool:
        """Whether `ticket` names an open session (a read: no lock, nothing changed)."""
        return bool(
            WebConnectorSession.select()
            .where((WebConnectorSession.ticket == ticket) & (WebConnectorSession.state == "open"))
            .exists()
        )

    def current_work(self, session: WebConnectorSession) -> QuickBooksWork | None:
        """The item the session is in the middle of, if any."""
        if session.current_work_id is None:
            return None
        work: QuickBooksWork | None = QuickBooksWork.get_or_none(QuickBooksWork.id == session.current_work_id)
        if work is None or work.status != "in_progress" or work.session_ticket != session.ticket:
            return None
        return work

    # ------------------------------------------------------------------ opening and ending

    def open(
        self, username: str, file_key: str, company: CompanyFile, remote_addr: str | None, now: datetime
    ) -> list[str]:
        """authenticate's answer for a good login: a new ticket (with "" or "none"), or "busy"."""
        self.expire_idle(file_key, now)
        requeue_stale_work(file_key, now=now)
        other = (
            WebConnectorSession.select()
            .where((WebConnectorSession.file_key == file_key) & (WebConnectorSession.state == "open"))
            .first()
        )
        if other is not None:
            # "busy" is the answer the /n software QBWC server documents for this case; the exact
            # string is inferred (NOTES §9), so it is kept in this one place.
            self.audit(now, "qbwc.busy", file_key, open_ticket=other.ticket[:8])
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
        self.audit(now, "qbwc.session_started", ticket, file_key=file_key, queued=pending)
        if not pending:
            return [session.ticket, "none"]
        return [session.ticket, ""]  # "" = use the company file open in QuickBooks

    def expire(self, session: WebConnectorSession, now: datetime) -> None:
        session.state = "expired"
        session.closed_at = now
        session.last_error = UNKNOWN_TICKET_MESSAGE
        session.save()
        requeue_stale_work(session.file_key, now=now)
        self.audit(now, "qbwc.session_expired", session.ticket)

    def expire_idle(self, file_key: str, now: datetime) -> None:
        for session in WebConnectorSession.select().where(
            (WebConnectorSession.file_key == file_key)
            & (WebConnectorSession.state == "open")
            & (WebConnectorSession.last_seen_at < now - SESSION_IDLE_TIMEOUT)
        ):
            self.expire(session, now)

    def fail(self, session: WebConnectorSession, now: datetime, message: str | None = None) -> None:
        """Mark the session failed; its unfinished work goes back to the queue for the next session."""
        session.state = "failed"
        if message is not None:
            session.last_error = message
        session.save()
        self.requeue_unfinished(session)

    def requeue_unfinished(self, session: WebConnectorSession) -> None:
        for work in QuickBooksWork.select().where(
            (QuickBooksWork.session_ticket == session.ticket) & (QuickBooksWork.status == "in_progress")
        ):
            reset_to_queued(work)
            work.save()

    # ------------------------------------------------------------------ the calls

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        with self.lock:
            now = self.clock()
            with write_transaction():
                session: WebConnectorSession | None = (
                    WebConnectorSession.get_or_none(WebConnectorSession.ticket == ticket) if ticket else None
                )
                company = (
                    self.company(session)
                    if session is not None
                    else company_file_for(self.settings.qbwc_file_key)
                )
                company.last_contact_at = now
                text = (
                    f"The Web Connector could not connect to QuickBooks. {describe_hresult(hresult, message)}"
                )
                self.record_error(now, text, session=session, company=company)
                if session is not None and session.state == "open":
                    self.fail(session, now)
            return "done"

    def get_last_error(self, ticket: str) -> str:
        with self.lock:
            now = self.clock()
            session: WebConnectorSession | None = (
                WebConnectorSession.get_or_none(WebConnectorSession.ticket == ticket) if ticket else None
            )
            if session is None:
                return UNKNOWN_TICKET_MESSAGE
            if session.state == "open" and session.last_seen_at < now - SESSION_IDLE_TIMEOUT:
                with write_transaction():
                    self.expire(session, now)
                return UNKNOWN_TICKET_MESSAGE
            # Never "NoOp": that makes the Web Connector wait and ask again, which PaySync never needs.
            return str(session.last_error or NO_ERROR_MESSAGE)

    def close(self, ticket: str) -> CloseResult:
        with self.lock:
            now = self.clock()
            with write_transaction():
                session: WebConnectorSession | None = (
                    WebConnectorSession.get_or_none(WebConnectorSession.ticket == ticket) if ticket else None
                )
                if session is None:
                    return CloseResult("PaySync: unknown or expired ticket; nothing to close.", None, False)
                counts = self._counts(session.ticket)
                summary = summarise_session(counts)
                company = self.company(session)
                company.last_contact_at = now
                if session.state == "open":
                    session.state = "closed"
                    # Work not finished in this session (an unfinished iterator cannot be resumed)
                    # goes back to the queue for the next session.
                    self.requeue_unfinished(session)
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
                self.audit(
                    now, "qbwc.session_closed", session.ticket, state=session.state, **counts.as_dict()
                )
                return CloseResult(summary, session.file_key, counts.anything_changed)

    def _counts(self, ticket: str) -> IngestCounts:
        """What the session's pages stored, added up from their audit entries."""
        counts = IngestCounts()
        for row in AuditLog.select(AuditLog.detail).where(
            (AuditLog.action == "qbwc.page_stored") & (AuditLog.target == ticket)
        ):
            detail = json.loads(row.detail or "{}")
            counts.add(IngestCounts(**{k: int(detail.get(k, 0)) for k in IngestCounts().as_dict()}))
        return counts
