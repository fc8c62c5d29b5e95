"""Column types that keep money exact and time zone-aware in SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from peewee import BigIntegerField, DateTimeField, TextField

from storage.secrets import secret_box

if TYPE_CHECKING:
    from typing import Self

    from peewee import ForeignKeyField

CENT = Decimal("0.01")

# The value a field reads and writes on a row, e.g. Decimal, or Decimal | None for a null=True column.
_V = TypeVar("_V")


class RowValue(Generic[_V]):
    """Gives a custom field the value type its rows read and write.

    peewee's Field classes are generic only in their stubs (BigIntegerField[int]), so a field class
    here names its value type through this base and narrows it by `null` in `__new__` overloads,
    as the stubs do. Both exist for type checkers only: at run time this is an empty base class.
    """

    if TYPE_CHECKING:

        @overload
        def __get__(self, instance: None, owner: Any) -> Self: ...
        @overload
        def __get__(self, instance: object, owner: Any) -> _V: ...
        def __get__(self, instance: object, owner: Any) -> Self | _V: ...
        def __set__(self, instance: object, value: _V) -> None: ...


class MoneyField(RowValue[_V], BigIntegerField):
    """A Decimal amount stored as whole cents in a 64-bit integer.

    SQLite has no exact decimal type (NUMERIC columns decay to REAL), so cents in an
    integer are the one representation that is exact in both databases and still sums in SQL.
    """

    if TYPE_CHECKING:

        @overload
        def __new__(cls, *args: Any, null: Literal[True], **kwargs: Any) -> MoneyField[Decimal | None]: ...
        @overload
        def __new__(cls, *args: Any, null: Literal[False] = ..., **kwargs: Any) -> MoneyField[Decimal]: ...
        def __new__(cls, *args: Any, **kwargs: Any) -> MoneyField[Any]: ...

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


class UtcDateTimeField(RowValue[_V], DateTimeField):
    """A timezone-aware datetime, stored as naive UTC and handed back with tzinfo=UTC."""

    if TYPE_CHECKING:

        @overload
        def __new__(
            cls, *args: Any, null: Literal[True], **kwargs: Any
        ) -> UtcDateTimeField[datetime | None]: ...
        @overload
        def __new__(
            cls, *args: Any, null: Literal[False] = ..., **kwargs: Any
        ) -> UtcDateTimeField[datetime]: ...
        def __new__(cls, *args: Any, **kwargs: Any) -> UtcDateTimeField[Any]: ...

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


class EncryptedTextField(RowValue[_V], TextField):
    """Text encrypted at rest with the key storage.secrets finds outside the database (DESIGN
    rule 12): the column holds "enc:v1:<token>", the code sees the plain text."""

    if TYPE_CHECKING:

        @overload
        def __new__(
            cls, *args: Any, null: Literal[True], **kwargs: Any
        ) -> EncryptedTextField[str | None]: ...
        @overload
        def __new__(
            cls, *args: Any, null: Literal[False] = ..., **kwargs: Any
        ) -> EncryptedTextField[str]: ...
        def __new__(cls, *args: Any, **kwargs: Any) -> EncryptedTextField[Any]: ...

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return secret_box().encrypt(str(value))

    def python_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return secret_box().decrypt(str(value))


if TYPE_CHECKING:
    _K = TypeVar("_K")

    class ForeignKeyId(Generic[_K]):
        """The `<name>_id` peewee adds beside a foreign key `<name>` (its ObjectIdAccessor), as a type
        checker should see it: the ForeignKeyField on the model class, the related row's key on a row.
        storage/models.py declares these for type checkers only; peewee makes the real ones."""

        @overload
        def __get__(self, instance: None, owner: Any) -> ForeignKeyField[Any]: ...
        @overload
        def __get__(self, instance: object, owner: Any) -> _K: ...
        def __get__(self, instance: object, owner: Any) -> ForeignKeyField[Any] | _K: ...
        def __set__(self, instance: object, value: _K) -> None: ...
