"""The intent journal of Procore writes (DESIGN rule 4) and how open intents are resolved.

Every Procore write goes like this:
1. `record_intent(...)` commits a `ProcoreWrite` row (status `intent`) *before* the request;
2. the request is sent;
3. `finish_write(...)` marks it `done` (with the Procore id), `failed` (Procore refused: nothing
   was written) or `unknown` (timeout or 5xx after sending: it may have been written).
`sync.engine.apply.journaled_procore_call(...)` does these three steps around one request.

A row still `intent` (we crashed) or `unknown` is *open*. At the start of every push,
`resolve_open_intents(...)` settles them first, by listing the contract's payments: a create is
found by its `origin_id`; an unlock/patch/relock/delete by the Procore payment id (an unlocked
payment has no origin_id, which is why the id is journaled). Found: the link adopts what Procore
holds. Not found: the write did not happen and is safe to redo. Nothing is ever retried blindly.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from storage import models
from storage.fields import utc_now
from sync.engine.desired import canonical_json, comparable
from sync.procore.errors import ProcoreError

ProcoreWrite: Any = models.ProcoreWrite
PaymentLink: Any = models.PaymentLink
PaymentAttachment: Any = models.PaymentAttachment
AuditLog: Any = models.AuditLog
ErrorEvent: Any = models.ErrorEvent

OPEN_STATUSES = ("intent", "unknown")


class PaymentsClient(Protocol):
    """The part of sync.procore.ProcoreClient the engine uses."""

    def list_contract_payments(self, project_id: int, contract_id: int) -> list[dict[str, Any]]: ...

    def get_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> dict[str, Any]: ...

    def create_contract_payment(
        self, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]: ...

    def update_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]: ...

    def delete_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> None: ...

    def attach_files_to_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, files: list[tuple[str, bytes, str]]
    ) -> dict[str, Any]: ...


# --------------------------------------------------------------------------------------------
# One listing per contract per run
# --------------------------------------------------------------------------------------------


@dataclass
class ContractListing:
    """A commitment's Payments Issued as listed once this run, kept current with our own writes."""

    by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_origin: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def put(self, payment: Mapping[str, Any]) -> None:
        payment_id = int(payment["id"])
        self.remove(payment_id)
        stored = dict(payment)
        self.by_id[payment_id] = stored
        origin = stored.get("origin_id")
        if origin:
            self.by_origin[str(origin)].append(stored)
            self.by_origin[str(origin)].sort(key=lambda p: int(p["id"]))

    def remove(self, payment_id: int) -> None:
        old = self.by_id.pop(payment_id, None)
        if old is not None and old.get("origin_id"):
            same = [p for p in self.by_origin.get(str(old["origin_id"]), []) if int(p["id"]) != payment_id]
            if same:
                self.by_origin[str(old["origin_id"])] = same
            else:
                self.by_origin.pop(str(old["origin_id"]), None)

    def find_origin(self, origin_id: str) -> dict[str, Any] | None:
        found = self.by_origin.get(origin_id)
        return found[0] if found else None


class ContractListings:
    """Lists each contract's payments at most once per run (the endpoint has no origin_id filter)."""

    def __init__(self, client: PaymentsClient) -> None:
        self.client = client
        self._cache: dict[tuple[int, int], ContractListing] = {}
        self._failed: dict[tuple[int, int], ProcoreError] = {}
        self.requests = 0
        self.unreadable: list[str] = []  # listed payments PaySync could not read

    def get(self, project_id: int, contract_id: int) -> ContractListing:
        """The contract's listing; a listing that failed (after the client's retries) fails again
        at once for the rest of the run, so one broken contract costs its retries only once."""
        key = (project_id, contract_id)
        if key in self._failed:
            raise self._failed[key]
        listing = self._cache.get(key)
        if listing is None:
            self.requests += 1
            listing = ContractListing()
            try:
                for payment in self.client.list_contract_payments(project_id, contract_id):
                    try:
                        listing.put(payment)
                    except (KeyError, TypeError, ValueError):
                        # A payment without a readable id cannot be matched to anything: left out,
                        # and said once, rather than failing every payment of the commitment.
                        self.unreadable.append(f"commitment {contract_id}: {str(payment)[:200]}")
            except ProcoreError as exc:
                self._failed[key] = exc
                raise
            self._cache[key] = listing
        return listing

    def cached(self, project_id: int, contract_id: int) -> ContractListing | None:
        return self._cache.get((project_id, contract_id))

    def refresh(self, project_id: int, contract_id: int) -> ContractListing:
        """List the contract's payments again (a read-back after an answer PaySync cannot use)."""
        self._cache.pop((project_id, contract_id), None)
        self._failed.pop((project_id, contract_id), None)
        return self.get(project_id, contract_id)


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
# Resolving open intents
# --------------------------------------------------------------------------------------------


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


def _resolve_one(write: Any, link: Any, listing: ContractListing, actor: str, result: Resolution) -> None:
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
                    "erp_status": "not_synced",
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
                "erp_status": "needs_attention",
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
