"""The selected payment: QuickBooks side against Procore side, and the reason for its status.

In the pane a long value ends in "…" (the pane has a fixed height), except amounts, which wrap
rather than lose a digit; in the full view (enter) every value wraps, so nothing is cut.
"""

from __future__ import annotations

from datetime import tzinfo

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console.widgets.status import palette, status_text
from console.widgets.tables import format_money
from console.widgets.timefmt import stamp
from storage.views import PaymentDetail


class Money(str):
    """A value holding an amount: it wraps in the pane rather than being cut."""


def _facts(title: str, rows: list[tuple[str, str | Text]], *, full: bool) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(style="bold", no_wrap=True, width=15)
    table.add_column(ratio=1)
    table.add_row(Text(title, style="bold underline"), "")
    for label, value in rows:
        text = value if isinstance(value, Text) else Text(value)
        if full or isinstance(value, Money):
            text.no_wrap = False
            text.overflow = "fold"
        else:
            text.no_wrap = True
            text.overflow = "ellipsis"
        table.add_row(label, text)
    return table


def quickbooks_side(detail: PaymentDetail, *, full: bool, tz: tzinfo | None = None) -> Table:
    row = detail.row
    kind = f"{row.method_label}" + (f" #{row.check_number}" if row.check_number else "")
    if row.held:
        return _facts(
            "QuickBooks",
            [
                ("Record", f"{row.method_label} (unreadable)"),
                ("Company file", detail.company_file_label or detail.file_key),
                ("As sent", Text(" ".join((detail.raw_record or "—").split())[:500], style="italic")),
            ],
            full=full,
        )
    code = f" {row.currency}" if row.currency else ""
    rows: list[tuple[str, str | Text]] = [
        ("Payment", kind + ("  (VOID)" if row.is_void else "")),
        ("Date · vendor", f"{row.txn_date.isoformat()} · {row.vendor_name or '—'}"),
        (
            "Applied / total",
            Money(f"{format_money(row.amount)} of {format_money(detail.payment_total)}{code}"),
        ),
        (
            "Bill #",
            f"{row.bill_ref_number or '—'}" + (f" ({detail.bill_txn_date})" if detail.bill_txn_date else ""),
        ),
    ]
    if detail.company_file_label and not full:
        # Several company files: which books the payment is from (the full view lists it below).
        rows.insert(0, ("Company file", detail.company_file_label))
    if full:
        rows += [
            ("TxnID", f"{row.payment_txn_id} (edit {detail.edit_sequence})"),
            ("Bill TxnID", detail.bill_txn_id),
            ("Modified (QB)", detail.time_modified),
            ("Account", detail.account_name or "—"),
            ("Memo", detail.memo or "—"),
            ("Company file", detail.company_file_label or detail.file_key),
        ]
    if row.currency:
        rate = f"rate {detail.exchange_rate}" if detail.exchange_rate else "no rate given"
        home = (
            f" · {format_money(detail.amount_in_home_currency)} {detail.home_currency or 'USD'} in QuickBooks"
            if detail.amount_in_home_currency is not None
            else ""
        )
        rows.append(("Currency", Money(f"{row.currency} ({rate}){home}; never converted")))
    if detail.not_paid:
        rows.append(
            ("Not paid", "also applied: " + ", ".join(detail.not_paid) + " (not in the Procore amount)")
        )
    if detail.pre_existing:
        rows.append(("Pre-existing", "created before the schedule was configured"))
    if detail.deleted_at is not None:
        rows.append(("Deleted", stamp(detail.deleted_at, tz)))
    return _facts("QuickBooks", rows, full=full)


def procore_side(detail: PaymentDetail, *, full: bool, tz: tzinfo | None) -> Table:
    row = detail.row
    rows: list[tuple[str, str | Text]] = [
        ("Status", status_text(row.status)),
        ("Commitment", detail.commitment_label or Text("not matched", style="italic")),
        ("Invoice #", row.invoice_number or Text("not matched", style="italic")),
        (
            "Procore payment",
            Money(
                (f"#{detail.procore_payment_id}" if detail.procore_payment_id else "not created yet")
                + (
                    f" · {format_money(detail.pushed_amount)}{' ' + row.currency if row.currency else ''}"
                    if detail.pushed_amount is not None
                    else ""
                )
                + (" · locked (ERP)" if detail.locked else "")
            ),
        ),
        ("Payment #", "—" if row.payment_number is None else str(row.payment_number)),
    ]
    if full:
        rows += [
            ("origin_id", detail.origin_id or "—"),
            ("Matched by", detail.match_reason or "—"),
            ("Last attempt", stamp(detail.last_attempt_at, tz) or "—"),
            ("Attachments", ", ".join(detail.attachments) or "none"),
        ]
    return _facts("Procore", rows, full=full)


def reason_text(detail: PaymentDetail) -> Text:
    text = Text("Reason: ", style="bold")
    reason = detail.row.reason
    if detail.row.is_void and not reason:
        reason = "Voided in QuickBooks."
    text.append(reason or "—", style="italic" if reason else palette().grey)
    return text


def detail_renderable(
    detail: PaymentDetail | None, *, full: bool = False, tz: tzinfo | None = None
) -> RenderableType:
    if detail is None:
        return Text(
            "Select a payment to see QuickBooks and Procore side by side.", style=f"italic {palette().grey}"
        )
    sides = Table.grid(padding=(0, 3), expand=True)
    sides.add_column(ratio=1)
    sides.add_column(ratio=1)
    sides.add_row(quickbooks_side(detail, full=full, tz=tz), procore_side(detail, full=full, tz=tz))
    parts: list[RenderableType] = [sides, reason_text(detail)]
    if full and detail.writes:
        journal = Table(title="Procore writes (newest first)", title_justify="left", box=None, expand=True)
        journal.add_column("At", no_wrap=True)
        journal.add_column("Operation")
        journal.add_column("Status")
        journal.add_column("Error", ratio=1)
        for write in detail.writes:
            journal.add_row(stamp(write.at, tz), write.operation, write.status, write.error or "")
        parts.append(Text(""))
        parts.append(journal)
    return Group(*parts)


class PaymentDetailPanel(Static):
    def show(self, detail: PaymentDetail | None, *, tz: tzinfo | None) -> None:
        self.update(detail_renderable(detail, tz=tz))
