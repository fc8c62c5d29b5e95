"""Read queries shared by the CLI (`paysync status`), the engine and the console.

Only reads live here; every function returns plain Python values (ints, dicts, aware datetimes),
never peewee rows, so callers need no knowledge of the schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peewee import JOIN, Case, ModelSelect, fn

from storage.db import tuple_rows
from storage.models import (
    BillPayment,
    BillPaymentApplication,
    CompanyFile,
    ErrorEvent,
    HeldRecord,
    PaymentLink,
    ProcoreWrite,
    QuickBooksWork,
    SyncRun,
)
from storage.settings_store import PROCORE_RATE_LIMIT, get_setting
from storage.vocabulary import ErpStatus


def application_status_expression() -> Case:
    """SQL for one application's ERP status (BillPayment joined, PaymentLink left-joined).

    The engine's link decides once it exists, except that a payment held because QuickBooks sent a
    version PaySync cannot read (or figures that do not add up) needs attention at once. Before a
    link exists: a pre-existing payment is not synced (it never will be), a payment deleted in
    QuickBooks is deleted in QuickBooks, and anything else is waiting for the next push.
    """
    final = (ErpStatus.DELETED_IN_QUICKBOOKS.value, ErpStatus.NOT_SYNCED.value)
    return Case(
        None,
        (
            (PaymentLink.erp_status.in_(final), PaymentLink.erp_status),
            ((BillPayment.pre_existing == True) & PaymentLink.id.is_null(True), ErpStatus.NOT_SYNCED.value),  # noqa: E712
            (BillPayment.hold_reason.is_null(False), ErpStatus.NEEDS_ATTENTION.value),
            (PaymentLink.id.is_null(False), PaymentLink.erp_status),
            (BillPayment.pre_existing == True, ErpStatus.NOT_SYNCED.value),  # noqa: E712 - SQL, not Python
            (BillPayment.deleted_at.is_null(False), ErpStatus.DELETED_IN_QUICKBOOKS.value),
        ),
        ErpStatus.WAITING.value,
    )


def held_payments_not_stored() -> ModelSelect[HeldRecord]:
    """Payments QuickBooks sent that PaySync could not read and has no earlier version of."""
    stored = BillPayment.select(BillPayment.id).where(
        (BillPayment.company_file == HeldRecord.company_file) & (BillPayment.txn_id == HeldRecord.txn_id)
    )
    return HeldRecord.select().where(
        HeldRecord.record_type.in_(("payment_check", "payment_credit_card"))
        & (HeldRecord.txn_id.is_null(True) | ~fn.EXISTS(stored))
    )


def held_records(limit: int = 50) -> list[dict[str, Any]]:
    """Records kept aside because PaySync could not read them, newest first, with the reason."""
    query = (
        HeldRecord.select(HeldRecord, CompanyFile.file_key)
        .join(CompanyFile)
        .order_by(HeldRecord.updated_at.desc(), HeldRecord.id.desc())
        .limit(limit)
    )
    return [
        {
            "file_key": row.company_file.file_key,
            "record_type": row.record_type,
            "label": row.label,
            "reason": row.reason,
            "first_seen_at": row.first_seen_at,
        }
        for row in query
    ]


def payment_status_counts(file_key: str | None = None) -> dict[str, int]:
    """Payments per ERP status, one per application (= one Procore payment each, DESIGN rule 3);
    with `file_key`, of that company file only."""
    status = application_status_expression()
    query = (
        BillPaymentApplication.select(status.alias("status"), fn.COUNT(BillPaymentApplication.id).alias("n"))
        .join(BillPayment, on=(BillPaymentApplication.payment == BillPayment.id))
        .join(PaymentLink, JOIN.LEFT_OUTER, on=(PaymentLink.application == BillPaymentApplication.id))
    )
    if file_key is not None:
        company = CompanyFile.select(CompanyFile.id).where(CompanyFile.file_key == file_key)
        query = query.where(BillPayment.company_file.in_(company))
    query = query.group_by(status)
    counts = {status.value: 0 for status in ErpStatus}
    for name, number in tuple_rows(query):
        if name in counts:
            counts[str(name)] += int(number)
    # A payment held unread has no applications yet: it counts once, as needing attention.
    if file_key is None:
        counts[ErpStatus.NEEDS_ATTENTION.value] += int(held_payments_not_stored().count())
    return counts


def queue_counts(file_key: str | None = None) -> dict[str, int]:
    """QuickBooks work waiting for the Web Connector: {"queued": n, "in_progress": n}."""
    query = QuickBooksWork.select(QuickBooksWork.status, fn.COUNT(QuickBooksWork.id)).where(
        QuickBooksWork.status.in_(("queued", "in_progress"))
    )
    if file_key is not None:
        query = query.where(QuickBooksWork.file_key == file_key)
    counts = {"queued": 0, "in_progress": 0}
    for status, number in tuple_rows(query.group_by(QuickBooksWork.status)):
        counts[str(status)] = int(number)
    return counts


def pending_work_kinds(file_key: str) -> list[tuple[str, str]]:
    """(kind, status) of the QuickBooks work still to do for a file, in the order it will run."""
    query = (
        QuickBooksWork.select(QuickBooksWork.kind, QuickBooksWork.status)
        .where((QuickBooksWork.file_key == file_key) & QuickBooksWork.status.in_(("queued", "in_progress")))
        .order_by(QuickBooksWork.priority.desc(), QuickBooksWork.created_at, QuickBooksWork.id)
    )
    return [(str(kind), str(status)) for kind, status in tuple_rows(query)]


def last_web_connector_contact(file_key: str | None = None) -> datetime | None:
    query = CompanyFile.select(fn.MAX(CompanyFile.last_contact_at))
    if file_key is not None:
        query = query.where(CompanyFile.file_key == file_key)
    raw = query.scalar()
    return CompanyFile.last_contact_at.python_value(raw) if raw is not None else None


def company_files() -> list[dict[str, Any]]:
    """Every company file PaySync has seen, with its country, last contact and last error."""
    return [
        {
            "file_key": str(row.file_key),
            "company_name": row.company_name,
            "country": row.country,
            "product_name": row.product_name,
            "last_contact": row.last_contact_at,
            "last_error": row.last_error,
            "last_error_at": row.last_error_at,
        }
        for row in CompanyFile.select().order_by(CompanyFile.file_key)
    ]


def _run_dict(run: SyncRun) -> dict[str, Any]:
    return {
        "trigger": str(run.trigger),
        "actor": run.actor,
        "status": str(run.status),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "created": int(run.created),
        "updated": int(run.updated),
        "voided": int(run.voided),
        "flagged": int(run.flagged),
        "skipped": int(run.skipped),
        "errors": int(run.errors),
        "message": run.message,
    }


def latest_sync_run() -> dict[str, Any] | None:
    """The newest sync run, whatever its outcome (a run that could not start is one, status "failed")."""
    run = SyncRun.select().order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).first()
    return None if run is None else _run_dict(run)


def latest_failed_run() -> dict[str, Any] | None:
    """The newest sync run that failed, with its reason in `message`."""
    run = (
        SyncRun.select()
        .where(SyncRun.status == "failed")
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .first()
    )
    return None if run is None else _run_dict(run)


def procore_push_record(file_key: str | None = None) -> dict[str, int]:
    """What reached (or may have reached) Procore so far: payments with a Procore id, and journaled
    writes by outcome. {"payments_in_procore": n, "writes_done": n, "writes_unsettled": n}; writes
    done count "done" and "resolved", unsettled ones are intents whose outcome is not known yet.
    With `file_key`, only that company file's (origin ids name their file: DESIGN rule 3)."""
    links = PaymentLink.select().where(PaymentLink.procore_payment_id.is_null(False))
    writes = ProcoreWrite.select()
    if file_key is not None:
        prefix = f"qbd:{file_key}:"
        links = links.where(fn.SUBSTR(PaymentLink.origin_id, 1, len(prefix)) == prefix)
        writes = writes.where(fn.SUBSTR(ProcoreWrite.origin_id, 1, len(prefix)) == prefix)
    in_procore = links.count()
    done = writes.where(ProcoreWrite.status.in_(("done", "resolved"))).count()
    unsettled = writes.where(ProcoreWrite.status.in_(("intent", "unknown"))).count()
    return {
        "payments_in_procore": int(in_procore),
        "writes_done": int(done),
        "writes_unsettled": int(unsettled),
    }


def latest_errors(limit: int = 20) -> list[dict[str, Any]]:
    """The newest error events first: {at, where, message}."""
    rows = ErrorEvent.select().order_by(ErrorEvent.at.desc(), ErrorEvent.id.desc()).limit(limit)
    return [{"at": row.at, "where": str(row.where), "message": str(row.message)} for row in rows]


def procore_rate_limit() -> dict[str, Any] | None:
    """The last X-Rate-Limit-* figures Procore sent (stored by the sync service), if any."""
    limit, remaining, reset_at = (get_setting(key) for key in PROCORE_RATE_LIMIT)
    if not limit or not remaining:
        return None
    return {"limit": int(limit), "remaining": int(remaining), "reset_at": reset_at or None}
