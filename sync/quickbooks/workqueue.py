"""QuickBooks queries waiting for the Web Connector's next poll.

The Web Connector is pull-only, so "sync now" and the schedule only *queue* work here; the
Web Connector exchange (sync/quickbooks/webconnector) takes it, highest priority first and oldest
first, when QuickBooks polls. What each kind of work is, and its priority, is its step's
(sync/quickbooks/steps). Everything here that reads and then writes does so in one
`write_transaction` (one writer at a time, on SQLite and on PostgreSQL), so several processes on
one database never queue a query twice; a session takes an item with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from storage.db import skip_locked, write_transaction
from storage.fields import utc_now
from storage.models import QuickBooksWork, WebConnectorSession
from sync.quickbooks.steps import REFRESH_STEPS, step_for

PENDING_STATUSES = ("queued", "in_progress")
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)


def work_id(work: QuickBooksWork) -> int:
    return int(work.get_id())  # type: ignore[no-untyped-call]


def queue_quickbooks_refresh(
    file_key: str, *, requested_by: str, now: datetime | None = None
) -> list[QuickBooksWork]:
    """Queue the refresh queries for `file_key` (the steps every refresh runs, in the registry's
    order); a kind already queued or running is not queued twice.

    Returns the items created by this call (empty when everything was already waiting).
    """
    now = now or utc_now()
    created: list[QuickBooksWork] = []
    with write_transaction():
        pending = {
            item.kind
            for item in QuickBooksWork.select(QuickBooksWork.kind).where(
                (QuickBooksWork.file_key == file_key) & QuickBooksWork.status.in_(PENDING_STATUSES)
            )
        }
        for step in REFRESH_STEPS:
            if step.kind in pending:
                continue
            created.append(
                QuickBooksWork.create(
                    file_key=file_key,
                    kind=step.kind,
                    priority=step.priority,
                    requested_by=requested_by,
                    created_at=now,
                )
            )
    return created


def queue_lookup(
    file_key: str, kind: str, ids: Iterable[str], *, requested_by: str, now: datetime | None = None
) -> QuickBooksWork | None:
    """Queue a lookup (`bills` by TxnID, `vendors` by ListID: a step with a `lookup_key`) for
    records that payments refer to but PaySync has not read yet.

    A lookup is paged like every other query: each item asks for at most the step's
    `ids_per_request` ids (one request, one answer that never holds QuickBooks long), and a finished
    item counts in the session's percent. Ids already waiting in a lookup of the same kind (queued,
    or being asked) are not queued twice; the others fill the last queued item, then new ones, so one
    session asks for each id once. Returns the last item that took ids, or None when there was
    nothing new to ask.
    """
    step = step_for(kind)
    key = step.lookup_key
    if key is None:
        raise ValueError(f"{step.label} are not looked up by id")
    wanted = set(ids)
    if not wanted:
        return None
    per_request = step.ids_per_request
    with write_transaction():
        pending: list[QuickBooksWork] = list(
            QuickBooksWork.select()
            .where(
                (QuickBooksWork.file_key == file_key)
                & (QuickBooksWork.kind == step.kind)
                & QuickBooksWork.status.in_(PENDING_STATUSES)
            )
            .order_by(QuickBooksWork.id)
        )
        asked: dict[int, list[str]] = {}
        for item in pending:
            asked[work_id(item)] = list(json.loads(item.payload or "{}").get(key, []))
            wanted.difference_update(asked[work_id(item)])
        if not wanted:
            return None
        fresh = sorted(wanted)
        touched: QuickBooksWork | None = None
        last = pending[-1] if pending and pending[-1].status == "queued" else None
        if last is not None:
            known = asked[work_id(last)]
            room = per_request - len(known)
            if room > 0:
                last.payload = json.dumps({key: sorted(known + fresh[:room])})
                last.save()
                fresh = fresh[room:]
                touched = last
        for start in range(0, len(fresh), per_request):
            touched = QuickBooksWork.create(
                file_key=file_key,
                kind=step.kind,
                priority=step.priority,
                requested_by=requested_by,
                created_at=now or utc_now(),
                payload=json.dumps({key: fresh[start : start + per_request]}),
            )
        return touched


def queue_once(
    file_key: str, kind: str, *, requested_by: str, now: datetime | None = None
) -> QuickBooksWork | None:
    """Queue one item of `kind` (the currency list, say), unless one is already waiting or running."""
    step = step_for(kind)
    with write_transaction():
        if (
            QuickBooksWork.select()
            .where(
                (QuickBooksWork.file_key == file_key)
                & (QuickBooksWork.kind == step.kind)
                & QuickBooksWork.status.in_(PENDING_STATUSES)
            )
            .exists()
        ):
            return None
        item: QuickBooksWork = QuickBooksWork.create(
            file_key=file_key,
            kind=step.kind,
            priority=step.priority,
            requested_by=requested_by,
            created_at=now or utc_now(),
        )
        return item


def pending_work(file_key: str | None = None) -> list[QuickBooksWork]:
    """Queued and running items, in the order the Web Connector will get them."""
    query = QuickBooksWork.select().where(QuickBooksWork.status.in_(PENDING_STATUSES))
    if file_key is not None:
        query = query.where(QuickBooksWork.file_key == file_key)
    return list(query.order_by(QuickBooksWork.priority.desc(), QuickBooksWork.created_at, QuickBooksWork.id))


def next_queued_work(file_key: str) -> QuickBooksWork | None:
    """The next item for a session to take. Call inside the transaction that marks it taken (in
    progress, with the session's ticket): on PostgreSQL the row is locked FOR UPDATE SKIP LOCKED
    until that transaction ends, so two sessions, in any processes, never take the same item."""
    query = (
        QuickBooksWork.select()
        .where((QuickBooksWork.file_key == file_key) & (QuickBooksWork.status == "queued"))
        .order_by(QuickBooksWork.priority.desc(), QuickBooksWork.created_at, QuickBooksWork.id)
        .limit(1)
    )
    item: QuickBooksWork | None = skip_locked(query).first()
    return item


def has_queued_work(file_key: str) -> bool:
    return bool(
        QuickBooksWork.select()
        .where((QuickBooksWork.file_key == file_key) & QuickBooksWork.status.in_(PENDING_STATUSES))
        .exists()
    )


def reset_to_queued(item: QuickBooksWork) -> None:
    """Put an item back in the queue. A QuickBooks iterator lives only inside one session, so the
    query starts again from iterator Start; rows already stored are harmless (changes are detected
    by TxnID + EditSequence)."""
    item.status = "queued"
    item.session_ticket = None
    item.iterator_id = None
    item.iterator_remaining = None
    item.request_id = None


def requeue_stale_work(file_key: str, *, now: datetime | None = None) -> int:
    """In-progress items whose session is gone (closed, failed, expired or idle too long) go back to queued."""
    now = now or utc_now()
    idle_limit = now - SESSION_IDLE_TIMEOUT
    count = 0
    with write_transaction():  # the live sessions are read under the lock: none opens meanwhile
        live_tickets = {
            session.ticket
            for session in WebConnectorSession.select(WebConnectorSession.ticket).where(
                (WebConnectorSession.file_key == file_key)
                & (WebConnectorSession.state == "open")
                & (WebConnectorSession.last_seen_at >= idle_limit)
            )
        }
        for item in QuickBooksWork.select().where(
            (QuickBooksWork.file_key == file_key) & (QuickBooksWork.status == "in_progress")
        ):
            if item.session_ticket in live_tickets:
                continue
            reset_to_queued(item)
            item.save()
            count += 1
    return count
