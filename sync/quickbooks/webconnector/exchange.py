"""The exchange of a Web Connector session: sendRequestXML and receiveResponseXML.

The first sendRequestXML of a session carries the Web Connector's facts about QuickBooks
(strHCPResponse): the company file is refused there unless it is the U.S. edition and QuickBooks
speaks PaySync's qbXML. Each sendRequestXML then sends the next page of the session's current item
(or of the next queued one), as the item's step builds it; each receiveResponseXML hands QuickBooks'
answer to that step (sync/quickbooks/steps: find it, retry, fail, store) and answers how far the
session is, in percent (-1: the session stops; getLastError says why). A failure never becomes an
HTTP 500: the page is undone, the query is asked again at the next session, and the reason is on
record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from peewee import fn

from storage.db import tuple_rows, write_transaction
from storage.models import CompanyFile, ErrorEvent, QuickBooksWork, WebConnectorSession
from sync.quickbooks.company_file import (
    NEEDED_VERSION,
    describe_country_refusal,
    describe_version_refusal,
    supports_needed_version,
)
from sync.quickbooks.ingest import CurrencyResolver, PageOutcome
from sync.quickbooks.qbxml.errors import QbXMLError
from sync.quickbooks.qbxml.parse import HcpFacts, parse_hcp, parse_response
from sync.quickbooks.qbxml.records import QueryResponse
from sync.quickbooks.steps import STEPS, Context, query_name_of, step_for
from sync.quickbooks.steps.base import status_error
from sync.quickbooks.workqueue import next_queued_work, queue_lookup, queue_once, reset_to_queued, work_id

from .errors import VERSION_NOT_SUPPORTED_HRESULT, describe_hresult
from .sessions import Sessions

log = logging.getLogger(__name__)

MAX_TRANSPORT_ATTEMPTS = 3  # hresult errors and unreadable responses
MAX_RETRYABLE_ATTEMPTS = 5  # statuses 3170-3180 and 3391


class Exchange:
    def __init__(self, sessions: Sessions, *, max_returned: int, fetch_unknown_bills: bool) -> None:
        self.sessions = sessions
        self.max_returned = max_returned
        self.fetch_unknown_bills = fetch_unknown_bills

    def _context(self, company: CompanyFile, now: datetime) -> Context:
        return Context(
            company=company,
            now=now,
            max_returned=self.max_returned,
            fetch_unknown_bills=self.fetch_unknown_bills,
        )

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
        with self.sessions.lock:
            now = self.sessions.clock()
            with write_transaction():
                session = self.sessions.live(ticket, now)
                if session is None:
                    return ""
                company = self.sessions.company(session)
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
                work = self.sessions.current_work(session) or next_queued_work(session.file_key)
                if work is None:
                    self.sessions.fail(
                        session, now, "PaySync had no further request for this session; nothing is lost."
                    )
                    return ""
                try:
                    request = self._build_request(work, self._context(company, now))
                except ValueError as exc:
                    work.status = "failed"
                    work.finished_at = now
                    work.last_error = f"PaySync could not build the {query_name_of(work.kind)} query: {exc}"
                    work.save()
                    self.sessions.record_error(now, work.last_error, session=session, company=company)
                    self.sessions.fail(session, now)
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
            self.sessions.audit(now, "qbwc.hcp_unreadable", session.ticket, problem=str(exc)[:300])
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
            speaks = (major_version, minor_version or 0) >= NEEDED_VERSION
            supported = (f"{major_version}.{minor_version or 0}",)
        else:
            speaks, supported = True, ()
        if not speaks:
            message = describe_version_refusal(host.product_name if host is not None else None, supported)
            self.sessions.record_error(now, message, session=session, company=company)
            self.sessions.audit(now, "qbwc.version_refused", session.ticket, supported=list(supported))
            self.sessions.fail(session, now)
            return True
        for step in STEPS:  # what every session of this file needs first (the currency list, say)
            if step.queued_at_session_start(company):
                queue_once(session.file_key, step.kind, requested_by="qbwc", now=now)
        return False

    def _refuse_edition(
        self, session: WebConnectorSession, company: CompanyFile, edition: str, now: datetime
    ) -> None:
        message = describe_country_refusal(edition)
        self.sessions.record_error(now, message, session=session, company=company)
        self.sessions.fail(session, now)

    def _build_request(self, work: QuickBooksWork, context: Context) -> str:
        """The item's next page, as its step builds it (ValueError when it cannot be built)."""
        request_id = f"w{work_id(work)}-p{work.pages + 1}"
        work.request_id = request_id
        return step_for(work.kind).build_request(work, request_id, context)

    # ------------------------------------------------------------------ receiveResponseXML

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        with self.sessions.lock:
            now = self.sessions.clock()
            with write_transaction():
                session = self.sessions.live(ticket, now)
                if session is None:
                    return -1
                company = self.sessions.company(session)
                work = self.sessions.current_work(session)
                if work is None:
                    self.sessions.record_error(
                        now,
                        "PaySync received a QuickBooks response it was not waiting for; the session stops "
                        "and the next run starts cleanly.",
                        session=session,
                    )
                    self.sessions.fail(session, now)
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
                        turn = _Turn(self, session, company, work, now)
                        return step_for(work.kind).take_answer(turn, responses)
                except Exception as exc:
                    # Never an HTTP 500 for the Web Connector: the page is undone, the query is asked
                    # again at the next session, and the reason is on record.
                    log.exception("could not store a QuickBooks answer")
                    session = WebConnectorSession.get(WebConnectorSession.ticket == session.ticket)
                    company = self.sessions.company(session)
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
        what = query_name_of(work.kind)
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
        self.sessions.record_error(now, text, session=session, company=company)
        self.sessions.fail(session, now)
        return -1

    def _retry_page(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        rs: QueryResponse,
        now: datetime,
    ) -> int:
        work.attempts += 1
        status = status_error(rs)
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
        self.sessions.audit(
            now,
            "qbwc.retry",
            session.ticket,
            work=work_id(work),
            status=rs.status_code,
            attempt=work.attempts,
        )
        return self._percent_done(session, work)

    def _record_failure(
        self, session: WebConnectorSession, work: QuickBooksWork, text: str, now: datetime
    ) -> int:
        """The item failed, said once (an error event); the session carries on with the next item."""
        work.status = "failed"
        work.finished_at = now
        work.last_error = text
        work.save()
        ErrorEvent.create(at=now, where="qbwc", message=work.last_error)
        session.work_done += 1
        session.save()
        return self._percent_done(session, work)

    def _stored(
        self,
        session: WebConnectorSession,
        company: CompanyFile,
        work: QuickBooksWork,
        outcome: PageOutcome,
        now: datetime,
    ) -> int:
        """A page was stored: audit it, count a finished item, and queue the lookups it calls for
        (records the page names that PaySync has not read yet)."""
        self.sessions.audit(
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
        context = self._context(company, now)
        for lookup in STEPS:
            ids = lookup.named_in(outcome.records) if outcome.records else set()
            if ids and lookup.wanted_after_page(context):
                missing = lookup.not_yet_read(company, ids)
                if missing:
                    queue_lookup(session.file_key, lookup.kind, missing, requested_by="qbwc", now=now)
        return self._percent_done(session, work)

    def _finished(self, session: WebConnectorSession, work: QuickBooksWork) -> int:
        session.work_done += 1
        session.save()
        return self._percent_done(session, work)

    def _percent_done(self, session: WebConnectorSession, current: QuickBooksWork) -> int:
        """How far the session is, as receiveResponseXML answers it (0-99; 100 when nothing is left).

        Each query counts as one part: an item, and the current item's iterator progress within
        it. A lookup is paged in several items (workqueue.queue_lookup), and all the items of one
        lookup kind in a session count together as one part, done in the share of its items done:
        so the bills move the percent up page by page, and a session that names 40,000 bills does not
        look as if the payments were a small part of it.
        """
        pending: dict[str, int] = {}
        for kind, count in tuple_rows(
            QuickBooksWork.select(QuickBooksWork.kind, fn.COUNT(QuickBooksWork.id))
            .where(
                (QuickBooksWork.file_key == session.file_key)
                & QuickBooksWork.status.in_(("queued", "in_progress"))
            )
            .group_by(QuickBooksWork.kind)
        ):
            pending[str(kind)] = int(count)
        remaining = sum(pending.values())
        if remaining == 0:
            return 100
        done_lookups: dict[str, int] = {}
        if _LOOKUP_KINDS:
            for kind, count in tuple_rows(
                QuickBooksWork.select(QuickBooksWork.kind, fn.COUNT(QuickBooksWork.id))
                .where(
                    (QuickBooksWork.session_ticket == session.ticket)
                    & QuickBooksWork.kind.in_(_LOOKUP_KINDS)
                    & QuickBooksWork.status.in_(("done", "failed"))
                )
                .group_by(QuickBooksWork.kind)
            ):
                done_lookups[str(kind)] = int(count)
        lookup_done = sum(done_lookups.values())
        lookup_pending = sum(pending.get(kind, 0) for kind in _LOOKUP_KINDS)
        parts_done = float(max(0, session.work_done - lookup_done))
        parts_total = parts_done + (remaining - lookup_pending)
        for kind in _LOOKUP_KINDS:
            done, waiting = done_lookups.get(kind, 0), pending.get(kind, 0)
            if done + waiting:
                parts_done += done / (done + waiting)
                parts_total += 1
        if current.status == "in_progress" and current.iterator_remaining:
            parts_done += current.records / (current.records + current.iterator_remaining)
        return max(0, min(99, int(parts_done / max(parts_total, 1.0) * 100)))


# The kinds looked up by id (bills, vendors): paged in several items that count as one part.
_LOOKUP_KINDS: tuple[str, ...] = tuple(step.kind.value for step in STEPS if step.lookup_key is not None)


@dataclass
class _Turn:
    """One receiveResponseXML, as a step sees it (steps.base.Turn)."""

    exchange: Exchange
    session: WebConnectorSession
    company: CompanyFile
    work: QuickBooksWork
    now: datetime

    @property
    def context(self) -> Context:
        return self.exchange._context(self.company, self.now)

    def transport_failure(self, problem: str) -> int:
        return self.exchange._transport_failure(self.session, self.company, self.work, problem, self.now)

    def retry(self, rs: QueryResponse) -> int:
        return self.exchange._retry_page(self.session, self.company, self.work, rs, self.now)

    def fail(self, text: str) -> int:
        return self.exchange._fail_work(self.session, self.company, self.work, text, self.now)

    def record_failure(self, text: str) -> int:
        return self.exchange._record_failure(self.session, self.work, text, self.now)

    def stored(self, outcome: PageOutcome) -> int:
        return self.exchange._stored(self.session, self.company, self.work, outcome, self.now)

    def finished(self) -> int:
        return self.exchange._finished(self.session, self.work)
