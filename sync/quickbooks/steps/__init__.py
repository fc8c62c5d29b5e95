"""The Web Connector session as an ordered list of steps: one class per kind of QuickBooks query.

Every module of this folder but base.py defines the step class (or classes) of its queries; the
registry below finds them and orders them as storage.vocabulary.WorkKind lists their kinds. So a
new kind of query is a WorkKind member and a module here, and nothing else: the work queue, the
Web Connector exchange, the labels `paysync sync` and the console print, the queue priorities and
the watermarks all read this registry. A WorkKind without a step, or two steps for one kind, stops
PaySync at import with the reason.

    step             kind                   queued                 error on it
    HostCheck        host                   every refresh (first)  stops the session
    CheckPayments    payments_check         every refresh          stops the session
    CreditCard...    payments_credit_card   every refresh          stops the session
    DeletedPayments  deleted                every refresh          stops the session
    BillLookup       bills                  after a payment page   recorded only
    VendorLookup     vendors                after a payment page   recorded only
    CurrencyList     currencies             at session start       recorded only
"""

from __future__ import annotations

import importlib
import pkgutil

from storage.vocabulary import WorkKind

from .base import Context, Step, Turn

__all__ = [
    "REFRESH_STEPS",
    "STEPS",
    "WATERMARK_KINDS",
    "WORK_LABELS",
    "Context",
    "Step",
    "Turn",
    "query_name_of",
    "step_for",
]


def _discover() -> tuple[Step, ...]:
    """One instance of every step class defined in this folder, in WorkKind's order."""
    found: dict[WorkKind, Step] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, Step) and "kind" in vars(value)):
                continue
            if value.__module__ != module.__name__:
                continue  # imported, not defined here
            if value.kind in found:
                raise RuntimeError(
                    f"Two steps for the QuickBooks work kind {value.kind!s}: "
                    f"{type(found[value.kind]).__name__} and {value.__name__}."
                )
            found[value.kind] = value()
    missing = [kind.value for kind in WorkKind if kind not in found]
    if missing:
        raise RuntimeError(
            f"No step for the QuickBooks work kind(s) {', '.join(missing)}: add a module with its step "
            "class to sync/quickbooks/steps/."
        )
    return tuple(found[kind] for kind in WorkKind)


STEPS: tuple[Step, ...] = _discover()
_BY_KIND: dict[str, Step] = {step.kind.value: step for step in STEPS}

# What every refresh queues, in this order (the company-file check first, by its priority too).
REFRESH_STEPS: tuple[Step, ...] = tuple(step for step in STEPS if step.refresh)
# The kinds whose progress is kept as a watermark (cleared when the cutoff moves earlier).
WATERMARK_KINDS: tuple[WorkKind, ...] = tuple(step.kind for step in STEPS if step.watermark)
# What a person reads for each kind of queued work ("check bill payments").
WORK_LABELS: dict[str, str] = {step.kind.value: step.label for step in STEPS}


def step_for(kind: str) -> Step:
    """The step of a kind of work; ValueError for a kind PaySync does not know (a row left by
    another version)."""
    step = _BY_KIND.get(str(kind))
    if step is None:
        raise ValueError(f"unknown kind of QuickBooks work {kind!r}")
    return step


def query_name_of(kind: str) -> str:
    """The query in a sentence ("check bill payment"); the kind itself when PaySync does not know it."""
    step = _BY_KIND.get(str(kind))
    return step.query_name if step is not None else str(kind)
