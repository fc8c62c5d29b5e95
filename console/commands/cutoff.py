"""`paysync cutoff`: show the cutoff, and before the first push set or clear it."""

from __future__ import annotations

import argparse

from console.commands.common import EXIT_OK, CouldNotRun, company_key_argument, open_database_for
from storage import models
from storage.fields import utc_now
from sync.quickbooks.cutoff import cutoff_source, format_cutoff, schedule_cutoff
from sync.runtime.cutoff import CutoffLocked, change_cutoff, parse_cutoff, why_locked
from sync.settings import Settings, acting_person

DATE_MEANING = "a date means its start, 00:00 UTC; a date and time without an offset is read as UTC"


def _stored_payment_split(file_key: str) -> tuple[int, int]:
    payment = models.BillPayment
    company = models.CompanyFile.select(models.CompanyFile.id).where(models.CompanyFile.file_key == file_key)
    stored = payment.select().where(payment.company_file.in_(company))
    pre = stored.where(payment.pre_existing == True).count()  # noqa: E712 - SQL
    return pre, stored.count() - pre


def _payments_words(pre_existing: int, after: int) -> str:
    if not pre_existing and not after:
        return "PaySync has stored no QuickBooks payment yet"
    return f"of the payments PaySync has stored, {pre_existing} are pre-existing and {after} were created after it"


def command_cutoff(args: argparse.Namespace, settings: Settings) -> int:
    """Show the cutoff; before the first payment reaches Procore, set (`--set DATE`) or clear
    (`--reset`) it. Exits 0 when shown or changed; 2 when the date cannot be read, the change is
    refused (a payment is already in Procore, the Web Connector is in a session) or the database
    cannot be used."""
    open_database_for(args, settings)
    file_key = company_key_argument(args, settings)
    label = "" if file_key == settings.qbwc_file_key else f"Company file {file_key}: "
    if args.set is not None or args.reset:
        new = None
        if args.set is not None:
            try:
                new = parse_cutoff(args.set)
            except ValueError as exc:
                raise CouldNotRun(str(exc)) from None
        current = schedule_cutoff(file_key)
        try:
            change = change_cutoff(new, acting_person("cli"), file_key=file_key)
        except CutoffLocked as exc:
            shown = f"stays {format_cutoff(current)}" if current else "stays unset"
            raise CouldNotRun(f"Nothing changed: the cutoff {shown}. {exc}") from None
        was = f"it was {format_cutoff(change.old)}" if change.old else "there was none"
        if change.new is None:
            print(
                f"The cutoff is cleared ({was}). PaySync records a new one when it next runs for real; until "
                "then every payment it stores counts as pre-existing."
            )
            return EXIT_OK
        print(
            f"The cutoff is now {format_cutoff(change.new)} ({was}; {DATE_MEANING}). Payments created in "
            f"QuickBooks before it are never synced: {_payments_words(change.pre_existing, change.to_sync)}."
        )
        if change.new > utc_now():
            print(
                "That is in the future: payments created in QuickBooks between now and then are pre-existing "
                "too, and are never synced."
            )
        if change.reread_from is not None:
            print(
                f"The Web Connector's next session reads QuickBooks from {format_cutoff(change.reread_from)} on, "
                "so payments created since the new cutoff are fetched."
            )
        return EXIT_OK
    cutoff = schedule_cutoff(file_key)
    locked = why_locked(file_key)
    if label:
        print(label.rstrip(": ") + ":")
    if cutoff is None:
        print(
            "No cutoff yet. PaySync records it when it first runs for real: the first `paysync sync`, the "
            "console's first sync, the first Procore refresh of `paysync serve`, or the Web Connector's first "
            "session. Payments created in QuickBooks before it are never synced."
        )
    else:
        source = cutoff_source(file_key) or {}
        how = ""
        if source.get("how") == "set":
            how = f" (set by {source.get('by')})"
        elif source.get("how") == "recorded":
            how = f" (recorded at the first real run, by {source.get('by')})"
        pre_existing, after = _stored_payment_split(file_key)
        print(
            f"Cutoff: {format_cutoff(cutoff)}{how}. Payments created in QuickBooks before it are never synced: "
            f"{_payments_words(pre_existing, after)}."
        )
    if locked:
        print(f"It can no longer change: {locked}")
    elif cutoff is None:
        print(
            "To choose it yourself (your go-live date, say), run `paysync cutoff --set 2026-12-01` "
            f"({DATE_MEANING})."
        )
    else:
        print(
            "It can still change, because no payment has been pushed to Procore yet: `paysync cutoff --set "
            f"DATE` moves it ({DATE_MEANING}); `paysync cutoff --reset` clears it, so the next real run "
            "records it."
        )
    return EXIT_OK
