"""Settling the journal at the start of every push (DESIGN rule 4), before anything is written.

A `ProcoreWrite` still `intent` (PaySync stopped between committing the intent and hearing from
Procore) or `unknown` (a timeout or 5xx after sending: it may have been written) is *open*.
`resolve_open_intents(...)` settles each by listing its contract's payments: a create is found by
its `origin_id`; an unlock/patch/relock/delete by the Procore payment id (an unlocked payment has
no origin_id, which is why the id is journaled). Found: the link adopts what Procore holds. Not
found: the write did not happen and is safe to redo. Nothing is ever retried blindly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.models import ErrorEvent, PaymentAttachment, PaymentLink, ProcoreWrite
from storage.vocabulary import ErpStatus
from sync.engine.journal import OPEN_STATUSES, finish_write, observed_link_changes, sent_fields
from sync.engine.listings import ContractListing, ContractListings
from sync.procore.errors import ProcoreError


@dataclass
class Resolution:
    resolved: int = 0  # found in Procore: adopted
    redo: int = 0  # not found: the write did not happen, safe to do again
    still_open: set[int] = field(default_factory=set)  # link ids whose intents could not be checked
    errors: list[str] = field(default_factory=list)


def open_intent_count() -> int:
    return int(ProcoreWrite.select().where(ProcoreWrite.status.in_(OPEN_STATUSES)).count())


def resolve_open_intents(listings: ContractListings, *, actor: str = "paysync") -> Resolution:
    """Settle every open intent against what Procore actually holds, before anything else is written."""
    result = Resolution()
    writes = list(
        ProcoreWrite.select().where(ProcoreWrite.status.in_(OPEN_STATUSES)).order_by(ProcoreWrite.id)
    )
    for write in writes:
        link_id = write.link_id
        link = PaymentLink.get_or_none(PaymentLink.id == link_id) if link_id is not None else None
        try:
            listing = listings.get(int(write.project_id), int(write.contract_id))
        except ProcoreError as exc:
            if link_id is not None:
                result.still_open.add(int(link_id))
            result.errors.append(
                f"could not check the outcome of an earlier {write.operation} of {write.origin_id}: {exc}"
            )
            continue
        _resolve_one(write, link, listing, actor, result)
    return result


def _resolve_one(
    write: ProcoreWrite, link: PaymentLink | None, listing: ContractListing, actor: str, result: Resolution
) -> None:
    operation = str(write.operation)
    sent = sent_fields(write.request_body)
    target = str(write.origin_id)

    def close(
        status: str,
        error: str,
        audit_detail: Mapping[str, Any],
        *,
        link_changes: Mapping[str, Any] | None = None,
        procore_payment_id: int | None = None,
    ) -> None:
        finish_write(
            int(write.id),
            status,
            procore_payment_id=procore_payment_id,
            error=error,
            link_id=link.id if link is not None else None,
            link_changes=link_changes,
            actor=actor,
            audit_action="journal.resolve",
            audit_target=target,
            audit_detail={"operation": operation, **audit_detail},
        )

    def observed(found: Mapping[str, Any], was_sent: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """What the link should record that Procore holds (nothing when the link is gone)."""
        if link is None:
            return None
        return observed_link_changes(found, target, sent=was_sent, pushed_json=link.pushed_fingerprint)

    if operation == "create":
        found = listing.find_origin(target)
        if found is None:
            close(
                "failed",
                "not found in Procore: the create did not happen; safe to create again",
                {"found": False},
            )
            result.redo += 1
            return
        duplicates = listing.by_origin.get(target, [])
        if len(duplicates) > 1:
            ErrorEvent.create(
                where="procore",
                message=(
                    f"Procore holds {len(duplicates)} payments with origin id {target} "
                    f"(ids {', '.join(str(p['id']) for p in duplicates)}); PaySync keeps {found['id']}. "
                    "Remove the others in Procore (they were not created by this PaySync database)."
                ),
            )
        close(
            "resolved",
            "found in Procore by origin id: adopted",
            {"found": True, "procore_payment_id": found["id"]},
            link_changes=observed(found, sent),
            procore_payment_id=int(found["id"]),
        )
        result.resolved += 1
        return

    payment_id = int(write.procore_payment_id) if write.procore_payment_id is not None else None
    found = listing.by_id.get(payment_id) if payment_id is not None else None
    if operation == "delete":
        if found is None:
            link_changes = None
            if link is not None:
                link_changes = {
                    "procore_payment_id": None,
                    "locked": False,
                    "pushed_fingerprint": None,
                    "pushed_amount": None,
                    "erp_status": ErpStatus.NOT_SYNCED,
                    "status_reason": f"deleted in QuickBooks and retracted from Procore (payment {payment_id})",
                }
            close(
                "resolved",
                "no longer in Procore: the delete happened",
                {"procore_payment_id": payment_id, "found": False},
                link_changes=link_changes,
            )
            result.resolved += 1
        else:
            close(
                "failed",
                "still in Procore: the delete did not happen",
                {"procore_payment_id": payment_id, "found": True},
                link_changes=observed(found, None),
            )
            result.redo += 1
        return

    if found is None:
        # The payment we were changing is gone from Procore (someone deleted it there).
        close(
            "failed",
            f"Procore payment {payment_id} no longer exists",
            {"procore_payment_id": payment_id, "found": False},
            link_changes={
                "erp_status": ErpStatus.NEEDS_ATTENTION,
                "status_reason": (
                    f"Procore payment {payment_id} no longer exists in Procore (deleted there?); "
                    "PaySync will not recreate it on its own"
                ),
            },
        )
        result.redo += 1
        return

    if operation == "attach":
        filenames = {str(a.get("filename")) for a in found.get("attachments") or [] if isinstance(a, dict)}
        wanted = str(sent.get("filename", ""))
        attachment_id = sent.get("attachment_row")
        uploaded = wanted in filenames
        close(
            "resolved" if uploaded else "failed",
            "found on the Procore payment" if uploaded else "not on the Procore payment: upload it again",
            {"filename": wanted, "found": uploaded},
        )
        if attachment_id is not None:
            PaymentAttachment.update(
                status="uploaded" if uploaded else "failed",
                error=None if uploaded else "the upload did not reach Procore; add the file again",
            ).where(PaymentAttachment.id == int(attachment_id)).execute()
        if uploaded:
            result.resolved += 1
        else:
            result.redo += 1
        return

    # unlock | patch | relock: record what Procore holds now. If the payment is unlocked or
    # differs from what we wanted, the plan sees it (locked False / changed fields) and repeats
    # the whole unlock-patch-relock, which is idempotent.
    close(
        "resolved",
        f"found in Procore (origin id {'set' if found.get('origin_id') else 'cleared'})",
        {"procore_payment_id": payment_id, "found": True},
        link_changes=observed(found, None),
        procore_payment_id=payment_id,
    )
    result.resolved += 1
