"""Carrying out the plan against Procore, every write journaled (DESIGN rules 4 and 5).

- create: look for the origin_id in the contract's listing first (one listing per contract per
  run); adopt a payment already there, else POST with origin_id set, which locks it.
- update / void / a new payment number: `unlock_patch_relock(...)`, the only place that changes a
  synced payment.
- flag_deleted: never a DELETE (a payment deleted in QuickBooks is never deleted automatically);
  the payment is only brought to the last state PaySync saw in QuickBooks, then flagged.
- `retract(...)`: the explicit Admin operation behind SyncService.retract_payment: unlock, DELETE.

Errors stay with their item: a 4xx is *needs attention* with Procore's message, a 429/5xx or an
unknown outcome is *failed* (retried next run), and the other items carry on. A broken sign-in
(ProcoreAuthError) stops the run, since every later request would fail the same way; so does an
outage (OUTAGE_LIMIT items in a row failing on Procore's side), leaving the rest for the next run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from storage import models
from storage.fields import utc_now
from sync.engine.desired import FIELD_LABELS, changed_fields, comparable
from sync.engine.journal import (
    ContractListing,
    ContractListings,
    PaymentsClient,
    audit,
    finish_write,
    observed_link_changes,
    record_intent,
)
from sync.engine.plan import (
    DELETED_IN_QUICKBOOKS,
    FAILED,
    NEEDS_ATTENTION,
    NOT_SYNCED,
    SYNCED,
    PlannedAction,
)
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreRequestError,
    ProcoreWriteOutcomeUnknown,
)

PaymentLink: Any = models.PaymentLink
ErrorEvent: Any = models.ErrorEvent

T = TypeVar("T")
log = logging.getLogger("paysync.engine")

OUTAGE_LIMIT = 5  # items failing in a row on Procore's side before a push stops early


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


# Outcomes counted in the summary.
CREATED, UPDATED, VOIDED, FLAGGED, SKIPPED = "created", "updated", "voided", "flagged", "skipped"
OUTCOME_NEEDS_ATTENTION, OUTCOME_FAILED = "needs_attention", "failed"


@dataclass(frozen=True)
class PaymentProblem:
    """One payment that needs attention or failed in a push, as the summary lists it."""

    outcome: str  # OUTCOME_NEEDS_ATTENTION | OUTCOME_FAILED
    message: str  # "QuickBooks check 10452 to Acme Concrete, bill ACME-2411, 5000.00: <reason>"


@dataclass
class PushCounts:
    """What a push did. The payments that need attention or failed are a list, one entry each, and
    their counts are that list's: a summary never says "Failed: 4" beside five failed payments."""

    created: int = 0
    updated: int = 0
    voided: int = 0
    flagged: int = 0
    skipped: int = 0
    problems: list[PaymentProblem] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        if outcome in (OUTCOME_NEEDS_ATTENTION, OUTCOME_FAILED):
            return  # counted by the problem recorded with it
        setattr(self, outcome, getattr(self, outcome) + 1)

    def problem(self, outcome: str, message: str) -> str:
        self.problems.append(PaymentProblem(outcome, message))
        return outcome

    @property
    def needs_attention(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_NEEDS_ATTENTION)

    @property
    def failed(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_FAILED)


@dataclass(frozen=True)
class WriteContext:
    """Where one Procore payment lives and who is writing."""

    link_id: int
    origin_id: str
    project_id: int
    contract_id: int
    actor: str


def _set_link(link_id: int, **changes: Any) -> None:
    PaymentLink.update(**changes, updated_at=utc_now()).where(PaymentLink.id == link_id).execute()


def _pushed_json(link_id: int) -> str | None:
    row = PaymentLink.select(PaymentLink.pushed_fingerprint).where(PaymentLink.id == link_id).first()
    return row.pushed_fingerprint if row is not None else None


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


def _journaled_patch(
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


def _unlock(client: PaymentsClient, ctx: WriteContext, payment_id: int) -> None:
    """PATCH origin_id -> null; the link is marked unlocked in the same commit as the intent."""
    _journaled_patch(
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
        return _journaled_patch(
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
            _set_link(ctx.link_id, locked=seen.get("origin_id") == ctx.origin_id)
            raise ProcoreStillLocked(
                f"Procore kept the origin id of payment {payment_id} after PaySync cleared it, so it stays "
                f"locked as synced with an ERP system. {UNLINK_INSTRUCTION}"
            )
    if patch_fields:
        try:
            _journaled_patch(client, ctx, operation="patch", payment_id=payment_id, fields=patch_fields)
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
    result = _journaled_patch(
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
        _set_link(ctx.link_id, locked=False)  # the next run locks it again
    if listing is not None:
        listing.put(seen if seen.get("id") is not None else result)
    return result


class PaymentPusher:
    """Applies planned actions one at a time; each item's failure stays with that item."""

    def __init__(
        self,
        client: PaymentsClient,
        listings: ContractListings,
        *,
        actor: str,
        blocked_links: set[int] | None = None,
    ) -> None:
        self.client = client
        self.listings = listings
        self.actor = actor
        self.blocked_links = blocked_links or set()
        self.counts = PushCounts()
        self._errors_recorded = 0
        self.outages_in_a_row = 0

    # -- entry point ------------------------------------------------------------------------

    def apply(self, action: PlannedAction) -> str:
        assert action.link_id is not None, "links are created before the plan is applied"
        if action.link_id in self.blocked_links and action.writes_to_procore:
            outcome = self._fail(
                action,
                FAILED,
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
            outcome = self._fail(action, NEEDS_ATTENTION, str(exc), awaiting_unlink=True)
            self.outages_in_a_row = 0
        except ProcoreWriteOutcomeUnknown as exc:
            outcome = self._fail(
                action,
                FAILED,
                f"Procore did not confirm the write ({exc}); "
                "PaySync checks Procore before trying again on the next run",
            )
            self._note_outage()
        except ProcoreRequestError as exc:
            # Not sent again until the payment or its commitment changes, or a person syncs by hand
            # (plan.refusal_key): a refusal is never a failure retried forever.
            outcome = self._fail(
                action,
                NEEDS_ATTENTION,
                f"Procore refused it: {exc}{_refusal_advice(exc)}",
                held_key=action.extra.get("held_key"),
            )
            self.outages_in_a_row = 0
        except ProcoreError as exc:
            outcome = self._fail(action, FAILED, f"{exc} It is retried on the next run.")
            self._note_outage()
        except Exception as exc:  # one odd answer never stops the pushes after it
            log.exception("pushing %s failed", action.origin_id)
            outcome = self._fail(
                action,
                FAILED,
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
        _set_link(
            action.link_id, erp_status=status, status_reason=reason, last_attempt_at=utc_now(), **changes
        )
        message = f"{action.extra.get('label', action.origin_id)}: {reason}"
        outcome = OUTCOME_NEEDS_ATTENTION if status == NEEDS_ATTENTION else OUTCOME_FAILED
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
        reason = None if action.erp_status == SYNCED else action.reason
        previous = action.extra.get("previous")
        if action.procore_payment_id is None:
            wanted = (action.erp_status, reason, action.invoice_id, action.commitment_id, action.match_reason)
        else:
            wanted = (action.erp_status, reason) + (tuple(previous[2:]) if previous else (None, None, None))
        if previous is None or tuple(previous) != wanted:
            changes: dict[str, Any] = {"erp_status": action.erp_status, "status_reason": reason}
            if action.erp_status == SYNCED:
                changes.update(awaiting_unlink=False, held_key=None)
            if action.procore_payment_id is None:
                changes.update(
                    invoice=action.invoice_id,
                    commitment=action.commitment_id,
                    match_reason=action.match_reason,
                )
            _set_link(action.link_id, **changes)
            if action.erp_status == NEEDS_ATTENTION:
                # Said once, when it starts (or its reason changes), not on every run.
                ErrorEvent.create(
                    where="engine",
                    message=f"{action.extra.get('label', action.origin_id)}: {action.reason}",
                    detail=json.dumps({"link_id": action.link_id, "origin_id": action.origin_id}),
                )
        if action.erp_status == NEEDS_ATTENTION:
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
        listing = self.listings.get(ctx.project_id, ctx.contract_id)
        placed = {
            "invoice": action.invoice_id,
            "commitment": action.commitment_id,
            "match_reason": action.match_reason,
            "last_attempt_at": utc_now(),
        }
        existing = listing.find_origin(action.origin_id)
        if existing is not None:
            # Already in Procore (an earlier run whose record we lost): adopt it, never post twice.
            changes = observed_link_changes(existing, action.origin_id, sent=None, pushed_json=None)
            _set_link(ctx.link_id, **placed, **changes)
            audit(self.actor, "procore.adopt", action.origin_id, {"procore_payment_id": existing["id"]})
            if changed_fields(action.fields, changes["pushed_fingerprint"]) or not changes["locked"]:
                self._unlock_patch_relock(ctx, int(existing["id"]), action, listing)
                return UPDATED
            _set_link(
                ctx.link_id, erp_status=SYNCED, status_reason=None, pushed_edit_sequence=action.edit_sequence
            )
            return SKIPPED
        fields = dict(action.fields)
        detail = {"project_id": ctx.project_id, "contract_id": ctx.contract_id, "fields": fields}

        def created_done(created: dict[str, Any]) -> WriteDone:
            changes = observed_link_changes(created, action.origin_id, sent=fields, pushed_json=None)
            return WriteDone(
                link_changes={
                    **changes,
                    "erp_status": SYNCED,
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
        listing = self.listings.cached(ctx.project_id, ctx.contract_id) or listing
        listing.put(created)
        return CREATED

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
                "erp_status": SYNCED,
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
        _set_link(ctx.link_id, last_attempt_at=utc_now())
        if action.extra.get("awaiting_unlink"):
            # Procore kept it locked last time: look (one listing per commitment per run) whether an
            # accounting approver has unlinked it since; until then nothing is written.
            listing = self.listings.get(ctx.project_id, ctx.contract_id)
            current = listing.by_id.get(action.procore_payment_id)
            if current is None:
                return self._fail(
                    action,
                    NEEDS_ATTENTION,
                    f"Procore payment {action.procore_payment_id} is no longer on its commitment (deleted in "
                    "Procore?); PaySync will not recreate it on its own",
                    awaiting_unlink=False,
                )
            if current.get("origin_id"):
                return self._still_waiting_for_unlink(action)
            self._unlock_patch_relock(ctx, action.procore_payment_id, action, listing, already_unlinked=True)
        else:
            listing_or_none = self.listings.cached(ctx.project_id, ctx.contract_id)
            self._unlock_patch_relock(ctx, action.procore_payment_id, action, listing_or_none)
        return VOIDED if action.action == "void" else UPDATED

    def _still_waiting_for_unlink(self, action: PlannedAction) -> str:
        """Still locked in Procore: the reason given the first time stands; nothing is written."""
        assert action.link_id is not None
        reason = str(
            action.extra.get("waiting_reason")
            or f"waiting for an accounting approver to unlink it. {UNLINK_INSTRUCTION}"
        )
        _set_link(action.link_id, erp_status=NEEDS_ATTENTION, status_reason=reason, last_attempt_at=utc_now())
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
        _set_link(
            ctx.link_id, erp_status=DELETED_IN_QUICKBOOKS, status_reason=reason, last_attempt_at=utc_now()
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


def retract(client: PaymentsClient, ctx: WriteContext, *, payment_id: int, origin_data: str | None) -> None:
    """Delete a flagged payment from Procore: unlock (journaled, read back), then DELETE (journaled).
    Where Procore keeps it locked, it is locked again and ProcoreStillLocked says who can unlink it."""
    _unlock(client, ctx, payment_id)
    if client.get_contract_payment(payment_id, ctx.project_id, ctx.contract_id).get("origin_id"):
        _set_link(ctx.link_id, locked=True)
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
                "erp_status": NOT_SYNCED,
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
                "status_reason": None if a.erp_status in (SYNCED, "waiting") else a.reason,
                "updated_at": now,
            }
            for a in part
        ]
        with models.database_proxy.atomic():
            PaymentLink.insert_many(rows).on_conflict_ignore().execute()
        ids = dict(
            PaymentLink.select(PaymentLink.application, PaymentLink.id)
            .where(PaymentLink.application.in_([a.application_id for a in part]))
            .tuples()
        )
        for action in part:
            found = ids.get(action.application_id)
            action.link_id = int(found) if found is not None else None
    pending = [
        a.link_id for a in actions if a.link_id is not None and a.action != "skip" and a.procore_payment_id
    ]
    for start in range(0, len(pending), chunk):
        PaymentLink.update(erp_status="waiting", updated_at=now).where(
            PaymentLink.id.in_(pending[start : start + chunk])
        ).execute()
