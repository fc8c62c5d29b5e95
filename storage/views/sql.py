"""What the views' queries share: the models, columns selected by name, text matching, chunked
IN lists, the company-file filter, and values as the database hands them back (money, datetimes,
the home currency)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from peewee import ModelSelect, fn

from storage.models import BillPayment, BillPaymentApplication, CompanyFile

Record = TypeVar("Record", bound=tuple[Any, ...])


def named(**columns: Any) -> list[Any]:
    """A select list whose columns come back under these names.

    `fetch(Record, query)` then builds each row as the NamedTuple `Record` by keyword, so a column
    added, dropped or moved fails loudly instead of shifting values into the wrong field. A name
    given to an expression that is neither a column nor a function (a CASE) must not be a column
    of the queried model: peewee would convert the value as that column.
    """
    return [expression.alias(name) for name, expression in columns.items()]


def fetch(record: type[Record], query: ModelSelect[Any]) -> Iterator[Record]:
    """The rows of `query` (its columns chosen with `named`), each built as `record` by column name.

    peewee's stubs cannot say that `.objects(constructor)` changes what a row is: hence the cast.
    """
    return iter(cast("Iterable[Record]", query.objects(record)))


def contains(column: Any, text: str) -> Any:
    """`column` contains `text`, case-insensitively; `%` and `_` the user typed are taken literally."""
    return fn.LOWER(fn.COALESCE(column, "")).contains(text.lower())


def money(raw: Any) -> Decimal | None:
    """peewee hands MoneyField columns back through the field, but aggregates arrive raw (cents)."""
    if raw is None:
        return None
    if isinstance(raw, Decimal):
        return raw
    return (Decimal(int(raw)) / 100).quantize(Decimal("0.01"))


def aware(raw: Any, column: Any) -> datetime | None:
    """A datetime column's value as the column reads it, should it arrive raw."""
    if raw is None or isinstance(raw, datetime):
        return raw
    value: datetime | None = column.python_value(raw)
    return value


def home_currency() -> str:
    """The QuickBooks home currency amounts are shown in without a code (USD for the U.S. edition)."""
    code = (
        CompanyFile.select(CompanyFile.home_currency)
        .where(CompanyFile.home_currency.is_null(False))
        .order_by(CompanyFile.id)
        .scalar()
    )
    return str(code) if code else "USD"


def company_file_id(file_key: str) -> int:
    """The id of the company file `file_key` names; -1 (no payment has it) when none does, so a
    filter on a file removed meanwhile shows nothing rather than everything."""
    found = CompanyFile.select(CompanyFile.id).where(CompanyFile.file_key == file_key).scalar()
    return int(found) if found is not None else -1


def of_company_file(file_key: str | None) -> Any:
    """SQL on a query that joins BillPayment: the payment is from company file `file_key`; None
    when `file_key` is None (all files). BillPayment.company_file leads the (company_file, txn_id)
    index, so this narrows in the index, not in Python."""
    if file_key is None:
        return None
    return BillPayment.company_file == company_file_id(file_key)


def applications_of(file_key: str) -> ModelSelect[Any]:
    """A subquery: the ids of the applications of company file `file_key`'s payments."""
    return (
        BillPaymentApplication.select(BillPaymentApplication.id)
        .join(BillPayment)
        .where(BillPayment.company_file == company_file_id(file_key))
    )
