"""One step of a Web Connector session: everything PaySync knows about one kind of QuickBooks query.

A session runs the queued work one item at a time (sync/quickbooks/workqueue.py); the step of the
item's kind says how. A step class holds, for its kind:

- who it is: `kind` (the WorkKind the work queue stores), `label` (what a person reads: "check bill
  payments") and `query_name` (the query in a sentence: "the check bill payment query");
- when it runs: its queue `priority` (higher first), and whether every refresh queues it
  (`refresh`) or it is a lookup, queued when a page names records PaySync has not read yet
  (`lookup_key`, the payload key of the ids to look up; `named_in`, `wanted_after_page`,
  `not_yet_read`; at most `ids_per_request` ids an item, so a lookup is paged like any query) or
  when a session starts (`queued_at_session_start`);
- how it asks QuickBooks: `build_request` (iterators, where the watermark starts, the ids to look
  up);
- what it expects back: `rs_name`, and `take_answer`: find that answer, retry what QuickBooks
  could not do yet, fail on an error, else store the page;
- how it stores a page: `store_page` (in one transaction with the item's progress), whether the
  query's progress is kept as a `watermark` (under its own kind), and `held_type`, the
  HeldRecord.record_type of the records it cannot read;
- what a QuickBooks error on it means: `error_fails_session` (True: the item fails and the session
  stops; False: the step only adds detail to payments already stored, so the error is recorded, with
  what it `reads`, and the session carries on).

Steps are stateless: the registry (this package's __init__) holds one instance of each.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from storage.models import CompanyFile, QuickBooksWork
from storage.vocabulary import WorkKind
from sync.quickbooks.ingest import PageOutcome, finish_work
from sync.quickbooks.qbxml.errors import QbXMLStatusError
from sync.quickbooks.qbxml.records import QueryResponse


@dataclass(frozen=True)
class Context:
    """What a step may know of the session it runs in."""

    company: CompanyFile
    now: datetime
    max_returned: int  # records per page (MaxReturned)
    fetch_unknown_bills: bool  # look up the bills payments name that PaySync has not read


class Turn(Protocol):
    """One answer from QuickBooks, as the Web Connector exchange carries it out for a step. Each
    method ends the turn and returns receiveResponseXML's percentage (-1: the session stops)."""

    @property
    def work(self) -> QuickBooksWork: ...

    @property
    def context(self) -> Context: ...

    def transport_failure(self, problem: str) -> int:
        """The answer cannot be used: the item runs again (at the next session), up to a limit."""
        ...

    def retry(self, rs: QueryResponse) -> int:
        """QuickBooks could not do it now (a record in use) or lost the iterator: ask again."""
        ...

    def fail(self, text: str) -> int:
        """The item failed for good (`paysync sync` queues it again); the session stops."""
        ...

    def record_failure(self, text: str) -> int:
        """The item failed, said once; the session carries on with the next item."""
        ...

    def stored(self, outcome: PageOutcome) -> int:
        """A page was stored: audit it, queue the lookups it calls for, go on."""
        ...

    def finished(self) -> int:
        """The step marked its item done without storing a page: go on."""
        ...


def status_error(rs: QueryResponse) -> QbXMLStatusError:
    return QbXMLStatusError(rs.status_code, rs.status_severity, rs.status_message, rs.rs_name)


class Step:
    kind: ClassVar[WorkKind]
    label: ClassVar[str]
    query_name: ClassVar[str]
    priority: ClassVar[int]
    rs_name: ClassVar[str]
    held_type: ClassVar[str] = ""
    refresh: ClassVar[bool] = False
    lookup_key: ClassVar[str | None] = None
    # Ids one lookup request asks for. 500 bills answer in well under a second (QuickBooks builds the
    # answer, PaySync stores it: bench/bench_ingest.py), far from the 5 s that holds QuickBooks long.
    ids_per_request: ClassVar[int] = 500
    watermark: ClassVar[bool] = False
    error_fails_session: ClassVar[bool] = True
    reads: ClassVar[str] = ""

    # -- asking ---------------------------------------------------------------------------------

    def build_request(self, work: QuickBooksWork, request_id: str, context: Context) -> str:
        """The qbXML request for the item's next page, under `request_id` (also kept on the item).
        ValueError when it cannot be built: the item fails with the reason."""
        raise NotImplementedError

    def lookup_ids(self, work: QuickBooksWork) -> list[str]:
        """The ids a lookup item asks for (its payload, under `lookup_key`)."""
        if self.lookup_key is None:
            return []
        ids: list[str] = json.loads(work.payload or "{}").get(self.lookup_key, [])
        return ids

    # -- when lookups are queued ------------------------------------------------------------------

    def queued_at_session_start(self, company: CompanyFile) -> bool:
        """Whether every session of this company file needs this step before payments are read."""
        return False

    def named_in(self, records: Sequence[object]) -> set[str]:
        """The ids of this lookup's records that a page's records name (bill TxnIDs in payments)."""
        return set()

    def wanted_after_page(self, context: Context) -> bool:
        """Whether a page naming records of this lookup's kind queues it."""
        return True

    def not_yet_read(self, company: CompanyFile, ids: Iterable[str]) -> set[str]:
        """The ids among `ids` that PaySync has not stored yet (what the lookup still has to read)."""
        return set(ids)

    # -- the answer --------------------------------------------------------------------------------

    def take_answer(self, turn: Turn, responses: list[QueryResponse]) -> int:
        """Read QuickBooks' answer to this step's request: find it, retry, fail or store it."""
        work = turn.work
        rs = next((r for r in responses if r.rs_name == self.rs_name), None)
        if rs is None:
            found = ", ".join(r.rs_name for r in responses) or "nothing"
            return turn.transport_failure(
                f"QuickBooks answered the {self.query_name} query with {found} instead of {self.rs_name}."
            )
        if rs.request_id and work.request_id and rs.request_id != work.request_id:
            return turn.transport_failure(
                f"QuickBooks answered request {rs.request_id} while PaySync was waiting for {work.request_id}."
            )
        if rs.is_retryable or rs.iterator_lost:
            return turn.retry(rs)
        if not (rs.is_ok or rs.is_warning):
            if not self.error_fails_session:
                # Only detail for payments already stored: record the problem, let the session finish.
                return turn.record_failure(f"Reading {self.reads} failed: {status_error(rs)}")
            return turn.fail(str(status_error(rs)))
        return turn.stored(self.store_page(work, rs, turn.context))

    def store_page(self, work: QuickBooksWork, response: QueryResponse, context: Context) -> PageOutcome:
        """Store one page and the item's progress, in one transaction."""
        raise NotImplementedError

    def finish(self, work: QuickBooksWork, context: Context) -> None:
        """The query is complete: the item is done and, for a query with a watermark, it moves."""
        finish_work(work, context.company, context.now, watermark=self.kind if self.watermark else None)
