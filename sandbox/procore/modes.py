"""The modes of the behaviours Procore does not document (the package docstring, "Undocumented
behaviours and their modes"): their names, their allowed values, and the ProcoreState attribute
that refuses any other value."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

ErpUnlockMode = Literal["clearing_origin_unlocks", "stays_locked", "origin_id_frozen"]
LinkMode = Literal["full_query", "page_only"]
DuplicateOriginMode = Literal["refuse", "accept"]
ERP_UNLOCK_MODES: tuple[ErpUnlockMode, ...] = ("clearing_origin_unlocks", "stays_locked", "origin_id_frozen")
LINK_MODES: tuple[LinkMode, ...] = ("full_query", "page_only")
DUPLICATE_ORIGIN_MODES: tuple[DuplicateOriginMode, ...] = ("refuse", "accept")

_M = TypeVar("_M", bound=str)


class ModeSetting(Generic[_M]):
    """A ProcoreState attribute holding one mode; setting a value not in ``allowed`` raises
    ValueError. Until set it reads as the first allowed mode (the sandbox's original answer)."""

    def __init__(self, allowed: tuple[_M, ...], doc: str) -> None:
        self.allowed = allowed
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> _M:
        if instance is None:
            return self  # type: ignore[return-value]
        value: _M = instance.__dict__.get(self.name, self.allowed[0])
        return value

    def __set__(self, instance: Any, value: _M) -> None:
        if value not in self.allowed:
            raise ValueError(
                f"{self.name} must be one of {', '.join(map(repr, self.allowed))}, not {value!r}"
            )
        instance.__dict__[self.name] = value
