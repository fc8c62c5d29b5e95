"""Typed, read-only access to the children of one qbXML element, with errors that name the record.

The readers of each *Ret (parse.py) read through `Fields`: text cut to the schema's limits, amounts
(AMTTYPE, as Decimal), dates, counts, booleans and references, each refused with a
QbXMLContentError that says which record and which element, and what QuickBooks sent. Values that
repeat across the records of one response are shared (`Shared`), so a large response stays small.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar

from .errors import QbXMLContentError
from .times import parse_qb_local

ID_CHARS = 36  # IDTYPE (qbxmltypes130.xsd): TxnID, ListID

_AMOUNT = re.compile(r"[+-]?\d{1,13}(?:\.\d{2})?")  # AMTTYPE without its empty alternative
_CENTS = Decimal("0.01")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # DATETYPE as QuickBooks writes it
_RATE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")  # FLOATTYPE
MAX_INT32 = 2**31 - 1  # the largest count or number PaySync's tables (and PostgreSQL's integer) hold
_V = TypeVar("_V")


@dataclass
class Shared:
    """Values repeated across records of one response (vendors, accounts, dates, amounts, times).

    expat makes a new str for every occurrence; sharing one immutable object per distinct value keeps
    the records of a large response small, and skips re-parsing the same date or amount.
    """

    strings: dict[str, str] = field(default_factory=dict)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    dates: dict[str, date] = field(default_factory=dict)


class Fields:
    """Typed, read-only access to the children of one xmltodict element; errors name the record."""

    __slots__ = ("_shared", "_values", "context")

    def __init__(self, value: object, context: str, shared: Shared) -> None:
        # type() first: parse.py hands over plain dicts, and an ABC isinstance check is slow.
        self._values: Mapping[str, object] = (
            value if type(value) is dict or isinstance(value, Mapping) else {}  # type: ignore[assignment]
        )
        self._shared = shared
        self.context = context  # e.g. "BillPaymentCheckRet 12-1700000000", used in error messages

    def renamed(self, context: str) -> Fields:
        return Fields(self._values, context, self._shared)

    def with_txn_id(self, name: str) -> tuple[str, Fields]:
        """The required TxnID, and these fields renamed "{name} {TxnID}" for error messages."""
        txn_id = self.required_limited_text("TxnID", ID_CHARS)
        return txn_id, self.renamed(f"{name} {txn_id}")

    def _present(self, child: str, value: _V | None) -> _V:
        if value is None:
            raise self.problem(child, "is missing", raw=None)
        return value

    def problem(self, child: str, problem: str, raw: str | None = None) -> QbXMLContentError:
        inner = self.context.split(" ")[2:]  # "BillPaymentCheckRet 12-17 AppliedToTxnRet" -> the path inside
        return QbXMLContentError(
            f"{self.context}: {child} {problem}. The QuickBooks response does not match qbXML 13.0; "
            "check the Web Connector log (QWCLog.txt) and report it if QuickBooks really sent this.",
            element="/".join([*inner, child]),
            raw=raw,
            problem=problem,
        )

    def text(self, child: str) -> str | None:
        value = self._values.get(child)
        if type(value) is str:  # the common case, first
            return value or None
        if isinstance(value, list):  # repeated where the schema allows one: keep the first
            value = value[0] if value else None
        return self._as_text(child, value)

    def _as_text(self, child: str, value: object) -> str | None:
        if type(value) is dict or isinstance(
            value, Mapping
        ):  # an element with attributes keeps its text under "#text"
            value = value.get("#text")
        if value is None or isinstance(value, str):
            return value or None  # <X></X> and <X/> both mean "no value"
        raise self.problem(child, "has child elements where text was expected", raw=short_repr(value))

    def limited_text(self, child: str, max_chars: int) -> str | None:
        """text(), refused when longer than the schema allows (a longer TxnID, say, would be
        stored as a second record beside the real one)."""
        value = self.text(child)
        if value is not None and len(value) > max_chars:
            raise self.problem(
                child, f"is {len(value)} characters long; qbXML allows at most {max_chars}", raw=value
            )
        return value

    def required_limited_text(self, child: str, max_chars: int) -> str:
        return self._present(child, self.limited_text(child, max_chars))

    def required_time(self, child: str) -> str:
        """A QuickBooks date-time kept as sent (DESIGN rule 2), refused unless it is one."""
        value = self.required_shared_text(child)
        try:
            parse_qb_local(value)
        except ValueError:
            raise self.problem(child, "is not a QuickBooks date-time", raw=value) from None
        return value

    def shared_text(self, child: str) -> str | None:
        """text(), for values that repeat across records (names, types, times)."""
        value = self.text(child)
        return None if value is None else self._shared.strings.setdefault(value, value)

    def required_shared_text(self, child: str) -> str:
        return self._present(child, self.shared_text(child))

    def texts(self, child: str) -> tuple[str, ...]:
        values = (self._as_text(child, value) for value in as_list(self._values.get(child)))
        return tuple(value for value in values if value is not None)

    def required_text(self, child: str) -> str:
        return self._present(child, self.text(child))

    def ref(self, child: str) -> Fields:
        """A ListID/FullName reference such as PayeeEntityRef (empty when absent)."""
        value = self._values.get(child)
        first = value[0] if isinstance(value, list) and value else value
        return Fields(first, f"{self.context} {child}", self._shared)

    def values(self, child: str) -> list[object]:
        return as_list(self._values.get(child))

    def each(self, child: str) -> list[Fields]:
        return [Fields(value, f"{self.context} {child}", self._shared) for value in self.values(child)]

    def _converted(
        self, child: str, known: dict[str, _V], convert: Callable[[Fields, str, str], _V]
    ) -> _V | None:
        """The child's text converted once per distinct value of the response (`known` caches it)."""
        raw = self.text(child)
        if raw is None:
            return None
        value = known.get(raw)
        if value is None:
            value = known.setdefault(raw, convert(self, child, raw))
        return value

    def amount(self, child: str) -> Decimal | None:
        return self._converted(child, self._shared.amounts, _to_amount)

    def required_amount(self, child: str) -> Decimal:
        return self._present(child, self.amount(child))

    def calendar_date(self, child: str) -> date | None:
        return self._converted(child, self._shared.dates, _to_date)

    def required_calendar_date(self, child: str) -> date:
        return self._present(child, self.calendar_date(child))

    def integer(self, child: str) -> int | None:
        raw = self.text(child)
        return _parse_int(raw, lambda problem: self.problem(child, problem, raw=raw))

    def small_integer(self, child: str) -> int | None:
        """A number PaySync only shows (TxnNumber): beyond what a table holds it is left out."""
        value = self.integer(child)
        return value if value is not None and abs(value) <= MAX_INT32 else None

    def boolean(self, child: str) -> bool | None:
        raw = self.text(child)
        if raw is None:
            return None
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        raise self.problem(child, f"{raw!r} is not true or false", raw=raw)

    def optional_amount(self, child: str) -> Decimal | None:
        """An amount PaySync only shows (AmountInHomeCurrency): unreadable means unknown, not held."""
        try:
            return self.amount(child)
        except QbXMLContentError:
            return None

    def rate(self, child: str) -> str | None:
        """ExchangeRate (FLOATTYPE), kept as text: shown, never used to convert money."""
        raw = self.text(child)
        return raw if raw is not None and _RATE.fullmatch(raw) and len(raw) <= 32 else None


def _to_amount(fields: Fields, child: str, raw: str) -> Decimal:
    if _AMOUNT.fullmatch(raw) is None:
        raise fields.problem(
            child, f"{raw!r} is not a qbXML amount (digits, optionally with two decimals)", raw=raw
        )
    # "100" and "100.00" both become Decimal("100.00")
    return Decimal(raw).quantize(_CENTS)


def _to_date(fields: Fields, child: str, raw: str) -> date:
    if _DATE.fullmatch(raw) is None:
        raise fields.problem(child, f"{raw!r} is not a date in the form YYYY-MM-DD", raw=raw)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise fields.problem(child, f"{raw!r} is not a calendar date", raw=raw) from None


def short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "…"


def as_list(value: object) -> list[object]:
    """xmltodict gives one child as itself and repeated children as a list; always get a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _parse_int(raw: str | None, problem: Callable[[str], QbXMLContentError]) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise problem(f"{raw!r} is not a whole number") from None
