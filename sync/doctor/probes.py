"""`paysync doctor --probe`: try, once, what Procore does not document (API-NOTES §12), against one
commitment the user names, and remember the answers (findings.py).

1. create a test payment of 0.01 with an origin_id (which locks it);
2. unlock (origin_id -> null), patch (amount 0.02), relock, reading back after each step;
3. create a second payment with the same origin_id;
4. ask for the second page of a list through its `Link` URL alone;
5. delete what it created, or say exactly what is left and how to remove it.

The origin ids are "paysync-doctor:…", never PaySync's "qbd:…" form, so no sync mistakes them for
its own payments.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from storage.models import Commitment
from sync.engine.probe_findings import LinkFinding, ProbeFindings, UnlockFinding, store_findings
from sync.procore.client import CONTRACT_PAYMENTS, ProcoreClient
from sync.procore.errors import ProcoreError, ProcoreRequestError
from sync.procore.permissions import synced_project_ids
from sync.runtime.status import iso_utc
from sync.settings import Settings

PROBE_AMOUNT = "0.01"
PATCHED_AMOUNT = "0.02"
PROBE_LABEL = "PaySync doctor test payment: safe to delete"


class ProbeCouldNotRun(Exception):
    """The probes could not start (no such commitment, the first test payment refused); nothing is left."""


@dataclass(frozen=True)
class ProbeTarget:
    project_id: int
    commitment_id: int
    label: str  # "SC-001 Concrete (id 123)"
    currency: str  # ISO code of the commitment's currency


def find_probe_target(client: ProcoreClient, settings: Settings, commitment_id: int) -> ProbeTarget:
    """The named commitment, looked up in the database, else in the synced projects."""
    row: Commitment | None = Commitment.get_or_none(Commitment.id == commitment_id)
    project_ids = [int(row.project_id)] if row is not None else synced_project_ids(client, settings)
    for project_id in project_ids:
        try:
            commitment = client.get_commitment(project_id, commitment_id)
        except ProcoreRequestError:
            continue
        number = commitment.get("number") or ""
        title = commitment.get("title") or ""
        label = " ".join(str(part) for part in (number, title) if part) or "commitment"
        config = commitment.get("currency_configuration") or {}
        currency = str(config.get("currency_iso_code") or "") if isinstance(config, dict) else ""
        if commitment.get("allow_payments") is False:
            raise ProbeCouldNotRun(
                f"Commitment {commitment_id} ({label}) does not have Payments Issued enabled: enable payments "
                "on it in Procore (Advanced Settings), or name another commitment."
            )
        return ProbeTarget(project_id, commitment_id, f"{label} (id {commitment_id})", currency or "USD")
    raise ProbeCouldNotRun(
        f"No commitment {commitment_id} in the synced projects ({', '.join(map(str, project_ids)) or 'none'}): "
        "give the id of a commitment PaySync syncs (the number in its Procore URL)."
    )


def probe_plan(target: ProbeTarget) -> str:
    """What the probes will write, for the confirmation."""
    return (
        f"This will write to commitment {target.label} in Procore: create 2 payments of {PROBE_AMOUNT} "
        f"{target.currency} with the same origin_id (paysync-doctor:…), change one to {PATCHED_AMOUNT} and "
        "back by unlocking and relocking it, then delete them. Where Procore refuses a delete, PaySync says "
        "exactly what is left."
    )


def _text(exc: ProcoreError) -> str:
    if isinstance(exc, ProcoreRequestError):
        return f"{exc.status} {exc.procore_message or exc}"
    return str(exc)


def _amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def run_probes(
    client: ProcoreClient, target: ProbeTarget, *, file_key: str, now: datetime | None = None
) -> ProbeFindings:
    """Run the probes, clean up, store the findings and return them."""
    moment = now or client.now()
    origin = f"paysync-doctor:{file_key}:{secrets.token_hex(6)}"
    findings = ProbeFindings(
        probed_at=iso_utc(moment) or "", project_id=target.project_id, commitment_id=target.commitment_id
    )
    project, contract = target.project_id, target.commitment_id
    fields = {
        "amount": PROBE_AMOUNT,
        "date": moment.date().isoformat(),
        "origin_id": origin,
        "origin_data": PROBE_LABEL,
        "check_number": "PAYSYNC-DOCTOR",
    }
    try:
        first = client.create_contract_payment(project, contract, fields)
    except ProcoreError as exc:
        raise ProbeCouldNotRun(
            f"Procore refused the first test payment on commitment {target.label} ({_text(exc)}); nothing "
            "was written. Check the permissions (`paysync doctor`) or name another commitment."
        ) from exc
    created: list[int] = [int(first["id"])]
    findings.steps.append(f"created test payment {created[0]} with origin_id {origin}")
    try:
        findings.unlock = _probe_unlock(client, target, created[0], origin, findings.steps)
        second = _probe_duplicate(client, target, fields, findings)
        if second is not None:
            created.append(second)
        findings.link = _probe_link(client, target, findings.steps)
    finally:
        findings.left_behind = _clean_up(client, target, created, findings.steps)
        store_findings(findings)
    return findings


def _probe_unlock(
    client: ProcoreClient, target: ProbeTarget, payment_id: int, origin: str, steps: list[str]
) -> UnlockFinding:
    project, contract = target.project_id, target.commitment_id
    try:
        client.update_contract_payment(payment_id, project, contract, {"origin_id": None})
    except ProcoreRequestError as exc:
        steps.append(f"clearing origin_id was refused: {_text(exc)}")
        return "origin_id_frozen"
    seen = client.get_contract_payment(payment_id, project, contract)
    if seen.get("origin_id"):
        steps.append("clearing origin_id was accepted, but Procore still shows it")
        return "origin_id_frozen"
    steps.append("origin_id cleared (read back: null)")
    finding: UnlockFinding = "works"
    try:
        client.update_contract_payment(payment_id, project, contract, {"amount": PATCHED_AMOUNT})
    except ProcoreRequestError as exc:
        steps.append(f"changing the amount was refused with origin_id cleared: {_text(exc)}")
        finding = "stays_locked"
    else:
        seen = client.get_contract_payment(payment_id, project, contract)
        if _amount(seen.get("amount")) != Decimal(PATCHED_AMOUNT):
            steps.append(
                f"changing the amount was accepted but not applied (read back: {seen.get('amount')})"
            )
            finding = "stays_locked"
        else:
            steps.append(f"amount changed to {PATCHED_AMOUNT} (read back)")
    try:
        client.update_contract_payment(payment_id, project, contract, {"origin_id": origin})
        relocked = client.get_contract_payment(payment_id, project, contract).get("origin_id") == origin
        steps.append("relocked (read back: origin_id set)" if relocked else "relock did not take (read back)")
    except ProcoreRequestError as exc:
        steps.append(f"relocking was refused: {_text(exc)}")
    return finding


def _probe_duplicate(
    client: ProcoreClient, target: ProbeTarget, fields: dict[str, Any], findings: ProbeFindings
) -> int | None:
    try:
        second = client.create_contract_payment(target.project_id, target.commitment_id, fields)
    except ProcoreRequestError as exc:
        findings.duplicate_origin = "refused"
        findings.steps.append(f"a second payment with the same origin_id was refused: {_text(exc)}")
        return None
    findings.duplicate_origin = "accepted"
    findings.steps.append(
        f"a second payment with the same origin_id was accepted (payment {second.get('id')})"
    )
    return int(second["id"])


def _probe_link(client: ProcoreClient, target: ProbeTarget, steps: list[str]) -> LinkFinding:
    """Ask for page 1 of one item, then follow its `next` Link alone: the commitment's payments, else
    the company's projects (whichever has a second page)."""
    lists: list[tuple[str, dict[str, Any]]] = [
        (CONTRACT_PAYMENTS, {"project_id": target.project_id, "contract_id": target.commitment_id}),
        ("/rest/v1.0/projects", {"company_id": client.company_id}),
        ("/rest/v1.0/vendors", {"company_id": client.company_id}),
    ]
    for path, params in lists:
        first = client.get_raw(path, {**params, "page": 1, "per_page": 1})
        link = first.links.get("next", {}).get("url") if first.status_code == 200 else None
        if not link:
            continue
        following = client.get_raw(link)
        if following.status_code == 200 and isinstance(following.json(), list):
            steps.append(f"the next-page Link of {path} worked alone: {link}")
            return "full_query"
        steps.append(f"the next-page Link of {path} alone got {following.status_code}: {link}")
        return "page_only"
    steps.append("no list had a second page, so the Link URLs could not be tried")
    return "unknown"


def _clean_up(client: ProcoreClient, target: ProbeTarget, created: list[int], steps: list[str]) -> list[str]:
    """Delete each test payment (unlocking it first); what Procore keeps is described exactly."""
    project, contract = target.project_id, target.commitment_id
    left: list[str] = []
    for payment_id in reversed(created):
        amount = PROBE_AMOUNT
        try:
            seen = client.get_contract_payment(payment_id, project, contract)
            amount = str(seen.get("amount") or amount)
            if seen.get("origin_id"):
                try:
                    client.update_contract_payment(payment_id, project, contract, {"origin_id": None})
                except ProcoreRequestError:
                    pass  # the DELETE below says whether it matters
            client.delete_contract_payment(payment_id, project, contract)
            steps.append(f"deleted test payment {payment_id}")
        except ProcoreError as exc:
            left.append(
                f"payment {payment_id} ({amount} {target.currency}, check number PAYSYNC-DOCTOR) on commitment "
                f"{target.label}: Procore refused the delete ({_text(exc)})"
            )
            steps.append(f"could not delete test payment {payment_id}: {_text(exc)}")
    return left
