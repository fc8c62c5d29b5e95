"""What the person does to the payments on the main screen: filter, reload, open or copy a
payment, export the listed payments to CSV, set a payment number, attach a file, retract a
payment deleted in QuickBooks. The prompt bar (console/widgets/prompt.py) asks for what is typed;
writes go through the engine in thread workers, and failures go to the one error modal."""

from __future__ import annotations

import csv
from pathlib import Path

from textual import on, work

from console.messages import ExportWritten, PaymentChanged
from console.screens.confirm import ConfirmModal
from console.screens.detail import payment_clipboard_text
from console.screens.main_input import (
    DELETED_IN_QUICKBOOKS,
    attachment_path,
    attachment_problem,
    csv_rows,
    export_path,
    export_problem,
    parse_payment_number,
    payment_number_problem,
    retract_refusal,
)
from console.screens.main_sorting import MainSorting
from console.widgets.prompt import PromptBar
from console.widgets.tables import CommitmentsTable, PaymentsTable
from storage import views
from storage.views import PaymentRow
from sync.procore.attachments import MAX_ATTACHMENT_BYTES


class MainEditing(MainSorting):
    """The keys that act on the selection, the prompt bar's answers, and the writes they start."""

    # ----------------------------------------------------------------------------------------
    # Actions

    def action_reload(self) -> None:
        self.reload_all()
        self.notify("Reloaded from the database.", timeout=2)

    def action_filter(self) -> None:
        self.query_one(PromptBar).open(
            "filter",
            label="Filter commitments (esc clears)",
            placeholder="number, title, vendor, project, or a status: failed, waiting, deleted…",
            value=self.filter_text,
        )

    def action_clear_filter(self) -> None:
        if self.filter_text:
            self.filter_text = ""
            self.load_commitments("", self.sort.key, self.sort.descending)

    def action_open_detail(self) -> None:
        row = self.selected_payment()
        if row is not None:
            self.current_payment = str(row.application_id)
            self.load_detail(row.application_id, open_modal=True)

    def action_copy_payment(self) -> None:
        row = self.selected_payment()
        if row is None:
            self.notify(
                "Select a payment in the Payments pane first, then press c to copy it.", severity="warning"
            )
            return
        detail = (
            self.detail
            if self.detail is not None and self.detail.row.application_id == row.application_id
            else None
        )
        commitment = self.commitments.get(self.current_commitment or "")
        text = payment_clipboard_text(row, detail, commitment=commitment.number if commitment else None)
        self.app.copy_to_clipboard(text)
        first = text.splitlines()[0]
        self.notify(f"Copied to the clipboard: {first}", timeout=4)

    def action_export_csv(self) -> None:
        rows = self.query_one(PaymentsTable).row_count
        if not rows:
            self.notify(
                "There are no payments listed to export: select a commitment first.", severity="warning"
            )
            return
        commitment = self.commitments.get(self.current_commitment or "")
        name = (commitment.number if commitment and commitment.id is not None else "unmatched") or "payments"
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "payments"
        today = self.paysync.now().astimezone(self.paysync.display_tz).date()
        default = f"paysync-payments-{safe}-{today.isoformat()}.csv"
        suffix = (
            ""
            if self.payment_page_total <= rows
            else f" (the {rows:,} listed of {self.payment_page_total:,})"
        )
        self.query_one(PromptBar).open(
            "export",
            label=f"Export {rows:,} payments{suffix} to",
            placeholder="a file name or path, e.g. payments.csv",
            value=default,
            validate=export_problem,
        )

    def _payment_for(self, doing: str) -> PaymentRow | None:
        row = self.selected_payment()
        if row is None:
            self.notify(f"Select a payment in the Payments pane first, then {doing}.", severity="warning")
        return row

    def action_edit_payment_number(self) -> None:
        row = self._payment_for("set its payment number")
        if row is None:
            return
        if row.link_id is None:
            self.notify(
                f"This payment is not in Procore yet ({views.status_label(row.status)}): you can set its "
                "payment number once PaySync has linked it (after the next push).",
                severity="warning",
            )
            return
        if row.status == DELETED_IN_QUICKBOOKS:
            self.notify(
                "This payment was deleted in QuickBooks: its payment number can no longer change.",
                severity="warning",
            )
            return
        what = f"{row.method_label} {row.check_number or ''}".strip()
        self.query_one(PromptBar).open(
            f"payment_number:{row.link_id}",
            label=f"Payment # for {what} ({row.amount_text})",
            placeholder="a whole number, e.g. 1042; empty clears it",
            value="" if row.payment_number is None else str(row.payment_number),
            validate=payment_number_problem,
        )

    def action_add_attachment(self) -> None:
        row = self._payment_for("attach a file")
        if row is None:
            return
        if row.status == DELETED_IN_QUICKBOOKS:
            self.notify(
                "This payment was deleted in QuickBooks: it takes no more attachments. Retract it (x) "
                "if it should go from Procore.",
                severity="warning",
            )
            return
        if row.link_id is None or row.procore_payment_id is None:
            self.notify(
                f"This payment is not in Procore yet ({views.status_label(row.status)}), so there is "
                "nothing to attach a file to. Attach it once the payment shows Synced.",
                severity="warning",
            )
            return
        limit = MAX_ATTACHMENT_BYTES // 1024 // 1024
        self.query_one(PromptBar).open(
            f"attachment:{row.link_id}",
            label=f"Attach a file to {row.method_label} {row.check_number or ''} ({row.amount_text}) in Procore",
            placeholder=f"path of a check image or remittance, up to {limit} MB: ~/Checks/1042.pdf",
            validate=attachment_problem,
        )

    def action_retract(self) -> None:
        row = self.selected_payment()
        if row is None:
            self.notify("Select a payment in the Payments pane first.", severity="warning")
            return
        if row.status != DELETED_IN_QUICKBOOKS or row.link_id is None or row.procore_payment_id is None:
            self.notify(retract_refusal(row), title="Nothing to retract", severity="information", timeout=12)
            return
        link_id = row.link_id
        question = (
            f"Delete the Procore payment for {row.method_label} {row.check_number or ''} of "
            f"{row.amount_text} (invoice {row.invoice_number or '?'}) from its commitment?\n\n"
            "It was deleted in QuickBooks. This cannot be undone in PaySync, and it is written to the audit log."
        )

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.run_retract(link_id)
            else:
                self.notify("Nothing was retracted.", timeout=3)

        self.app.push_screen(ConfirmModal("Retract payment?", question, yes_label="Retract"), answered)

    @on(PromptBar.Changed)
    def prompt_changed(self, message: PromptBar.Changed) -> None:
        if message.mode == "filter":
            self.filter_text = message.value.strip()
            self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)

    @on(PromptBar.Submitted)
    def prompt_submitted(self, message: PromptBar.Submitted) -> None:
        mode, _, target = message.mode.partition(":")
        if mode == "payment_number":
            self.run_set_payment_number(int(target), parse_payment_number(message.value))
        elif mode == "attachment":
            self.run_add_attachment(int(target), attachment_path(message.value))
        elif mode == "export":
            commitment = self.commitments.get(self.current_commitment or "")
            rows = [self.payments[key] for key in self.payment_keys_in_order() if key in self.payments]
            label = commitment.number if commitment else ""
            self.run_export(export_path(message.value), csv_rows(rows, label))
        self.query_one(PaymentsTable if mode != "filter" else CommitmentsTable).focus()

    def payment_keys_in_order(self) -> list[str]:
        table = self.query_one(PaymentsTable)
        return [str(row_key.value) for row_key in table.rows]

    @on(PromptBar.Cancelled)
    def prompt_cancelled(self, message: PromptBar.Cancelled) -> None:
        if message.mode == "filter":
            self.action_clear_filter()
            self.query_one(CommitmentsTable).focus()
        else:
            self.query_one(PaymentsTable).focus()
            self.notify(
                "Nothing was changed." if message.mode != "export" else "Nothing was written.", timeout=2
            )

    # ----------------------------------------------------------------------------------------
    # Writes through the engine (thread workers; failures go to the one error modal)

    @work(thread=True, group="edit", exit_on_error=False, description="set the payment number")
    def run_set_payment_number(self, link_id: int, number: int | None) -> None:
        with views.read_session():
            if views.payment_number_of(link_id) == number:
                shown = "empty" if number is None else str(number)
                self.post_message(
                    PaymentChanged(f"Nothing changed: the payment number is already {shown}.", changed=False)
                )
                return
            outcome = self.paysync.service.set_payment_number(link_id, number)
        self.post_message(PaymentChanged(outcome))

    @work(thread=True, group="edit", exit_on_error=False, description="attach the file")
    def run_add_attachment(self, link_id: int, path: Path) -> None:
        with views.read_session():
            if views.attachment_on_payment(link_id, path.name, path.stat().st_size):
                self.post_message(
                    PaymentChanged(
                        f"Nothing changed: {path.name} is already attached to this payment in Procore.",
                        changed=False,
                    )
                )
                return
            outcome = self.paysync.service.add_attachment(link_id, path)
        self.post_message(PaymentChanged(outcome))

    @work(thread=True, group="edit", exit_on_error=False, description="retract the payment")
    def run_retract(self, link_id: int) -> None:
        with views.read_session():
            self.paysync.service.retract_payment(link_id, confirm=True)
        self.post_message(PaymentChanged("The payment was retracted from Procore."))

    @work(thread=True, group="export", exit_on_error=False, description="write the CSV file")
    def run_export(self, path: Path, lines: list[list[str]]) -> None:
        with path.open("x", newline="", encoding="utf-8-sig") as handle:
            csv.writer(handle).writerows(lines)
        self.post_message(ExportWritten(path.resolve(), len(lines) - 1))

    def on_export_written(self, message: ExportWritten) -> None:
        self.notify(f"Wrote {message.count:,} payments to {message.path}", title="Exported", timeout=10)

    def on_payment_changed(self, message: PaymentChanged) -> None:
        if not message.changed:
            self.notify(message.text, title="Nothing changed", timeout=5)
            return
        self.notify(message.text, title="Saved", timeout=5)
        self.reload_all()
