"""What `paysync doctor --probe` found out about this installation's Procore, stored and read back.

Procore does not document how an ERP-synced payment is unlocked, what its `Link` URLs carry, or what
it answers to a duplicate `origin_id` (API-NOTES §12). The probes (sync/doctor/probes.py) try each
once against
a commitment the user names; the findings are kept in the settings store as JSON with the time, and
the engine reads them: when unlocking is known not to work, an edit or a void goes straight to *needs
attention* with the unlink instruction instead of trying (sync/engine/apply.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from storage.settings_store import DOCTOR_PROBE_FINDINGS, get_setting, set_setting

# How an ERP-locked payment answered the unlock (origin_id -> null), patch, relock path:
# works: it could be edited and locked again; stays_locked: origin_id cleared but the payment still
# refused the change; origin_id_frozen: clearing origin_id itself was refused; unknown: not found out.
UnlockFinding = Literal["works", "stays_locked", "origin_id_frozen", "unknown"]
DuplicateFinding = Literal["refused", "accepted", "unknown"]
# full_query: a `Link` URL followed alone keeps the query; page_only: it loses it (PaySync adds the
# query back, so both work); unknown: no list had a second page to try.
LinkFinding = Literal["full_query", "page_only", "unknown"]

UNLOCK_DOES_NOT_WORK: frozenset[str] = frozenset({"stays_locked", "origin_id_frozen"})


@dataclass
class ProbeFindings:
    probed_at: str  # ISO UTC
    project_id: int
    commitment_id: int
    unlock: UnlockFinding = "unknown"
    duplicate_origin: DuplicateFinding = "unknown"
    link: LinkFinding = "unknown"
    # What the probes created and could not delete: "payment 123 (0.01, origin_id …) on commitment 9".
    left_behind: list[str] = field(default_factory=list)
    # One line per step: what was sent and what Procore answered.
    steps: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> ProbeFindings:
        unlock, duplicate, link = value.get("unlock"), value.get("duplicate_origin"), value.get("link")
        return cls(
            probed_at=str(value.get("probed_at") or ""),
            project_id=int(value.get("project_id") or 0),
            commitment_id=int(value.get("commitment_id") or 0),
            unlock=cast(UnlockFinding, unlock) if unlock in _UNLOCK else "unknown",
            duplicate_origin=cast(DuplicateFinding, duplicate) if duplicate in _DUPLICATE else "unknown",
            link=cast(LinkFinding, link) if link in _LINK else "unknown",
            left_behind=[str(item) for item in value.get("left_behind") or []],
            steps=[str(item) for item in value.get("steps") or []],
        )


_UNLOCK = ("works", "stays_locked", "origin_id_frozen", "unknown")
_DUPLICATE = ("refused", "accepted", "unknown")
_LINK = ("full_query", "page_only", "unknown")


def store_findings(findings: ProbeFindings, *, now: datetime | None = None) -> None:
    set_setting(DOCTOR_PROBE_FINDINGS, findings.to_json(), now=now)


def stored_findings() -> ProbeFindings | None:
    """The last probes' findings, or None when the probes never ran (or the value cannot be read)."""
    raw = get_setting(DOCTOR_PROBE_FINDINGS)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return ProbeFindings.from_dict(value) if isinstance(value, dict) else None


def unlock_known_not_to_work() -> bool:
    """Whether the probes found that Procore keeps a synced payment locked when PaySync clears its
    origin_id (then only an accounting approver's Unlink in ERP Integrations frees it)."""
    findings = stored_findings()
    return findings is not None and findings.unlock in UNLOCK_DOES_NOT_WORK
