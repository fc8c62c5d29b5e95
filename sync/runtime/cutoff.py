"""Changing the cutoff before the first push: `paysync cutoff --set DATE` and `--reset`.

The cutoff itself (bill payments QuickBooks created before it are pre-existing and never synced;
recorded when PaySync first runs for real) is sync/quickbooks/cutoff.py. Until the first payment
reaches Procore a person may set it on purpose (the go-live date) or clear it (so the next real run
records it); the stored payments' pre-existing flags, and their links' *Not synced* verdicts, are
then decided again. Afterwards it never changes: moving it would turn synced payments pre-existing,
or push old ones twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from storage.db import tuple_rows, write_transaction
from storage.fields import utc_now
from storage.models import (
    BillPayment,
    BillPaymentApplication,
    CompanyFile,
    PaymentLink,
    Watermark,
    WebConnectorSession,
)
from storage.queries import procore_push_record
from storage.settings_store import SCHEDULE_CUTOFF, delete_setting, set_setting
from storage.vocabulary import ErpStatus
from sync.engine.plan import cutoff_reason
from sync.quickbooks.cutoff import audit_cutoff, cutoff_keys, is_pre_existing, schedule_cutoff
from sync.quickbooks.steps import WATERMARK_KINDS
from sync.quickbooks.workqueue import SESSION_IDLE_TIMEOUT

_CHUNK = 500


class CutoffLocked(Exception):
    """The cutoff can no longer change (or not right now); the message says why."""


def parse_cutoff(text: str) -> datetime:
    """An ISO date (its start, 00:00 UTC) or date-time (UTC unless it carries an offset)."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(0, 0), tzinfo=UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date PaySync reads: write an ISO date such as 2026-12-01 (meaning its "
            "start, 00:00 UTC) or a date and time such as 2026-12-01T08:00 (UTC) or 2026-12-01T08:00-05:00."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def why_locked(file_key: str | None = None) -> str | None:
    """Why the cutoff (of a company file added with `paysync company add`, or else the one in .env)
    can no longer change, or None while it still may."""
    record = procore_push_record(file_key if file_key is not None and _has_own_cutoff(file_key) else None)
    pushed = max(record["payments_in_procore"], record["writes_done"])
    if pushed:
        what = "1 payment is" if pushed == 1 else f"{pushed} payments are"
        if record["payments_in_procore"] == 0:
            what = "payments were"
        return (
            f"{what} already in Procore, so the cutoff can no longer change: moving it would turn synced "
            "payments into pre-existing ones, or push payments that are already in Procore a second time."
        )
    if record["writes_unsettled"]:
        return (
            "a write to Procore has not been confirmed yet (it may have arrived), so the cutoff cannot change "
            "until PaySync has checked it: run `paysync sync`, then try again."
        )
    return None


@dataclass(frozen=True)
class CutoffChange:
    old: datetime | None
    new: datetime | None
    pre_existing: int  # stored payments that are pre-existing under the new cutoff
    to_sync: int  # stored payments created after it (pushed at the next sync once matched)
    reread_from: datetime | None  # the next Web Connector session reads QuickBooks again from here


def _has_own_cutoff(file_key: str) -> bool:
    return cutoff_keys(file_key)[0] != SCHEDULE_CUTOFF


def _web_connector_busy(now: datetime) -> bool:
    return bool(
        WebConnectorSession.select()
        .where(
            (WebConnectorSession.state == "open")
            & (WebConnectorSession.last_seen_at >= now - SESSION_IDLE_TIMEOUT)
        )
        .exists()
    )


def recompute_pre_existing(
    cutoff: datetime | None, now: datetime, *, company_ids: list[int] | None = None
) -> tuple[int, int]:
    """Decide every stored payment's pre-existing flag again under `cutoff` (payments already in
    Procore are never touched) and bring their links' statuses along. Returns (pre-existing, after).
    With `company_ids`, only those company files' payments (the ones this cutoff governs)."""
    in_procore = (
        BillPaymentApplication.select(BillPaymentApplication.payment)
        .join(PaymentLink, on=(PaymentLink.application == BillPaymentApplication.id))
        .where(PaymentLink.procore_payment_id.is_null(False))
    )
    query = BillPayment.select(BillPayment.id, BillPayment.time_created, BillPayment.pre_existing).where(
        BillPayment.id.not_in(in_procore)
    )
    if company_ids is not None:
        query = query.where(BillPayment.company_file.in_(company_ids))
    rows = tuple_rows(query)
    became: dict[bool, list[int]] = {True: [], False: []}
    counts = {True: 0, False: 0}
    for payment_id, time_created, pre_existing in rows:
        try:
            flag = is_pre_existing(str(time_created), cutoff)
        except ValueError:  # a time QuickBooks sent that cannot be read: keep the verdict it has
            flag = bool(pre_existing)
        counts[flag] += 1
        if bool(pre_existing) != flag:
            became[flag].append(int(payment_id))
    reason = cutoff_reason(cutoff.isoformat() if cutoff else None)
    for flag, ids in became.items():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            BillPayment.update(pre_existing=flag, updated_at=now).where(BillPayment.id.in_(chunk)).execute()
            applications = BillPaymentApplication.select(BillPaymentApplication.id).where(
                BillPaymentApplication.payment.in_(chunk)
            )
            links = PaymentLink.update(
                erp_status=ErpStatus.NOT_SYNCED if flag else ErpStatus.WAITING,
                status_reason=reason if flag else None,
                updated_at=now,
            ).where(PaymentLink.application.in_(applications) & PaymentLink.procore_payment_id.is_null(True))
            if not flag:  # the next push decides these again; only the pre-existing verdict is lifted
                links = links.where(PaymentLink.erp_status == ErpStatus.NOT_SYNCED)
            links.execute()
    return counts[True], counts[False]


def _governed_companies(file_key: str | None) -> list[int]:
    """The company files a cutoff governs: the one that has it as its own, else every file that reads
    the single-company keys (the one configured in .env, and any never added with `company add`)."""
    rows = tuple_rows(CompanyFile.select(CompanyFile.id, CompanyFile.file_key))
    if file_key is not None and _has_own_cutoff(file_key):
        return [int(company_id) for company_id, key in rows if key == file_key]
    return [int(company_id) for company_id, key in rows if not _has_own_cutoff(str(key))]


def change_cutoff(
    new: datetime | None, actor: str, now: datetime | None = None, *, file_key: str | None = None
) -> CutoffChange:
    """Set the cutoff of a company file (None: the one in .env) to `new`, or clear it (None: the next
    real run records it). Refused with CutoffLocked once a payment reached Procore, or while the Web
    Connector is in a session."""
    now = now or utc_now()
    with write_transaction():
        locked = why_locked(file_key)
        if locked:
            raise CutoffLocked(locked[0].upper() + locked[1:])
        if _web_connector_busy(now):
            raise CutoffLocked(
                "The Web Connector is in a session with QuickBooks right now; try again in a minute, when it "
                "has finished (the cutoff must not change while payments are being stored)."
            )
        old = schedule_cutoff(file_key)
        key, source_key = cutoff_keys(file_key)
        companies = _governed_companies(file_key)
        if new is None and key == SCHEDULE_CUTOFF:
            delete_setting(key, source_key)
        elif new is None:  # a file's own key stays, empty, so it does not fall back to the .env file's
            set_setting(key, "", now=now)
            delete_setting(source_key)
        else:
            set_setting(key, new.isoformat(), now=now)
            set_setting(
                source_key,
                json.dumps({"how": "set", "by": actor, "at": now.isoformat()}),
                now=now,
            )
        pre_existing, to_sync = recompute_pre_existing(new, now, company_ids=companies)
        reread_from: datetime | None = None
        if new is not None and (old is None or new < old):
            # QuickBooks was read from the old cutoff on: read it again from the new, earlier one
            # (the Web Connector service starts a day before it, CUTOFF_MARGIN; payments already
            # stored are matched by EditSequence, so reading some twice changes nothing).
            Watermark.delete().where(
                Watermark.kind.in_(WATERMARK_KINDS) & Watermark.company_file.in_(companies)
            ).execute()
            reread_from = new - timedelta(days=1)
        audit_cutoff(
            actor,
            "cutoff.set" if new is not None else "cutoff.reset",
            {
                "old": old.isoformat() if old else None,
                "new": new.isoformat() if new else None,
                "pre_existing": pre_existing,
                "to_sync": to_sync,
                "company_file": file_key,
            },
            now,
        )
    return CutoffChange(old=old, new=new, pre_existing=pre_existing, to_sync=to_sync, reread_from=reread_from)
