"""The plan: what a push would do for every bill payment application, computed without writing.

`compute_plan()` reads one snapshot (see snapshot.py) and returns one `PlannedAction` per
application: create, update, void, flag_deleted or skip, each with its reason. It writes nothing,
not even to our database, so the console can show it as a preview. `apply.py` carries it out.
After a successful push a second plan is all skips.

Memory: `compute_plan()` is `iter_plan()`'s stream, one application at a time, so what is held is
the plan itself, the commitments and vendors, and only the invoices that applications not yet in
Procore can match. The action of an unchanged payment (nearly all of a steady-state push) is held
compact: its reason, fields and extra are made when read. A push with nothing to send at 100,000
payments peaks at about 125 MB, of which 55 MB is the interpreter and its modules
(`bench/bench_plan.py`).

Long because the plan is one decision table: every action kind (create, update, void, flag, skip,
needs attention) is decided here side by side, so a rule and its exceptions read together.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Literal

from storage.vocabulary import ErpStatus
from sync.engine.currency import currency_hold
from sync.engine.desired import (
    ZERO,
    changed_fields,
    describe_changes,
    desired_amount,
    desired_for_invoice,
    desired_payment,
    origin_data,
)
from sync.engine.matching import MatchIndex, MatchResult, PartialMatchIndex, match_bill_to_invoice
from sync.engine.snapshot import (
    ApplicationRow,
    CommitmentRow,
    InvoiceRow,
    LinkRow,
    MappingRow,
    ProjectScope,
    Snapshot,
    iter_invoices,
    iter_plan_rows,
    iter_unplaced_bills,
    load_application,
    load_bill_ref_number,
    load_reference,
)

ActionKind = Literal["create", "update", "void", "flag_deleted", "skip", "retract"]
_PUBLIC = (
    "action",
    "origin_id",
    "link_id",
    "application_id",
    "commitment_id",
    "invoice_id",
    "amount",
    "reason",
    "fields",
    "erp_status",
    "project_id",
    "procore_payment_id",
    "match_reason",
    "changes",
    "locked",
    "edit_sequence",
    "extra",
)


class PlannedAction:
    """One application's next step. The first nine fields are what the console shows.

    Most actions of a steady-state push say "unchanged": those are held compact (see
    `_unchanged()`), and their reason, fields and extra are made only when read, since a push
    holds one action per application (100,000 of them) until it is done.
    """

    __slots__ = (
        "action",
        "origin_id",
        "link_id",
        "application_id",
        "commitment_id",
        "invoice_id",
        "amount",
        "_reason",
        "_fields",
        "erp_status",
        "project_id",
        "procore_payment_id",
        "match_reason",
        "changes",
        "locked",
        "edit_sequence",
        "_extra",
        "_link_status",
        "_link_status_reason",
    )

    def __init__(
        self,
        action: ActionKind,
        origin_id: str,
        link_id: int | None,
        application_id: int,
        commitment_id: int | None,
        invoice_id: int | None,
        amount: Decimal,
        reason: str | None,
        fields: dict[str, Any] | None,
        # What the engine needs to carry it out, and the status it leaves behind.
        erp_status: ErpStatus = ErpStatus.WAITING,
        project_id: int | None = None,
        procore_payment_id: int | None = None,
        match_reason: str | None = None,
        changes: tuple[str, ...] = (),
        locked: bool = False,
        edit_sequence: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.action = action
        self.origin_id = origin_id
        self.link_id = link_id
        self.application_id = application_id
        self.commitment_id = commitment_id
        self.invoice_id = invoice_id
        self.amount = amount
        self._reason = reason  # None: the unchanged reason, made when read
        self._fields = fields  # None: none, an empty dict made when read
        self.erp_status = erp_status
        self.project_id = project_id
        self.procore_payment_id = procore_payment_id
        self.match_reason = match_reason
        self.changes = changes
        self.locked = locked
        self.edit_sequence = edit_sequence
        self._extra: dict[str, Any] | None = extra if extra is not None else {}
        self._link_status: str | None = None
        self._link_status_reason: str | None = None

    @property
    def reason(self) -> str:
        if self._reason is None:
            return f"in Procore as payment {self.procore_payment_id}, unchanged"
        return self._reason

    @reason.setter
    def reason(self, value: str) -> None:
        self._reason = value

    @property
    def fields(self) -> dict[str, Any]:
        if self._fields is None:
            self._fields = {}
        return self._fields

    @fields.setter
    def fields(self, value: dict[str, Any]) -> None:
        self._fields = value

    @property
    def extra(self) -> Mapping[str, Any]:
        """What apply.py reads besides the fields: the label, the link's previous state, ..."""
        return self._extra if self._extra is not None else _UnchangedExtra(self)

    def hold_compact(self, link_status: str, link_status_reason: str | None) -> None:
        """Make `extra` when read (`_UnchangedExtra`): the link's status and reason, with the
        action's own invoice, commitment and match reason, are its previous state."""
        self._extra = None
        self._link_status = link_status
        self._link_status_reason = link_status_reason

    @property
    def writes_to_procore(self) -> bool:
        return self.action in ("create", "update", "void", "retract") or (
            self.action == "flag_deleted" and (bool(self.changes) or not self.locked)
        )

    def _values(self) -> tuple[Any, ...]:
        extra = self.extra
        return tuple(
            {key: extra.get(key) for key in extra} if name == "extra" else getattr(self, name)
            for name in _PUBLIC
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlannedAction):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as a dataclass)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in _PUBLIC
            if name != "extra" or self._extra is not None
        )
        return f"PlannedAction({shown})"


class _UnchangedExtra(Mapping[str, Any]):
    """The extra of a compact unchanged action: the link's previous state from the action's own
    values, and the label read again from the database when asked for (only a problem needs it)."""

    __slots__ = ("_action",)

    def __init__(self, action: PlannedAction) -> None:
        self._action = action

    def __getitem__(self, key: str) -> Any:
        action = self._action
        if key == "previous":
            return (
                action._link_status,
                action._link_status_reason,
                action.invoice_id,
                action.commitment_id,
                action.match_reason,
            )
        if key == "label":
            label = _label_from_database(action.application_id)
            if label is not None:
                return label
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("label", "previous"))

    def __len__(self) -> int:
        return 2


def _label_from_database(application_id: int) -> str | None:
    app = load_application(application_id)
    if app is None:
        return None
    return describe_application(
        app, app.bill_ref_number or load_bill_ref_number(app.file_key, app.bill_txn_id)
    )


def describe_application(app: ApplicationRow, bill_ref: str | None) -> str:
    """How a person recognises the payment: "check 10452 to Acme Concrete, bill ACME-2411, 5000.00"."""
    what = "check" if app.kind == "check" else "credit card payment"
    number = f" {app.ref_number}" if app.ref_number else ""
    vendor = app.vendor_name or app.vendor_list_id or "(no vendor)"
    return f"QuickBooks {what}{number} to {vendor}, bill {bill_ref or app.bill_txn_id}, {app.amount}"


def _previous(link: LinkRow | None) -> tuple[Any, ...] | None:
    if link is None:
        return None
    return (link.erp_status, link.status_reason, link.invoice_id, link.commitment_id, link.match_reason)


def refusal_key(app: ApplicationRow, commitment: CommitmentRow | None, link: LinkRow | None) -> str:
    """What the payment and its commitment looked like when Procore refused it. A refusal is not
    sent again until this changes (the payment is edited in QuickBooks, the commitment in Procore,
    the payment number in PaySync) or a person syncs by hand: never a failure retried forever."""
    return "|".join(
        (
            app.edit_sequence,
            str(commitment.id) if commitment is not None else "",
            commitment.updated_at or "" if commitment is not None else "",
            str(link.payment_number) if link is not None and link.payment_number is not None else "",
        )
    )


def _refused_before(link: LinkRow | None, key: str, retry_refused: bool) -> bool:
    return not retry_refused and link is not None and link.held_key is not None and link.held_key == key


def cutoff_reason(cutoff: str | None) -> str:
    when = f" on {cutoff}" if cutoff else ""
    return (
        f"created in QuickBooks before the sync schedule was first configured{when}: "
        "pre-existing payments are never synced"
    )


def _invoice_fields_from_pushed(link: LinkRow) -> dict[str, Any]:
    """The invoice fields Procore holds, for a payment whose invoice left our copy of Procore."""
    if not link.pushed_fields:
        return {}
    try:
        pushed = json.loads(link.pushed_fields)
    except ValueError:
        return {}
    if not isinstance(pushed, dict):
        return {}
    return {name: pushed.get(name) for name in ("invoice_number", "requisition_id", "draw_request_number")}


def _unchanged(app: ApplicationRow, link: LinkRow, project_id: int, contract_id: int) -> PlannedAction:
    """The skip of a payment Procore holds as QuickBooks says: held compact, since a steady-state
    push holds 100,000 of them. What it would hold beside the rest (its reason, its label, the
    link's previous state) is made from its own values when read, the label from the database."""
    action = PlannedAction(
        action="skip",
        origin_id=link.origin_id,
        link_id=link.id,
        application_id=app.application_id,
        commitment_id=contract_id,  # the link's, as one object shared by the commitment's actions
        invoice_id=link.invoice_id,
        amount=desired_amount(app),
        reason=None,
        fields=None,
        erp_status=ErpStatus.SYNCED,
        project_id=project_id,
        procore_payment_id=link.procore_payment_id,
        match_reason=link.match_reason,
        locked=link.locked,
        edit_sequence=app.edit_sequence,
    )
    action.hold_compact(link.erp_status, link.status_reason)
    return action


def _plan_in_procore(
    app: ApplicationRow,
    link: LinkRow,
    invoice: InvoiceRow | None,
    snapshot: Snapshot,
    bill_ref: str | None,
    retry_refused: bool = False,
) -> PlannedAction:
    """An application whose Procore payment exists: keep it exactly as QuickBooks says.
    `invoice`: the invoice the link was placed on, if it is still in our copy of Procore."""
    assert link.procore_payment_id is not None
    commitment = snapshot.commitments.get(link.commitment_id) if link.commitment_id is not None else None
    if commitment is not None:
        project_id, contract_id = commitment.project_id, commitment.id
    elif link.id in snapshot.written_contracts:
        project_id, contract_id = snapshot.written_contracts[link.id]
    else:
        return PlannedAction(
            action="skip",
            origin_id=link.origin_id,
            link_id=link.id,
            application_id=app.application_id,
            commitment_id=link.commitment_id,
            invoice_id=link.invoice_id,
            amount=app.amount,
            reason=(
                f"Procore payment {link.procore_payment_id}'s commitment is no longer in PaySync's copy "
                "of Procore; refresh from Procore"
            ),
            fields={},
            erp_status=ErpStatus.NEEDS_ATTENTION,
            procore_payment_id=link.procore_payment_id,
            locked=link.locked,
        )

    def planned(
        kind: ActionKind,
        reason: str,
        status: ErpStatus,
        *,
        amount: Decimal,
        fields: dict[str, Any] | None = None,
        changes: tuple[str, ...] = (),
        **more: Any,
    ) -> PlannedAction:
        return PlannedAction(
            action=kind,
            origin_id=link.origin_id,
            link_id=link.id,
            application_id=app.application_id,
            commitment_id=contract_id,
            invoice_id=link.invoice_id,
            amount=amount,
            reason=reason,
            fields=fields or {},
            erp_status=status,
            project_id=project_id,
            procore_payment_id=link.procore_payment_id,
            match_reason=link.match_reason,
            changes=changes,
            locked=link.locked,
            edit_sequence=app.edit_sequence,
            extra={"label": describe_application(app, bill_ref), "previous": _previous(link), **more},
        )

    if invoice is not None:
        desired = desired_for_invoice(
            app, invoice, bill_ref_number=bill_ref, payment_number=link.payment_number
        )
    else:
        kept = _invoice_fields_from_pushed(link)
        desired = desired_payment(
            app,
            invoice_number=kept.get("invoice_number"),
            requisition_id=kept.get("requisition_id"),
            draw_request_number=kept.get("draw_request_number"),
            bill_ref_number=bill_ref,
            payment_number=link.payment_number,
        )
    changes = changed_fields(desired, link.pushed_fields)
    if not app.deleted:
        # Held: nothing is written while QuickBooks' figures cannot be trusted or the currencies differ.
        held = app.hold_reason or currency_hold(app, commitment, snapshot.currencies)
        if held:
            return planned("skip", held, ErpStatus.NEEDS_ATTENTION, amount=app.amount)
        key = refusal_key(app, commitment, link)
        if (
            (changes or not link.locked)
            and _refused_before(link, key, retry_refused)
            and not link.awaiting_unlink
        ):
            return planned(
                "skip",
                link.status_reason or "Procore refused this change earlier; sync by hand to try again",
                ErpStatus.NEEDS_ATTENTION,
                amount=app.amount,
            )
    if app.deleted:
        # Flagged, never deleted. Procore is first brought to the last state PaySync saw in
        # QuickBooks (an edit or void seen before the deletion), so it holds what QuickBooks said.
        already = link.erp_status == ErpStatus.DELETED_IN_QUICKBOOKS
        if already and link.locked and not changes:
            return planned(
                "skip",
                f"deleted in QuickBooks; Procore payment {link.procore_payment_id} is kept (flagged). "
                "An Admin may retract it explicitly",
                ErpStatus.DELETED_IN_QUICKBOOKS,
                amount=app.amount,
            )
        reason = (
            f"deleted in QuickBooks: flag Procore payment {link.procore_payment_id}; it is never deleted "
            "automatically"
        )
        if changes:
            reason += f" (first {describe_changes(changes, desired, link.pushed_fields)})"
        elif not link.locked:
            reason += " (and lock it again: an interrupted change left it unlocked)"
        return planned(
            "flag_deleted",
            reason,
            ErpStatus.DELETED_IN_QUICKBOOKS,
            amount=desired_amount(app),
            fields={**desired, "origin_id": link.origin_id, "origin_data": origin_data(app)},
            changes=tuple(changes),
            already_flagged=already,
        )
    if not changes and link.locked:
        if contract_id == link.commitment_id:
            return _unchanged(app, link, project_id, contract_id)
        return planned(
            "skip",
            f"in Procore as payment {link.procore_payment_id}, unchanged",
            ErpStatus.SYNCED,
            amount=desired_amount(app),
        )
    kind: ActionKind = "update"
    if not changes:
        reason = (
            f"lock Procore payment {link.procore_payment_id} again: an interrupted change left it unlocked"
        )
    elif app.is_void and "amount" in changes:
        reason = (
            f"voided in QuickBooks: set Procore payment {link.procore_payment_id} to 0.00 and note the void"
        )
        kind = "void"
    elif changes == ["payment_number"]:
        reason = f"payment number set in PaySync: {describe_changes(changes, desired, link.pushed_fields)}"
    else:
        reason = f"changed in QuickBooks: {describe_changes(changes, desired, link.pushed_fields)}"
    body = {**desired, "origin_id": link.origin_id, "origin_data": origin_data(app)}
    more: dict[str, Any] = {"held_key": refusal_key(app, commitment, link)}
    if link.awaiting_unlink:
        # Procore kept it locked: the change is applied once the payment shows unlinked (apply.py).
        more.update(awaiting_unlink=True, waiting_reason=link.status_reason)
    return planned(
        kind,
        reason,
        ErpStatus.WAITING,
        amount=desired_amount(app),
        fields=body,
        changes=tuple(changes),
        **more,
    )


# How the plan finds the invoice of an application not yet in Procore: (the application, its bill
# number) -> the match.
Matcher = Callable[[ApplicationRow, str | None], MatchResult]


def _matcher(
    index: MatchIndex | PartialMatchIndex,
    mappings: dict[tuple[str, str], MappingRow] | None = None,
    scope: ProjectScope | None = None,
) -> Matcher:
    """`mappings`: the bills a person placed by hand (they override the number rule); `scope`: which
    Procore projects each company file's bills may match (several company files)."""
    confirmed = mappings or {}

    def match(app: ApplicationRow, bill_ref: str | None) -> MatchResult:
        whole = index if isinstance(index, MatchIndex) else index.for_bill(app.bill_txn_id, bill_ref)
        return match_bill_to_invoice(
            whole,
            bill_txn_id=app.bill_txn_id,
            bill_ref_number=bill_ref,
            vendor_list_id=app.vendor_list_id,
            vendor_name=app.vendor_name,
            confirmed=confirmed.get((app.file_key, app.bill_txn_id)) if confirmed else None,
            in_scope=scope.for_file(app.file_key) if scope is not None else None,
            vendor_in_scope=scope.vendor_test(app.file_key) if scope is not None else None,
        )

    return match


def plan_application(
    app: ApplicationRow,
    link: LinkRow | None,
    snapshot: Snapshot,
    index: MatchIndex,
    *,
    retry_refused: bool = False,
) -> PlannedAction:
    """One application's action, from a whole snapshot."""
    invoice = (
        snapshot.invoices.get(link.invoice_id) if link is not None and link.invoice_id is not None else None
    )
    return _plan(
        app, link, invoice, snapshot, _matcher(index, snapshot.mappings, snapshot.scope), retry_refused
    )


def _plan(
    app: ApplicationRow,
    link: LinkRow | None,
    linked_invoice: InvoiceRow | None,
    snapshot: Snapshot,
    match_invoice: Matcher,
    retry_refused: bool,
) -> PlannedAction:
    """One application's action. `linked_invoice`: the invoice its link was placed on, if it is still
    in our copy of Procore; `snapshot`: everything but the applications, links and invoices."""
    bill_ref = app.bill_ref_number or snapshot.bill_ref_numbers.get((app.file_key, app.bill_txn_id))
    if link is not None and link.procore_payment_id is not None:
        return _plan_in_procore(app, link, linked_invoice, snapshot, bill_ref, retry_refused)
    link_id = link.id if link is not None else None

    def skip(reason: str, status: ErpStatus, **extra: Any) -> PlannedAction:
        return PlannedAction(
            action="skip",
            origin_id=app.origin_id,
            link_id=link_id,
            application_id=app.application_id,
            commitment_id=extra.get("commitment_id"),
            invoice_id=extra.get("invoice_id"),
            amount=app.amount,
            reason=reason,
            fields={},
            erp_status=status,
            project_id=extra.get("project_id"),
            match_reason=extra.get("match_reason"),
            edit_sequence=app.edit_sequence,
            extra={"label": describe_application(app, bill_ref), "previous": _previous(link)},
        )

    if app.pre_existing:
        return skip(cutoff_reason(snapshot.cutoff_for(app.file_key)), ErpStatus.NOT_SYNCED)
    if app.deleted:
        if link is not None and link.erp_status == ErpStatus.NOT_SYNCED and link.status_reason:
            return skip(link.status_reason, ErpStatus.NOT_SYNCED)  # e.g. retracted from Procore by an Admin
        return skip(
            "deleted in QuickBooks before it was synced: nothing to record in Procore", ErpStatus.NOT_SYNCED
        )
    if app.hold_reason:
        return skip(app.hold_reason, ErpStatus.NEEDS_ATTENTION)
    match = match_invoice(app, bill_ref)
    if match.invoice is None:
        return skip(match.reason, ErpStatus.NEEDS_ATTENTION, match_reason=match.reason)
    invoice = match.invoice
    placed = {
        "commitment_id": invoice.commitment_id,
        "invoice_id": invoice.id,
        "project_id": invoice.project_id,
        "match_reason": match.reason,
    }
    if desired_amount(app) == ZERO:
        why = (
            "voided in QuickBooks before it was synced: nothing to record in Procore"
            if app.is_void
            else "nothing applied to this bill (0.00): nothing to record in Procore"
        )
        return skip(why, ErpStatus.NOT_SYNCED, **placed)
    commitment = snapshot.commitments.get(invoice.commitment_id)
    held = currency_hold(app, commitment, snapshot.currencies)
    if held:
        return skip(held, ErpStatus.NEEDS_ATTENTION, **placed)
    key = refusal_key(app, commitment, link)
    if _refused_before(link, key, retry_refused):
        assert link is not None
        return skip(
            link.status_reason or "Procore refused this payment earlier; sync by hand to try again",
            ErpStatus.NEEDS_ATTENTION,
            **placed,
        )
    desired = desired_for_invoice(
        app, invoice, bill_ref_number=bill_ref, payment_number=link.payment_number if link else None
    )
    where = commitment.label if commitment is not None else f"commitment {invoice.commitment_id}"
    origin_id = app.origin_id  # built on each read: one copy for the action and its fields
    return PlannedAction(
        action="create",
        origin_id=origin_id,
        link_id=link_id,
        application_id=app.application_id,
        commitment_id=invoice.commitment_id,
        invoice_id=invoice.id,
        amount=desired_amount(app),
        reason=f"new: {desired['amount']} on {where}, invoice {invoice.invoice_number} ({match.reason})",
        fields={**desired, "origin_id": origin_id, "origin_data": origin_data(app)},
        erp_status=ErpStatus.WAITING,
        project_id=invoice.project_id,
        match_reason=match.reason,
        edit_sequence=app.edit_sequence,
        extra={"label": describe_application(app, bill_ref), "previous": _previous(link), "held_key": key},
    )


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Planning builds hundreds of thousands of small acyclic objects; the cyclic collector would
    scan them again and again for nothing (a third of the time at 100,000 payments)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def iter_plan(*, retry_refused: bool = False) -> Iterator[PlannedAction]:
    """One PlannedAction per bill payment application, in application order, as a stream: the
    applications are read with their links and linked invoices one at a time (`iter_plan_rows()`),
    and of our copy of Procore only the commitments, the vendors and the invoices that the
    applications not yet in Procore can match are held (`PartialMatchIndex`). Reads only."""
    reference = load_reference(invoices=False)
    refs = reference.bill_ref_numbers
    index = PartialMatchIndex(
        ((txn_id, ref or refs.get((file_key, txn_id))) for file_key, txn_id, ref in iter_unplaced_bills()),
        iter_invoices,
        reference.commitments,
        reference.vendors,
    )
    match_invoice = _matcher(index, reference.mappings, reference.scope)
    for app, link, invoice in iter_plan_rows():
        yield _plan(app, link, invoice, reference, match_invoice, retry_refused)


def compute_plan(snapshot: Snapshot | None = None, *, retry_refused: bool = False) -> list[PlannedAction]:
    """One PlannedAction per bill payment application. Reads only; writes nothing anywhere.

    Without a snapshot, the plan is `iter_plan()`'s stream, so only the commitments, vendors, the
    few invoices matching needs and the plan itself are held at once (an unchanged payment's action
    is held compact). `retry_refused` (a person asked for this sync) sends again what Procore refused
    before, though nothing changed."""
    with _without_cyclic_gc():
        if snapshot is None:
            return list(iter_plan(retry_refused=retry_refused))
        index = MatchIndex(snapshot.invoices.values(), snapshot.commitments, snapshot.vendors)
        return [
            plan_application(
                app,
                snapshot.links_by_application.get(app.application_id),
                snapshot,
                index,
                retry_refused=retry_refused,
            )
            for app in snapshot.applications
        ]
