"""The main screen reading the database and showing it: every read runs in a named thread worker
and comes back as a typed Message (console/messages.py), so the UI never blocks; results for a
selection the user has already left are dropped, so a slow read can never overwrite a newer one.
Moving in a list narrows the next one (commitment → its invoices and payments → the payment's
detail)."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.widgets import DataTable

from console.messages import (
    CommitmentsLoaded,
    InvoicesLoaded,
    OverviewLoaded,
    PaymentDetailLoaded,
    PaymentsLoaded,
)
from console.screens.detail import PaymentDetailScreen
from console.screens.main_base import MainScreenBase, sort_label
from console.screens.main_input import quoted
from console.widgets.detail import PaymentDetailPanel
from console.widgets.tables import (
    CommitmentsTable,
    InvoicesTable,
    PaymentsTable,
    commitment_id_of,
    commitment_key,
)
from storage import views
from storage.views import PaymentRow

PAGE_SIZE = 500


class MainReading(MainScreenBase):
    """Reads in thread workers, shows what they read, and follows the person's selection."""

    # ----------------------------------------------------------------------------------------
    # Reading (thread workers → Messages)

    def reload_all(self) -> None:
        self.load_overview()
        self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False, description="read the overview")
    def load_overview(self) -> None:
        with views.read_session():
            overview = views.overview()
        self.post_message(OverviewLoaded(overview))

    @work(
        thread=True, exclusive=True, group="commitments", exit_on_error=False, description="read commitments"
    )
    def load_commitments(self, text: str, sort: str, descending: bool) -> None:
        file_key = self.company_filter
        with views.read_session():
            page = views.list_commitments(
                text=text, limit=PAGE_SIZE, sort=sort, descending=descending, file_key=file_key
            )
        self.post_message(CommitmentsLoaded(page, text=text, file_key=file_key))

    @work(
        thread=True,
        exclusive=True,
        group="children",
        exit_on_error=False,
        description="read invoices and payments",
    )
    def load_children(self, key: str, invoice_id: int | None, text: str) -> None:
        commitment_id = commitment_id_of(key)
        sort = self.payment_sort
        file_key = self.company_filter
        with views.read_session():
            invoices = (
                views.list_invoices(commitment_id, file_key=file_key) if commitment_id is not None else ()
            )
            page = views.list_payments(
                commitment_id,
                invoice_id=invoice_id,
                limit=PAGE_SIZE,
                sort=sort.key,
                descending=sort.descending,
                text=text,
                file_key=file_key,
            )
        self.post_message(InvoicesLoaded(commitment_id, invoices, file_key=file_key))
        self.post_message(PaymentsLoaded(commitment_id, invoice_id, page, file_key=file_key))

    @work(thread=True, exclusive=True, group="payments", exit_on_error=False, description="read payments")
    def load_payments(self, key: str, invoice_id: int | None, text: str) -> None:
        commitment_id = commitment_id_of(key)
        sort = self.payment_sort
        file_key = self.company_filter
        with views.read_session():
            page = views.list_payments(
                commitment_id,
                invoice_id=invoice_id,
                limit=PAGE_SIZE,
                sort=sort.key,
                descending=sort.descending,
                text=text,
                file_key=file_key,
            )
        self.post_message(PaymentsLoaded(commitment_id, invoice_id, page, file_key=file_key))

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False, description="read the payment")
    def load_detail(self, application_id: int, open_modal: bool = False) -> None:
        with views.read_session():
            detail = views.payment_detail(application_id)
        self.post_message(PaymentDetailLoaded(detail, open_modal=open_modal))

    def on_overview_loaded(self, message: OverviewLoaded) -> None:
        changed = self.overview is not None and (
            message.overview.counts != self.overview.counts
            or message.overview.last_sync != self.overview.last_sync
        )
        self.overview = message.overview
        self.companies_changed()
        self.render_topbar()
        if changed and not self.sync_running:
            # Something else (the Web Connector, the schedule, `paysync serve`) changed the data.
            self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)

    def commitments_title(self) -> str:
        table = self.query_one(CommitmentsTable)
        order = sort_label(self.sort.key, self.sort.descending)
        if self.filter_text:
            return f"Commitments · {quoted(self.filter_text)} · {self._commitment_count} · {order}"
        return f"Commitments · {self._commitment_count} · {order}" if table.row_count else "Commitments"

    def on_commitments_loaded(self, message: CommitmentsLoaded) -> None:
        if message.text != self.filter_text or message.file_key != self.company_filter:
            return  # the user has typed on (or picked another company file) since
        table = self.query_one(CommitmentsTable)
        self.commitments = {commitment_key(row.id): row for row in message.page.rows}
        table.set_sort(self.sort.key, self.sort.descending)
        table.show(message.page.rows)
        shown = sum(1 for row in message.page.rows if row.id is not None)
        count = (
            f"{message.page.total:,}"
            if shown == message.page.total
            else f"{shown:,} shown of {message.page.total:,}"
        )
        self._commitment_count = f"{count} of {message.page.overall:,}" if self.filter_text else count
        table.border_title = self.commitments_title()
        table.border_subtitle = ""
        if message.page.overall == 0 and not message.page.rows:
            table.border_subtitle = "none yet: press s to import them from Procore"
        elif not message.page.rows:
            table.border_subtitle = "nothing matches the filter: esc clears it"
        key = table.highlighted_key
        if key is None:
            self.current_commitment = None
            self.query_one(InvoicesTable).show(())
            self.query_one(InvoicesTable).border_title = "Invoices"
            self.query_one(PaymentsTable).show(())
            self.query_one(PaymentsTable).border_title = "Payments"
            self.payments = {}
            self.show_detail_for(None)
            return
        self.select_commitment(key, force=True)

    def select_commitment(self, key: str, *, force: bool = False) -> None:
        if key == self.current_commitment and not force:
            return
        self.current_commitment = key
        self.current_invoice = None
        self.load_children(key, None, self.filter_text)

    def on_invoices_loaded(self, message: InvoicesLoaded) -> None:
        if self.current_commitment != commitment_key(message.commitment_id):
            return
        if message.file_key != self.company_filter:
            return
        table = self.query_one(InvoicesTable)
        table.show(message.invoices)
        row = self.commitments.get(self.current_commitment)
        label = row.number if row else ""
        if message.commitment_id is None:
            table.border_title = "Invoices · unmatched payments have none"
        else:
            order = sort_label(table.sort_key or "draw", table.sort_descending)
            table.border_title = f"Invoices of {label} · {len(message.invoices)} · {order}"

    def on_payments_loaded(self, message: PaymentsLoaded) -> None:
        if self.current_commitment != commitment_key(message.commitment_id):
            return
        if message.invoice_id != self.current_invoice or message.file_key != self.company_filter:
            return
        table = self.query_one(PaymentsTable)
        self.payments = {str(row.application_id): row for row in message.page.rows}
        self.payment_page_total = message.page.total
        table.set_sort(self.payment_sort.key, self.payment_sort.descending)
        table.show(message.page.rows)
        row = self.commitments.get(self.current_commitment or "")
        scope = row.number if row else ""
        if message.invoice_id is not None:
            invoice = next((r for r in message.page.rows if r.invoice_id == message.invoice_id), None)
            scope += f" · invoice {invoice.invoice_number if invoice else ''}".rstrip()
        elif message.commitment_id is None and self.filter_text:
            scope += f" · {quoted(self.filter_text)}"
        total = message.page.total
        shown = len(message.page.rows)
        count = f"{total:,}" if shown == total else f"{shown:,} of {total:,}"
        order = sort_label(self.payment_sort.key, self.payment_sort.descending)
        table.border_title = f"Payments of {scope} · {count} · {order}"
        self.show_payments_hint()
        self.show_detail_for(table.highlighted_key)

    def show_detail_for(self, key: str | None) -> None:
        self.current_payment = key
        if key is None:
            self.detail = None
            self.query_one(PaymentDetailPanel).show(None, tz=self.paysync.display_tz)
            return
        self.load_detail(int(key))

    def on_payment_detail_loaded(self, message: PaymentDetailLoaded) -> None:
        detail = message.detail
        if detail is None or str(detail.row.application_id) != self.current_payment:
            return
        self.detail = detail
        self.query_one(PaymentDetailPanel).show(detail, tz=self.paysync.display_tz)
        if message.open_modal:
            self.app.push_screen(PaymentDetailScreen(detail, tz=self.paysync.display_tz))

    # ----------------------------------------------------------------------------------------
    # Following the user's selection

    @on(DataTable.RowHighlighted, "#commitments")
    def commitment_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is not None:
            self.select_commitment(key)

    @on(DataTable.RowHighlighted, "#invoices")
    def invoice_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Refilling the table highlights its first row; only a user moving in it narrows the payments.
        if not event.data_table.has_focus or self.current_commitment is None or event.row_key.value is None:
            return
        self.narrow_to_invoice(int(event.row_key.value))

    def narrow_to_invoice(self, invoice_id: int | None) -> None:
        if self.current_commitment is None or invoice_id == self.current_invoice:
            return
        self.current_invoice = invoice_id
        self.load_payments(self.current_commitment, invoice_id, self.filter_text)

    @on(DataTable.RowHighlighted, "#payments")
    def payment_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is not None and key != self.current_payment:
            self.show_detail_for(key)

    @on(DataTable.RowSelected, "#payments")
    def payment_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.current_payment = event.row_key.value
            self.load_detail(int(event.row_key.value), open_modal=True)

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget
        if (
            isinstance(widget, CommitmentsTable)
            and self.current_invoice is not None
            and self.current_commitment
        ):
            self.current_invoice = None
            self.load_payments(self.current_commitment, None, self.filter_text)
        elif isinstance(widget, InvoicesTable):
            key = widget.highlighted_key
            if key is not None:
                self.narrow_to_invoice(int(key))

    def selected_payment(self) -> PaymentRow | None:
        key = self.query_one(PaymentsTable).highlighted_key
        return self.payments.get(key) if key is not None else None
