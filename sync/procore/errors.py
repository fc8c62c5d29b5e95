"""What can go wrong talking to Procore, as exceptions a caller can act on.

- `ProcoreAuthError`: sign-in is broken (bad client credentials, a dead refresh token, a 401 that a
  fresh token did not cure). A person must fix it (`.env` or `paysync login`).
- `ProcoreRequestError`: Procore refused the request (a 4xx): the message is Procore's own, and
  `errors` holds its per-field messages. Nothing was written.
- `ProcoreUnavailable`: Procore could not be reached or kept failing (408/429/5xx/network) after
  the retries. For a write this is only raised when Procore said it did *not* process it (429).
- `ProcoreWriteOutcomeUnknown`: a write was sent and the answer was lost or a 5xx: it may or may
  not have been applied. The caller must reconcile (list and match `origin_id`) before retrying.
"""

from __future__ import annotations

import socket
from typing import Any


class ProcoreError(Exception):
    """Base class: `str(e)` is a sentence a person can act on, with Procore's own message."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        url: str = "",
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.url = url
        self.body = body

    def __str__(self) -> str:
        return self.message


class ProcoreAuthError(ProcoreError):
    """Sign-in failed or expired for good; the message says whether to fix .env or run `paysync login`."""


class ProcoreRequestError(ProcoreError):
    """Procore refused the request (4xx) with its own message; `errors` maps field -> messages."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        url: str = "",
        body: object = None,
        errors: dict[str, list[str]] | None = None,
        procore_message: str = "",
    ) -> None:
        super().__init__(message, status=status, method=method, url=url, body=body)
        self.errors: dict[str, list[str]] = errors or {}
        self.procore_message = procore_message


class ProcoreUnavailable(ProcoreError):
    """Procore kept failing (408/429/5xx/network) until the retries ran out; try again later."""


class ProcoreWriteOutcomeUnknown(ProcoreError):
    """A write may or may not have been applied: reconcile by listing before any retry."""


def name_resolution_failure(exc: BaseException) -> socket.gaierror | None:
    """The DNS error behind a connection failure (httpx.ConnectError caused by socket.gaierror), if
    that is what it was: the host name does not resolve, so retrying in seconds cannot help."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, socket.gaierror):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def unresolved_host_message(key: str, base: str, host: str, failure: socket.gaierror, example: str) -> str:
    reason = failure.strerror or str(failure)
    return (
        f"{key}={base!r}: the host {host} cannot be found ({reason}). Check {key} for a typo (Procore's is "
        f"{example}) and that this computer can reach the internet."
    )


def not_procore_message(key: str, base: str, what: str, example: str) -> str:
    return f"{key}={base!r} does not answer as Procore: {what}. Check {key} (Procore's is {example})."


def procore_error_messages(body: object) -> tuple[str, dict[str, list[str]]]:
    """Pull Procore's human message and per-field errors out of an error body.

    Procore's 4xx bodies come in several shapes (API-NOTES §6.3): `{"message": ...}`,
    `{"error": "..."}`, `{"error": {"message": ...}}`, `{"errors": {"field": ["msg", ...]}}`,
    `{"errors": "..."}`, plus `reason`/`fields` in the generic model and `error_description`
    from the OAuth endpoints. Returns (one-line message, {field: [messages]}).
    """
    if isinstance(body, str):
        return body.strip()[:500], {}
    if isinstance(body, list):
        # Some endpoints answer a list of messages.
        texts = [str(item) for item in body if isinstance(item, str | int | float)]
        return "; ".join(texts), {}
    if not isinstance(body, dict):
        return "", {}
    parts: list[str] = []
    field_errors: dict[str, list[str]] = {}

    def add(text: Any) -> None:
        if isinstance(text, str) and text.strip() and text.strip() not in parts:
            parts.append(text.strip())

    add(body.get("message"))
    error = body.get("error")
    if isinstance(error, dict):
        add(error.get("message"))
        add(error.get("description"))
    elif isinstance(error, str) and not body.get("error_description"):
        add(error)
    add(body.get("error_description"))
    add(body.get("reason"))
    errors = body.get("errors")
    if isinstance(errors, str):
        add(errors)
    elif isinstance(errors, list):
        for item in errors:
            add(item if isinstance(item, str) else None)
    elif isinstance(errors, dict):
        for name, value in errors.items():
            messages = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            field_errors[str(name)] = messages
        if field_errors:
            # Rails names errors on the record as a whole "base"; those read as they are.
            add(
                "; ".join(
                    "; ".join(msgs) if name == "base" else f"{name} {'; '.join(msgs)}"
                    for name, msgs in field_errors.items()
                )
            )
    fields = body.get("fields")
    if isinstance(fields, str) and fields.strip() and not field_errors:
        add(f"fields: {fields.strip()}")
    return " — ".join(parts), field_errors
