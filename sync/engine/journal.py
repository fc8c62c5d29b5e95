"""The intent journal of Procore writes (DESIGN rule 4): every write to Procore, journaled.

Every Procore write goes like this:
1. `record_intent(...)` commits a `ProcoreWrite` row (status `intent`) *before* the request;
2. the request is sent;
3. `finish_write(...)` marks it `done` (with the Procore id), `failed` (Procore refused: nothing
   was written) or `unknown` (timeout or 5xx after sending: it may have been written).
`journaled_procore_call(...)` does these three steps around one request, and every write to
Procore goes through it (`journaled_patch(...)` for a PATCH).

A row still `intent` (we crashed) or `unknown` is *open*; at the start of every push
resolve.py settles it against what Procore holds, before anything else is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from storage import models
from storage.fields import utc_now
from storage.models import AuditLog, PaymentLink, ProcoreWrite
from sync.engine.desired import canonical_json, comparable
from sync.engine.listings import PaymentsClient
from sync.procore.errors import ProcoreError, ProcoreWriteOutcomeUnknown

OPEN_STATUSES = ("intent", "unknown")
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Writing the journal
# --------------------------------------------------------------------------------------------


def audit(actor: str, action: str, target: str | None, detail: Mapping[str, Any] | None = None) -> None:
    AuditLog.create(
        actor=actor,
        action=action,
        target=target,
        detail=json.dumps(detail, default=str, sort_keys=True) if detail is not None else None,
    )


def set_link(link_id: int, **changes: Any) -> None:
    """Change a link's columns (and its updated_at) outside a journaled write."""
    PaymentLink.update(**changes, updated_at=utc_now()).where(PaymentLink.id == link_id).execute()


def record_intent(
    *,
    link_id: int | None,
    origin_id: str,
    operation: str,
    project_id: int,
    contract_id: int,
    procore_payment_id: int | None,
    body: Mapping[str, Any] | None,
    link_changes: Mapping[str, Any] | None = None,
) -> int:
    """Commit an intent row (and any link change that must be durable with it) before a write."""
    with models.database_proxy.atomic():
        write = ProcoreWrite.create(
            link=link_id,
            origin_id=origin_id,
            operation=operation,
            project_id=project_id,
            contract_id=contract_id,
            procore_payment_id=procore_payment_id,
            request_body=json.dumps(body, default=str, sort_keys=True) if body is not None else None,
            status="intent",
        )
        if link_changes and link_id is not None:
            PaymentLink.update(**link_changes, updated_at=utc_now()).where(
                PaymentLink.id == link_id
            ).execute()
    return int(write.id)


def finish_write(
    write_id: int,
    status: str,
    *,
    procore_payment_id: int | None = None,
    error: str | None = None,
    link_id: int | None = None,
    link_changes: Mapping[str, Any] | None = None,
    actor: str = "paysync",
    audit_action: str | None = None,
    audit_target: str | None = None,
    audit_detail: Mapping[str, Any] | None = None,
) -> None:
    """Close an intent (done | failed | unknown | resolved), with its link change and audit entry,
    in one transaction: either all of it is recorded or the intent stays open."""
    with models.database_proxy.atomic():
        changes: dict[str, Any] = {"status": status, "finished_at": utc_now(), "error": error}
        if procore_payment_id is not None:
            changes["procore_payment_id"] = procore_payment_id
        ProcoreWrite.update(**changes).where(ProcoreWrite.id == write_id).execute()
        if link_changes and link_id is not None:
            PaymentLink.update(**link_changes, updated_at=utc_now()).where(
                PaymentLink.id == link_id
            ).execute()
        if audit_action is not None:
            audit(
                actor,
                audit_action,
                audit_target,
                {"write_id": write_id, "status": status, **(audit_detail or {})},
            )


def origins_with_writes(origin_ids: Iterable[str], *, chunk: int = 500) -> set[str]:
    """Which of these origin ids the journal has any write for: an earlier attempt (even one that
    was refused, settled or lost), so a create of it looks at the commitment's listing first."""
    wanted = sorted(set(origin_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), chunk):
        query = (
            ProcoreWrite.select(ProcoreWrite.origin_id)
            .where(ProcoreWrite.origin_id.in_(wanted[start : start + chunk]))
            .distinct()
        )
        found.update(str(row.origin_id) for row in query)
    return found


def sent_fields(request_body: str | None) -> dict[str, Any]:
    """The contract_payment fields an intent row says were sent."""
    if not request_body:
        return {}
    try:
        body = json.loads(request_body)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def observed_link_changes(
    payment: Mapping[str, Any], origin_id: str, *, sent: Mapping[str, Any] | None, pushed_json: str | None
) -> dict[str, Any]:
    """Link columns that record what Procore was seen to hold for this payment."""
    fallback: dict[str, Any] = {}
    if pushed_json:
        try:
            previous = json.loads(pushed_json)
            if isinstance(previous, dict):
                fallback.update(previous)
        except ValueError:
            pass
    fallback.update(sent or {})
    seen = comparable(payment, fallback=fallback)
    amount = seen.get("amount")
    return {
        "procore_payment_id": int(payment["id"]),
        "locked": payment.get("origin_id") == origin_id,
        "pushed_fingerprint": canonical_json(seen),
        "pushed_amount": None if amount is None else amount,
    }


# --------------------------------------------------------------------------------------------
# One journaled write
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteContext:
    """Where one Procore payment lives and who is writing."""

    link_id: int
    origin_id: str
    project_id: int
    contract_id: int
    actor: str


@dataclass(frozen=True)
class WriteDone:
    """What a finished write records: link changes, the audit detail (default: the call's own),
    and the Procore id when the write created it."""

    link_changes: Mapping[str, Any] | None = None
    audit_detail: Mapping[str, Any] | None = None
    procore_payment_id: int | None = None


def journaled_procore_call(
    ctx: WriteContext,
    operation: str,
    call: Callable[[], T],
    *,
    payment_id: int | None,
    body: Mapping[str, Any] | None,
    audit_detail: Mapping[str, Any],
    intent_link_changes: Mapping[str, Any] | None = None,
    on_done: Callable[[T], WriteDone] | None = None,
    confirm: Callable[[T], T] | None = None,
) -> T:
    """One Procore write, journaled (DESIGN rule 4): the intent is committed (with
    `intent_link_changes`) before `call()` is sent; the intent is then closed `unknown` (the write
    may have happened), `failed` (refused: nothing written; the error is re-raised) or `done`, with
    what `on_done(result)` says to record. `confirm(result)` checks Procore's answer before anything
    is decided from it: it may read the payment back in its place, or raise
    ProcoreWriteOutcomeUnknown when it cannot tell what was written. Every write to Procore goes
    through here."""
    write_id = record_intent(
        link_id=ctx.link_id,
        origin_id=ctx.origin_id,
        operation=operation,
        project_id=ctx.project_id,
        contract_id=ctx.contract_id,
        procore_payment_id=payment_id,
        body=body,
        link_changes=intent_link_changes,
    )
    try:
        result = call()
        if confirm is not None:
            result = confirm(result)
    except ProcoreError as exc:
        finish_write(
            write_id,
            "unknown" if isinstance(exc, ProcoreWriteOutcomeUnknown) else "failed",
            error=str(exc),
            actor=ctx.actor,
            audit_action=f"procore.{operation}",
            audit_target=ctx.origin_id,
            audit_detail=audit_detail,
        )
        raise
    done = on_done(result) if on_done is not None else WriteDone()
    finish_write(
        write_id,
        "done",
        procore_payment_id=done.procore_payment_id,
        link_id=ctx.link_id,
        link_changes=done.link_changes,
        actor=ctx.actor,
        audit_action=f"procore.{operation}",
        audit_target=ctx.origin_id,
        audit_detail=audit_detail if done.audit_detail is None else done.audit_detail,
    )
    return result


def _pushed_json(link_id: int) -> str | None:
    row = PaymentLink.select(PaymentLink.pushed_fingerprint).where(PaymentLink.id == link_id).first()
    return row.pushed_fingerprint if row is not None else None


def journaled_patch(
    client: PaymentsClient,
    ctx: WriteContext,
    *,
    operation: str,
    payment_id: int,
    fields: dict[str, Any],
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    observe: bool = False,
) -> dict[str, Any]:
    """One journaled PATCH. `before` link changes are committed with the intent; `after` ones with
    the result. With `observe`, the link also records what Procore answered it now holds."""

    def patched(result: dict[str, Any]) -> WriteDone:
        link_changes = dict(after or {})
        if observe:
            link_changes.update(
                observed_link_changes(
                    result, ctx.origin_id, sent=fields, pushed_json=_pushed_json(ctx.link_id)
                )
            )
        return WriteDone(
            link_changes=link_changes,
            audit_detail={
                "procore_payment_id": payment_id,
                "project_id": ctx.project_id,
                "contract_id": ctx.contract_id,
                "fields": fields,
            },
        )

    def confirmed(answer: dict[str, Any]) -> dict[str, Any]:
        if usable_answer(answer) == payment_id:
            return answer
        # Procore answered without a payment PaySync can read: read it back once instead.
        seen = client.get_contract_payment(payment_id, ctx.project_id, ctx.contract_id)
        if usable_answer(seen) != payment_id:
            raise ProcoreWriteOutcomeUnknown(
                f"Procore's answer to the change of payment {payment_id}, and a read-back, lack the payment's "
                "fields; PaySync checks Procore again before doing anything more with it."
            )
        return seen

    return journaled_procore_call(
        ctx,
        operation,
        lambda: client.update_contract_payment(payment_id, ctx.project_id, ctx.contract_id, dict(fields)),
        payment_id=payment_id,
        body=fields,
        audit_detail={"procore_payment_id": payment_id, "fields": fields},
        intent_link_changes=before,
        on_done=patched,
        confirm=confirmed,
    )


def usable_answer(payment: Any) -> int | None:
    """The Procore id of a payment as Procore answered it, when the answer has what PaySync relies
    on (an id, and an amount read exactly if there is one); None when it lacks or garbles them."""
    if not isinstance(payment, Mapping):
        return None
    raw_id = payment.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str) or not str(raw_id).isdigit():
        return None
    if "amount" in payment and payment["amount"] is not None:
        amount = comparable({"amount": payment["amount"]}).get("amount")
        if amount is None or not _is_number(amount):
            return None
    return int(raw_id)


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
