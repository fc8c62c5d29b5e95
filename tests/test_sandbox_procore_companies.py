"""The simulated Procore serving several companies from one API, as Procore serves a firm whose
entities each have a company: one token (issued once) works in every company that has the OAuth
app installed, and each request goes to the company its Procore-Company-Id header names."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.procore import ProcoreState, create_procore_app
from sandbox.servers import RunningServer, run_asgi_in_thread

CLIENT_ID, CLIENT_SECRET = "multi-client", "multi-secret"


@pytest.fixture
def companies() -> Iterator[tuple[RunningServer, ProcoreState, ProcoreState, ProcoreState]]:
    north, south, elsewhere = (
        ProcoreState("North Co"),
        ProcoreState("South Co", first_id=700_000),
        ProcoreState("Not Installed Co", first_id=900_000),
    )
    for state in (north, south):
        state.add_client(CLIENT_ID, CLIENT_SECRET)
    server = run_asgi_in_thread(create_procore_app(north, south, elsewhere))
    yield server, north, south, elsewhere
    server.stop()


def _token(url: str) -> str:
    answer = httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_one_token_reaches_each_installed_company_by_its_header(
    companies: tuple[RunningServer, ProcoreState, ProcoreState, ProcoreState],
) -> None:
    server, north, south, elsewhere = companies
    north_project = north.add_project("North Yard")
    south_project = south.add_project("South Yard")
    north.service_account_permissions = {north_project: {"commitments": "read_only"}}
    south.service_account_permissions = {south_project: {"commitments": "read_only"}}
    bearer = {"Authorization": f"Bearer {_token(server.url)}"}

    def projects(company: ProcoreState, header: ProcoreState | None = None) -> httpx.Response:
        named = header or company
        return httpx.get(
            f"{server.url}/rest/v1.0/projects",
            params={"company_id": company.company_id},
            headers={**bearer, "Procore-Company-Id": str(named.company_id)},
        )

    assert [p["id"] for p in projects(north).json()] == [north_project]
    assert [p["id"] for p in projects(south).json()] == [south_project]
    listed = httpx.get(f"{server.url}/rest/v1.0/companies", headers=bearer).json()
    assert [c["id"] for c in listed] == [north.company_id, south.company_id]  # not the one without the app

    refused = projects(elsewhere)
    assert refused.status_code == 403 and "not connected" in refused.text
    mismatched = projects(south, header=north)  # South's company_id under North's header
    assert mismatched.status_code == 404
    assert [e.company_header for e in south.request_log] == [str(south.company_id)]
    assert elsewhere.request_log[-1].status == 403


def test_a_single_company_app_still_refuses_another_companys_header() -> None:
    state = ProcoreState("Only Co")
    state.add_client(CLIENT_ID, CLIENT_SECRET)
    server = run_asgi_in_thread(create_procore_app(state))
    try:
        bearer = {"Authorization": f"Bearer {_token(server.url)}", "Procore-Company-Id": "12345"}
        answer = httpx.get(f"{server.url}/rest/v1.0/projects", params={"company_id": 12345}, headers=bearer)
        assert answer.status_code == 403 and "not connected" in answer.text
    finally:
        server.stop()


def test_states_with_the_same_company_id_are_refused() -> None:
    with pytest.raises(ValueError, match="company_id"):
        create_procore_app(ProcoreState("A"), ProcoreState("B"))
