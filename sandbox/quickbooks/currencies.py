"""QuickBooks' currency list: the built-in currencies (a name QuickBooks gives each, which users may
change, and the ISO code, which stays), the home currency, and exchange rates (home-currency units
per unit; each transaction keeps the rate in force when it was entered)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from sandbox.quickbooks.records import next_edit_sequence

MAX_CURRENCY_NAME = 64  # CurrencyRet/Name
# Status 3250 is "feature not enabled" (NOTES §8); the wording is a (sandbox choice).
MULTICURRENCY_OFF_MESSAGE: Final = (
    "This feature is not enabled: the multicurrency feature is not turned on in this company file."
)
# The name QuickBooks gives each currency and its ISO code. Only a few of QuickBooks' ~150 are
# modelled.
DEFAULT_CURRENCIES: Final = (
    ("US Dollar", "USD"),
    ("Canadian Dollar", "CAD"),
    ("Euro", "EUR"),
    ("British Pound Sterling", "GBP"),
    ("Mexican Peso", "MXN"),
    ("Australian Dollar", "AUD"),
    ("Japanese Yen", "JPY"),
    ("Swiss Franc", "CHF"),
)


@dataclass
class Currency:
    list_id: str
    name: str
    code: str
    time_created: int
    time_modified: int
    edit_sequence: str
    exchange_rate: Decimal | None = None  # home currency units per unit; None = never set
    as_of: date | None = None

    @property
    def full_name(self) -> str:
        """A currency's FullName is its name (CurrencyRef/FullName, FullName filters)."""
        return self.name


class CurrencyList:
    """The currencies of one company file, by ISO code and by ListID."""

    def __init__(self, now: int, home: str) -> None:
        # Their ListIDs come from their own counter so that adding the list did not shift the
        # ListIDs of vendors and accounts (sandbox choice; real ids are not captured).
        self.by_code: dict[str, Currency] = {}
        for index, (name, code) in enumerate(DEFAULT_CURRENCIES):
            self.by_code[code] = Currency(
                list_id=f"{0x40000001 + index:X}-{now}",
                name=name,
                code=code,
                time_created=now,
                time_modified=now,
                edit_sequence=str(now),
            )
        self.by_list_id = {currency.list_id: currency for currency in self.by_code.values()}
        home = home.upper()
        if home not in self.by_code:
            raise ValueError(f"unknown currency code {home!r}")
        self.home = home

    def get(self, code: str) -> Currency:
        currency = self.by_code.get(code.upper())
        if currency is None:
            raise ValueError(f"unknown currency code {code!r}")
        return currency

    def named(self) -> dict[str, Currency]:
        """Currencies by case-folded name (names are unique regardless of case)."""
        return {currency.name.casefold(): currency for currency in self.by_code.values()}

    def rate(self, code: str) -> Decimal:
        """The rate now in force: 1 for the home currency and for a rate never set (inferred)."""
        currency = self.get(code)
        if currency.code == self.home or currency.exchange_rate is None:
            return Decimal("1")
        return currency.exchange_rate

    def rename(self, code: str, new_name: str, now: int) -> None:
        new_name = new_name.strip()
        if not new_name or len(new_name) > MAX_CURRENCY_NAME:
            raise ValueError(f"a currency name must have 1 to {MAX_CURRENCY_NAME} characters")
        currency = self.get(code)
        for other in self.by_code.values():
            if other is not currency and other.name.casefold() == new_name.casefold():
                raise ValueError(f"the name {new_name!r} is already in use (QuickBooks status 3100)")
        currency.name = new_name
        self._stamp(currency, now)

    def set_rate(self, code: str, rate: Decimal, now: int, today: date) -> None:
        currency = self.get(code)
        if currency.code == self.home:
            if rate != 1:
                raise ValueError("the home currency's exchange rate is always 1")
            return
        currency.exchange_rate = rate
        currency.as_of = today
        self._stamp(currency, now)

    @staticmethod
    def _stamp(currency: Currency, now: int) -> None:
        currency.time_modified = now
        currency.edit_sequence = next_edit_sequence(currency.edit_sequence, now)


def checked_rate(rate: Decimal) -> Decimal:
    if not isinstance(rate, Decimal):
        raise TypeError(f"an exchange rate must be a Decimal, not {type(rate).__name__}")
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"an exchange rate must be positive: {rate}")
    return rate
