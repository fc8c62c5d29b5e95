"""The company-file check: HostQuery + CompanyQuery, first in every refresh, so a company file of
the wrong edition (Canada, UK) is refused before anything else is read."""

from __future__ import annotations

from storage.models import QuickBooksWork
from storage.vocabulary import WorkKind
from sync.quickbooks.company_file import describe_country_refusal
from sync.quickbooks.qbxml.build import build_host_query
from sync.quickbooks.qbxml.records import CompanyInfo, HostInfo, QueryResponse

from .base import Context, Step, Turn, status_error


class HostCheck(Step):
    kind = WorkKind.HOST
    label = "company-file check"
    query_name = "company-file check"
    priority = 40
    refresh = True
    rs_name = "HostQueryRs"

    def build_request(self, work: QuickBooksWork, request_id: str, context: Context) -> str:
        return build_host_query(request_id)

    def take_answer(self, turn: Turn, responses: list[QueryResponse]) -> int:
        """Two answers in one message, read whatever their request ids: the host (product, country)
        and the company (its name). Nothing is stored but the company file's facts."""
        work, company = turn.work, turn.context.company
        host_rs = next((r for r in responses if r.rs_name == self.rs_name), None)
        if host_rs is None:
            return turn.transport_failure("QuickBooks did not answer the HostQuery.")
        if host_rs.is_retryable:
            return turn.retry(host_rs)
        if not host_rs.is_ok:
            return turn.fail(str(status_error(host_rs)))
        host = next((r for r in host_rs.records if isinstance(r, HostInfo)), None)
        for rs in responses:
            if rs.rs_name == "CompanyQueryRs" and rs.is_ok:
                info = next((r for r in rs.records if isinstance(r, CompanyInfo)), None)
                if info is not None and info.company_name:
                    company.company_name = info.company_name
        if host is not None:
            company.product_name = host.product_name or company.product_name
            if host.country:
                company.country = host.country.strip().upper()[:2]
        company.save()
        work.pages += 1
        work.records += 1
        if company.country and company.country != "US":
            work.save()
            return turn.fail(describe_country_refusal(company.country))
        work.status = "done"
        work.finished_at = turn.context.now
        work.save()
        return turn.finished()
