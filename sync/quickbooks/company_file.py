"""The company file PaySync reads, and whether it may read it at all.

PaySync reads only the U.S. edition of QuickBooks Desktop (as Procore's own bill payment sync does),
and only through a QuickBooks that speaks the qbXML version its requests declare (13.0: QuickBooks
Desktop 2014 and later). These are the sentences that say so, in QuickBooks' terms.
"""

from __future__ import annotations

from storage.models import CompanyFile
from sync.quickbooks.qbxml.build import QBXML_VERSION

# The qbXML version every request declares, as (major, minor), and the QuickBooks that speaks it.
NEEDED_VERSION = tuple(int(part) for part in QBXML_VERSION.split("."))
NEEDED_QUICKBOOKS = "QuickBooks Desktop 2014"
_EDITIONS = {"CA": "Canada", "UK": "UK", "GB": "UK", "AU": "Australia"}


def company_file_for(file_key: str) -> CompanyFile:
    """The company file's row, created the first time its key is seen."""
    row: CompanyFile | None = CompanyFile.get_or_none(CompanyFile.file_key == file_key)
    if row is None:
        row = CompanyFile.create(file_key=file_key)
    return row


def describe_country_refusal(country: str) -> str:
    code = country.strip().upper()
    edition = _EDITIONS.get(code, code)
    return (
        f"This company file is QuickBooks Desktop {edition} edition (country {code}). PaySync supports "
        "only the U.S. edition, as Procore's bill payment sync does; nothing was read from this file. "
        "Open a U.S. company file, or remove PaySync from the Web Connector for this file."
    )


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.strip().split(".")
    if not all(part.isdigit() for part in parts if part) or not parts[0]:
        return None
    return tuple(int(part) for part in parts if part)


def describe_version_refusal(product_name: str | None, supported: tuple[str, ...]) -> str:
    """Why PaySync sends nothing to a QuickBooks that does not speak its qbXML version, in
    QuickBooks' terms: the QuickBooks found, the one needed, and that PaySync needs no update."""
    numbers = sorted((v for v in (_version_tuple(s) for s in supported) if v is not None), reverse=True)
    highest = ".".join(str(part) for part in numbers[0]) if numbers else None
    found = product_name or "The QuickBooks on the Web Connector's computer"
    speaks = f" speaks qbXML up to {highest}" if highest else " does not list qbXML " + QBXML_VERSION
    return (
        f"{found}{speaks}; PaySync needs qbXML {QBXML_VERSION}, which {NEEDED_QUICKBOOKS} and later "
        "support, so nothing was asked of this company file. Update QuickBooks Desktop to 2014 or later "
        "(U.S. Pro, Premier, Accountant or Enterprise), then run the Web Connector again. PaySync itself "
        "needs no update."
    )


def supports_needed_version(supported: tuple[str, ...]) -> bool:
    """Whether HostRet's SupportedQBXMLVersion list has the version PaySync's requests declare."""
    return any(_version_tuple(version) == NEEDED_VERSION for version in supported)
