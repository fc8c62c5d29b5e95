"""Reconciliation: per commitment, what QuickBooks says was paid on the bills PaySync placed there,
against the Payments Issued Procore holds on it now (listed fresh, one list per commitment).

Read-only: nothing is written to Procore or to our database. `SyncService.reconcile()` runs it
with a Procore client; `paysync reconcile` and the console show it (docs/controller.md,
"Reconciliation").

Per commitment, in its currency:

- `quickbooks`: the amounts applied to the commitment's bills by the payments PaySync would post
  there: a voided payment counts 0.00, a payment deleted in QuickBooks and a pre-existing one
  (before the cutoff, never synced) are left out. A payment held for its currency (another
  currency than the commitment's) is not added: it is listed as `missing_in_procore`;
- `procore_paysync`: Procore's payments PaySync wrote (held by one of its links, or carrying an
  `origin_id` in PaySync's form, `qbd:...`);
- `procore_other`: the rest of the commitment's Payments Issued (entered by hand, another tool);
- `difference` = `quickbooks` - (`procore_paysync` + `procore_other`); `status` is "off" when it is
  not zero or when a payment explains a difference (`items`), else "reconciled".

Which bills are "placed" on a commitment is the plan's answer (`compute_plan`): a payment in
Procore stays on its link's commitment; one not yet there is matched as the next push would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from storage.vocabulary import ErpStatus
from sync.engine.currency import commitment_currency, currency_hold
from sync.engine.desired import desired_amount
from sync.engine.listings import OUR_ORIGIN_PREFIX, PaymentsClient
from sync.engine.plan import PlannedAction, compute_plan, describe_application
from sync.engine.snapshot import ApplicationRow, CommitmentRow, Snapshot, load_snapshot
from sync.procore.importer import parse_money

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

RECONCILED = "reconciled"
OFF = "off"

MISSING_IN_PROCORE = "missing_in_procore"
AMOUNT_DIFFERS = "amount_differs"
EXTRA_IN_PROCORE = "extra_in_procore"
_KIND_ORDER = {MISSING_IN_PROCORE: 0, AMOUNT_DIFFERS: 1, EXTRA_IN_PROCORE: 2}


def money_text(amount: Decimal | None) -> str | None:
    """JSON money: a string with two decimals ("1250.00", "-300.50")."""
    if amount is None:
        return None
    return f"{amount.quantize(CENT):.2f}"


@dataclass(frozen=True)
class ReconcileItem:
    """One payment that explains a difference. `kind`: missing_in_procore, amount_differs or
    extra_in_procore; `origin_id`: PaySync's key when the payment is one of PaySync's (or carries
    an origin id); `procore_payment_id`: Procore's id when Procore holds it."""

    kind: str
    origin_id: str | None
    procore_payment_id: int | None
    quickbooks_amount: Decimal | None
    procore_amount: Decimal | None
    label: str

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "origin_id": self.origin_id,
            "procore_payment_id": self.procore_payment_id,
            "quickbooks_amount": money_text(self.quickbooks_amount),
            "procore_amount": money_text(self.procore_amount),
            "label": self.label,
        }


@dataclass(frozen=True)
class CommitmentReconciliation:
    commitment_id: int
    project_id: int
    label: str
    currency: str
    quickbooks: Decimal
    procore_paysync: Decimal
    procore_other: Decimal
    difference: Decimal
    status: str  # "reconciled" | "off"
    items: tuple[ReconcileItem, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "commitment_id": self.commitment_id,
            "project_id": self.project_id,
            "label": self.label,
            "currency": self.currency,
            "quickbooks": money_text(self.quickbooks),
            "procore_paysync": money_text(self.procore_paysync),
            "procore_other": money_text(self.procore_other),
            "difference": money_text(self.difference),
            "status": self.status,
            "items": [item.as_json() for item in self.items],
        }


@dataclass(frozen=True)
class Reconciliation:
    commitments: tuple[CommitmentReconciliation, ...]

    @property
    def reconciled(self) -> int:
        return sum(1 for c in self.commitments if c.status == RECONCILED)

    @property
    def off(self) -> int:
        return sum(1 for c in self.commitments if c.status == OFF)

    def missing_origin_ids(self) -> tuple[str, ...]:
        """The PaySync payments Procore lacks that were once in Procore (deleted there): what
        `SyncService.resend_missing` can mark to be created again."""
        return tuple(
            item.origin_id
            for c in self.commitments
            for item in c.items
            if item.kind == MISSING_IN_PROCORE and item.origin_id is not None and item.procore_payment_id
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "commitments": [c.as_json() for c in self.commitments],
            "reconciled": self.reconciled,
            "off": self.off,
        }


# -- what PaySync expects on each commitment ----------------------------------------------------


@dataclass(frozen=True)
class _Expected:
    """One application placed on a commitment: what QuickBooks says, and what PaySync knows of it."""

    app: ApplicationRow
    action: PlannedAction
    label: str
    quickbooks: Decimal | None  # None: deleted in QuickBooks (left out)
    counted: bool  # added to the commitment's `quickbooks` (False: held for its currency)
    procore_payment_id: int | None  # the link's


@dataclass
class _Commitment:
    id: int
    project_id: int
    row: CommitmentRow | None
    expected: list[_Expected] = field(default_factory=list)


def _placements(snapshot: Snapshot, project_id: int | None) -> dict[int, _Commitment]:
    """The commitments PaySync has placed bills on, each with its applications (the plan's answer)."""
    apps = {app.application_id: app for app in snapshot.applications}
    found: dict[int, _Commitment] = {}
    for action in compute_plan(snapshot):
        app = apps.get(action.application_id)
        if app is None or action.commitment_id is None:
            continue  # not placed: pre-existing, deleted before it was synced, needs mapping
        commitment = snapshot.commitments.get(action.commitment_id)
        project = (
            action.project_id
            if action.project_id is not None
            else (commitment.project_id if commitment is not None else None)
        )
        if project is None:
            continue  # a commitment PaySync cannot ask Procore about (refresh from Procore)
        if project_id is not None and project != project_id:
            continue
        if app.pre_existing and action.procore_payment_id is None:
            continue  # before the cutoff: never synced (docs/go-live.md)
        entry = found.get(action.commitment_id)
        if entry is None:
            entry = found[action.commitment_id] = _Commitment(action.commitment_id, project, commitment)
        quickbooks = None if app.deleted else desired_amount(app)
        held_for_currency = (
            action.procore_payment_id is None
            and not app.deleted
            and currency_hold(app, commitment, snapshot.currencies) is not None
        )
        bill_ref = app.bill_ref_number or snapshot.bill_ref_numbers.get((app.file_key, app.bill_txn_id))
        entry.expected.append(
            _Expected(
                app=app,
                action=action,
                label=describe_application(app, bill_ref),
                quickbooks=quickbooks,
                counted=not held_for_currency,
                procore_payment_id=action.procore_payment_id,
            )
        )
    return found


# -- comparing one commitment -------------------------------------------------------------------


def _why_not_in_procore(expected: _Expected) -> str:
    action = expected.action
    if expected.procore_payment_id is not None:
        return (
            f"was Procore payment {expected.procore_payment_id}, no longer on the commitment (deleted in "
            "Procore); the console can send it again"
        )
    if action.erp_status == ErpStatus.WAITING:
        return "not in Procore yet: the next push sends it"
    status = str(action.erp_status).replace("_", " ")
    return f"not in Procore ({status}): {action.reason}"


def _describe_procore(payment: dict[str, Any], payment_id: int) -> str:
    parts = [f"Procore payment {payment_id}"]
    details = [
        str(payment[name])
        for name in ("date", "check_number", "invoice_number")
        if payment.get(name) not in (None, "")
    ]
    if details:
        parts.append(f"({', '.join(details)})")
    notes = payment.get("notes")
    if notes:
        parts.append(f"“{str(notes)[:80]}”")
    return " ".join(parts)


def _compare(
    entry: _Commitment, payments: Iterable[dict[str, Any]], currency: str
) -> CommitmentReconciliation:
    by_id: dict[int, dict[str, Any]] = {}
    by_origin: dict[str, list[int]] = defaultdict(list)
    items: list[ReconcileItem] = []
    for payment in payments:
        try:
            payment_id = int(payment["id"])
        except (KeyError, TypeError, ValueError):
            items.append(
                ReconcileItem(
                    EXTRA_IN_PROCORE,
                    None,
                    None,
                    None,
                    None,
                    f"Procore listed a payment PaySync cannot read: {str(payment)[:200]}",
                )
            )
            continue
        by_id[payment_id] = payment
        if payment.get("origin_id"):
            by_origin[str(payment["origin_id"])].append(payment_id)

    claimed: set[int] = set()
    quickbooks = ZERO
    paysync = ZERO
    other = ZERO

    def amount_of(payment_id: int) -> Decimal | None:
        return parse_money(by_id[payment_id].get("amount"))

    for expected in entry.expected:
        origin = expected.app.origin_id
        if expected.quickbooks is not None and expected.counted:
            quickbooks += expected.quickbooks
        found: int | None = None
        if expected.procore_payment_id is not None and expected.procore_payment_id in by_id:
            found = expected.procore_payment_id  # held by the link, with or without its origin id
        else:
            found = next((pid for pid in sorted(by_origin.get(origin, ())) if pid not in claimed), None)
        if found is None:
            if expected.quickbooks:  # something paid that Procore lacks
                why = _why_not_in_procore(expected)
                if not expected.counted:
                    why = f"{why} (in its own currency, not added to the commitment's {currency} total)"
                items.append(
                    ReconcileItem(
                        MISSING_IN_PROCORE,
                        origin,
                        expected.procore_payment_id,
                        expected.quickbooks,
                        None,
                        f"{expected.label}: {why}",
                    )
                )
            continue
        claimed.add(found)
        procore_amount = amount_of(found)
        if procore_amount is not None:
            paysync += procore_amount
        if expected.quickbooks is None:
            if procore_amount != ZERO:
                items.append(
                    ReconcileItem(
                        EXTRA_IN_PROCORE,
                        origin,
                        found,
                        None,
                        procore_amount,
                        f"{expected.label}: deleted in QuickBooks; Procore payment {found} is kept (flagged "
                        "Deleted in QuickBooks). An Admin may retract it",
                    )
                )
        elif procore_amount != expected.quickbooks:
            held = "an amount PaySync cannot read" if procore_amount is None else str(procore_amount)
            items.append(
                ReconcileItem(
                    AMOUNT_DIFFERS,
                    origin,
                    found,
                    expected.quickbooks,
                    procore_amount,
                    f"{expected.label}: Procore payment {found} holds {held}, QuickBooks says "
                    f"{expected.quickbooks}",
                )
            )

    for payment_id in sorted(set(by_id) - claimed):
        payment = by_id[payment_id]
        procore_amount = amount_of(payment_id)
        listed_origin = str(payment["origin_id"]) if payment.get("origin_id") else None
        ours = listed_origin is not None and listed_origin.startswith(OUR_ORIGIN_PREFIX)
        if procore_amount is not None:
            if ours:
                paysync += procore_amount
            else:
                other += procore_amount
        if procore_amount == ZERO:
            continue
        described = _describe_procore(payment, payment_id)
        if procore_amount is None:
            why = f"an amount PaySync cannot read ({payment.get('amount')!r})"
        elif ours:
            why = f"carries PaySync's origin id {listed_origin}, which no payment PaySync placed here holds"
        else:
            why = "not written by PaySync"
        items.append(
            ReconcileItem(
                EXTRA_IN_PROCORE, listed_origin, payment_id, None, procore_amount, f"{described}: {why}"
            )
        )

    difference = quickbooks - (paysync + other)
    items.sort(key=lambda i: (_KIND_ORDER.get(i.kind, 9), i.origin_id or "", i.procore_payment_id or 0))
    row = entry.row
    return CommitmentReconciliation(
        commitment_id=entry.id,
        project_id=entry.project_id,
        label=row.label if row is not None else f"commitment {entry.id}",
        currency=currency,
        quickbooks=quickbooks.quantize(CENT),
        procore_paysync=paysync.quantize(CENT),
        procore_other=other.quantize(CENT),
        difference=difference.quantize(CENT),
        status=OFF if difference != ZERO or items else RECONCILED,
        items=tuple(items),
    )


def reconcile_commitments(
    client: PaymentsClient,
    *,
    project_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Reconciliation:
    """Compare each commitment PaySync has placed bills on (of one project, with `project_id`) with
    its Payments Issued, listed fresh from Procore: one list per commitment, paced by the client's
    rate budget. `progress(done, total)` after each commitment. Reads only; a Procore error
    (ProcoreError) stops it."""
    snapshot = load_snapshot()
    placed = _placements(snapshot, project_id)
    order = sorted(
        placed.values(),
        key=lambda c: (c.project_id, c.row.label if c.row is not None else "", c.id),
    )
    total = len(order)
    if progress is not None:
        progress(0, total)
    results: list[CommitmentReconciliation] = []
    for number, entry in enumerate(order, start=1):
        payments = client.list_contract_payments(entry.project_id, entry.id)
        currency = commitment_currency(entry.row, snapshot.currencies)
        results.append(_compare(entry, payments, currency))
        if progress is not None:
            progress(number, total)
    return Reconciliation(commitments=tuple(results))
