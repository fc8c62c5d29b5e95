"""Enter on a payment: everything known about it, QuickBooks side against Procore side."""

from __future__ import annotations

from datetime import tzinfo

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.bindings import DETAIL_BINDINGS
from console.widgets.detail import detail_renderable
from console.widgets.footer import KeyFooter
from console.widgets.tables import format_money, payment_reason
from storage.views import PaymentDetail, PaymentRow, status_label


def payment_clipboard_text(row: PaymentRow, detail: PaymentDetail | None, *, commitment: str | None) -> str:
    """A payment as plain text, one fact a line, for pasting into an e-mail or a ticket."""
    what = f"{row.method_label} {row.check_number}" if row.check_number else row.method_label
    amount = (
        row.amount_text
        if row.held
        else f"{format_money(row.amount)}" + (f" {row.currency}" if row.currency else "")
    )
    lines = [
        f"{what} · {row.vendor_name or '(no vendor)'} · {amount}",
        f"Date: {row.txn_date.isoformat()}",
        f"Status: {status_label(row.status)}",
        f"Commitment: {(detail.commitment_label if detail else None) or commitment or 'not matched'}",
        f"Invoice #: {row.invoice_number or 'not matched'}",
        f"QuickBooks bill #: {row.bill_ref_number or '—'}",
        f"Payment #: {'—' if row.payment_number is None else row.payment_number}",
    ]
    if detail is not None:
        lines.append(f"Procore payment: {detail.procore_payment_id or 'not created yet'}")
        lines.append(f"origin_id: {detail.origin_id or '—'}")
    lines.append(f"QuickBooks TxnID: {row.payment_txn_id}")
    reason = payment_reason(row)
    if reason:
        lines.append(f"Reason: {reason}")
    return "\n".join(lines)


class PaymentDetailScreen(ModalScreen[None]):
    BINDINGS = [*DETAIL_BINDINGS]

    def __init__(self, detail: PaymentDetail, *, tz: tzinfo | None) -> None:
        super().__init__(classes="dialog-screen")
        self.detail = detail
        self.tz = tz

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-dialog", classes="dialog") as dialog:
            row = self.detail.row
            dialog.border_title = (
                f"Payment {row.method_label} {row.check_number or ''} → invoice {row.invoice_number or '?'}"
            )
            dialog.border_subtitle = "esc to close · c to copy"
            with VerticalScroll():
                yield Static(detail_renderable(self.detail, full=True, tz=self.tz), id="detail-body")
        yield KeyFooter()

    def action_copy(self) -> None:
        text = payment_clipboard_text(self.detail.row, self.detail, commitment=None)
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied to the clipboard: {text.splitlines()[0]}", timeout=4)

    def action_close(self) -> None:
        self.dismiss(None)
