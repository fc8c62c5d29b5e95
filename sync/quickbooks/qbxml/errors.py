"""Errors raised while building or reading qbXML.

Every message says what is wrong and what to do about it, because these errors end up in the
console and in `paysync status` where an accountant, not a developer, reads them.
"""

from __future__ import annotations


class QbXMLError(Exception):
    """Base class for every qbXML problem (bad input, unsafe XML, unexpected content, error status)."""


class UnsafeXMLError(QbXMLError):
    """The document declares a DOCTYPE, an entity or an external reference; it was refused unread."""


class MalformedXMLError(QbXMLError):
    """The text is not well-formed XML (truncated, wrong encoding, not XML at all)."""


class QbXMLContentError(QbXMLError):
    """Well-formed XML that is not the qbXML we expect (wrong root, missing TxnID, bad amount...).

    When one field of one record is the problem, `element` names it ("Amount",
    "AppliedToTxnRet/Amount") and `raw` holds the text QuickBooks sent (None: the element is missing).
    """

    def __init__(
        self, message: str, *, element: str | None = None, raw: str | None = None, problem: str | None = None
    ) -> None:
        super().__init__(message)
        self.element = element
        self.raw = raw
        self.problem = problem  # what is wrong with the value, e.g. "is not a qbXML amount (...)"


class QbXMLStatusError(QbXMLError):
    """QuickBooks answered a request with an error status (statusCode outside 0, 1 and 500-999)."""

    def __init__(self, code: int, severity: str, message: str, rs_name: str) -> None:
        self.code = code
        self.severity = severity
        self.message = message
        self.rs_name = rs_name
        super().__init__(self._describe())

    def _describe(self) -> str:
        request_name = self.rs_name[:-2] + "Rq" if self.rs_name.endswith("Rs") else self.rs_name
        text = self.message.strip() or "(QuickBooks gave no message)"
        hint = _STATUS_HINTS.get(
            self.code, "See the QuickBooks qbXML status-code list and the qbsdklog.txt file."
        )
        severity = self.severity or "Error"
        return f"QuickBooks refused {request_name} with {severity} {self.code}: {text}. {hint}"


# Hints for the codes this importer can plausibly meet (NOTES §8). Unknown codes get a generic hint.
_STATUS_HINTS: dict[int, str] = {
    1000: "QuickBooks had an internal error; try again, and check qbsdklog.txt if it repeats.",
    3020: "A date in the request is invalid; check the sync watermark.",
    3030: "The date range is invalid (start after end); check the sync watermark.",
    3120: "The referenced object was not found in the company file; it may have been deleted.",
    3140: "The request refers to a record that does not exist in the company file.",
    3170: "QuickBooks could not complete the request (record in use); it will be retried.",
    3175: "The record is in use by another QuickBooks user; it will be retried.",
    3176: "The record is locked by another QuickBooks user; it will be retried.",
    3180: "QuickBooks could not save the change; it will be retried.",
    3250: "This feature is not enabled in this QuickBooks edition or version.",
    3260: "The Web Connector user lacks permission; grant it in QuickBooks (Edit > Preferences > Integrated Applications).",
    3261: "The Web Connector user lacks permission for personal data; change the application's access rights.",
    3391: "The query iterator was lost (QuickBooks was restarted or the session ended); the query will start again.",
}
