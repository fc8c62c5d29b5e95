"""Reading requests the way Rails does: bodies (JSON, x-www-form-urlencoded, multipart with files),
``a[b]`` field nesting, integer parameters, and the ``filters[...]`` of list endpoints (ids,
statuses, commitments, ``created_at`` / ``updated_at`` ranges, ``origin_id``)."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request

from sandbox.procore.errors import api_error
from sandbox.procore.records import Timestamped

_T = TypeVar("_T", bound=Timestamped)


@dataclass(frozen=True)
class UploadedFile:
    field_name: str
    filename: str
    content_type: str
    content: bytes


_RAILS_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")


def _nest_rails_fields(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``contract_payment[amount]=1`` -> ``{"contract_payment": {"amount": "1"}}``; ``a[]`` -> list."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        match = _RAILS_KEY.match(key)
        if match is None:
            result[key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        container: dict[str, Any] = result
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            if last:
                container[part] = value
            elif following == "":
                existing = container.setdefault(part, [])
                if isinstance(existing, list):
                    existing.append(value)
                break
            else:
                nested = container.setdefault(part, {})
                if not isinstance(nested, dict):
                    nested = {}
                    container[part] = nested
                container = nested
    return result


def _parse_multipart(body: bytes, content_type: str) -> tuple[list[tuple[str, str]], list[UploadedFile]]:
    """multipart/form-data with the standard library (starlette's parser needs python-multipart)."""
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise api_error(400, "Malformed multipart/form-data body")
    fields: list[tuple[str, str]] = []
    files: list[UploadedFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append(UploadedFile(name, filename, part.get_content_type(), content))
        else:
            fields.append((name, content.decode("utf-8", errors="replace")))
    return fields, files


async def read_body(request: Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        return {}, []
    if media_type == "multipart/form-data":
        pairs, files = _parse_multipart(raw, content_type)
        return _nest_rails_fields(pairs), files
    if media_type == "application/x-www-form-urlencoded":
        return _nest_rails_fields(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)), []
    try:
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise api_error(400, "The request body is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise api_error(400, "The request body must be a JSON object")
    return decoded, []


def as_int(value: Any) -> int | None:
    """An integer from JSON (not bool, not float) or from a form field's digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        return int(value.strip())
    return None


def required_int(value: Any, name: str) -> int:
    if value is None or value == "":
        raise api_error(400, f"param is missing or the value is empty: {name}")
    number = as_int(value)
    if number is None:
        raise api_error(400, f"{name} must be an integer")
    return number


def query_int(request: Request, name: str, *, required: bool = True) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise api_error(400, f"param is missing or the value is empty: {name}")
        return None
    return required_int(value, name)


def _parse_time_bound(text: str, *, end: bool) -> datetime:
    text = text.strip()
    if DATE_TEXT.match(text):
        day = date.fromisoformat(text)
        start_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # A date-only end bound covers that whole day.
        return start_of_day + timedelta(days=1, microseconds=-1) if end else start_of_day
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _parse_time_range(raw: str, parameter: str) -> tuple[datetime, datetime]:
    """``start...end`` (ISO 8601 dates or date-times); both ends inclusive (inferred).

    Procore's filtering guide shows the range wrapped in double quotes, so quotes are allowed.
    """
    text = raw.strip().strip('"')
    if "..." not in text:
        raise api_error(400, f"{parameter} must be a range written start...end")
    start_text, end_text = text.split("...", 1)
    try:
        return _parse_time_bound(start_text, end=False), _parse_time_bound(end_text, end=True)
    except ValueError:
        raise api_error(400, f"{parameter} must be ISO 8601 dates or date-times: {raw}") from None


def _filter_values(request: Request, name: str) -> list[str]:
    return request.query_params.getlist(f"filters[{name}]") + request.query_params.getlist(
        f"filters[{name}][]"
    )


def _filter_ints(request: Request, name: str) -> set[int] | None:
    values = _filter_values(request, name)
    if not values:
        return None
    result: set[int] = set()
    for value in values:
        for piece in value.split(","):
            number = as_int(piece)
            if number is None:
                raise api_error(400, f"filters[{name}] must be integers")
            result.add(number)
    return result


def apply_filters(
    request: Request,
    items: list[_T],
    *,
    status_of: Callable[[_T], str] | None = None,
    commitment_of: Callable[[_T], int] | None = None,
) -> list[_T]:
    """The ``filters[...]`` the spec lists for commitments and requisitions (API-NOTES §6.5)."""
    ids = _filter_ints(request, "id")
    if ids is not None:
        items = [item for item in items if item.id in ids]
    for attribute in ("created_at", "updated_at"):
        raw = request.query_params.get(f"filters[{attribute}]")
        if raw:
            start, end = _parse_time_range(raw, f"filters[{attribute}]")
            items = [item for item in items if start <= getattr(item, attribute) <= end]
    origin_ids = _filter_values(request, "origin_id")
    if origin_ids:
        items = [item for item in items if item.origin_id in origin_ids]
    statuses = _filter_values(request, "status")
    if statuses and status_of is not None:
        items = [item for item in items if status_of(item) in statuses]
    if commitment_of is not None:
        commitment_ids = _filter_ints(request, "commitment_id")
        if commitment_ids is not None:
            items = [item for item in items if commitment_of(item) in commitment_ids]
    return items
