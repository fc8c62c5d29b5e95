"""Changing a synced payment through Procore's ERP lock (DESIGN rule 5): the ONE place that does it.

Procore locks every field but attachments, origin_id and origin_data of a payment that has an
origin_id (API-NOTES §12). `unlock_patch_relock(...)` changes one (a void, an edited amount, a
user's payment number): unlock (clear origin_id), patch, lock again, each step journaled and
verified by reading the payment back, since that clearing origin_id unlocks is an inference. Where
Procore keeps it locked, `ProcoreStillLocked` says who can unlink it. `retract(...)` is the explicit
Admin operation behind SyncService.retract_payment: unlock, then DELETE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.fields import utc_now
from storage.vocabulary import ErpStatus
from sync.engine.desired import FIELD_LABELS, comparable
from sync.engine.journal import WriteContext, WriteDone, journaled_patch, journaled_procore_call, set_link
from sync.engine.listings import ContractListing, PaymentsClient
from sync.procore.errors import ProcoreError, ProcoreRequestError, ProcoreWriteOutcomeUnknown


def _unlock(client: PaymentsClient, ctx: WriteContext, payment_id: int) -> None:
    """PATCH origin_id -> null; the link is marked unlocked in the same commit as the intent."""
    journaled_patch(
        client,
        ctx,
        operation="unlock",
        payment_id=payment_id,
        fields={"origin_id": None},
        before={"locked": False},
    )


def _relock_after_refusal(
    client: PaymentsClient, ctx: WriteContext, payment_id: int, relock_fields: dict[str, Any]
) -> dict[str, Any] | None:
    """Lock again a payment left unlocked by a refused write; None if that fails too (it stays
    unlocked: the next run sees locked=False and relocks)."""
    try:
        return journaled_patch(
            client,
            ctx,
            operation="relock",
            payment_id=payment_id,
            fields=relock_fields,
            after={"locked": True},
        )
    except ProcoreError:
        return None


UNLINK_INSTRUCTION = (
    "An accounting approver must unlink it in Procore's ERP Integrations tool (Unlink); PaySync applies "
    "the change by itself once it sees the payment unlinked"
)


class ProcoreStillLocked(ProcoreRequestError):
    """Procore kept a synced payment locked after PaySync cleared its origin_id (the unlock is an
    inference, API-NOTES §12): a person must unlink it; the message says who and how."""


def _looks_locked(exc: ProcoreRequestError) -> bool:
    """Whether a refusal reads like the ERP lock. Its status code and wording are not documented
    (API-NOTES §12.4), so a 403, or Procore's words about ERP, syncing or locking, count as it."""
    said = f"{exc.procore_message} {exc.message}".lower()
    return exc.status == 403 or any(word in said for word in ("erp", "synced", "lock"))


def _read_back(client: PaymentsClient, ctx: WriteContext, payment_id: int) -> dict[str, Any]:
    """The payment as Procore holds it now (DESIGN rule 5: each step of an undocumented path is
    verified by reading the payment back, never assumed from the answer to the write)."""
    return client.get_contract_payment(payment_id, ctx.project_id, ctx.contract_id)


def _not_applied(sent: Mapping[str, Any], seen: Mapping[str, Any]) -> list[str]:
    """The engine-owned fields Procore shows differently from what was sent (fields it does not
    echo back, such as payment_method, are not held against it)."""
    want, have = comparable(sent), comparable(seen)
    return [name for name, value in want.items() if name in have and have[name] != value]


def unlock_patch_relock(
    client: PaymentsClient,
    ctx: WriteContext,
    *,
    payment_id: int,
    fields: Mapping[str, Any],
    origin_data: str | None,
    listing: ContractListing | None = None,
    done_changes: Mapping[str, Any] | None = None,
    already_unlinked: bool = False,
) -> dict[str, Any]:
    """Change a synced (ERP-locked) Procore payment: the ONE place that does it (DESIGN rule 5).

    Procore documents a payment with an origin_id as immutable except attachments, origin_id and
    origin_data (API-NOTES §12). That clearing origin_id makes it editable is an *inference*, so
    every step is verified by reading the payment back:

    1. PATCH origin_id -> null (the link is marked unlocked in the same commit as the intent, so a
       crash from here on is seen by the next run, which repeats these steps); read back: if Procore
       still shows the origin id, nothing more is tried (ProcoreStillLocked). Skipped when the
       payment already shows unlinked (an accounting approver unlinked it in ERP Integrations).
    2. PATCH the fields (skipped when there are none, e.g. only relocking); read back: the fields
       must show what was sent. A refusal that reads like the lock, or a change not applied, is
       ProcoreStillLocked; any other refusal is Procore's own ProcoreRequestError. Either way the
       payment is first locked again, so it is never left editable on purpose.
    3. PATCH origin_id (and origin_data) back: locked again; read back, and the link records what
       Procore holds (unlocked, if the origin id did not take: the next run locks it again).
    Each PATCH is journaled.
    """
    patch_fields = {k: v for k, v in fields.items() if k not in ("origin_id", "origin_data")}
    relock_fields: dict[str, Any] = {"origin_id": ctx.origin_id}
    if origin_data is not None:
        relock_fields["origin_data"] = origin_data

    def relock_then(error: ProcoreRequestError) -> ProcoreRequestError:
        relocked = _relock_after_refusal(client, ctx, payment_id, relock_fields)
        if relocked is not None and listing is not None:
            listing.put(relocked)
        return error

    if not already_unlinked:
        try:
            _unlock(client, ctx, payment_id)
        except ProcoreRequestError as exc:
            if _looks_locked(exc):
                raise ProcoreStillLocked(
                    f"Procore refused to clear the origin id of payment {payment_id} ({exc.procore_message or exc}), "
                    f"so it stays locked as synced with an ERP system. {UNLINK_INSTRUCTION}",
                    status=exc.status,
                    body=exc.body,
                    procore_message=exc.procore_message,
                ) from exc
            raise
        seen = _read_back(client, ctx, payment_id)
        if seen.get("origin_id"):
            set_link(ctx.link_id, locked=seen.get("origin_id") == ctx.origin_id)
            raise ProcoreStillLocked(
                f"Procore kept the origin id of payment {payment_id} after PaySync cleared it, so it stays "
                f"locked as synced with an ERP system. {UNLINK_INSTRUCTION}"
            )
    if patch_fields:
        try:
            journaled_patch(client, ctx, operation="patch", payment_id=payment_id, fields=patch_fields)
        except ProcoreRequestError as exc:
            if not _looks_locked(exc):
                raise relock_then(exc) from None
            raise relock_then(
                ProcoreStillLocked(
                    f"Procore refused to change payment {payment_id} even with its origin id cleared "
                    f"({exc.procore_message or exc}): it still treats it as synced with an ERP system. "
                    f"{UNLINK_INSTRUCTION}",
                    status=exc.status,
                    body=exc.body,
                    procore_message=exc.procore_message,
                )
            ) from exc
        seen = _read_back(client, ctx, payment_id)
        missing = _not_applied(patch_fields, seen)
        if missing:
            raise relock_then(
                ProcoreStillLocked(
                    f"Procore accepted the change to payment {payment_id} but did not apply it (it still shows "
                    f"{', '.join(FIELD_LABELS.get(name, name) for name in missing)} unchanged): it still treats it "
                    f"as synced with an ERP system. {UNLINK_INSTRUCTION}"
                )
            )
    result = journaled_patch(
        client,
        ctx,
        operation="relock",
        payment_id=payment_id,
        fields=relock_fields,
        after={**(done_changes or {}), "locked": True},
        observe=True,
    )
    seen = _read_back(client, ctx, payment_id)
    if seen.get("origin_id") != ctx.origin_id:
        set_link(ctx.link_id, locked=False)  # the next run locks it again
    if listing is not None:
        listing.put(seen if seen.get("id") is not None else result)
    return result


def retract(client: PaymentsClient, ctx: WriteContext, *, payment_id: int, origin_data: str | None) -> None:
    """Delete a flagged payment from Procore: unlock (journaled, read back), then DELETE (journaled).
    Where Procore keeps it locked, it is locked again and ProcoreStillLocked says who can unlink it."""
    _unlock(client, ctx, payment_id)
    if client.get_contract_payment(payment_id, ctx.project_id, ctx.contract_id).get("origin_id"):
        set_link(ctx.link_id, locked=True)
        raise ProcoreStillLocked(
            f"Procore kept the origin id of payment {payment_id} after PaySync cleared it, so it cannot be "
            f"deleted. {UNLINK_INSTRUCTION.replace('applies the change', 'retracts it when you ask again')}"
        )
    detail = {"procore_payment_id": payment_id, "project_id": ctx.project_id, "contract_id": ctx.contract_id}

    def retracted(_: None) -> WriteDone:
        return WriteDone(
            link_changes={
                "procore_payment_id": None,
                "locked": False,
                "pushed_fingerprint": None,
                "pushed_amount": None,
                "erp_status": ErpStatus.NOT_SYNCED,
                "status_reason": (
                    f"deleted in QuickBooks and retracted from Procore by {ctx.actor} on "
                    f"{utc_now().strftime('%Y-%m-%d %H:%M UTC')} (was Procore payment {payment_id})"
                ),
            }
        )

    try:
        journaled_procore_call(
            ctx,
            "delete",
            lambda: client.delete_contract_payment(payment_id, ctx.project_id, ctx.contract_id),
            payment_id=payment_id,
            body=None,
            audit_detail=detail,
            on_done=retracted,
        )
    except ProcoreWriteOutcomeUnknown:
        raise
    except ProcoreError as exc:
        # Do not leave it unlocked after a refusal.
        _relock_after_refusal(client, ctx, payment_id, {"origin_id": ctx.origin_id})
        if isinstance(exc, ProcoreRequestError) and _looks_locked(exc):
            raise ProcoreStillLocked(
                f"Procore refused to delete payment {payment_id} ({exc.procore_message or exc}): it still treats "
                f"it as synced with an ERP system. "
                f"{UNLINK_INSTRUCTION.replace('applies the change', 'retracts it when you ask again')}",
                status=exc.status,
                body=exc.body,
                procore_message=exc.procore_message,
            ) from exc
        raise
