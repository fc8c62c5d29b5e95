"""The currency list (multicurrency company files): QuickBooks' names for currencies and their ISO
codes, which a person may rename. Queued when a session starts in a multicurrency file; reading it
gives every stored payment, bill and vendor whose currency name it explains its ISO code."""

from __future__ import annotations

from typing import Any

from storage.db import tuple_rows, write_transaction
from storage.models import (
    Bill,
    BillPayment,
    CompanyFile,
    QuickBooksCurrency,
    QuickBooksVendor,
    QuickBooksWork,
)
from storage.vocabulary import WorkKind
from sync.quickbooks.ingest import CurrencyResolver, IngestCounts, PageOutcome, hold_unreadable, records_of
from sync.quickbooks.qbxml.build import build_currency_query
from sync.quickbooks.qbxml.records import CurrencyRecord, QueryResponse, UnreadableRecord

from .base import Context, Step


class CurrencyList(Step):
    kind = WorkKind.CURRENCIES
    label = "currencies"
    query_name = "currency list"
    priority = 35
    rs_name = "CurrencyQueryRs"
    held_type = "currency"
    error_fails_session = False
    reads = "the currency list"

    def build_request(self, work: QuickBooksWork, request_id: str, context: Context) -> str:
        return build_currency_query(request_id=request_id)

    def queued_at_session_start(self, company: CompanyFile) -> bool:
        # Payments name their currency; the company file's list says which ISO code each name is.
        return bool(company.multicurrency)

    def store_page(self, work: QuickBooksWork, response: QueryResponse, context: Context) -> PageOutcome:
        """The company file's currency list: QuickBooks' names for currencies and their ISO codes."""
        company_file, now = context.company, context.now
        counts = IngestCounts()
        with write_transaction():
            records: list[CurrencyRecord] = records_of(response, CurrencyRecord)
            counts.held = len(
                hold_unreadable(company_file, records_of(response, UnreadableRecord), self.held_type, now=now)
            )
            for record in records:
                values = {"name": record.name, "code": record.code, "updated_at": now}
                updated = (
                    QuickBooksCurrency.update(**values)
                    .where(
                        (QuickBooksCurrency.company_file == company_file)
                        & (QuickBooksCurrency.list_id == record.list_id)
                    )
                    .execute()
                )
                if not updated:
                    QuickBooksCurrency.create(company_file=company_file, list_id=record.list_id, **values)
            resolve_stored_currencies(company_file)
            work.pages += 1
            work.records += len(records)
            self.finish(work, context)
            work.save()
        return PageOutcome(counts=counts, finished=True)


def resolve_stored_currencies(company_file: CompanyFile) -> None:
    """Give the ISO code to every stored payment, bill, vendor and home currency of the file whose
    currency name the (newly read) currency list explains. Call inside a transaction."""
    currency = CurrencyResolver(company_file)
    models: tuple[Any, ...] = (BillPayment, Bill, QuickBooksVendor)
    for model in models:
        pairs = tuple_rows(
            model.select(model.currency_list_id, model.currency_name, model.currency)
            .where(
                (model.company_file == company_file)
                & (model.currency_list_id.is_null(False) | model.currency_name.is_null(False))
            )
            .distinct()
        )
        for list_id, name, code in list(pairs):  # (currency ListID, name, ISO code) as stored
            resolved = currency(name, list_id)
            if resolved is not None and resolved != code:
                model.update(currency=resolved).where(
                    (model.company_file == company_file)
                    & (
                        model.currency_list_id == list_id
                        if list_id is not None
                        else model.currency_list_id.is_null()
                    )
                    & (model.currency_name == name if name is not None else model.currency_name.is_null())
                ).execute()
    home = currency(company_file.home_currency_name, company_file.home_currency_list_id)
    if home is not None and home != company_file.home_currency:
        company_file.home_currency = home
        company_file.save()
