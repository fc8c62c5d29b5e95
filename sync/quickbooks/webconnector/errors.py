"""What the Web Connector reports when it cannot reach QuickBooks (an HRESULT), in words the person
at QuickBooks can act on (NOTES §8)."""

from __future__ import annotations

from sync.quickbooks.company_file import NEEDED_QUICKBOOKS
from sync.quickbooks.qbxml.build import QBXML_VERSION

VERSION_NOT_SUPPORTED_HRESULT = "0x80040428"


# HRESULTs the Web Connector passes on (NOTES §8), with what the person at QuickBooks can do.
_HRESULT_HINTS = {
    "0x80040400": "QuickBooks could not parse the request PaySync sent. This is a PaySync problem: "
    "update PaySync, and send the Web Connector log (QWCLog.txt) to support if it happens again.",
    "0x80040401": "Could not access QuickBooks. Start QuickBooks on the Web Connector's computer, open the "
    "company file, and check that PaySync is allowed in Edit > Preferences > Integrated Applications.",
    "0x80040402": "QuickBooks had an unexpected error. Check the qbsdklog.txt file next to QuickBooks, "
    "restart QuickBooks and the Web Connector, and try again.",
    "0x80040408": "Could not start QuickBooks. Open QuickBooks with the company file yourself, "
    "or allow the Web Connector to run it unattended, and run the update again.",
    VERSION_NOT_SUPPORTED_HRESULT: f"This QuickBooks is older than PaySync needs: PaySync asks in qbXML "
    f"{QBXML_VERSION}, which {NEEDED_QUICKBOOKS} and later understand. Update QuickBooks Desktop to 2014 or "
    "later (U.S. Pro, Premier, Accountant or Enterprise); PaySync itself needs no update, and the password "
    "and permissions are not the problem.",
}

_GENERIC_HRESULT_HINT = (
    "Check that QuickBooks is running with the company file open, signed in as a user who may use "
    "integrated applications, and that PaySync is allowed in Edit > Preferences > Integrated Applications."
)


def describe_hresult(hresult: str, message: str) -> str:
    code = hresult.strip()
    hint = _HRESULT_HINTS.get(code.lower(), _GENERIC_HRESULT_HINT)
    said = f": {message.strip().rstrip('.')}" if message.strip() else ""
    return f"QuickBooks reported {code}{said}. {hint}"
