"""Which ISO 4217 currency a QuickBooks currency is.

QuickBooks names currencies (CurrencyRef/FullName "Canadian Dollar") and a person may rename
them; the ISO code lives only in the company file's currency list (CurrencyRet/CurrencyCode),
which PaySync reads with a CurrencyQueryRq. Until that list is known, QuickBooks' own default names
are recognised. A currency that is neither is *unknown*: the payment needs attention, it is never
guessed at (DESIGN rule 10).
"""

from __future__ import annotations

from collections.abc import Mapping

# QuickBooks Desktop's default names for the currencies a U.S. contractor meets (its currency
# list), and the ISO codes themselves, which some files use as names.
QUICKBOOKS_DEFAULT_NAMES: dict[str, str] = {
    "us dollar": "USD",
    "u.s. dollar": "USD",
    "canadian dollar": "CAD",
    "euro": "EUR",
    "british pound sterling": "GBP",
    "british pound": "GBP",
    "australian dollar": "AUD",
    "new zealand dollar": "NZD",
    "mexican peso": "MXN",
    "japanese yen": "JPY",
    "swiss franc": "CHF",
    "chinese yuan renminbi": "CNY",
    "chinese yuan": "CNY",
    "hong kong dollar": "HKD",
    "singapore dollar": "SGD",
    "indian rupee": "INR",
    "south african rand": "ZAR",
    "swedish krona": "SEK",
    "norwegian krone": "NOK",
    "danish krone": "DKK",
    "brazilian real": "BRL",
}


def currency_code(
    name: str | None,
    list_id: str | None,
    *,
    codes_by_list_id: Mapping[str, str] | None = None,
    codes_by_name: Mapping[str, str] | None = None,
) -> str | None:
    """The ISO code of a CurrencyRef, from the company file's own list first, else QuickBooks'
    default names; None when it cannot be told (never a guess)."""
    if list_id and codes_by_list_id and list_id in codes_by_list_id:
        return codes_by_list_id[list_id]
    if not name:
        return None
    key = " ".join(name.split()).casefold()
    if codes_by_name and key in codes_by_name:
        return codes_by_name[key]
    if key in QUICKBOOKS_DEFAULT_NAMES:
        return QUICKBOOKS_DEFAULT_NAMES[key]
    if len(key) == 3 and key.isalpha() and key.upper() in QUICKBOOKS_DEFAULT_NAMES.values():
        return key.upper()
    return None


def name_key(name: str) -> str:
    """How currency names are compared: spaces collapsed, case folded."""
    return " ".join(name.split()).casefold()
