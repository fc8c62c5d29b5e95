"""QuickBooks products and qbXML versions: which qbXML versions a QuickBooks of a given year and
country supports, the product names and versions it reports, and the check of the version a
request document asks for (too new: 0x80040428; another country's or unknown: the parse error)."""

from __future__ import annotations

import re
from typing import Final

from lxml import etree

from sandbox.quickbooks.errors import QuickBooksParseError, QuickBooksVersionError

DEFAULT_PRODUCT_NAMES: Final = {
    "US": "QuickBooks Enterprise Solutions: Contractor 24.0",
    "CA": "QuickBooks Enterprise Solutions: Accountant Canadian Edition 24.0",
    "UK": "QuickBooks Accountant UK Edition 24.0",
}
# QuickBooks 2014 reports MajorVersion 24 (NOTES §5 capture), so the 2024 ("24.0") products are 34.
PRODUCT_MAJOR_VERSION: Final = "34"
PRODUCT_MINOR_VERSION: Final = "0"
DEFAULT_PRODUCT_YEAR: Final = 2024
_OLDEST_PRODUCT_YEAR: Final = 2002  # the first QuickBooks with the SDK (qbXML 1.0)
_US_QBXML_VERSIONS: Final = tuple(
    ["1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1"] + [f"{major}.0" for major in range(5, 17)]
)
# Canada and UK editions prefix the country (NOTES §1, consolibyte `_version()`); which numbers
# they list is not documented, so this list is (inferred).
_NON_US_QBXML_VERSIONS: Final = tuple(f"{major}.0" for major in range(2, 17))


def highest_qbxml_version_of(product_year: int) -> str:
    """The newest qbXML version a QuickBooks of that year supports (the last SupportedQBXMLVersion).

    Anchors: QuickBooks 2014 lists 1.0 … 13.0 (NOTES §5 capture); SDK 3.0, 4.0, 5.0 and 6.0 shipped
    with QuickBooks 2004, 2005, 2006 and 2007 (Intuit's SDK release notes), so one version a year up
    to 13.0 in 2014. No qbXML 14.0 existed until early 2021 (jsgoupil/quickbooks-sync issue #49),
    15.0 followed a year later and 16.0 by early 2023, so 2015-2020 stay at 13.0, 2021 is 14.0,
    2022 is 15.0 and 2023 on are 16.0. The point releases (1.1 for 2002, 2.1 for 2003, 4.1 for
    2005) and the years after 2014 are (inferred).
    """
    if product_year < _OLDEST_PRODUCT_YEAR:
        raise ValueError(f"QuickBooks {product_year} predates the QuickBooks SDK (2002 onwards)")
    fixed = {2002: "1.1", 2003: "2.1", 2004: "3.0", 2005: "4.1", 2021: "14.0", 2022: "15.0"}
    if product_year in fixed:
        return fixed[product_year]
    if product_year <= 2014:
        return f"{product_year - 2001}.0"
    if product_year <= 2020:
        return "13.0"
    return "16.0"


def version_number(version: str) -> tuple[int, int]:
    """ "13.0" -> (13, 0); "CA13.0" -> (13, 0)."""
    major, minor = re.sub(r"^[A-Z]+", "", version).split(".")
    return int(major), int(minor)


def default_product_name(country: str, product_year: int) -> str:
    if product_year == DEFAULT_PRODUCT_YEAR:
        return DEFAULT_PRODUCT_NAMES.get(country, f"QuickBooks Enterprise Solutions {country} 24.0")
    # "QuickBooks Pro 2014" is the captured US form (NOTES §5); the Canadian and UK forms are (inferred).
    edition = {"US": "", "CA": " Canadian Edition", "UK": " UK Edition"}.get(country, f" {country}")
    return f"QuickBooks Pro {product_year}{edition}"


def known_qbxml_versions(country: str) -> list[str]:
    """Every version of this country's qbXML that any QuickBooks knows."""
    if country == "US":
        return list(_US_QBXML_VERSIONS)
    return [country + version for version in _NON_US_QBXML_VERSIONS]


def supported_qbxml_versions(country: str, highest: str) -> list[str]:
    """The versions a QuickBooks of this country supports, up to ``highest``."""
    return [v for v in known_qbxml_versions(country) if version_number(v) <= version_number(highest)]


def check_requested_version(root: etree._Element, *, country: str, highest: str, product_name: str) -> None:
    """Refuses a document whose ``<?qbxml version?>`` this QuickBooks does not answer."""
    version = None
    for sibling in root.itersiblings(preceding=True):
        if isinstance(sibling, etree._ProcessingInstruction) and sibling.target == "qbxml":
            match = re.search(r'version\s*=\s*["\']([^"\']*)["\']', sibling.text or "")
            version = match.group(1) if match else None
    if version is None:
        raise QuickBooksParseError('the <?qbxml version="…"?> processing instruction is missing')
    # A US file answers plain versions only, a Canadian one "CA…" only: a request for the
    # wrong country fails to parse (NOTES §5, Intuit's US_CDN_UK sample).
    if version not in supported_qbxml_versions(country, highest):
        # A real version of this country that this (older) QuickBooks does not have is refused
        # by the request processor with its own HRESULT 0x80040428. Anything else (another
        # country's version, "99.0") stays the parse error, as before (sandbox choice: real
        # QuickBooks may answer 0x80040428 for unknown numbers too, "…or is unknown").
        if version in known_qbxml_versions(country):
            raise QuickBooksVersionError(
                f"qbXML {version} is newer than {product_name} supports (up to {highest})"
            )
        raise QuickBooksParseError(
            f"qbXML version {version!r} is not supported by this {country} company file"
        )
