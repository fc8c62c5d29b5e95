"""What a person types into the main screen's prompt bar, read and checked (a payment number, the
path of a file to attach, where to write a CSV export); the rows that export writes; and why
retract (x) refuses a payment. Plain functions, testable without a running app; the screen
(console/screens/main_editing.py) calls them."""

from __future__ import annotations

from pathlib import Path

from console.widgets.tables import payment_reason
from storage import views
from storage.views import PaymentRow
from storage.vocabulary import ErpStatus
from sync.engine.service import MAX_PAYMENT_NUMBER
from sync.procore.attachments import ALLOWED_ATTACHMENT_TYPES, MAX_ATTACHMENT_BYTES

SYNCED, DELETED_IN_QUICKBOOKS = ErpStatus.SYNCED, ErpStatus.DELETED_IN_QUICKBOOKS
QUOTE_LIMIT = 30


def quoted(value: str, limit: int = QUOTE_LIMIT) -> str:
    """What the user typed, in quotes and shortened to `limit` characters (ending in …)."""
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return f"“{shown}”"


def parse_payment_number(text: str) -> int | None:
    """The payment number the user typed; empty clears it. ValueError says what is wrong and how to fix it."""
    value = text.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValueError(
            f"{quoted(value)} is not a payment number: type a whole number such as 1042, with the "
            "digits 0–9 only, or leave it empty to clear it. Nothing was stored."
        )
    number = int(value)
    if number < 1 or number > MAX_PAYMENT_NUMBER:
        raise ValueError(
            f"{quoted(value)} is out of range: a payment number is from 1 to {MAX_PAYMENT_NUMBER:,}. "
            "Nothing was stored."
        )
    return number


def payment_number_problem(text: str) -> str | None:
    try:
        parse_payment_number(text)
    except ValueError as error:
        return str(error)
    return None


def unquote_path(text: str) -> str:
    """A path as typed or pasted: Windows' "Copy as path" wraps it in double quotes."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def attachment_path(text: str) -> Path:
    return Path(unquote_path(text)).expanduser()


def attachment_problem(text: str) -> str | None:
    if not unquote_path(text):
        return "Type the path of the file to attach (for example ~/Checks/1042.pdf), or press esc."
    path = attachment_path(text)
    if not path.exists():
        return (
            f"There is no file at {quoted(str(path), 60)}: check the path (it is relative to {Path.cwd()})."
        )
    if not path.is_file():
        return f"{quoted(str(path), 60)} is a folder, not a file: give the path of one file."
    if path.suffix.lower() not in ALLOWED_ATTACHMENT_TYPES:
        allowed = ", ".join(sorted(s.lstrip(".") for s in ALLOWED_ATTACHMENT_TYPES))
        return f"{path.name}: files of type {path.suffix or '(none)'} cannot be attached. Allowed: {allowed}."
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty: choose the scanned check or remittance itself."
    if size > MAX_ATTACHMENT_BYTES:
        return (
            f"{path.name} is {size / 1024 / 1024:.1f} MB; Procore attachments here are limited to "
            f"{MAX_ATTACHMENT_BYTES // 1024 // 1024} MB. Compress or split it."
        )
    return None


def export_path(text: str) -> Path:
    return Path(unquote_path(text)).expanduser()


def export_problem(text: str) -> str | None:
    if not unquote_path(text):
        return "Type a file name for the CSV (for example payments.csv), or press esc."
    path = export_path(text)
    if path.is_dir():
        return f"{quoted(str(path), 60)} is a folder: add a file name, for example {path / 'payments.csv'}."
    if not path.parent.exists():
        return f"There is no folder {quoted(str(path.parent), 60)}: check the path. Nothing was written."
    if path.exists():
        return f"{path.name} already exists there: type another name (nothing was overwritten)."
    return None


def retract_refusal(row: PaymentRow) -> str:
    """Why `x` does nothing on this payment, and what retract is for."""
    purpose = (
        "Retract (x) deletes from Procore a payment that was deleted in QuickBooks after it was synced; "
        "PaySync never does that by itself."
    )
    if row.status == DELETED_IN_QUICKBOOKS:
        return (
            f"{purpose} This one was deleted in QuickBooks before it reached Procore, so there is nothing "
            "to retract."
        )
    if row.status == SYNCED:
        return (
            f"{purpose} This payment is Synced: it is still in QuickBooks. To change it, change it in "
            "QuickBooks (a void is carried to Procore as a void); the next sync brings the change over."
        )
    return f"{purpose} This payment is {views.status_label(row.status)}, not deleted in QuickBooks."


def csv_rows(rows: list[PaymentRow], commitment: str) -> list[list[str]]:
    header = [
        "Status",
        "Date",
        "Method",
        "Check #",
        "Payment #",
        "Amount",
        "Currency",
        "Invoice #",
        "QB bill #",
        "Vendor",
        "Commitment",
        "Reason",
        "QuickBooks TxnID",
    ]
    lines = [header]
    for row in rows:
        lines.append(
            [
                views.status_label(row.status),
                row.txn_date.isoformat(),
                row.method_label,
                row.check_number or "",
                "" if row.payment_number is None else str(row.payment_number),
                "" if row.held else f"{row.amount:.2f}",
                row.currency or "",
                row.invoice_number or "",
                row.bill_ref_number or "",
                row.vendor_name or "",
                commitment,
                payment_reason(row),
                row.payment_txn_id,
            ]
        )
    return lines
