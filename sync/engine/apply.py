"""Carrying out the plan against Procore, every write journaled (DESIGN rules 4 and 5).

- create: POST with origin_id set (which locks it), without reading first when the journal can
  answer: the commitment's listing (listings.py) is looked at only when this database never listed
  that commitment, when the journal has an earlier attempt for the origin id, or when Procore
  refuses the create in a way that may mean the payment is already there; a payment found there is
  adopted, never posted twice.
- update / void / a new payment number: `unlock_patch_relock(...)` (erp_lock.py), the only place
  that changes a synced payment.
- flag_deleted: never a DELETE (a payment deleted in QuickBooks is never deleted automatically);
  the payment is only brought to the last state PaySync saw in QuickBooks, then flagged.

Errors stay with their item: a 4xx is *needs attention* with Procore's message, a 429/5xx or an
unknown outcome is *failed* (retried next run), and the other items carry on. A broken sign-in
(ProcoreAuthError) stops the run, since every later request would fail the same way; so does an
outage (OUTAGE_LIMIT items in a row failing on Procore's side), leaving the rest for the next run.

Long because each action kind's write is a few steps against the journal, and they share the run's
context (client, listings, counters, cancel); split, that context would be passed around instead.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from storage import models
from storage.db import tuple_rows
from storage.fields import utc_now
from storage.models import ErrorEvent, PaymentLink
from storage.vocabulary import ErpStatus
from sync.engine.desired import changed_fields
from sync.engine.erp_lock import UNLINK_INSTRUCTION, ProcoreStillLocked, unlock_patch_relock
from sync.engine.journal import (
    WriteContext,
    WriteDone,
    audit,
    journaled_procore_call,
    observed_link_changes,
    origins_with_writes,
    set_link,
    usable_answer,
)
from sync.engine.listings import ContractListing, ContractListings, PaymentsClient
from sync.engine.plan import PlannedAction
from sync.engine.probe_findings import unlock_known_not_to_work
from sync.engine.summary import (
    CREATED,
    FLAGGED,
    OUTCOME_FAILED,
    OUTCOME_NEEDS_ATTENTION,
    SKIPPED,
    UPDATED,
    VOIDED,
    PushCounts,
)
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreRequestError,
    ProcoreWriteOutcomeUnknown,
)

log = logging.getLogger("paysync.engine")

OUTAGE_LIMIT = 5  # items failing in a row on Procore's side before a push stops early


def _may_mean_already_there(exc: ProcoreRequestError) -> bool:
    """Whether a refused create may mean the payment is already in Procore. Procore documents
    origin_id as unique but not its answer to a duplicate (API-NOTES §12): a 409, or a refusal that
    names the origin id or says something is taken, already there, duplicate or not unique."""
    if exc.status == 409 or any("origin" in name.lower() for name in exc.errors):
        return True
    said = " ".join([exc.procore_message, *(m for messages in exc.errors.values() for m in messages)]).lower()
    return any(word in said for word in ("taken", "already", "duplicate", "unique"))


def _refusal_advice(exc: ProcoreRequestError) -> str:
    """What a person can do about a refused payment. The refusals PaySync can foresee: the
    commitment does not take payments (API-NOTES §12), or the sign-in lacks the permission."""
    said = f"{exc.procore_message} {exc.message}".lower()
    advice = ""
    if "payment" in said and any(word in said for word in ("enable", "allow", "disabled", "not enabled")):
        advice = (
            " Enable payments (Payments Issued) on this commitment in Procore; PaySync tries again when the "
            "commitment or the payment changes, or when you sync by hand."
        )
    elif exc.status == 403:
        advice = " The Procore sign-in PaySync uses needs permission to add payments on this commitment."
    return advice


class ProcoreOutage(Exception):
    """Procore kept failing item after item: the push stops; what is left waits for the next run."""


class PaymentPusher:
    """Applies planned actions one at a time; each item's failure stays with that item."""

    def __init__(
        self,
        client: PaymentsClient,
        listings: ContractListings,
        *,
        actor: str,
        blocked_links: set[int] | None = None,
        attempted_origins: set[str] | None = None,
    ) -> None:
        """`attempted_origins`: the origin ids of this run's creates that the journal has a write
        for (journal.origins_with_writes); None: asked of the journal one create at a time."""
        self.client = client
        self.listings = listings
        self.actor = actor
        self.blocked_links = blocked_links or set()
        self.attempted_origins = attempted_origins
        self.counts = PushCounts()
        self._errors_recorded = 0
        self.outages_in_a_row = 0
        self._unlock_finding: bool | None = None

    # -- entry point ------------------------------------------------------------------------

    def apply(self, action: PlannedAction) -> str:
        assert action.link_id is not None, "links are created before the plan is applied"
        if action.link_id in self.blocked_links and action.writes_to_procore:
            outcome = self._fail(
                action,
                ErpStatus.FAILED,
                "an earlier Procore write for this payment could not be checked yet; it is checked "
                "again (never repeated blindly) on the next run",
            )
            self.counts.add(outcome)
            return outcome
        try:
            if action.action == "skip":
                outcome = self._skip(action)
            elif action.action == "create":
                outcome = self._create(action)
            elif action.action in ("update", "void"):
                outcome = self._change(action)
            elif action.action == "flag_deleted":
                outcome = self._flag(action)
            else:
                raise ValueError(f"a push does not {action.action}")
        except ProcoreAuthError:
            raise
        except ProcoreStillLocked as exc:
            outcome = self._fail(action, ErpStatus.NEEDS_ATTENTION, str(exc), awaiting_unlink=True)
            self.outages_in_a_row = 0
        except ProcoreWriteOutcomeUnknown as exc:
            outcome = self._fail(
                action,
                ErpStatus.FAILED,
                f"Procore did not confirm the write ({exc}); "
                "PaySync checks Procore before trying again on the next run",
            )
            self._note_outage()
        except ProcoreRequestError as exc:
            # Not sent again until the payment or its commitment changes, or a person syncs by hand
            # (plan.refusal_key): a refusal is never a failure retried forever.
            outcome = self._fail(
                action,
                ErpStatus.NEEDS_ATTENTION,
                f"Procore refused it: {exc}{_refusal_advice(exc)}",
                held_key=action.extra.get("held_key"),
            )
            self.outages_in_a_row = 0
        except ProcoreError as exc:
            outcome = self._fail(action, ErpStatus.FAILED, f"{exc} It is retried on the next run.")
            self._note_outage()
        except Exception as exc:  # one odd answer never stops the pushes after it
            log.exception("pushing %s failed", action.origin_id)
            outcome = self._fail(
                action,
                ErpStatus.FAILED,
                f"PaySync could not finish this payment ({type(exc).__name__}: {exc}); it is checked against "
                "Procore and tried again on the next run",
            )
        else:
            if action.action != "skip":
                self.outages_in_a_row = 0
        self.counts.add(outcome)
        return outcome

    def _note_outage(self) -> None:
        """Several items in a row failing on Procore's side means Procore is down (or throttling
        hard): stop, instead of spending the retries and backoff of every remaining item."""
        self.outages_in_a_row += 1
        if self.outages_in_a_row >= OUTAGE_LIMIT:
            raise ProcoreOutage(
                f"Procore failed {self.outages_in_a_row} payments in a row; the push stopped early and the "
                "rest wait for the next run."
            )

    # -- outcomes -----------------------------------------------------------------------------

    def _fail(
        self,
        action: PlannedAction,
        status: str,
        reason: str,
        *,
        held_key: str | None = None,
        awaiting_unlink: bool | None = None,
    ) -> str:
        assert action.link_id is not None
        changes: dict[str, Any] = {"held_key": held_key}
        if awaiting_unlink is not None:
            changes["awaiting_unlink"] = awaiting_unlink
        set_link(
            action.link_id, erp_status=status, status_reason=reason, last_attempt_at=utc_now(), **changes
        )
        message = f"{action.extra.get('label', action.origin_id)}: {reason}"
        outcome = OUTCOME_NEEDS_ATTENTION if status == ErpStatus.NEEDS_ATTENTION else OUTCOME_FAILED
        self.counts.problem(outcome, message)
        # One event per failed item, up to a limit per run, so an outage does not flood the list.
        if self._errors_recorded < 50:
            ErrorEvent.create(
                where="procore",
                message=message,
                detail=json.dumps({"link_id": action.link_id, "action": action.action}),
            )
            self._errors_recorded += 1
        return outcome

    def _skip(self, action: PlannedAction) -> str:
        """Record the plan's verdict on the link, writing only what changed (a steady-state push of
        100,000 unchanged payments writes nothing)."""
        assert action.link_id is not None
        reason = None if action.erp_status == ErpStatus.SYNCED else action.reason
        previous = action.extra.get("previous")
        if action.procore_payment_id is None:
            wanted = (action.erp_status, reason, action.invoice_id, action.commitment_id, action.match_reason)
        else:
            wanted = (action.erp_status, reason) + (tuple(previous[2:]) if previous else (None, None, None))
        if previous is None or tuple(previous) != wanted:
            changes: dict[str, Any] = {"erp_status": action.erp_status, "status_reason": reason}
            if action.erp_status == ErpStatus.SYNCED:
                changes.update(awaiting_unlink=False, held_key=None)
            if action.procore_payment_id is None:
                changes.update(
                    invoice=action.invoice_id,
                    commitment=action.commitment_id,
                    match_reason=action.match_reason,
                )
            set_link(action.link_id, **changes)
            if action.erp_status == ErpStatus.NEEDS_ATTENTION:
                # Said once, when it starts (or its reason changes), not on every run.
                ErrorEvent.create(
                    where="engine",
                    message=f"{action.extra.get('label', action.origin_id)}: {action.reason}",
                    detail=json.dumps({"link_id": action.link_id, "origin_id": action.origin_id}),
                )
        if action.erp_status == ErpStatus.NEEDS_ATTENTION:
            return self.counts.problem(
                OUTCOME_NEEDS_ATTENTION, f"{action.extra.get('label', action.origin_id)}: {action.reason}"
            )
        return SKIPPED

    def _ctx(self, action: PlannedAction) -> WriteContext:
        assert (
            action.link_id is not None and action.project_id is not None and action.commitment_id is not None
        )
        return WriteContext(
            action.link_id, action.origin_id, action.project_id, action.commitment_id, self.actor
        )

    def _create(self, action: PlannedAction) -> str:
        ctx = self._ctx(action)
        placed = {
            "invoice": action.invoice_id,
            "commitment": action.commitment_id,
            "match_reason": action.match_reason,
            "last_attempt_at": utc_now(),
        }
        listing = self.listings.cached(ctx.project_id, ctx.contract_id)
        if listing is None and self._must_list(ctx.contract_id, action.origin_id):
            listing = self.listings.get(ctx.project_id, ctx.contract_id)
        existing = listing.find_origin(action.origin_id) if listing is not None else None
        if existing is not None:
            return self._adopt(ctx, action, existing, placed, listing)
        fields = dict(action.fields)
        detail = {"project_id": ctx.project_id, "contract_id": ctx.contract_id, "fields": fields}

        def created_done(created: dict[str, Any]) -> WriteDone:
            changes = observed_link_changes(created, action.origin_id, sent=fields, pushed_json=None)
            return WriteDone(
                link_changes={
                    **changes,
                    "erp_status": ErpStatus.SYNCED,
                    "status_reason": None,
                    "pushed_edit_sequence": action.edit_sequence,
                    "held_key": None,
                },
                audit_detail={**detail, "procore_payment_id": created["id"]},
                procore_payment_id=int(created["id"]),
            )

        def confirmed(answer: dict[str, Any]) -> dict[str, Any]:
            if usable_answer(answer) is not None and answer.get("origin_id") in (None, action.origin_id):
                return answer
            # The answer lacks or garbles what PaySync relies on: read the commitment's payments
            # back once and find ours by origin_id, rather than guess (or post again).
            found = self.listings.refresh(ctx.project_id, ctx.contract_id).find_origin(action.origin_id)
            if found is None or usable_answer(found) is None:
                raise ProcoreWriteOutcomeUnknown(
                    "Procore's answer to the new payment lacks its id or amount, and the payment is not on the "
                    "commitment's list yet; PaySync checks Procore again before doing anything more with it."
                )
            return found

        try:
            created = journaled_procore_call(
                ctx,
                "create",
                lambda: self.client.create_contract_payment(ctx.project_id, ctx.contract_id, fields),
                payment_id=None,
                body=fields,
                audit_detail=detail,
                intent_link_changes=placed,
                on_done=created_done,
                confirm=confirmed,
            )
        except ProcoreRequestError as exc:
            if listing is not None or not _may_mean_already_there(exc):
                raise
            # Procore's answer to a duplicate origin_id is not documented (API-NOTES §12): a refusal
            # that may mean "already there" is checked once against the commitment's listing.
            listing = self.listings.get(ctx.project_id, ctx.contract_id)
            existing = listing.find_origin(action.origin_id)
            if existing is None:
                raise
            return self._adopt(ctx, action, existing, placed, listing)
        cached = self.listings.cached(ctx.project_id, ctx.contract_id)
        if cached is not None:
            cached.put(created)
        return CREATED

    def _must_list(self, contract_id: int, origin_id: str) -> bool:
        """Whether the journal cannot answer "is it already in Procore?" for this create: an earlier
        attempt is on record, or this database never listed the commitment (or saw the origin id
        there unclaimed)."""
        if self.attempted_origins is None:
            attempted = bool(origins_with_writes([origin_id]))
        else:
            attempted = origin_id in self.attempted_origins
        return attempted or self.listings.must_list_before_create(contract_id, origin_id)

    def _adopt(
        self,
        ctx: WriteContext,
        action: PlannedAction,
        existing: dict[str, Any],
        placed: dict[str, Any],
        listing: ContractListing | None,
    ) -> str:
        """Already in Procore (an earlier run whose record we lost, or an earlier database): adopt
        it, never post twice; bring it to what QuickBooks says if it differs."""
        changes = observed_link_changes(existing, action.origin_id, sent=None, pushed_json=None)
        set_link(ctx.link_id, **placed, **changes)
        audit(self.actor, "procore.adopt", action.origin_id, {"procore_payment_id": existing["id"]})
        if changed_fields(action.fields, changes["pushed_fingerprint"]) or not changes["locked"]:
            self._unlock_patch_relock(ctx, int(existing["id"]), action, listing)
            return UPDATED
        set_link(
            ctx.link_id,
            erp_status=ErpStatus.SYNCED,
            status_reason=None,
            pushed_edit_sequence=action.edit_sequence,
        )
        return SKIPPED

    def _unlock_patch_relock(
        self,
        ctx: WriteContext,
        payment_id: int,
        action: PlannedAction,
        listing: ContractListing | None,
        *,
        already_unlinked: bool = False,
    ) -> dict[str, Any]:
        return unlock_patch_relock(
            self.client,
            ctx,
            payment_id=payment_id,
            fields=action.fields,
            origin_data=action.fields.get("origin_data"),
            listing=listing,
            done_changes={
                "erp_status": ErpStatus.SYNCED,
                "status_reason": None,
                "pushed_edit_sequence": action.edit_sequence,
                "last_attempt_at": utc_now(),
                "held_key": None,
                "awaiting_unlink": False,
            },
            already_unlinked=already_unlinked,
        )

    def _change(self, action: PlannedAction) -> str:
        assert action.procore_payment_id is not None
        ctx = self._ctx(action)
        set_link(ctx.link_id, last_attempt_at=utc_now())
        if action.extra.get("awaiting_unlink"):
            # Procore kept it locked last time: look (one listing per commitment per run) whether an
            # accounting approver has unlinked it since; until then nothing is written.
            listing = self.listings.get(ctx.project_id, ctx.contract_id)
            current = listing.by_id.get(action.procore_payment_id)
            if current is None:
                return self._fail(
                    action,
                    ErpStatus.NEEDS_ATTENTION,
                    f"Procore payment {action.procore_payment_id} is no longer on its commitment (deleted in "
                    "Procore?); PaySync will not recreate it on its own",
                    awaiting_unlink=False,
                )
            if current.get("origin_id"):
                return self._still_waiting_for_unlink(action)
            self._unlock_patch_relock(ctx, action.procore_payment_id, action, listing, already_unlinked=True)
        elif self._unlock_known_not_to_work():
            # `paysync doctor --probe` found that clearing origin_id does not unlock a payment here:
            # trying would only leave a failed write; a person must unlink it first.
            return self._fail(
                action,
                ErpStatus.NEEDS_ATTENTION,
                "Procore keeps a synced payment locked when PaySync clears its origin id (found by "
                "`paysync doctor --probe`), so PaySync did not try to change it: waiting for an accounting "
                f"approver to unlink it. {UNLINK_INSTRUCTION}",
                awaiting_unlink=True,
            )
        else:
            listing_or_none = self.listings.cached(ctx.project_id, ctx.contract_id)
            self._unlock_patch_relock(ctx, action.procore_payment_id, action, listing_or_none)
        return VOIDED if action.action == "void" else UPDATED

    def _unlock_known_not_to_work(self) -> bool:
        """The doctor's stored finding, read once per push."""
        if self._unlock_finding is None:
            self._unlock_finding = unlock_known_not_to_work()
        return self._unlock_finding

    def _still_waiting_for_unlink(self, action: PlannedAction) -> str:
        """Still locked in Procore: the reason given the first time stands; nothing is written."""
        assert action.link_id is not None
        reason = str(
            action.extra.get("waiting_reason")
            or f"waiting for an accounting approver to unlink it. {UNLINK_INSTRUCTION}"
        )
        set_link(
            action.link_id,
            erp_status=ErpStatus.NEEDS_ATTENTION,
            status_reason=reason,
            last_attempt_at=utc_now(),
        )
        return self.counts.problem(
            OUTCOME_NEEDS_ATTENTION, f"{action.extra.get('label', action.origin_id)}: {reason}"
        )

    def _flag(self, action: PlannedAction) -> str:
        assert action.procore_payment_id is not None
        ctx = self._ctx(action)
        if action.changes or not action.locked:
            # Bring it to what QuickBooks last said (or just lock it again), then flag it.
            unlock_patch_relock(
                self.client,
                ctx,
                payment_id=action.procore_payment_id,
                fields=action.fields if action.changes else {},
                origin_data=action.fields.get("origin_data"),
                listing=self.listings.cached(ctx.project_id, ctx.contract_id),
            )
        reason = (
            f"deleted in QuickBooks; Procore payment {action.procore_payment_id} is kept (never deleted "
            "automatically). An Admin may retract it explicitly, with confirmation"
        )
        set_link(
            ctx.link_id,
            erp_status=ErpStatus.DELETED_IN_QUICKBOOKS,
            status_reason=reason,
            last_attempt_at=utc_now(),
        )
        if action.extra.get("already_flagged"):
            return UPDATED
        ErrorEvent.create(
            where="engine",
            message=(
                f"A QuickBooks payment was deleted after it was synced ({action.origin_id}, "
                f"{action.amount}): Procore payment {action.procore_payment_id} was kept and flagged. "
                "Retract it from the console (Admin, with confirmation) if it should go."
            ),
            detail=json.dumps({"link_id": ctx.link_id, "procore_payment_id": action.procore_payment_id}),
        )
        audit(
            self.actor,
            "engine.flag_deleted",
            action.origin_id,
            {"link_id": ctx.link_id, "procore_payment_id": action.procore_payment_id},
        )
        return FLAGGED


def prepare_links(actions: list[PlannedAction], *, chunk: int = 500) -> None:
    """Give every action a PaymentLink before anything is written to Procore.

    New applications get their link (with the plan's status: waiting, needs attention, not
    synced), and links about to be written are marked waiting, so the status counts are right
    even if the push is stopped halfway.
    """
    now = utc_now()
    new = [a for a in actions if a.link_id is None]
    for start in range(0, len(new), chunk):
        part = new[start : start + chunk]
        rows = [
            {
                "application": a.application_id,
                "origin_id": a.origin_id,
                "invoice": a.invoice_id,
                "commitment": a.commitment_id,
                "match_reason": a.match_reason,
                "erp_status": a.erp_status,
                "status_reason": None if a.erp_status in (ErpStatus.SYNCED, ErpStatus.WAITING) else a.reason,
                "updated_at": now,
            }
            for a in part
        ]
        with models.database_proxy.atomic():
            PaymentLink.insert_many(rows).on_conflict_ignore().execute()
        ids: dict[int, int] = dict(
            tuple_rows(
                PaymentLink.select(PaymentLink.application, PaymentLink.id).where(
                    PaymentLink.application.in_([a.application_id for a in part])
                )
            )
        )
        for action in part:
            found = ids.get(action.application_id)
            action.link_id = int(found) if found is not None else None
    pending = [
        a.link_id for a in actions if a.link_id is not None and a.action != "skip" and a.procore_payment_id
    ]
    for start in range(0, len(pending), chunk):
        PaymentLink.update(erp_status=ErpStatus.WAITING, updated_at=now).where(
            PaymentLink.id.in_(pending[start : start + chunk])
        ).execute()
