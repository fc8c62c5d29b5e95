"""Commitments (work order and purchase order contracts) and their subcontractor invoices
(requisitions): the list and show endpoints, and their rendering with totals, payments issued,
currency configuration and the invoice summary (API-NOTES §1 and §2)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.responses import Response

from sandbox.procore.call import Call, Handler
from sandbox.procore.errors import api_error
from sandbox.procore.pagination import DEFAULT_PER_PAGE, REQUISITIONS_PER_PAGE
from sandbox.procore.records import COMMITMENT_TYPES, Commitment, CommitmentKind, Requisition
from sandbox.procore.rendering import (
    CENT,
    ZERO_MONEY,
    cents,
    currency_configuration,
    money_text,
    render_payment_issued,
    timestamp,
)
from sandbox.procore.requests import apply_filters, query_int
from sandbox.procore.state import ProcoreState


def _commitment_totals(state: ProcoreState, commitment: Commitment) -> dict[str, Decimal]:
    paid = sum((p.amount for p in state._payments.values() if p.contract_id == commitment.id), Decimal("0"))
    invoiced = sum(
        (r.amount for r in state._requisitions.values() if r.commitment_id == commitment.id),
        Decimal("0"),
    )
    revised = commitment.grand_total
    percentage = (paid / revised * 100) if revised else Decimal("0")
    return {
        "grand_total": cents(commitment.grand_total),
        "revised_contract": cents(revised),
        "approved_change_orders": ZERO_MONEY,
        "pending_change_orders": ZERO_MONEY,
        "draft_change_orders_amount": ZERO_MONEY,
        "pending_revised_contract": cents(revised),
        "total_payments": cents(paid),
        "total_requisitions_amount": cents(invoiced),
        "total_draw_requests_amount": cents(invoiced),
        "remaining_balance_outstanding": cents(revised - paid),
        "percentage_paid": cents(percentage),
        "retainage_percent": cents(commitment.retainage_percent),
    }


def _render_contract(state: ProcoreState, commitment: Commitment, *, show: bool) -> dict[str, Any]:
    project = state._projects[commitment.project_id]
    vendor = state._vendors[commitment.vendor_id]
    rendered: dict[str, Any] = {
        "id": commitment.id,
        "number": commitment.number,
        "title": commitment.title,
        "description": None,
        "status": commitment.status,
        "executed": commitment.executed,
        "private": False,
        "accounting_method": "amount",
        "requisitions_are_enabled": True,
        "origin_id": commitment.origin_id,
        "origin_code": commitment.origin_code,
        "origin_data": commitment.origin_data,
        "created_at": timestamp(commitment.created_at),
        "updated_at": timestamp(commitment.updated_at),
        "deleted_at": None,
        **_commitment_totals(state, commitment),
        "project": {"id": project.id, "name": project.name},
        "vendor": {"id": vendor.id, "company": vendor.name},
    }
    currency = currency_configuration(commitment)
    if currency is not None:
        rendered["currency_configuration"] = currency
    if show:
        rendered["vendor"] = {
            "id": vendor.id,
            "company": vendor.name,
            "origin_id": vendor.origin_id,
            "origin_data": vendor.origin_data,
        }
        rendered["attachments"] = []
        rendered["line_items"] = []
        rendered["payments_issued"] = _payments_issued(state, commitment)
    return rendered


def _payments_issued(state: ProcoreState, commitment: Commitment) -> list[dict[str, Any]]:
    return [
        render_payment_issued(p, commitment)
        for p in sorted(state._payments.values(), key=lambda p: p.id)
        if p.contract_id == commitment.id
    ]


def _project_commitments(
    state: ProcoreState, project_id: int, kind: CommitmentKind | None
) -> list[Commitment]:
    return [
        c
        for c in sorted(state._commitments.values(), key=lambda c: c.id)
        if c.project_id == project_id and (kind is None or c.kind == kind)
    ]


def contracts_handler(kind: CommitmentKind) -> Handler:
    async def list_contracts(call: Call) -> Response:
        project_id = query_int(call.request, "project_id")
        assert project_id is not None
        with call.state.lock:
            call.project(project_id)
            selected = apply_filters(
                call.request, _project_commitments(call.state, project_id, kind), status_of=lambda c: c.status
            )
            rendered = [_render_contract(call.state, c, show=False) for c in selected]
        return call.page(rendered, DEFAULT_PER_PAGE)

    return list_contracts


def contract_handler(kind: CommitmentKind | None) -> Handler:
    async def show_contract(call: Call) -> Response:
        project_id = query_int(call.request, "project_id")
        assert project_id is not None
        contract_id = int(call.request.path_params["id"])
        with call.state.lock:
            call.project(project_id)
            commitment = call.state._commitments.get(contract_id)
            if (
                commitment is None
                or commitment.project_id != project_id
                or kind not in (None, commitment.kind)
            ):
                raise api_error(404, f"Couldn't find commitment with 'id'={contract_id}")
            if kind is None:
                rendered = _render_generic_commitment(call.state, commitment)
                rendered["allow_payments"] = commitment.allow_payments
                rendered["allow_payment_applications"] = True
                rendered["payments_issued"] = _payments_issued(call.state, commitment)
                rendered.update(_commitment_totals(call.state, commitment))
                currency = currency_configuration(commitment)
                if currency is not None:
                    rendered["currency_configuration"] = currency
            else:
                rendered = _render_contract(call.state, commitment, show=True)
        return call.json(rendered)

    return show_contract


def _render_generic_commitment(state: ProcoreState, commitment: Commitment) -> dict[str, Any]:
    vendor = state._vendors[commitment.vendor_id]
    return {
        "id": commitment.id,
        "title": commitment.title,
        "number": commitment.number,
        "status": commitment.status,
        "type": COMMITMENT_TYPES[commitment.kind],
        "description": None,
        "executed": commitment.executed,
        "private": False,
        "delivery_date": None,
        "created_at": timestamp(commitment.created_at),
        "vendor": {"id": vendor.id, "name": vendor.name},
    }


async def commitments(call: Call) -> Response:
    project_id = query_int(call.request, "project_id")
    assert project_id is not None
    with call.state.lock:
        call.project(project_id)
        rendered = [
            _render_generic_commitment(call.state, c)
            for c in _project_commitments(call.state, project_id, None)
        ]
    return call.page(rendered, DEFAULT_PER_PAGE)


# -- requisitions -------------------------------------------------------------------------


def _render_requisition(state: ProcoreState, requisition: Requisition) -> dict[str, Any]:
    commitment = state._commitments[requisition.commitment_id]
    vendor = state._vendors[commitment.vendor_id]
    siblings = sorted(
        (r for r in state._requisitions.values() if r.commitment_id == requisition.commitment_id),
        key=lambda r: (r.number, r.id),
    )
    earlier = [r for r in siblings if (r.number, r.id) < (requisition.number, requisition.id)]
    previous_total = sum((r.amount for r in earlier), Decimal("0"))
    to_date = previous_total + requisition.amount
    retainage = (to_date * commitment.retainage_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    previous_retainage = (previous_total * commitment.retainage_percent / 100).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    contract_sum = commitment.grand_total
    percent = (to_date / contract_sum * 100) if contract_sum else Decimal("0")
    period_start = requisition.billing_date.replace(day=1)
    return {
        "id": requisition.id,
        "previous_requisition_id": earlier[-1].id if earlier else None,
        "project_id": requisition.project_id,
        "commitment_id": requisition.commitment_id,
        "commitment_type": COMMITMENT_TYPES[commitment.kind],
        "contract_name": commitment.title,
        "vendor_id": vendor.id,
        "vendor_name": vendor.name,
        "number": requisition.number,
        "invoice_number": requisition.invoice_number,
        "invoice_type": None,
        "billing_date": requisition.billing_date.isoformat(),
        "period_id": None,
        "requisition_start": period_start.isoformat(),
        "requisition_end": requisition.billing_date.isoformat(),
        "submitted_at": timestamp(requisition.created_at),
        "payment_date": None,
        "created_at": timestamp(requisition.created_at),
        "updated_at": timestamp(requisition.updated_at),
        "status": requisition.status,
        "erp_status": requisition.erp_status,
        "final": False,
        "deletable": requisition.origin_id is None,
        "origin_id": requisition.origin_id,
        "origin_data": requisition.origin_data,
        "total_claimed_amount": cents(requisition.amount),
        "percent_complete": f"{money_text(percent)}%",  # text with a % sign in every mode
        "summary": {
            "current_payment_due": cents(requisition.amount - (retainage - previous_retainage)),
            "contract_sum_to_date": cents(contract_sum),
            "original_contract_sum": cents(contract_sum),
            "net_change_by_change_orders": ZERO_MONEY,
            "total_completed_and_stored_to_date": cents(to_date),
            "total_earned_less_retainage": cents(to_date - retainage),
            "total_retainage": cents(retainage),
            "completed_work_retainage_amount": cents(retainage),
            "less_previous_certificates_for_payment": cents(previous_total - previous_retainage),
            "balance_to_finish_including_retainage": cents(contract_sum - to_date + retainage),
            "formatted_period": requisition.billing_date.strftime("%b %Y"),
        },
        # The invoice is in its commitment's currency; without one, the USD triple the
        # sandbox has always rendered (sandbox choice).
        "currency_configuration": currency_configuration(commitment)
        or {
            "currency_iso_code": "USD",
            "currency_exchange_rate": "1.0",
            "base_currency_iso_code": "USD",
        },
        "attachments": [],
    }


async def requisitions(call: Call) -> Response:
    project_id = query_int(call.request, "project_id")
    assert project_id is not None
    with call.state.lock:
        call.project(project_id)
        in_project = [
            r
            for r in sorted(call.state._requisitions.values(), key=lambda r: r.id)
            if r.project_id == project_id
        ]
        selected = apply_filters(
            call.request,
            in_project,
            status_of=lambda r: r.status,
            commitment_of=lambda r: r.commitment_id,
        )
        rendered = [_render_requisition(call.state, r) for r in selected]
    return call.page(rendered, REQUISITIONS_PER_PAGE)


async def requisition(call: Call) -> Response:
    project_id = query_int(call.request, "project_id")
    assert project_id is not None
    requisition_id = int(call.request.path_params["id"])
    with call.state.lock:
        call.project(project_id)
        requisition = call.state._requisitions.get(requisition_id)
        if requisition is None or requisition.project_id != project_id:
            raise api_error(404, f"Couldn't find Requisition with 'id'={requisition_id}")
        return call.json(_render_requisition(call.state, requisition))
