"""Column types that keep money exact and time zone-aware in SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from peewee import BigIntegerField, DateTimeField, TextField

from storage.secrets import secret_box

CENT = Decimal("0.01")


class MoneyField(BigIntegerField):  # type: ignore[misc]
    """A Decimal amount stored as whole cents in a 64-bit integer.

    SQLite has no exact decimal type (NUMERIC columns decay to REAL), so cents in an
    integer are the one representation that is exact in both databases and still sums in SQL.
    """

    def db_value(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, never float")
        amount = Decimal(value)
        cents = amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
        if cents != amount:
            raise ValueError(f"amount {amount} has more than two decimal places")
        return int(cents * 100)

    def python_value(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(CENT)


class UtcDateTimeField(DateTimeField):  # type: ignore[misc]
    """A timezone-aware datetime, stored as naive UTC and handed back with tzinfo=UTC."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: PaySync's own timestamps are UTC-aware")
        return super().db_value(value.astimezone(UTC).replace(tzinfo=None))  # type: ignore[no-untyped-call]

    def python_value(self, value: Any) -> datetime | None:
        parsed: Any = super().python_value(value)  # type: ignore[no-untyped-call]
        if parsed is None:
            return None
        if isinstance(parsed, str):  # peewee leaves unknown string formats alone
            parsed = datetime.fromisoformat(parsed)
        aware: datetime = parsed
        if aware.tzinfo is None:
            return aware.replace(tzinfo=UTC)
        return aware.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class EncryptedTextField(TextField):  # type: ignore[misc]
    """Text encrypted at rest with the key storage.secrets finds outside the database (DESIGN
    rule 12): the column holds "enc:v1:<token>", the code sees the plain text."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return secret_box().encrypt(str(value))

    def python_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return secret_box().decrypt(str(value))
