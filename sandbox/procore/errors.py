"""How the simulated Procore says no: ``ApiError`` (raised by handlers, answered by the dispatcher)
and the bodies Procore uses: the generic ``{"code", "message", "errors"}`` model with Rails-style
full messages, and OAuth's ``{"error", "error_description"}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

INVALID_TOKEN_MESSAGE = "The access token is invalid"
MISSING_COMPANY_HEADER_MESSAGE = "Missing Procore-Company-Id header!"


class ApiError(Exception):
    """An HTTP error answer; handlers raise it and the dispatcher turns it into a response."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def to_response(self) -> Response:
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def api_error(status: int, message: str, errors: Mapping[str, list[str]] | None = None) -> ApiError:
    body: dict[str, Any] = {"code": status, "message": message}
    if errors is not None:
        body["errors"] = dict(errors)
    return ApiError(status, body)


def oauth_error(status: int, error: str, description: str) -> ApiError:
    return ApiError(
        status,
        {"error": error, "error_description": description},
        {"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _humanize(field_name: str) -> str:
    """Rails' humanize, which is why errors on origin_id read "Origin ...": drops ``_id``."""
    text = field_name.removesuffix("_id").replace("_", " ")
    return text[:1].upper() + text[1:]


def _full_messages(errors: Mapping[str, list[str]]) -> str:
    messages = [
        message if name == "base" else f"{_humanize(name)} {message}"
        for name, field_messages in errors.items()
        for message in field_messages
    ]
    return "; ".join(messages)


def unprocessable(errors: Mapping[str, list[str]]) -> ApiError:
    """422 with Rails' full messages joined as the ``message``."""
    return api_error(422, _full_messages(errors), errors)
