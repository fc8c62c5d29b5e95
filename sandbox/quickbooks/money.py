"""Money in QuickBooks' terms: amounts in whole cents as Decimals, checked on the way in and
printed as AMTTYPE on the way out; exchange rates as FLOATTYPE; home-currency amounts."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal("0.00")


def money(amount: Decimal) -> str:
    """An AMTTYPE: two decimals, rounded half-up, never -0.00."""
    quantized = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return "0.00" if quantized == 0 else f"{quantized:f}"


def float_text(value: Decimal) -> str:
    """A FLOATTYPE as QuickBooks prints an exchange rate: no exponent, no trailing zeros ("0.73",
    "1"). How many decimals QuickBooks itself prints is not captured (inferred)."""
    return format(value.normalize(), "f")


def in_home_currency(amount: Decimal, rate: Decimal) -> Decimal:
    # AmountInHomeCurrency = amount x ExchangeRate, rounded half-up to cents (inferred).
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def checked_amount(amount: Decimal, *, allow_zero: bool = False) -> Decimal:
    """An amount a test enters: a Decimal in whole cents, positive (or zero if allowed)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount}") from exc
    if cents != amount or cents < 0 or (cents == 0 and not allow_zero):
        raise ValueError(f"an amount must be positive, in whole cents: {amount}")
    return cents
