"""Pagination as Procore's pagination page documents it: 1-based ``page``, ``per_page`` clamped to
1000 (sandbox choice), and the ``Total``, ``Per-Page`` and ``Link`` headers (absolute URLs; what
their query keeps is ``state.link_mode``). Page 1 has next+last; page 2 first+next+last (no prev);
later pages add prev; the last page has no next."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request

from sandbox.procore.errors import api_error
from sandbox.procore.modes import LinkMode
from sandbox.procore.requests import query_int

DEFAULT_PER_PAGE = 100
CONTRACT_PAYMENTS_PER_PAGE = 100
REQUISITIONS_PER_PAGE = 30  # "Elements per page, default 30" in the v1.1 spec
MAX_PER_PAGE = 1000


def paginate(
    request: Request, items: list[Any], default_per_page: int, link_mode: LinkMode = "full_query"
) -> tuple[list[Any], dict[str, str]]:
    """The requested page of ``items`` and its headers."""
    requested_page = query_int(request, "page", required=False)
    requested_per_page = query_int(request, "per_page", required=False)
    page = 1 if requested_page is None else requested_page
    per_page = default_per_page if requested_per_page is None else requested_per_page
    if page < 1 or per_page < 1:
        raise api_error(400, "page and per_page must be positive integers")
    per_page = min(per_page, MAX_PER_PAGE)
    total = len(items)
    last_page = max(1, math.ceil(total / per_page))
    window = items[(page - 1) * per_page : page * per_page]

    # "page_only" links carry nothing of the request's query but page and per_page, like the
    # examples on Procore's pagination page; a client that follows them literally loses
    # project_id, contract_id and filters.
    query_pairs = (
        []
        if link_mode == "page_only"
        else [
            (key, value)
            for key, value in parse_qsl(request.url.query, keep_blank_values=True)
            if key not in {"page", "per_page"}
        ]
    )
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"

    def link(target: int, relation: str) -> str:
        query = urlencode([*query_pairs, ("page", str(target)), ("per_page", str(per_page))], safe="[]")
        return f'<{base}?{query}>; rel="{relation}"'

    links: list[str] = []
    # Which relations appear follows Procore's pagination page: page 2 has no "prev".
    if page > 1:
        links.append(link(1, "first"))
    if page > 2:
        links.append(link(min(page - 1, last_page), "prev"))
    if page < last_page:
        links.append(link(page + 1, "next"))
    if last_page > 1:
        links.append(link(last_page, "last"))
    headers = {"Total": str(total), "Per-Page": str(per_page)}
    if links:
        headers["Link"] = ", ".join(links)
    return window, headers
