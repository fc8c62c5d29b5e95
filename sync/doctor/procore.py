"""The Procore checks: reachable with a valid token (and when it expires), the company, the permission
PaySync needs on each synced project, Payments Issued enabled on the commitments it will write to,
whether invoices carry the origin_id matching relies on, and what the probes found.

Reads only, with short timeouts and one retry: the doctor must answer promptly when Procore is down.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from itertools import islice
from typing import Any

from storage import models
from sync.doctor.check import Check, fail, ok, warn
from sync.engine.probe_findings import ProbeFindings, stored_findings
from sync.procore.auth import DatabaseTokenStore, TokenStore
from sync.procore.client import ProcoreClient
from sync.procore.errors import ProcoreAuthError, ProcoreError, ProcoreRequestError
from sync.procore.permissions import APPROVER_ACTIONS, ERP_TOOL_NAMES, synced_project_ids
from sync.quickbooks.companies import procore_companies
from sync.runtime.status import iso_utc
from sync.settings import ConfigError, Settings

PROCORE = "Procore"
PROBES = "Procore behaviour"
NETWORK_TIMEOUT = 5.0
MAX_COMMITMENTS = 50  # Payments Issued is asked of this many commitments at most (one request each)
MAX_INVOICES = 500  # per project, for the origin_id count
PROBE_HINT = (
    "Run `paysync doctor --probe --probe-commitment ID` with a commitment you may write a test payment to."
)


def doctor_client(
    settings: Settings, token_store: TokenStore | None = None, *, company_id: int | None = None
) -> ProcoreClient:
    """A client that gives up quickly (short timeout, one retry, no long waits); of PROCORE_COMPANY_ID's
    company, or of `company_id` (another Procore company a company file writes to)."""
    settings.require_procore()
    assert settings.procore_client_id and settings.procore_client_secret
    assert settings.procore_company_id is not None
    return ProcoreClient(
        api_base=settings.procore_api_base,
        login_base=settings.procore_login_base,
        client_id=settings.procore_client_id,
        client_secret=settings.procore_client_secret,
        company_id=settings.procore_company_id if company_id is None else company_id,
        token_store=token_store or DatabaseTokenStore(),
        timeout=NETWORK_TIMEOUT,
        max_retries=1,
        max_wait=NETWORK_TIMEOUT,
    )


def _norm(name: object) -> str:
    return "".join(ch for ch in str(name or "").lower() if ch.isalnum())


def _tool(manifest: dict[str, Any], names: set[str]) -> dict[str, Any] | None:
    for tool in manifest.get("tools") or []:
        if isinstance(tool, dict) and (
            _norm(tool.get("name")) in names or _norm(tool.get("friendly_name")) in names
        ):
            return tool
    return None


def _level(tool: dict[str, Any] | None) -> str:
    access = (tool or {}).get("user_access_level") or {}
    return str(access.get("name", "")) if isinstance(access, dict) else ""


def procore_checks(
    settings: Settings, *, now: datetime, token_store: TokenStore | None = None
) -> list[Check]:
    try:
        client = doctor_client(settings, token_store)
    except ConfigError as exc:
        return [fail(PROCORE, "Sign-in", "Procore is not configured, so it was not checked", str(exc))]
    with client:
        sign_in = _sign_in_check(client, token_store, now=now)
        if sign_in.verdict == "fail":
            skipped = "not checked: Procore did not accept PaySync's sign-in"
            return [
                sign_in,
                *(
                    fail(PROCORE, name, skipped, sign_in.fix)
                    for name in ("Company", "Permissions", "Payments Issued enabled", "Invoice origin ids")
                ),
            ]
        checks = [sign_in, _company_check(client)]
        try:
            projects = synced_project_ids(client, settings)
        except ProcoreError as exc:
            return [*checks, fail(PROCORE, "Permissions", f"the projects could not be listed: {exc}", _AGAIN)]
        checks.extend(_permission_check(client, project_id) for project_id in projects)
        invoices = list(_invoices(client, projects))
        checks.append(_payments_enabled_check(client, invoices))
        checks.append(_origin_id_check(invoices))
    for company_id in _other_companies(settings):
        checks.extend(_other_company_checks(settings, token_store, company_id))
    return checks


def _other_companies(settings: Settings) -> list[int]:
    """The Procore companies other than PROCORE_COMPANY_ID's that company files write to."""
    if models.database_proxy.obj is None:
        return []
    return [company_id for company_id in procore_companies(settings) if company_id is not None]


def _other_company_checks(settings: Settings, token_store: TokenStore | None, company_id: int) -> list[Check]:
    """Another Procore company (`paysync company add --procore-company-id`): the app is installed
    there (the company is listed to the sign-in), has the permission on each of its projects, Payments
    Issued is enabled on its commitments with invoices, and its invoices carry origin ids."""
    with doctor_client(settings, token_store, company_id=company_id) as client:
        company = _other_company_check(client)
        if company.verdict == "fail":
            return [company]
        try:
            projects = synced_project_ids(client, settings, company_id=company_id)
        except ProcoreError as exc:
            return [
                company,
                fail(
                    PROCORE,
                    f"Permissions (company {company_id})",
                    f"the projects could not be listed: {exc}",
                    _AGAIN,
                ),
            ]
        invoices = list(_invoices(client, projects))
        # The same two checks as for PROCORE_COMPANY_ID's company, named for this one.
        per_company = [_payments_enabled_check(client, invoices), _origin_id_check(invoices)]
        return [
            company,
            *(_permission_check(client, project_id) for project_id in projects),
            *(replace(check, name=f"{check.name} (company {company_id})") for check in per_company),
        ]


_AGAIN = "Check Procore's status and the network, then run `paysync doctor` again."


def _sign_in_check(client: ProcoreClient, token_store: TokenStore | None, *, now: datetime) -> Check:
    try:
        me = client.get_me()
    except ProcoreAuthError as exc:
        return fail(
            PROCORE,
            "Sign-in",
            f"Procore refused PaySync's sign-in: {' '.join(str(exc).split())}"[:300],
            "Check PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET against the app in Procore's Developer Portal "
            "(and that the app is installed in the company), or sign in again with `paysync login`.",
        )
    except ProcoreError as exc:
        return fail(
            PROCORE,
            "Sign-in",
            f"Procore did not answer: {' '.join(str(exc).split())}"[:300],
            f"Check PROCORE_API_BASE ({client.api_base}), the network and Procore's status page.",
        )
    who = str(me.get("login") or me.get("name") or me.get("id"))
    token = (token_store or DatabaseTokenStore()).load()
    if token is None:
        return ok(PROCORE, "Sign-in", f"reachable; signed in as {who}")
    left = token.expires_at - now
    renews = (
        "renewed by itself (client credentials)"
        if token.grant_type == "client_credentials"
        else "renewed by its refresh token (`paysync login` if that stops)"
    )
    minutes = max(0, int(left.total_seconds() // 60))
    return ok(
        PROCORE,
        "Sign-in",
        f"reachable; signed in as {who}; token valid until {iso_utc(token.expires_at)} ({minutes} min), {renews}",
    )


def _company_check(client: ProcoreClient) -> Check:
    try:
        companies = client.list_companies()
    except ProcoreError as exc:
        return fail(PROCORE, "Company", f"the companies could not be listed: {exc}", _AGAIN)
    for company in companies:
        if str(company.get("id")) == str(client.company_id):
            return ok(PROCORE, "Company", f"{company.get('name') or 'company'} ({client.company_id})")
    return fail(
        PROCORE,
        "Company",
        f"company {client.company_id} is not among the {len(companies)} this sign-in sees",
        "Set PROCORE_COMPANY_ID to your company's id (in Procore's URL: /companies/ID), and install the app "
        "in that company (App Management).",
    )


def _other_company_check(client: ProcoreClient) -> Check:
    name = f"Company {client.company_id}"
    fix = (
        f"Install PaySync's Procore app in company {client.company_id} (App Management there), or correct the "
        "company file's Procore company (`paysync company remove KEY`, then `company add KEY --procore-company-id ID`)."
    )
    try:
        companies = client.list_companies()
    except ProcoreRequestError as exc:
        return fail(PROCORE, name, f"Procore refused this company: {' '.join(str(exc).split())}"[:300], fix)
    except ProcoreError as exc:
        return fail(PROCORE, name, f"the companies could not be listed: {exc}", _AGAIN)
    for company in companies:
        if str(company.get("id")) == str(client.company_id):
            return ok(PROCORE, name, f"{company.get('name') or 'company'}: the app is installed there")
    return fail(
        PROCORE, name, f"company {client.company_id} is not among the {len(companies)} this sign-in sees", fix
    )


def _permission_check(client: ProcoreClient, project_id: int) -> Check:
    name = f"Permissions (project {project_id})"
    try:
        manifest = client.get_permissions(project_id)
    except ProcoreError as exc:
        return fail(
            PROCORE,
            name,
            f"no access to the project: {' '.join(str(exc).split())}"[:300],
            "Add the app's service account to the project's Directory, or remove the project from "
            "PROCORE_PROJECT_IDS.",
        )
    commitments = _level(_tool(manifest, {"commitments", "commitment"}))
    erp_tool = _tool(manifest, ERP_TOOL_NAMES)
    erp = _level(erp_tool)
    approver = any(
        _norm(action.get("action_name")) in APPROVER_ACTIONS
        for action in (erp_tool or {}).get("permitted_actions") or []
        if isinstance(action, dict)
    )
    if commitments.casefold() != "admin":
        return fail(
            PROCORE,
            name,
            f"Commitments: {commitments or 'no access'}; adding to Payments Issued needs Admin",
            "In Procore, give the app's service account 'Admin' on the Commitments tool of this project "
            "(Project Directory → permissions).",
        )
    if erp.casefold() != "admin" and not approver:
        return warn(
            PROCORE,
            name,
            f"Commitments: Admin; ERP Integrations: {erp or 'no access'} (pushes work; on-demand sync as this "
            "account does not)",
            "Give it 'Admin' on ERP Integrations, or list the people who sync by hand in "
            "PAYSYNC_ACCOUNTING_APPROVERS.",
        )
    return ok(PROCORE, name, f"Commitments: Admin; ERP Integrations: {erp or 'approver'}")


def _invoices(client: ProcoreClient, projects: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    for project_id in projects:
        for item in islice(client.list_requisitions(project_id), MAX_INVOICES):
            yield project_id, item


def _payments_enabled_check(client: ProcoreClient, invoices: list[tuple[int, dict[str, Any]]]) -> Check:
    """The commitments PaySync will write to are those its invoices belong to."""
    name = "Payments Issued enabled"
    commitments = list(
        dict.fromkeys(
            (project_id, int(item["commitment_id"]))
            for project_id, item in invoices
            if isinstance(item.get("commitment_id"), int)
        )
    )
    if not commitments:
        return warn(
            PROCORE,
            name,
            "no subcontractor invoice in the synced projects yet, so no commitment to check",
            "Check again once invoices are in Procore (PaySync writes payments to their commitments).",
        )
    disabled: list[str] = []
    unknown: list[str] = []
    for project_id, commitment_id in commitments[:MAX_COMMITMENTS]:
        try:
            commitment = client.get_commitment(project_id, commitment_id)
        except ProcoreError:
            unknown.append(str(commitment_id))
            continue
        label = f"{commitment.get('number') or commitment_id} (id {commitment_id})"
        allowed = commitment.get("allow_payments")
        if allowed is False:
            disabled.append(label)
        elif allowed is None:
            unknown.append(label)
    checked = min(len(commitments), MAX_COMMITMENTS)
    more = (
        f" (the first {MAX_COMMITMENTS} of {len(commitments)})" if len(commitments) > MAX_COMMITMENTS else ""
    )
    if disabled:
        return fail(
            PROCORE,
            name,
            f"not enabled on {len(disabled)} of {checked} commitments{more}: {', '.join(disabled[:8])}",
            "In Procore open each commitment → Advanced Settings → tick 'Enable Payments' (Payments Issued); "
            "until then its payments are refused and wait as needs attention.",
        )
    if unknown:
        return warn(
            PROCORE,
            name,
            f"could not be told for {len(unknown)} of {checked} commitments: {', '.join(unknown[:8])}",
            "Check those commitments' Advanced Settings in Procore ('Enable Payments').",
        )
    return ok(PROCORE, name, f"enabled on all {checked} commitments with invoices{more}")


def _origin_id_check(invoices: list[tuple[int, dict[str, Any]]]) -> Check:
    name = "Invoice origin ids"
    if not invoices:
        return warn(
            PROCORE,
            name,
            "no subcontractor invoice to look at yet",
            "Check again once invoices are exported to QuickBooks from Procore.",
        )
    carrying = sum(1 for _, item in invoices if item.get("origin_id"))
    total = len(invoices)
    if carrying == total:
        return ok(PROCORE, name, f"all {total} invoices carry an origin_id (bills match them by it)")
    fix = (
        "Export invoices to QuickBooks through Procore's ERP integration, so each carries its bill's TxnID; "
        "the others are matched by invoice number (unique per vendor) or wait as needs mapping "
        "(`paysync mappings`)."
    )
    return warn(
        PROCORE,
        name,
        f"{total - carrying} of {total} invoices carry no origin_id, so their bills match by invoice number only",
        fix,
    )


# ---------------------------------------------------------------------------------------------
# What the probes found (stored by `paysync doctor --probe`)


def findings_checks() -> list[Check]:
    findings = stored_findings()
    if findings is None:
        return [
            warn(
                PROBES,
                "Probes",
                "Procore's undocumented behaviours (unlock, Link URLs, duplicate origin_id) were never probed here",
                PROBE_HINT,
            )
        ]
    return _finding_checks(findings)


def _finding_checks(findings: ProbeFindings) -> list[Check]:
    when = f"probed {findings.probed_at} on commitment {findings.commitment_id}"
    checks: list[Check] = []
    if findings.unlock == "works":
        checks.append(
            ok(PROBES, "Unlock a synced payment", f"clearing origin_id unlocks it, and it relocks ({when})")
        )
    elif findings.unlock in ("stays_locked", "origin_id_frozen"):
        how = (
            "Procore refuses to clear origin_id"
            if findings.unlock == "origin_id_frozen"
            else "clearing origin_id does not unlock it"
        )
        checks.append(
            warn(
                PROBES,
                "Unlock a synced payment",
                f"{how} ({when}): edits and voids of synced payments go straight to needs attention",
                "For each, an accounting approver unlinks the payment in Procore's ERP Integrations (Unlink); "
                "PaySync then applies the change by itself.",
            )
        )
    else:
        checks.append(warn(PROBES, "Unlock a synced payment", f"not found out ({when})", PROBE_HINT))
    if findings.duplicate_origin == "refused":
        checks.append(ok(PROBES, "Duplicate origin_id", f"Procore refuses a second payment with it ({when})"))
    elif findings.duplicate_origin == "accepted":
        checks.append(
            ok(
                PROBES,
                "Duplicate origin_id",
                f"Procore accepts a second payment with the same origin_id ({when}): PaySync's journal is the "
                "only guard against posting twice (it always is; keep backups of its database)",
            )
        )
    else:
        checks.append(warn(PROBES, "Duplicate origin_id", f"not found out ({when})", PROBE_HINT))
    if findings.link == "full_query":
        checks.append(ok(PROBES, "Link URLs", f"a next-page Link keeps the query ({when})"))
    elif findings.link == "page_only":
        checks.append(
            ok(
                PROBES,
                "Link URLs",
                f"a next-page Link carries only page and per_page ({when}); PaySync adds the query back",
            )
        )
    else:
        checks.append(
            warn(
                PROBES,
                "Link URLs",
                f"not found out: no list had a second page ({when})",
                "Probe again on a commitment with at least one other payment.",
            )
        )
    if findings.left_behind:
        checks.append(
            warn(
                PROBES,
                "Probe payments left",
                f"{len(findings.left_behind)} test payment(s) could not be deleted: {'; '.join(findings.left_behind)}",
                "An accounting approver unlinks each in ERP Integrations, then deletes it from the commitment's "
                "Payments Issued tab.",
            )
        )
    return checks
