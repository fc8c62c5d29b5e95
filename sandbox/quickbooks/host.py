"""The answers about the file itself rather than its records: HostQueryRs (product, version,
country, supported qbXML versions), CompanyQueryRs, and the PreferencesRet that the Web Connector
sends in strHCPResponse."""

from __future__ import annotations

from typing import Final, Protocol

from sandbox.quickbooks.books import Books
from sandbox.quickbooks.rendering import STATUS_OK_MESSAGE, status_attributes, text
from sandbox.quickbooks.versions import PRODUCT_MINOR_VERSION


class FileFacts(Protocol):
    """What HostRet and CompanyRet tell about the file (SandboxCompanyFile has all of it)."""

    company_name: str
    product_name: str
    country: str

    @property
    def product_major_version(self) -> str: ...

    @property
    def supported_qbxml_versions(self) -> list[str]: ...


def host_rs(facts: FileFacts, request_id: str | None) -> list[str]:
    lines = [f"<HostQueryRs{status_attributes(request_id, 0, STATUS_OK_MESSAGE)}>", "<HostRet>"]
    lines.append(f"<ProductName>{text(facts.product_name)}</ProductName>")
    lines.append(f"<MajorVersion>{facts.product_major_version}</MajorVersion>")
    lines.append(f"<MinorVersion>{PRODUCT_MINOR_VERSION}</MinorVersion>")
    lines.append(f"<Country>{text(facts.country)}</Country>")
    lines.extend(
        f"<SupportedQBXMLVersion>{v}</SupportedQBXMLVersion>" for v in facts.supported_qbxml_versions
    )
    lines.append("<IsAutomaticLogin>false</IsAutomaticLogin>")
    lines.append("<QBFileMode>SingleUser</QBFileMode>")
    lines.extend(["</HostRet>", "</HostQueryRs>"])
    return lines


def company_rs(facts: FileFacts, request_id: str | None) -> list[str]:
    return [
        f"<CompanyQueryRs{status_attributes(request_id, 0, STATUS_OK_MESSAGE)}>",
        "<CompanyRet>",
        "<IsSampleCompany>false</IsSampleCompany>",
        f"<CompanyName>{text(facts.company_name)}</CompanyName>",
        f"<LegalCompanyName>{text(facts.company_name)}</LegalCompanyName>",
        "</CompanyRet>",
        "</CompanyQueryRs>",
    ]


def preferences_ret(books: Books) -> list[str]:
    if not books.multicurrency:
        return list(PREFERENCES_RET)
    lines: list[str] = []
    for line in PREFERENCES_RET:
        if line == "<IsMultiCurrencyOn>false</IsMultiCurrencyOn>":
            home = books.currencies.by_code[books.currencies.home]
            lines.append("<IsMultiCurrencyOn>true</IsMultiCurrencyOn>")
            lines.append("<HomeCurrencyRef>")
            lines.append(f"<ListID>{text(home.list_id)}</ListID>")
            lines.append(f"<FullName>{text(home.name)}</FullName>")
            lines.append("</HomeCurrencyRef>")
        else:
            lines.append(line)
    return lines


# A small PreferencesRet that the 13.0 schema accepts (required children of each block only),
# with values a US contractor file typically has; shaped like the captured strHCPResponse in
# qbwc-gem test data (NOTES §9).
PREFERENCES_RET: Final = (
    "<PreferencesRet>",
    "<AccountingPreferences>",
    "<IsUsingAccountNumbers>false</IsUsingAccountNumbers>",
    "<IsRequiringAccounts>true</IsRequiringAccounts>",
    "<IsUsingClassTracking>false</IsUsingClassTracking>",
    "<IsUsingAuditTrail>true</IsUsingAuditTrail>",
    "<IsAssigningJournalEntryNumbers>true</IsAssigningJournalEntryNumbers>",
    "</AccountingPreferences>",
    "<MultiCurrencyPreferences>",
    "<IsMultiCurrencyOn>false</IsMultiCurrencyOn>",
    "</MultiCurrencyPreferences>",
    "<PurchasesAndVendorsPreferences>",
    "<IsUsingInventory>false</IsUsingInventory>",
    "<DaysBillsAreDue>30</DaysBillsAreDue>",
    "<IsAutomaticallyUsingDiscounts>false</IsAutomaticallyUsingDiscounts>",
    "</PurchasesAndVendorsPreferences>",
    "<CurrentAppAccessRights>",
    "<IsAutomaticLoginAllowed>false</IsAutomaticLoginAllowed>",
    "<IsPersonalDataAccessAllowed>false</IsPersonalDataAccessAllowed>",
    "</CurrentAppAccessRights>",
    "</PreferencesRet>",
)
