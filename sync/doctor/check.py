"""One check's result, and running a group of checks so that one failing never stops the others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

log = logging.getLogger("paysync.doctor")

Verdict = Literal["ok", "warn", "fail"]
GLYPHS: dict[str, str] = {"ok": "✔", "warn": "⚠", "fail": "✖"}


@dataclass(frozen=True)
class Check:
    """`why`: one line saying what was found; `fix`: what to do about it (empty when all is well)."""

    area: str  # "Configuration", "Database", "Procore", "Web Connector", "Schedule", "Probes"
    name: str
    verdict: Verdict
    why: str
    fix: str = ""

    @property
    def glyph(self) -> str:
        return GLYPHS[self.verdict]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ok(area: str, name: str, why: str) -> Check:
    return Check(area, name, "ok", why)


def warn(area: str, name: str, why: str, fix: str) -> Check:
    return Check(area, name, "warn", why, fix)


def fail(area: str, name: str, why: str, fix: str) -> Check:
    return Check(area, name, "fail", why, fix)


def guarded(area: str, name: str, produce: Callable[[], Iterable[Check]]) -> list[Check]:
    """The checks `produce` gives; an unexpected error becomes one ✖ naming it, so the other checks
    still run."""
    try:
        return list(produce())
    except Exception as exc:  # a check that breaks is a finding, never the end of the doctor
        log.debug("check %s failed", name, exc_info=True)
        return [
            fail(
                area,
                name,
                f"could not be checked: {type(exc).__name__}: {' '.join(str(exc).split())}"[:300],
                "Fix what the message names and run `paysync doctor` again.",
            )
        ]
