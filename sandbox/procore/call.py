"""What a handler gets: one request with the state it runs against and who is asking, and the ways
it answers (JSON whose money follows ``state.money_as_numbers``, one page of a list, the project
access check)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.procore.errors import api_error
from sandbox.procore.pagination import paginate
from sandbox.procore.permissions import require_level
from sandbox.procore.records import AccessToken, Project, User
from sandbox.procore.rendering import ApiJSONResponse
from sandbox.procore.state import ProcoreState

Handler = Callable[["Call"], Awaitable[Response]]


@dataclass
class Call:
    request: Request
    state: ProcoreState
    user: User | None
    token: AccessToken | None
    # Every company this API serves (create_procore_app with several states); () = just `state`.
    companies: tuple[ProcoreState, ...] = ()

    @property
    def principal(self) -> User:
        assert self.user is not None, "handler of an authenticated route called without a user"
        return self.user

    def json(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A JSON answer whose Decimals follow ``state.money_as_numbers``."""
        return ApiJSONResponse(content, status_code, headers, decimals_as_numbers=self.state.money_as_numbers)

    def page(self, items: list[Any], default_per_page: int) -> Response:
        """One page of ``items`` with Total, Per-Page and Link headers (``state.link_mode``)."""
        page, headers = paginate(self.request, items, default_per_page, self.state.link_mode)
        return self.json(page, headers=headers)

    def project(self, project_id: int, tool: str = "commitments", level: str = "read_only") -> Project:
        """The project, if the caller has ``level`` or more on its ``tool`` (else 404 or 403)."""
        project = self.state._projects.get(project_id)
        if project is None:
            raise api_error(404, f"Couldn't find Project with 'id'={project_id}")
        require_level(self.principal, project_id, tool, level)
        return project
