"""What one bill payment application should look like as a Procore payment (DESIGN rule 3).

`PROCORE_FIELDS` declares the Procore fields PaySync owns, once: how each compares, its label, and
whether Procore echoes it back. `desired_payment(...)` gives the `contract_payment` fields;
`comparable(...)` puts a desired or an observed (listed) payment into one canonical shape so the
plan can tell exactly which fields differ. The canonical JSON of what Procore holds is kept in
`PaymentLink.pushed_fingerprint`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from sync.engine.snapshot import ApplicationRow, InvoiceRow

CENT = Decimal("0.01")
_CANONICAL = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
ZERO = Decimal("0.00")
VOID_NOTE = " — VOIDED in QuickBooks"
NOT_APPLIED_NOTE = " — no longer applied to this bill in QuickBooks"


@dataclass(frozen=True)
class ProcoreField:
    """A Procore payment field the engine owns: how it is compared, and what a person reads."""

    name: str
    label: str  # in a reason: "amount 300.00 → 275.55"
    compare_as: Literal["text", "int", "amount", "date"] = "text"
    # Procore's answers leave it out (API-NOTES: responses do not echo payment_method): what was
    # sent stands for what Procore holds, and a stored record without it is not a difference.
    echoed: bool = True
    # The user's own: compared (and sent) only when the user set one.
    user_owned: bool = False
    show_values: bool = True  # a change is described with both values (not for long texts)


# The fields the engine owns on a Procore payment, in a fixed order: ONE declaration, from which the
# comparison, the labels and the handling of what Procore does not echo are derived.
PROCORE_FIELDS: tuple[ProcoreField, ...] = (
    ProcoreField("date", "date", compare_as="date"),
    ProcoreField("amount", "amount", compare_as="amount"),
    ProcoreField("payment_method", "method", echoed=False),
    ProcoreField("check_number", "check number"),
    ProcoreField("invoice_number", "invoice number"),
    ProcoreField("requisition_id", "invoice link", compare_as="int"),
    ProcoreField("draw_request_number", "draw request number", compare_as="int"),
    ProcoreField("notes", "notes", show_values=False),
    ProcoreField("payment_number", "payment number", compare_as="int", user_owned=True),
)
COMPARED_FIELDS: tuple[str, ...] = tuple(f.name for f in PROCORE_FIELDS)
FIELD_LABELS: dict[str, str] = {f.name: f.label for f in PROCORE_FIELDS}
NOT_ECHOED: frozenset[str] = frozenset(f.name for f in PROCORE_FIELDS if not f.echoed)
_USER_OWNED: tuple[str, ...] = tuple(f.name for f in PROCORE_FIELDS if f.user_owned)
_VALUES_HIDDEN: frozenset[str] = frozenset(f.name for f in PROCORE_FIELDS if not f.show_values)


def money_text(amount: Decimal) -> str:
    """Procore's decimal string for an amount: exactly two places ("1250.00")."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def applied_not_paid(app: ApplicationRow) -> list[str]:
    """What the payment applied to the bill that is not money paid: an early-payment discount and
    vendor credits. Never part of the Procore amount (DESIGN rule 10); named in the notes."""
    parts: list[str] = []
    if app.discount_amount:
        parts.append(f"discount {app.discount_amount:,.2f}")
    try:
        credits = json.loads(app.credits) if app.credits else []
    except ValueError:
        credits = []
    for credit in credits if isinstance(credits, list) else []:
        if not isinstance(credit, dict):
            continue
        try:
            amount = abs(Decimal(str(credit.get("amount"))))
        except InvalidOperation:
            continue
        kind = "vendor credit" if str(credit.get("txn_type", "")).lower() == "vendorcredit" else "credit"
        parts.append(f"{kind} {credit.get('ref_number') or credit.get('txn_id')} {amount:,.2f}")
    return parts


def payment_notes(app: ApplicationRow, bill_ref_number: str | None) -> str:
    what = "check" if app.kind == "check" else "credit card"
    number = app.ref_number or app.payment_txn_id
    vendor = app.vendor_name or app.vendor_list_id or "(no vendor)"
    note = f"QuickBooks {what} bill payment {number} to {vendor}; bill {bill_ref_number or app.bill_txn_id}"
    not_paid = applied_not_paid(app)
    if not_paid:
        note += f"; also applied in QuickBooks, not paid: {', '.join(not_paid)}"
    if app.is_void:
        return note + VOID_NOTE
    if app.amount == 0:
        return note + NOT_APPLIED_NOTE
    return note


def origin_data(app: ApplicationRow) -> str:
    """Small JSON for Procore's free-text origin_data: where the payment came from, which edit."""
    return json.dumps(
        {
            "source": "QuickBooks Desktop",
            "file": app.file_key,
            "payment": app.payment_txn_id,
            "bill": app.bill_txn_id,
            "edit_sequence": app.edit_sequence,
            "void": app.is_void,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def desired_amount(app: ApplicationRow) -> Decimal:
    """A voided payment is recorded as 0.00 (the Procore payment is updated, never duplicated)."""
    return ZERO if app.is_void else app.amount.quantize(CENT)


def desired_payment(
    app: ApplicationRow,
    *,
    invoice_number: str | None,
    requisition_id: int | None,
    draw_request_number: int | None,
    bill_ref_number: str | None,
    payment_number: int | None,
) -> dict[str, Any]:
    """The `contract_payment` fields (without origin_id/origin_data) for one application."""
    fields: dict[str, Any] = {
        "date": app.txn_date.isoformat(),
        "amount": money_text(desired_amount(app)),
        "payment_method": "check" if app.kind == "check" else "credit_card",
        # The check number for checks; a credit card payment's RefNumber if it has one.
        "check_number": app.ref_number or None,
        "invoice_number": invoice_number,
        "requisition_id": requisition_id,
        "draw_request_number": draw_request_number,
        "notes": payment_notes(app, bill_ref_number),
    }
    if payment_number is not None:
        fields["payment_number"] = payment_number
    return fields


def desired_for_invoice(
    app: ApplicationRow, invoice: InvoiceRow, *, bill_ref_number: str | None, payment_number: int | None
) -> dict[str, Any]:
    return desired_payment(
        app,
        invoice_number=invoice.invoice_number,
        requisition_id=invoice.id,
        draw_request_number=invoice.number,
        bill_ref_number=bill_ref_number,
        payment_number=payment_number,
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _amount(value: Any) -> str | None:
    """An amount as Procore holds it, exactly: a decimal string, a Decimal (a JSON number, read by
    the client from its own digits) or an int. A float never reaches here from Procore; if one
    does, its shortest repr is the JSON text it came from (exact for money-sized values)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        return money_text(Decimal(text))
    except InvalidOperation:
        return text[:40]


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None


_COMPARE: dict[str, Callable[[Any], Any]] = {"text": _text, "int": _int, "amount": _amount, "date": _date}
_CANONICAL_VALUE: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
    (f.name, _COMPARE[f.compare_as]) for f in PROCORE_FIELDS
)


def comparable(payment: Mapping[str, Any], *, fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The engine-owned fields of a desired or observed payment, in one canonical shape.

    Procore does not echo every field it stores (the fields declared `echoed=False`), so a field
    missing from `payment` is taken from `fallback` (what was sent, or what was seen before), when
    given: an answer that leaves a field out says nothing about it.
    """
    result: dict[str, Any] = {}
    for name, canonical in _CANONICAL_VALUE:
        if name in payment:
            raw = payment[name]
        elif fallback is not None and name in fallback:
            raw = fallback[name]
        else:
            continue
        result[name] = canonical(raw)
    return result


def canonical_json(fields: Mapping[str, Any]) -> str:
    """The canonical JSON of the engine-owned fields (a user-owned field of None, such as a payment
    number the user did not set, is left out: the engine compares it only when the user set one)."""
    shape = comparable(fields)
    for name in _USER_OWNED:
        if shape.get(name) is None:
            shape.pop(name, None)
    return _CANONICAL.encode(shape)


def changed_fields(desired: Mapping[str, Any], pushed_json: str | None) -> list[str]:
    """Which engine-owned fields Procore holds differently from `desired` (all, if unknown)."""
    if not pushed_json:
        return list(comparable(desired))
    if pushed_json == canonical_json(desired):
        return []  # the common case, answered without parsing
    want = comparable(desired)
    try:
        have = json.loads(pushed_json)
    except ValueError:
        return list(want)
    if not isinstance(have, dict):
        return list(want)
    changed = []
    for name, value in want.items():
        if name in NOT_ECHOED and name not in have:
            continue  # never echoed by Procore, and not on record: nothing to compare against
        if have.get(name) != value:
            changed.append(name)
    return changed


def describe_changes(names: list[str], desired: Mapping[str, Any], pushed_json: str | None) -> str:
    have: dict[str, Any] = {}
    if pushed_json:
        try:
            loaded = json.loads(pushed_json)
            have = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            have = {}
    want = comparable(desired)
    parts = []
    for name in names:
        if name in _VALUES_HIDDEN:
            parts.append(FIELD_LABELS.get(name, name))
        else:
            parts.append(f"{FIELD_LABELS.get(name, name)} {have.get(name)!s} → {want.get(name)!s}")
    return ", ".join(parts)
