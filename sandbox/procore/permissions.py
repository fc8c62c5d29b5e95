"""Who may do what: the access levels, the tools they are granted on, checking a seeded permission
map, and the check every project endpoint makes (404 for no such project, 403 below the level).

Permission manifest (API-NOTES §7 says the real strings are unknown; sandbox choice): see the
package docstring.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.procore.errors import api_error
from sandbox.procore.records import AccessLevel, User

ACCESS_LEVEL_RANK: dict[str, int] = {"none": 0, "read_only": 1, "standard": 2, "admin": 3}
ACCESS_LEVEL_NAMES: dict[str, str] = {
    "none": "None",
    "read_only": "Read Only",
    "standard": "Standard",
    "admin": "Admin",
}
TOOL_FRIENDLY_NAMES: dict[str, str] = {
    "directory": "Directory",
    "commitments": "Commitments",
    "erp_integrations": "ERP Integrations",
}
TOOL_IDS: dict[str, int] = {"directory": 101, "commitments": 102, "erp_integrations": 103}


def checked_tool_levels(levels: Mapping[str, AccessLevel]) -> dict[str, AccessLevel]:
    for tool, level in levels.items():
        if level not in ACCESS_LEVEL_RANK:
            raise ValueError(
                f"{tool}: access level must be one of {sorted(ACCESS_LEVEL_RANK)}, not {level!r}"
            )
    return dict(levels)


def checked_permissions(
    permissions: Mapping[int, Mapping[str, AccessLevel]],
) -> dict[int, dict[str, AccessLevel]]:
    return {int(project_id): checked_tool_levels(levels) for project_id, levels in permissions.items()}


def tool_level(user: User, project_id: int | None, tool: str) -> AccessLevel:
    """The user's level on a tool of a project (``None``: the company's tools)."""
    if project_id is None:
        return user.company_permissions.get(tool, "none")
    return user.permissions.get(project_id, {}).get(tool, "none")


def at_least(level: str, needed: str) -> bool:
    return ACCESS_LEVEL_RANK[level] >= ACCESS_LEVEL_RANK[needed]


def require_level(user: User, project_id: int, tool: str, level: str) -> None:
    """403 unless the user has ``level`` or more on ``tool`` in the project."""
    if not at_least(tool_level(user, project_id, tool), level):
        raise api_error(
            403,
            f"You do not have {ACCESS_LEVEL_NAMES[level]} access to the "
            f"{TOOL_FRIENDLY_NAMES.get(tool, tool)} tool of this project",
        )
