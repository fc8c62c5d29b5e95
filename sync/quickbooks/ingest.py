"""Storing what QuickBooks sent: what every step's page has in common.

Each page is stored in ONE transaction together with the work item's progress, and the
watermark moves only in the transaction that stores the last page of a query (DESIGN rule 2:
the watermark moves only after the data is committed; sync/quickbooks/watermarks.py). A session
that dies midway therefore leaves the watermark where it was, and the next session reads the same
range again; rows read twice are recognised by (TxnID, EditSequence) and counted as unchanged.

What each kind of record becomes is its step's business (sync/quickbooks/steps/); here are the
counts and outcome of a page, the company file's currency names, records PaySync could not read
(kept aside, DESIGN rule 11), how an item finishes, and the batched SQL the steps write with.

Batched SQL: a page of 20,000 payments is written in a few dozen statements, never one per row.
peewee spends tens of microseconds building each parameter of a statement, which dominated the
cost of a page; so the hot statements are written here as plain parameterised SQL (the same text
for SQLite and PostgreSQL: multi-row INSERT ... ON CONFLICT ... DO UPDATE, SELECT ... WHERE key IN),
with each value converted by its peewee field's own db_value/python_value, in chunks that stay far
below both databases' limits on bound parameters. Each statement's text is built once per shape and
reused (on a page of one payment, building it per page was a visible part of the cost).

Long because it holds the batched SQL every step writes with, next to what pages have in common
(counts, held records, how an item finishes), so the way a page is written is changed in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import BooleanField, CharField, Field, ForeignKeyField, IntegerField, Model

from storage.db import chunks
from storage.models import (
    AuditLog,
    CompanyFile,
    ErrorEvent,
    HeldRecord,
    QuickBooksCurrency,
    QuickBooksWork,
)
from sync.quickbooks.qbxml.currency import currency_code, name_key
from sync.quickbooks.qbxml.records import QueryResponse, UnreadableRecord
from sync.quickbooks.watermarks import move_watermark

# Rows per multi-row INSERT / ids per IN list: far below SQLite's 32,766 bound variables.
BATCH = 200
# Bound parameters per batched statement (SQLite allows 32,766, PostgreSQL 65,535); measured: larger
# statements gain nothing (bench/bench_ingest.py).
MAX_PARAMETERS = 8_000
KEYS_PER_SELECT = 1_000


@dataclass
class IngestCounts:
    received: int = 0  # payments read (new + changed + unchanged)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deletions: int = 0  # payments newly recorded as deleted in QuickBooks
    bills: int = 0  # bills stored or updated
    held: int = 0  # records PaySync could not read, kept aside with their reason

    def add(self, other: IngestCounts) -> None:
        self.received += other.received
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.deletions += other.deletions
        self.bills += other.bills
        self.held += other.held

    @property
    def anything_changed(self) -> bool:
        return bool(self.new or self.changed or self.deletions)

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "deletions": self.deletions,
            "bills": self.bills,
            "held": self.held,
        }


@dataclass
class PageOutcome:
    counts: IngestCounts
    finished: bool  # the query is complete: item done, watermark moved
    # The records the page read, for the lookups that follow from it: each lookup step says which
    # ids they name (Step.named_in), and the exchange queues what PaySync has not read yet.
    records: Sequence[object] = ()


class CurrencyResolver:
    """ISO codes for the currencies a company file names (its own currency list first, then
    QuickBooks' default names); read at most once per page, and only when a record names a currency
    (a file without multicurrency never does)."""

    def __init__(self, company_file: CompanyFile) -> None:
        self.company_file = company_file
        self._codes: tuple[dict[str, str], dict[str, str]] | None = None

    def _read(self) -> tuple[dict[str, str], dict[str, str]]:
        if self._codes is None:
            by_list_id: dict[str, str] = {}
            by_name: dict[str, str] = {}
            for row in QuickBooksCurrency.select().where(
                (QuickBooksCurrency.company_file == self.company_file)
                & QuickBooksCurrency.code.is_null(False)
            ):
                by_list_id[str(row.list_id)] = str(row.code).upper()
                by_name[name_key(str(row.name))] = str(row.code).upper()
            self._codes = (by_list_id, by_name)
        return self._codes

    @property
    def by_list_id(self) -> dict[str, str]:
        return self._read()[0]

    @property
    def by_name(self) -> dict[str, str]:
        return self._read()[1]

    def __call__(self, name: str | None, list_id: str | None) -> str | None:
        if not name and not list_id:
            return None
        by_list_id, by_name = self._read()
        return currency_code(name, list_id, codes_by_list_id=by_list_id, codes_by_name=by_name)


def records_of(response: QueryResponse, kind: type[Any]) -> list[Any]:
    return [record for record in response.records if isinstance(record, kind)]


# --------------------------------------------------------------------------------------------
# Batched SQL
# --------------------------------------------------------------------------------------------


def _quoted(name: str) -> str:
    return '"' + name + '"'  # SQLite and PostgreSQL both quote identifiers so


def _field(model: type[Model], name: str) -> Field:
    field: Field = model._meta.fields[name]
    return field


def _execute(model: type[Model], sql: str, params: Sequence[Any]) -> Any:
    return model._meta.database.execute_sql(sql, params)


def _param(model: type[Model]) -> str:
    mark: str = model._meta.database.param  # "?" for SQLite, "%s" for PostgreSQL
    return mark


_NONE = type(None)


def _passes_unchanged(field: Field) -> tuple[type, ...]:
    """The Python types whose values `field.db_value` returns as they are: those values skip the
    call (it is made 50 times for a page of one payment). Anything else, and every field with a
    conversion of its own (money, UTC times, dates), goes through db_value."""
    kind = type(field)
    if isinstance(field, ForeignKeyField):
        target = field.rel_field
        return (int, _NONE) if target is not None and _passes_unchanged(target)[:1] == (int,) else ()
    if kind.db_value is not Field.db_value:
        return ()
    if kind.adapt is CharField.adapt:  # CharField and TextField: str stays str
        return (str, _NONE)
    if kind.adapt is IntegerField.adapt:  # int(value); the key of AutoField too
        return (int, _NONE)
    if kind.adapt is BooleanField.adapt:
        return (bool, _NONE)
    return ()


def _db_values(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[tuple[str, tuple[type, ...], Callable[[Any], Any]]],
) -> list[Any]:
    """The parameters of `rows`, column by column, as their fields' db_value makes them. A datetime
    object a column repeats (a page's `now`, in every row) is converted once per column."""
    params: list[Any] = []
    append = params.append
    times: dict[tuple[Callable[[Any], Any], int], Any] = {}  # (db_value, id(datetime)): its value
    for row in rows:
        for name, unchanged, convert in columns:
            value = row[name]
            if type(value) in unchanged:
                append(value)
            elif type(value) is datetime:  # every row is alive until the end: ids are not reused
                key = (convert, id(value))
                if key not in times:
                    times[key] = convert(value)
                append(times[key])
            else:
                append(convert(value))
    return params


@dataclass(frozen=True)
class _Upsert:
    """An upsert's statement, built once per shape (model, columns, conflict, parameter mark)."""

    head: str
    row_sql: str
    tail: str
    columns: tuple[tuple[str, tuple[type, ...], Callable[[Any], Any]], ...]
    per_row: int


_UPSERTS: dict[tuple[Any, ...], _Upsert] = {}


def _upsert_statement(
    model: type[Model],
    names: tuple[str, ...],
    conflict: tuple[str, ...],
    update: tuple[str, ...],
    returning: tuple[str, ...],
) -> _Upsert:
    mark = _param(model)
    shape = (model, mark, names, conflict, update, returning)
    built = _UPSERTS.get(shape)
    if built is not None:
        return built
    fields = [_field(model, name) for name in names]
    head = (
        f"INSERT INTO {_quoted(model._meta.table_name)} ("
        + ",".join(_quoted(field.column_name) for field in fields)
        + ") VALUES "
    )
    conflict_columns = ",".join(_quoted(_field(model, name).column_name) for name in conflict)
    if update:
        columns = [_quoted(_field(model, name).column_name) for name in update]
        tail = f" ON CONFLICT ({conflict_columns}) DO UPDATE SET " + ",".join(
            f"{column} = EXCLUDED.{column}" for column in columns
        )
    else:
        tail = f" ON CONFLICT ({conflict_columns}) DO NOTHING"
    if returning:
        tail += " RETURNING " + ",".join(_quoted(_field(model, name).column_name) for name in returning)
    built = _UPSERTS[shape] = _Upsert(
        head=head,
        row_sql="(" + ",".join([mark] * len(names)) + ")",
        tail=tail,
        columns=tuple(
            (name, _passes_unchanged(field), field.db_value)
            for name, field in zip(names, fields, strict=True)
        ),
        per_row=len(names),
    )
    return built


def upsert_rows(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """INSERT `rows` (dicts by field name, all with the same keys) in multi-row statements; a row
    whose `conflict` key exists already has its `update` fields set instead (in place: the row keeps
    its id, and whatever hangs off it). Returns the `returning` fields of every row written (raw
    database values, in no promised order). Call inside a transaction.

    The statement's text is built once per shape: on a page of one payment, building it was a
    visible part of the cost (docs/performance.md), and the same text lets SQLite reuse it prepared."""
    if not rows:
        return []
    names = tuple(rows[0])
    statement = _upsert_statement(model, names, tuple(conflict), tuple(update), tuple(returning))
    written: list[tuple[Any, ...]] = []
    size = max(1, MAX_PARAMETERS // statement.per_row)
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        params = _db_values(chunk, statement.columns)
        sql = statement.head + ",".join([statement.row_sql] * len(chunk)) + statement.tail
        cursor = _execute(model, sql, params)
        if returning:
            written.extend(tuple(found) for found in cursor.fetchall())
    return written


# By model and parameter mark: the same process may open SQLite ("?") and PostgreSQL ("%s").
_UPDATE_SQL: dict[
    tuple[type[Model], str], tuple[str, tuple[tuple[str, tuple[type, ...], Callable[[Any], Any]], ...]]
] = {}


def save_row(row: Model) -> None:
    """UPDATE every column of `row` by its id: what `row.save()` does, with the statement built
    once per model instead of once per call (the work item is saved with every page)."""
    model = type(row)
    mark = _param(model)
    built = _UPDATE_SQL.get((model, mark))
    if built is None:
        key = _primary_key(model)
        fields = [field for field in model._meta.sorted_fields if field is not key]
        sql = (
            f"UPDATE {_quoted(model._meta.table_name)} SET "
            + ",".join(f"{_quoted(field.column_name)} = {mark}" for field in fields)
            + f" WHERE {_quoted(key.column_name)} = {mark}"
        )
        columns = tuple((field.name, _passes_unchanged(field), field.db_value) for field in [*fields, key])
        built = _UPDATE_SQL[(model, mark)] = (sql, columns)
    sql, columns = built
    values = row.__data__
    params = [
        value if type(value := values.get(name)) in unchanged else convert(value)
        for name, unchanged, convert in columns
    ]
    _execute(model, sql, params)


def _primary_key(model: type[Model]) -> Field:
    key = model._meta.primary_key
    if not isinstance(key, Field):  # a model without a primary key: none of PaySync's
        raise TypeError(f"{model.__name__} has no primary key to save a row by")
    return key


@dataclass(frozen=True)
class _Select:
    """A select_rows statement up to its IN list, built once per shape."""

    head: str
    mark: str
    fixed: tuple[Callable[[Any], Any], ...]  # db_value of each `where` field
    key: Callable[[Any], Any]  # db_value of the key field
    converters: tuple[Callable[[Any], Any], ...]  # python_value of each column


_SELECTS: dict[tuple[Any, ...], _Select] = {}


def _select_statement(
    model: type[Model], columns: tuple[str, ...], where: tuple[str, ...], key: str
) -> _Select:
    mark = _param(model)
    shape = (model, mark, columns, where, key)
    built = _SELECTS.get(shape)
    if built is not None:
        return built
    fields = [_field(model, name) for name in columns]
    key_field = _field(model, key)
    head = (
        "SELECT "
        + ",".join(_quoted(field.column_name) for field in fields)
        + f" FROM {_quoted(model._meta.table_name)} WHERE "
        + "".join(f"{_quoted(_field(model, name).column_name)} = {mark} AND " for name in where)
        + f"{_quoted(key_field.column_name)} IN ("
    )
    built = _SELECTS[shape] = _Select(
        head=head,
        mark=mark,
        fixed=tuple(_field(model, name).db_value for name in where),
        key=key_field.db_value,
        converters=tuple(field.python_value for field in fields),
    )
    return built


def select_rows(
    model: type[Model],
    columns: Sequence[str],
    where: Mapping[str, Any],
    key: str,
    keys: Sequence[Any],
) -> Iterator[tuple[Any, ...]]:
    """The `columns` (field names, values as Python reads them) of the rows matching `where`
    (field name: value) whose `key` field is one of `keys`: one SELECT per thousand keys."""
    if not keys:
        return
    statement = _select_statement(model, tuple(columns), tuple(where), key)
    fixed = [convert(value) for convert, value in zip(statement.fixed, where.values(), strict=True)]
    converters, key_value = statement.converters, statement.key
    for start in range(0, len(keys), KEYS_PER_SELECT):
        chunk = keys[start : start + KEYS_PER_SELECT]
        sql = statement.head + ",".join([statement.mark] * len(chunk)) + ")"
        cursor = _execute(model, sql, fixed + [key_value(k) for k in chunk])
        for row in cursor.fetchall():
            yield tuple(convert(value) for convert, value in zip(converters, row, strict=True))


# --------------------------------------------------------------------------------------------
# Records PaySync could not read (DESIGN rule 11)
# --------------------------------------------------------------------------------------------


def hold_unreadable(
    company_file: CompanyFile, records: Iterable[UnreadableRecord], record_type: str, *, now: datetime
) -> list[UnreadableRecord]:
    """Keep each unreadable record aside (raw text and reason), as a HeldRecord of `record_type`
    (the step's `held_type`). Call in a transaction. Returns the records newly held (or held for a
    new reason): they are said once, as an error event."""
    newly: list[UnreadableRecord] = []
    records = list(records)
    if not records:
        return newly
    existing: dict[str, HeldRecord] = {}
    for chunk in chunks(sorted({record.record_key for record in records}), BATCH):
        for found in HeldRecord.select().where(
            (HeldRecord.company_file == company_file)
            & (HeldRecord.record_type == record_type)
            & HeldRecord.record_key.in_(chunk)
        ):
            existing[found.record_key] = found
    for record in records:
        row = existing.get(record.record_key)
        if row is None:
            existing[record.record_key] = HeldRecord.create(
                company_file=company_file,
                record_type=record_type,
                record_key=record.record_key,
                txn_id=record.txn_id,
                edit_sequence=record.edit_sequence,
                label=record.label,
                reason=record.reason,
                raw_text=record.raw,
                first_seen_at=now,
                updated_at=now,
            )
        elif (row.reason, row.edit_sequence, row.raw_text) != (
            record.reason,
            record.edit_sequence,
            record.raw,
        ):
            row.reason, row.edit_sequence, row.raw_text, row.label = (
                record.reason,
                record.edit_sequence,
                record.raw,
                record.label,
            )
            row.updated_at = now
            row.save()
        else:
            continue  # read again, unchanged: already said
        newly.append(record)
        ErrorEvent.create(at=now, where="qbwc", message=record.reason, detail=f"held:{record_type}")
        AuditLog.create(
            at=now,
            actor="qbwc",
            action="qbwc.record_held",
            target=record.record_key,
            detail=json.dumps({"record_type": record_type, "label": record.label}),
        )
    return newly


def release_held(
    company_file: CompanyFile, record_type: str | Sequence[str], keys: Iterable[str], *, now: datetime
) -> int:
    """QuickBooks sent these records readable: their held rows (of `record_type`, or of any of
    several) go (the note is cleared).

    Held records are few, so the held keys of the types are read once (one SELECT) and matched here,
    rather than asking for every key of a page of thousands."""
    types = [record_type] if isinstance(record_type, str) else list(record_type)
    held: dict[str, list[str]] = {}
    mark = _param(HeldRecord)
    cursor = _execute(
        HeldRecord,
        f'SELECT "record_type", "record_key" FROM {_quoted(HeldRecord._meta.table_name)} '
        f'WHERE "company_file_id" = {mark} AND "record_type" IN ({",".join([mark] * len(types))})',
        [company_file.id, *types],
    )
    for held_type, key in cursor.fetchall():
        held.setdefault(str(held_type), []).append(str(key))
    if not held:
        return 0
    wanted = set(keys)
    released = 0
    for held_type in types:
        found = sorted(wanted.intersection(held.get(held_type, ())))
        for chunk in chunks(found, BATCH):
            HeldRecord.delete().where(
                (HeldRecord.company_file == company_file)
                & (HeldRecord.record_type == held_type)
                & HeldRecord.record_key.in_(chunk)
            ).execute()
        for key in found:
            AuditLog.create(
                at=now,
                actor="qbwc",
                action="qbwc.record_released",
                target=key,
                detail=json.dumps({"record_type": held_type}),
            )
        released += len(found)
    return released


# --------------------------------------------------------------------------------------------
# How an item finishes
# --------------------------------------------------------------------------------------------


def iterator_finished(response: QueryResponse, records: int, max_returned: int | None) -> bool:
    """Whether the query is complete after this page. An iteratorRemainingCount PaySync cannot use
    (see QueryResponse.iterator_remaining_unreadable) leaves it to the page itself: a page shorter
    than MaxReturned is the last one."""
    if response.iterator_remaining_unreadable is not None and response.iterator_id:
        return max_returned is not None and records < max_returned
    return not response.iterator_remaining  # 0 or absent: the iterator is exhausted


def finish_work(
    work: QuickBooksWork, company_file: CompanyFile, now: datetime, *, watermark: str | None
) -> None:
    """The query is complete: the item is done and, when the query keeps a `watermark` (its kind),
    the watermark moves to the latest time the item read. Call in the transaction of the last page."""
    work.status = "done"
    work.finished_at = now
    work.iterator_id = None
    work.iterator_remaining = 0
    if watermark is not None:
        move_watermark(company_file, watermark, work.max_time_modified, now)
