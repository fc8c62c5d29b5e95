"""JSON rendering: money as decimal strings or, with ``state.money_as_numbers``, as JSON numbers
written with the same digits; timestamps; and the records that render without looking anything up
(contract payments, their attachments, a commitment's currency configuration)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.responses import JSONResponse

from sandbox.procore.records import Attachment, Commitment, ContractPayment

CENT = Decimal("0.01")
ZERO_MONEY = Decimal("0.00")


def cents(amount: Decimal) -> Decimal:
    """A money value as rendered: rounded to cents, never ``-0.00``.

    Renderers put these Decimals in response bodies; the response encoder writes them as decimal
    strings (``"1250.00"``) or, with ``state.money_as_numbers``, as JSON numbers (``1250.00``).
    """
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else ZERO_MONEY


def _decimal_text(amount: Decimal) -> str:
    return format(amount, "f")  # never an exponent


def money_text(amount: Decimal) -> str:
    return _decimal_text(cents(amount))


def plain(value: Any) -> Any:
    """A rendered body with its Decimals as decimal strings (what the default mode sends)."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _decimal_as_string(value: Any) -> str:
    if isinstance(value, Decimal):
        return _decimal_text(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_with_decimal_numbers(value: Any) -> str:
    """JSON text in which every Decimal is a bare number written with its own digits
    (``Decimal("1234.50")`` -> ``1234.50``), so no binary float ever rounds it."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, dict):
        members = (
            f"{json.dumps(str(key), ensure_ascii=False)}:{_json_with_decimal_numbers(item)}"
            for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_with_decimal_numbers(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


class ApiJSONResponse(JSONResponse):
    """A JSON body whose Decimals are decimal strings, or JSON numbers if ``decimals_as_numbers``."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        decimals_as_numbers: bool = False,
    ) -> None:
        self.decimals_as_numbers = decimals_as_numbers
        super().__init__(content, status_code=status_code, headers=headers)

    def render(self, content: Any) -> bytes:
        if self.decimals_as_numbers:
            return _json_with_decimal_numbers(content).encode("utf-8")
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_decimal_as_string
        ).encode("utf-8")


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_text(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def render_attachment(attachment: Attachment) -> dict[str, Any]:
    return {"id": attachment.id, "url": attachment.url, "filename": attachment.filename}


def render_payment(payment: ContractPayment) -> dict[str, Any]:
    # The response schema has neither payment_method nor invoice_date (API-NOTES §3.1-3.2),
    # so they are stored but not echoed; nor currency_configuration (only payments_issued items
    # have one) nor the ERP lock flag.
    return {
        "id": payment.id,
        "amount": cents(payment.amount),
        "check_number": payment.check_number,
        "contract_id": payment.contract_id,
        "created_at": timestamp(payment.created_at),
        "updated_at": timestamp(payment.updated_at),
        "date": payment.date.isoformat(),
        "date_payment_settled": None,
        "date_payment_initiated": None,
        "draw_request_number": payment.draw_request_number,
        "external_payment_id": None,  # only Procore Pay payments have one
        "invoice_number": payment.invoice_number,
        "notes": payment.notes,
        "payment_number": payment.payment_number,
        "attachments": [render_attachment(a) for a in payment.attachments],
        "project_id": payment.project_id,
        "requisition_id": payment.requisition_id,
        "origin_id": payment.origin_id,
        "origin_code": None,  # no origin_code input exists for contract payments
        "origin_data": payment.origin_data,
        "status": None,  # a Procore Pay lifecycle status; none for recorded payments (inferred)
    }


def currency_configuration(commitment: Commitment) -> dict[str, Any] | None:
    """A commitment's currency_configuration, or None when it has none (company currency)."""
    if commitment.currency_iso_code is None:
        return None
    return {
        "currency_iso_code": commitment.currency_iso_code,
        "base_currency_iso_code": commitment.base_currency_iso_code,
        "currency_exchange_rate": commitment.currency_exchange_rate,
    }


def render_payment_issued(payment: ContractPayment, commitment: Commitment) -> dict[str, Any]:
    """The smaller payment object nested in commitment show responses (API-NOTES §3.2); it
    carries its commitment's currency_configuration when the commitment has one."""
    rendered: dict[str, Any] = {
        "id": payment.id,
        "amount": cents(payment.amount),
        "check_number": payment.check_number,
        "created_at": timestamp(payment.created_at),
        "date": payment.date.isoformat(),
        "draw_request_number": payment.draw_request_number,
        "invoice_number": payment.invoice_number,
        "notes": payment.notes,
        "payment_number": payment.payment_number,
        "attachments": [render_attachment(a) for a in payment.attachments],
        "origin_id": payment.origin_id,
        "origin_data": payment.origin_data,
    }
    currency = currency_configuration(commitment)
    if currency is not None:
        rendered["currency_configuration"] = currency
    return rendered
