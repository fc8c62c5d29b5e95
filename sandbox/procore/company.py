"""The company-level endpoints: who is asking (``/me``), the company (``/companies``), its
``/projects`` and ``/vendors``, and the permission manifest (``/settings/permissions``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from sandbox.procore.call import Call
from sandbox.procore.errors import ApiError, api_error
from sandbox.procore.pagination import DEFAULT_PER_PAGE
from sandbox.procore.permissions import (
    ACCESS_LEVEL_NAMES,
    ACCESS_LEVEL_RANK,
    TOOL_FRIENDLY_NAMES,
    TOOL_IDS,
    tool_level,
)
from sandbox.procore.records import AccessLevel
from sandbox.procore.rendering import timestamp
from sandbox.procore.requests import query_int


def _check_company_param(call: Call) -> None:
    company_id = query_int(call.request, "company_id")
    if company_id != call.state.company_id:
        raise api_error(404, f"Couldn't find Company with 'id'={company_id}")


async def me(call: Call) -> Response:
    user = call.principal
    return JSONResponse({"id": user.id, "login": user.login, "name": user.name})


async def companies(call: Call) -> Response:
    """The companies the token can reach: where it was issued, and every other company this API
    serves that has the token's OAuth client installed."""
    client_id = call.token.client_id if call.token is not None else None
    reachable = [
        state
        for number, state in enumerate(call.companies or (call.state,))
        if number == 0 or client_id in state._clients
    ]
    return JSONResponse([{"id": s.company_id, "name": s.company_name, "is_active": True} for s in reachable])


async def projects(call: Call) -> Response:
    _check_company_param(call)
    with call.state.lock:
        user = call.principal
        visible = [
            p for p in sorted(call.state._projects.values(), key=lambda p: p.id) if p.id in user.permissions
        ]
        rendered = [
            {
                "id": project.id,
                "name": project.name,
                "display_name": f"{project.project_number} - {project.name}"
                if project.project_number
                else project.name,
                "project_number": project.project_number,
                "active": True,
                "origin_id": None,
                "company": {"id": call.state.company_id, "name": call.state.company_name},
                "created_at": timestamp(project.created_at),
                "updated_at": timestamp(project.updated_at),
            }
            for project in visible
        ]
    return call.page(rendered, DEFAULT_PER_PAGE)


async def vendors(call: Call) -> Response:
    _check_company_param(call)
    with call.state.lock:
        rendered = [
            {
                "id": vendor.id,
                "name": vendor.name,
                "is_active": True,
                "origin_id": vendor.origin_id,
                "origin_code": None,
                "origin_data": vendor.origin_data,
                "synced_to_erp": vendor.origin_id is not None,
                "created_at": timestamp(vendor.created_at),
                "updated_at": timestamp(vendor.updated_at),
            }
            for vendor in sorted(call.state._vendors.values(), key=lambda v: v.id)
        ]
    return call.page(rendered, DEFAULT_PER_PAGE)


async def permission_manifest(call: Call) -> Response:
    project_id = query_int(call.request, "project_id", required=False)
    company_id = query_int(call.request, "company_id", required=False)
    user = call.principal
    if project_id is None and company_id is None:
        raise ApiError(
            400, {"error": {"code": "bad_request", "message": "project_id or company_id is required"}}
        )
    with call.state.lock:
        if project_id is not None:
            if project_id not in call.state._projects:
                raise api_error(404, f"Couldn't find Project with 'id'={project_id}")
            if project_id not in user.permissions:
                raise api_error(403, "You are not a member of this project")
            tools: tuple[str, ...] = ("directory", "commitments", "erp_integrations")
            base_url = f"/{project_id}/project"
        else:
            if company_id != call.state.company_id:
                raise api_error(404, f"Couldn't find Company with 'id'={company_id}")
            tools = ("directory", "erp_integrations")
            base_url = f"/{company_id}/company"
        rendered = []
        for tool in tools:
            # Everyone in a project can read its directory; the rest comes from the user.
            level: AccessLevel = "read_only" if tool == "directory" else tool_level(user, project_id, tool)
            actions: list[dict[str, Any]] = []
            if (
                tool == "erp_integrations"
                and user.can_push_to_accounting
                and ACCESS_LEVEL_RANK[level] >= ACCESS_LEVEL_RANK["standard"]
            ):
                actions.append(
                    {
                        "id": 9001,
                        "action_name": "can_push_to_accounting",
                        "label": "Can Push to Accounting",
                        "tool_name": tool,
                    }
                )
            rendered.append(
                {
                    "id": TOOL_IDS[tool],
                    "name": tool,
                    "friendly_name": TOOL_FRIENDLY_NAMES[tool],
                    "domain_id": TOOL_IDS[tool],
                    "tab_group": "financial_management" if tool != "directory" else "core_tools",
                    "available_for_user": level != "none",
                    "url": f"{base_url}/{tool}",
                    "user_access_level": {
                        "id": ACCESS_LEVEL_RANK[level],
                        "name": ACCESS_LEVEL_NAMES[level],
                    },
                    "permitted_actions": actions,
                    "create_url": None,
                    "can_create": ACCESS_LEVEL_RANK[level] >= ACCESS_LEVEL_RANK["standard"],
                    "trial": False,
                }
            )
    return JSONResponse({"tools": rendered})
