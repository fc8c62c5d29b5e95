"""Contract payments (API-NOTES §3): reading a payment's fields, the ERP lock, ``origin_id``
uniqueness, attachments; the list, show, create, update and delete endpoints, and the
``/sandbox-files`` route that serves uploaded attachments (not Procore: a real attachment ``url``
points at pre-signed storage)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from starlette.responses import PlainTextResponse, Response

from sandbox.procore.call import Call
from sandbox.procore.errors import api_error, unprocessable
from sandbox.procore.pagination import CONTRACT_PAYMENTS_PER_PAGE
from sandbox.procore.records import PAYMENT_METHODS, Attachment, Commitment, ContractPayment
from sandbox.procore.rendering import CENT, render_payment
from sandbox.procore.requests import DATE_TEXT, UploadedFile, as_int, query_int, read_body, required_int
from sandbox.procore.state import ProcoreState

ERP_LOCK_MESSAGE = "The Contract Payment cannot be edited or deleted because it is synced with an ERP system"
# The full messages of two 422 refusals (the ``errors`` are {"origin_id": ["has already been
# taken"]} and {"contract_id": ["does not allow payments"]}).
DUPLICATE_ORIGIN_MESSAGE = "Origin has already been taken"
PAYMENTS_DISABLED_MESSAGE = "Contract does not allow payments"
# Fields a PATCH may still change on an ERP-locked payment (API-NOTES §3.3; attachments are
# uploads, handled apart from the contract_payment fields).
ERP_EDITABLE_FIELDS = frozenset({"origin_id", "origin_data"})
_DECIMAL_TEXT = re.compile(r"^[+-]?\d+(\.\d+)?$")

_STRING_FIELD_LIMITS: dict[str, int | None] = {
    # 255 for the short fields is the usual Rails string column (inferred).
    "check_number": 255,
    "invoice_number": 255,
    "origin_id": 255,
    "origin_data": None,
    "notes": None,
}
_INTEGER_FIELDS = ("payment_number", "draw_request_number", "requisition_id")
_DATE_FIELDS = ("date", "invoice_date")
PAYMENT_FIELDS = frozenset(
    {"amount", "payment_method", *_STRING_FIELD_LIMITS, *_INTEGER_FIELDS, *_DATE_FIELDS}
)


def parse_payment_fields(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Normalise the ``contract_payment`` fields that were sent; unknown keys are ignored,
    as Rails strong parameters do."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, value in raw.items():
        if name not in PAYMENT_FIELDS:
            continue
        if name == "amount":
            if value is None or value == "":
                values[name] = None
            elif isinstance(value, bool | int | float):
                # Stricter than Rails, on purpose: money travels as decimal strings, and a JSON
                # number is how a float sneaks in.
                fail(name, 'must be a decimal string such as "1250.00", not a JSON number')
            elif not isinstance(value, str) or not _DECIMAL_TEXT.match(value.strip()):
                fail(name, "is not a number")
            else:
                try:
                    # More than two decimals are rounded, as a decimal(_, 2) column would.
                    values[name] = Decimal(value.strip()).quantize(CENT, rounding=ROUND_HALF_UP)
                except InvalidOperation:
                    fail(name, "is not a number")
        elif name in _DATE_FIELDS:
            if value is None or value == "":
                values[name] = None
            elif not isinstance(value, str) or not DATE_TEXT.match(value):
                fail(name, "must be a date written YYYY-MM-DD")
            else:
                try:
                    values[name] = date.fromisoformat(value)
                except ValueError:
                    fail(name, "is not a valid date")
        elif name == "payment_method":
            if value is None or value == "":
                values[name] = None
            elif value not in PAYMENT_METHODS:
                fail(name, "is not included in the list")
            else:
                values[name] = value
        elif name in _INTEGER_FIELDS:
            if value is None or value == "":
                values[name] = None
            else:
                number = as_int(value)
                if number is None:
                    fail(name, "must be an integer")
                else:
                    values[name] = number
        else:
            limit = _STRING_FIELD_LIMITS[name]
            if value is None:
                values[name] = None
            elif isinstance(value, bool) or not isinstance(value, str | int):
                fail(name, "is invalid")
            else:
                text = str(value)
                if limit is not None and len(text) > limit:
                    fail(name, f"is too long (maximum is {limit} characters)")
                # A blank origin_id is treated as none: it neither locks nor collides (inferred).
                values[name] = None if name == "origin_id" and not text.strip() else text
    return values, errors


# -- endpoints ---------------------------------------------------------------------------------


def _contract(state: ProcoreState, project_id: int, contract_id: int) -> Commitment:
    commitment = state._commitments.get(contract_id)
    if commitment is None or commitment.project_id != project_id:
        raise api_error(404, f"Couldn't find Contract with 'id'={contract_id}")
    return commitment


def _payment(state: ProcoreState, project_id: int, contract_id: int, payment_id: int) -> ContractPayment:
    payment = state._payments.get(payment_id)
    if payment is None or payment.project_id != project_id or payment.contract_id != contract_id:
        raise api_error(404, f"Couldn't find ContractPayment with 'id'={payment_id}")
    return payment


def _ids_from_query(call: Call) -> tuple[int, int]:
    project_id = query_int(call.request, "project_id")
    contract_id = query_int(call.request, "contract_id")
    assert project_id is not None and contract_id is not None
    return project_id, contract_id


async def list_payments(call: Call) -> Response:
    project_id, contract_id = _ids_from_query(call)
    with call.state.lock:
        call.project(project_id)
        _contract(call.state, project_id, contract_id)
        rendered = [
            render_payment(p)
            for p in sorted(call.state._payments.values(), key=lambda p: p.id)
            if p.contract_id == contract_id
        ]
    return call.page(rendered, CONTRACT_PAYMENTS_PER_PAGE)


async def show_payment(call: Call) -> Response:
    project_id, contract_id = _ids_from_query(call)
    with call.state.lock:
        call.project(project_id)
        _contract(call.state, project_id, contract_id)
        payment = _payment(call.state, project_id, contract_id, int(call.request.path_params["id"]))
        return call.json(render_payment(payment))


async def _write_request(
    call: Call,
) -> tuple[int, int, dict[str, Any] | None, dict[str, Any], list[UploadedFile]]:
    fields, files = await read_body(call.request)
    project_id = required_int(fields.get("project_id"), "project_id")
    contract_id = required_int(fields.get("contract_id"), "contract_id")
    raw_payment = fields.get("contract_payment")
    if raw_payment is not None and not isinstance(raw_payment, dict):
        raise api_error(400, "contract_payment must be an object")
    return project_id, contract_id, raw_payment, fields, files


def _uploads(
    fields: Mapping[str, Any], files: list[UploadedFile], raw_payment: Mapping[str, Any] | None
) -> list[UploadedFile]:
    """The ``attachments[]`` files of a write; checked after permissions, like any field."""
    if isinstance(fields.get("attachments"), list) and fields["attachments"]:
        # Files can only come as multipart parts; say so rather than drop them (sandbox choice).
        raise unprocessable(
            {"attachments": ["must be uploaded as attachments[] files in multipart/form-data"]}
        )
    uploads = [f for f in files if f.field_name == "attachments[]"]
    if raw_payment is not None and raw_payment.get("prostore_file_ids"):
        message = (
            "are mutually exclusive with attachments"
            if uploads
            else "are not simulated by the sandbox; upload attachments[] as multipart/form-data"
        )
        raise unprocessable({"prostore_file_ids": [message]})
    return uploads


def _store_uploads(call: Call, uploads: list[UploadedFile]) -> list[Attachment]:
    base = f"{call.request.url.scheme}://{call.request.url.netloc}"
    attachments = []
    for upload in uploads:
        attachment_id = call.state._next_id()
        attachment = Attachment(
            id=attachment_id,
            filename=upload.filename,
            content_type=upload.content_type,
            content=upload.content,
            url=f"{base}/sandbox-files/{attachment_id}/{quote(upload.filename)}",
        )
        call.state._attachments[attachment.id] = attachment
        attachments.append(attachment)
    return attachments


def _business_errors(
    state: ProcoreState,
    project_id: int,
    commitment: Commitment,
    values: Mapping[str, Any],
    payment_id: int | None,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    requisition_id = values.get("requisition_id")
    if requisition_id is not None:
        requisition = state._requisitions.get(requisition_id)
        if requisition is None or requisition.project_id != project_id:
            errors["requisition_id"] = ["does not exist in this project"]
        elif requisition.commitment_id != commitment.id:
            errors["requisition_id"] = ["must belong to the same contract"]
    origin_id = values.get("origin_id")
    if (
        origin_id is not None
        and state.duplicate_origin_mode == "refuse"
        and any(p.origin_id == origin_id and p.id != payment_id for p in state._payments.values())
    ):
        # Uniqueness per company is documented for origin_id in general (API-NOTES §6.4);
        # that contract-payment writes enforce it, and with 422, is unverified: the
        # "accept" mode stores the duplicate instead.
        errors["origin_id"] = ["has already been taken"]
    return errors


async def create_payment(call: Call) -> Response:
    project_id, contract_id, raw_payment, fields, files = await _write_request(call)
    if raw_payment is None:
        raise api_error(400, "param is missing or the value is empty: contract_payment")
    with call.state.lock:
        call.project(project_id, level=call.state.payment_write_level)
        uploads = _uploads(fields, files, raw_payment)
        values, errors = parse_payment_fields(raw_payment)
        for required in ("amount", "date"):
            if values.get(required) is None and required not in errors:
                errors[required] = ["can't be blank"]
        commitment = call.state._commitments.get(contract_id)
        if commitment is None or commitment.project_id != project_id:
            errors["contract_id"] = ["does not exist in this project"]
        elif not commitment.allow_payments:
            errors["contract_id"] = ["does not allow payments"]
        if commitment is not None and "contract_id" not in errors:
            errors.update(_business_errors(call.state, project_id, commitment, values, None))
        if errors:
            raise unprocessable(errors)
        assert commitment is not None
        now = call.state.now()
        payment = ContractPayment(
            id=call.state._next_id(),
            project_id=project_id,
            contract_id=contract_id,
            date=values["date"],
            amount=values["amount"],
            created_by_id=call.principal.id,
            created_at=now,
            updated_at=now,
        )
        for name, value in values.items():
            setattr(payment, name, value)
        payment.erp_locked = payment.origin_id is not None
        payment.attachments.extend(_store_uploads(call, uploads))
        call.state._payments[payment.id] = payment
        return call.json(render_payment(payment), status_code=201)


async def update_payment(call: Call) -> Response:
    project_id, contract_id, raw_payment, fields, files = await _write_request(call)
    with call.state.lock:
        call.project(project_id, level=call.state.payment_write_level)
        commitment = _contract(call.state, project_id, contract_id)
        payment = _payment(call.state, project_id, contract_id, int(call.request.path_params["id"]))
        uploads = _uploads(fields, files, raw_payment)
        values, errors = parse_payment_fields(raw_payment or {})
        if errors:
            raise unprocessable(errors)
        changes = {name: value for name, value in values.items() if getattr(payment, name) != value}
        # ERP lock (API-NOTES §3.3, inferred from the PATCH description and the integration
        # guide): while the *stored* payment is locked, only origin_id, origin_data and
        # attachments may change (and in "origin_id_frozen" mode not origin_id either). The
        # lock is judged on the stored record, so unlocking (origin_id -> null, where that
        # unlocks) and editing must be two PATCHes; relocking may come with edits.
        unlock_mode = call.state.erp_unlock_mode
        if payment.erp_locked:
            locked_changes = set(changes) - ERP_EDITABLE_FIELDS
            if unlock_mode == "origin_id_frozen" and "origin_id" in changes:
                locked_changes.add("origin_id")
            if locked_changes:
                raise api_error(422, ERP_LOCK_MESSAGE, {"base": [ERP_LOCK_MESSAGE]})
        for required in ("amount", "date"):
            if required in changes and changes[required] is None:
                errors[required] = ["can't be blank"]
        errors.update(_business_errors(call.state, project_id, commitment, changes, payment.id))
        if errors:
            raise unprocessable(errors)
        for name, value in changes.items():
            setattr(payment, name, value)
        if "origin_id" in changes:
            if payment.origin_id is not None:
                payment.erp_locked = True
            elif unlock_mode == "clearing_origin_unlocks":
                payment.erp_locked = False
            # "stays_locked": origin_id is gone but the lock stays until unlink_payment.
        if changes or uploads:
            payment.attachments.extend(_store_uploads(call, uploads))
            payment.updated_at = call.state.now()
        return call.json(render_payment(payment))


async def delete_payment(call: Call) -> Response:
    project_id, contract_id = _ids_from_query(call)
    with call.state.lock:
        call.project(project_id, level=call.state.payment_write_level)
        _contract(call.state, project_id, contract_id)
        payment = _payment(call.state, project_id, contract_id, int(call.request.path_params["id"]))
        if payment.erp_locked:
            # 422 rather than 403: the caller has the permission; the record's state forbids it
            # (a business rule, which Procore's error reference maps to 422). Inferred.
            raise api_error(422, ERP_LOCK_MESSAGE, {"base": [ERP_LOCK_MESSAGE]})
        del call.state._payments[payment.id]
    return Response(status_code=200)


# -- files -------------------------------------------------------------------------------


async def attachment_file(call: Call) -> Response:
    attachment = call.state._attachments.get(int(call.request.path_params["id"]))
    if attachment is None:
        return PlainTextResponse("Not Found", status_code=404)
    return Response(attachment.content, media_type=attachment.content_type)
