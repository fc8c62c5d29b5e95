"""Who may sync on demand (DESIGN rule 6): Admin on the ERP Integrations tool of every synced
project, or a designated accounting approver (Procore's "Can Push to Accounting" privilege, or a
user listed in PAYSYNC_ACCOUNTING_APPROVERS)."""

from __future__ import annotations

from storage.models import ProcoreProject
from sync.procore.client import ProcoreClient
from sync.procore.errors import ProcoreRequestError
from sync.settings import Settings

ERP_TOOL_NAMES = {"erpintegrations", "erpintegration", "erp"}
APPROVER_ACTIONS = {"canpushtoaccounting"}


class PermissionDenied(Exception):
    """The signed-in Procore user may not do this; the message says what is missing."""


def _normalise_tool(name: object) -> str:
    return "".join(ch for ch in str(name or "").lower() if ch.isalnum())


def synced_project_ids(
    client: ProcoreClient, settings: Settings, *, company_id: int | None = None
) -> list[int]:
    """The projects PaySync syncs in one Procore company (None: PROCORE_COMPANY_ID's, `client`'s):
    PROCORE_PROJECT_IDS for that one, else those imported from the company, else all the app sees."""
    if company_id is None and settings.procore_project_ids:
        return list(settings.procore_project_ids)
    column = ProcoreProject.company_id
    stored = [
        int(p.id)
        for p in ProcoreProject.select(ProcoreProject.id).where(
            column.is_null(True) if company_id is None else column == company_id
        )
    ]
    if stored:
        return stored
    return [int(p["id"]) for p in client.list_projects()]


def check_can_sync(client: ProcoreClient, settings: Settings, *, company_id: int | None = None) -> None:
    """On-demand sync needs Admin on the ERP Integrations tool of every synced project, or the
    user must be a designated accounting approver (DESIGN rule 6); else PermissionDenied. With
    several Procore companies it is asked of each (`client` of `company_id`, None: the default)."""
    me = client.get_me()
    who = str(me.get("login") or me.get("name") or me.get("id"))
    approvers = {a.strip().casefold() for a in settings.accounting_approvers}
    if approvers & {str(me.get("id", "")).casefold(), str(me.get("login", "")).casefold()}:
        return
    lacking: list[str] = []
    project_ids = synced_project_ids(client, settings, company_id=company_id)
    for project_id in project_ids:
        try:
            manifest = client.get_permissions(project_id)
        except ProcoreRequestError as exc:
            lacking.append(f"project {project_id} ({exc})")
            continue
        erp = next(
            (
                tool
                for tool in manifest.get("tools") or []
                if isinstance(tool, dict)
                and (
                    _normalise_tool(tool.get("name")) in ERP_TOOL_NAMES
                    or _normalise_tool(tool.get("friendly_name")) in ERP_TOOL_NAMES
                )
            ),
            None,
        )
        level = ""
        approver = False
        if erp is not None:
            access = erp.get("user_access_level") or {}
            level = str(access.get("name", "")) if isinstance(access, dict) else ""
            approver = any(
                _normalise_tool(a.get("action_name")) in APPROVER_ACTIONS
                for a in erp.get("permitted_actions") or []
                if isinstance(a, dict)
            )
        if level.strip().casefold() != "admin" and not approver:
            lacking.append(f"project {project_id} (ERP Integrations: {level or 'no access'})")
    if not project_ids:
        where = "" if company_id is None else f" in Procore company {company_id}"
        raise PermissionDenied(
            f"No Procore project to sync{where}: the app can see none. Set PROCORE_PROJECT_IDS or give the "
            "app access to the projects in Procore's App Management."
        )
    if lacking:
        raise PermissionDenied(
            f"{who} may not sync on demand: that needs 'Admin' on the ERP Integrations tool of every "
            f"synced project, or being an accounting approver. Missing on: {', '.join(lacking)}. "
            "Ask a Procore admin for the permission, or add the user to PAYSYNC_ACCOUNTING_APPROVERS."
        )
