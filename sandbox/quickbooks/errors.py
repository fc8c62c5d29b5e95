"""How QuickBooks says no. A whole document or session refused: ``QuickBooksParseError``,
``QuickBooksVersionError`` and ``QuickBooksConnectionError`` with the HRESULTs the Web Connector
reports (NOTES §8). One request refused inside an answered document: ``StatusAnswer`` (a status
code and no Ret elements) and ``InvalidDate`` (status 3020)."""

from __future__ import annotations

from datetime import date
from typing import Final

PARSE_ERROR_HRESULT: Final = "0x80040400"
PARSE_ERROR_MESSAGE: Final = "QuickBooks found an error when parsing the provided XML text stream."
CONNECTION_ERROR_HRESULT: Final = "0x80040401"
CONNECTION_ERROR_MESSAGE: Final = "Could not access QuickBooks."
# What the Web Connector reports when QuickBooks' request processor refuses the requested qbXML
# version (the text is QBXMLRP2's error message for this HRESULT).
VERSION_ERROR_HRESULT: Final = "0x80040428"
VERSION_ERROR_MESSAGE: Final = "The version of QBXML that was requested is not supported or is unknown."


class QuickBooksParseError(Exception):
    """QuickBooks could not parse (or schema-check) a request document.

    QuickBooks answers no qbXML at all then; the Web Connector reports the failure to the service
    as ``hresult`` 0x80040400 with the message below (NOTES §8 HRESULTs). ``detail`` says what the
    sandbox objected to, for the test output; real QuickBooks keeps that in qbsdklog.txt.
    """

    hresult = PARSE_ERROR_HRESULT

    def __init__(self, detail: str) -> None:
        super().__init__(PARSE_ERROR_MESSAGE)
        self.message = PARSE_ERROR_MESSAGE
        self.detail = detail

    def __str__(self) -> str:
        return f"{PARSE_ERROR_MESSAGE} ({self.detail})"


class QuickBooksVersionError(Exception):
    """QuickBooks does not support the qbXML version the request asked for (too new for it).

    QuickBooks' request processor refuses the whole document before reading it, and the Web
    Connector reports ``hresult`` 0x80040428 with the message below to receiveResponseXML, not the
    generic parse error. ``detail`` says which version was refused, for test output.
    """

    hresult = VERSION_ERROR_HRESULT

    def __init__(self, detail: str) -> None:
        super().__init__(VERSION_ERROR_MESSAGE)
        self.message = VERSION_ERROR_MESSAGE
        self.detail = detail

    def __str__(self) -> str:
        return f"{VERSION_ERROR_MESSAGE} ({self.detail})"


class QuickBooksConnectionError(Exception):
    """The Web Connector could not open a session with QuickBooks (QuickBooks closed, file busy…)."""

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


class InvalidDate(Exception):
    """A date or date-time filter QuickBooks cannot convert: status 3020 on that request."""

    def __init__(self, element: str, value: str) -> None:
        super().__init__(value)
        self.element = element
        self.value = value

    @property
    def message(self) -> str:
        return (
            f'Invalid date "{self.value}" in the field "{self.element}". '
            "There was an error when converting the date value."
        )


class StatusAnswer(Exception):
    """Ends one request with a status and no Ret elements (3020, 3030, 3391, an injected code…)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_range(low: int | date | None, high: int | date | None) -> None:
    """Status 3030 for a date range whose From is later than its To."""
    if low is not None and high is not None and low > high:  # type: ignore[operator]
        raise StatusAnswer(3030, "The date range is invalid: the From date is later than the To date.")
