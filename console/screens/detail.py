"""Enter on a payment: everything known about it, QuickBooks side against Procore side."""

from __future__ import annotations

from datetime import tzinfo

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.bindings import MODAL_BINDINGS
from console.widgets.detail import detail_renderable
from storage.views import PaymentDetail


class PaymentDetailScreen(ModalScreen[None]):
    BINDINGS = [*MODAL_BINDINGS]

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
            dialog.border_subtitle = "esc to close"
            with VerticalScroll():
                yield Static(detail_renderable(self.detail, full=True, tz=self.tz))

    def action_close(self) -> None:
        self.dismiss(None)
