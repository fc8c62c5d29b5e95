"""The commitments pane: one page of commitments with their payment counts and most urgent status,
and the group of payments not matched to any commitment."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from peewee import JOIN, Case, fn

from storage.models import Commitment, PaymentLink, ProcoreProject
from storage.views.payments import held_query
from storage.views.placement import Placement, held_in_scope, placement, unmatched_in_scope
from storage.views.rows import CommitmentPage, CommitmentRow
from storage.views.sorting import COMMITMENT_SORTS, SortOrder, commitment_sort_key
from storage.views.sql import applications_of, contains, fetch, named, of_company_file
from storage.views.statuses import ATTENTION_RANK, STATUS_RANK, rank_of, rank_to_status, status_from_text


class _CommitmentRecord(NamedTuple):
    id: int
    project_id: int
    project_name: str
    number: str | None
    title: str | None
    vendor_name: str | None
    kind: str
    payments_count: int
    attention_count: int | None  # SUM over no rows: NULL
    max_rank: int | None


def _commitment_filter(text: str, placement: Placement, file_key: str | None) -> Any:
    """Match the filter text against number, title, vendor and project; or, if it names a status,
    keep the commitments with at least one payment in that status (of company file `file_key`)."""
    text = text.strip()
    if not text:
        return None
    wanted_status = status_from_text(text)
    if wanted_status is not None:
        having = PaymentLink.select(PaymentLink.commitment).where(PaymentLink.erp_status == wanted_status)
        if file_key is not None:
            having = having.where(PaymentLink.application.in_(applications_of(file_key)))
        placed = sorted(
            {m.commitment_id for m, status in placement.placed.values() if status == wanted_status}
        )
        condition = Commitment.id.in_(having)
        return condition | Commitment.id.in_(placed) if placed else condition
    return (
        contains(Commitment.number, text)
        | contains(Commitment.title, text)
        | contains(Commitment.vendor_name, text)
        | contains(ProcoreProject.name, text)
    )


def _unmatched_row(text: str, placement: Placement, file_key: str | None) -> CommitmentRow | None:
    """Payments not (yet) matched to a commitment, shown as one pseudo-commitment."""
    rows = unmatched_in_scope(placement, text)
    if rows is None:
        return None
    count = len(rows)
    ranks = [STATUS_RANK.get(row.status, 0) for row in rows]
    attention_count = sum(1 for rank in ranks if rank >= ATTENTION_RANK)
    max_rank = max(ranks, default=0)
    if held_in_scope(text):
        held = int(held_query(file_key).count())  # unreadable payments: on no commitment
        if held:
            count += held
            attention_count += held
            max_rank = max(max_rank, ATTENTION_RANK)
    if not count:
        return None
    return CommitmentRow(
        id=None,
        project_id=None,
        project_name="",
        number="(unmatched)",
        title="Payments not matched to a Procore invoice",
        vendor_name="",
        kind="unmatched",
        payments_count=int(count),
        attention_count=int(attention_count),
        status=rank_to_status(max_rank or None),
    )


def list_commitments(
    *,
    text: str = "",
    limit: int = 500,
    offset: int = 0,
    sort: SortOrder | str = "number",
    descending: bool | None = None,
    file_key: str | None = None,
) -> CommitmentPage:
    """One page of commitments with their payment counts and most urgent status.

    Counted in SQL; sorted by `sort` (numbers in natural order: SC-2 before SC-10), in its usual
    direction unless `descending` says otherwise. The unmatched group (if any) comes first on the
    first page. Payments the engine has not placed but whose bill matches an invoice count on that
    invoice's commitment.

    `file_key` keeps the commitments with at least one payment of that company file, counted and
    ranked by that file's payments only (None: every file).
    """
    placed = placement(of_company_file(file_key))
    rank = rank_of(PaymentLink.erp_status)
    on_link = PaymentLink.commitment == Commitment.id
    if file_key is not None:
        # In the join's ON, not the WHERE: a commitment whose payments of the file are only placed
        # by their bill (not linked) still comes back, with no linked payment to count.
        on_link &= PaymentLink.application.in_(applications_of(file_key))
    base = (
        Commitment.select(
            *named(
                id=Commitment.id,
                project_id=Commitment.project,
                project_name=ProcoreProject.name,
                number=Commitment.number,
                title=Commitment.title,
                vendor_name=Commitment.vendor_name,
                kind=Commitment.kind,
                payments_count=fn.COUNT(PaymentLink.id),
                attention_count=fn.SUM(Case(None, ((rank >= ATTENTION_RANK, 1),), 0)),
                max_rank=fn.MAX(rank),
            )
        )
        .join(ProcoreProject)
        .switch(Commitment)
        .join(PaymentLink, JOIN.LEFT_OUTER, on=on_link)
        .group_by(Commitment.id, ProcoreProject.name)
    )
    condition = _commitment_filter(text, placed, file_key)
    if condition is not None:
        base = base.where(condition)
    if file_key is not None:
        placed_here = sorted({match.commitment_id for match, _ in placed.placed.values()})
        has_payments = fn.COUNT(PaymentLink.id) > 0
        base = base.having(has_payments | Commitment.id.in_(placed_here) if placed_here else has_payments)
    extra_count: dict[int, int] = defaultdict(int)
    extra_attention: dict[int, int] = defaultdict(int)
    extra_rank: dict[int, int] = defaultdict(int)
    for match, status in placed.placed.values():
        status_rank = STATUS_RANK.get(status, 0)
        extra_count[match.commitment_id] += 1
        extra_attention[match.commitment_id] += status_rank >= ATTENTION_RANK
        extra_rank[match.commitment_id] = max(extra_rank[match.commitment_id], status_rank)
    rows: list[CommitmentRow] = []
    for record in fetch(_CommitmentRecord, base):
        cid = int(record.id)
        max_rank = max(int(record.max_rank or 0), extra_rank.get(cid, 0))
        rows.append(
            CommitmentRow(
                id=cid,
                project_id=int(record.project_id),
                project_name=str(record.project_name),
                number=str(record.number or ""),
                title=str(record.title or ""),
                vendor_name=str(record.vendor_name or ""),
                kind=str(record.kind),
                payments_count=int(record.payments_count) + extra_count.get(cid, 0),
                attention_count=int(record.attention_count or 0) + extra_attention.get(cid, 0),
                status=rank_to_status(max_rank or None),
            )
        )
    default_descending = COMMITMENT_SORTS.get(sort, False)
    rows.sort(key=commitment_sort_key(sort), reverse=default_descending if descending is None else descending)
    total = len(rows)
    page = rows[offset : offset + limit]
    if offset == 0:
        unmatched = _unmatched_row(text, placed, file_key)
        if unmatched is not None:
            page.insert(0, unmatched)
    return CommitmentPage(rows=tuple(page), total=total, overall=int(Commitment.select().count()))
