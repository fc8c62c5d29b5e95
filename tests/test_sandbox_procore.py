"""The simulated Procore API, exercised over real loopback HTTP with httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from sandbox.procore import (
    ERP_LOCK_MESSAGE,
    OOB_REDIRECT_URI,
    FaultKind,
    ProcoreState,
    RateLimit,
    create_procore_app,
    seed_demo,
)


@dataclass
class _LoopbackServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _serve(app: Starlette) -> _LoopbackServer:
    """uvicorn on an ephemeral loopback port in a daemon thread."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return _LoopbackServer(f"http://127.0.0.1:{port}", server, thread)


@dataclass
class Sandbox:
    state: ProcoreState
    ids: dict[str, Any]
    url: str

    def token(self) -> str:
        response = httpx.post(
            f"{self.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.ids["client_id"],
                "client_secret": self.ids["client_secret"],
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {
            "Authorization": f"Bearer {token or self.token()}",
            "Procore-Company-Id": str(self.state.company_id),
        }
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)

    @property
    def riverside(self) -> int:
        return int(self.ids["projects"]["riverside"])

    @property
    def concrete(self) -> int:
        return int(self.ids["commitments"]["riverside/SC-001"])


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    state = ProcoreState()
    ids = seed_demo(state)
    server = _serve(create_procore_app(state))
    try:
        yield Sandbox(state, ids, server.url)
    finally:
        state.release_delayed_responses.set()
        server.stop()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox.client() as client:
        yield client


def _payment_body(sandbox: Sandbox, contract_id: int | None = None, **fields: Any) -> dict[str, Any]:
    payment: dict[str, Any] = {"date": "2025-05-02", "amount": "1250.00", "payment_method": "check"}
    payment.update(fields)
    return {
        "project_id": sandbox.riverside,
        "contract_id": contract_id or sandbox.concrete,
        "contract_payment": payment,
    }


def _create(api: httpx.Client, sandbox: Sandbox, **fields: Any) -> dict[str, Any]:
    response = api.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox, **fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _patch(api: httpx.Client, sandbox: Sandbox, payment_id: int, **fields: Any) -> httpx.Response:
    body = {"project_id": sandbox.riverside, "contract_id": sandbox.concrete, "contract_payment": fields}
    return api.patch(f"/rest/v1.0/contract_payments/{payment_id}", json=body)


def _scope(sandbox: Sandbox) -> dict[str, int]:
    return {"project_id": sandbox.riverside, "contract_id": sandbox.concrete}


# --- OAuth ----------------------------------------------------------------------------------


def test_client_credentials_token_has_no_refresh_token(sandbox: Sandbox) -> None:
    response = httpx.post(
        f"{sandbox.url}/oauth/token",
        json={"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": "demo-secret"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 5400
    assert isinstance(body["created_at"], int)
    assert "refresh_token" not in body
    me = httpx.get(f"{sandbox.url}/rest/v1.0/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == sandbox.state.service_account_id


def test_wrong_client_secret_is_invalid_client(sandbox: Sandbox) -> None:
    response = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "demo-client", "client_secret": "nope"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"]


def test_authorization_code_is_single_use_and_refresh_tokens_rotate(sandbox: Sandbox) -> None:
    code = sandbox.state.issue_authorization_code("demo-client", "ap@summitridge.example")
    exchange = {
        "grant_type": "authorization_code",
        "client_id": "demo-client",
        "client_secret": "demo-secret",
        "code": code,
        "redirect_uri": OOB_REDIRECT_URI,
    }
    first = httpx.post(f"{sandbox.url}/oauth/token", data=exchange)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert tokens["refresh_token"]
    me = httpx.get(
        f"{sandbox.url}/rest/v1.0/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["login"] == "ap@summitridge.example"

    again = httpx.post(f"{sandbox.url}/oauth/token", data=exchange)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"

    refresh = {
        "grant_type": "refresh_token",
        "client_id": "demo-client",
        "client_secret": "demo-secret",
        "refresh_token": tokens["refresh_token"],
    }
    rotated = httpx.post(f"{sandbox.url}/oauth/token", data=refresh)
    assert rotated.status_code == 200
    new_tokens = rotated.json()
    assert new_tokens["refresh_token"] != tokens["refresh_token"]
    assert new_tokens["access_token"] != tokens["access_token"]

    reused = httpx.post(f"{sandbox.url}/oauth/token", data=refresh)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    newest = httpx.post(
        f"{sandbox.url}/oauth/token", data={**refresh, "refresh_token": new_tokens["refresh_token"]}
    )
    assert newest.status_code == 200


def test_authorization_code_needs_the_oob_redirect_and_expires(sandbox: Sandbox) -> None:
    base = {"grant_type": "authorization_code", "client_id": "demo-client", "client_secret": "demo-secret"}
    code = sandbox.state.issue_authorization_code("demo-client", "ap@summitridge.example")
    wrong_redirect = httpx.post(
        f"{sandbox.url}/oauth/token", data={**base, "code": code, "redirect_uri": "http://localhost/cb"}
    )
    assert wrong_redirect.json()["error"] == "invalid_grant"

    stale = sandbox.state.issue_authorization_code("demo-client", "ap@summitridge.example")
    sandbox.state.advance_clock(11 * 60)
    expired = httpx.post(
        f"{sandbox.url}/oauth/token", data={**base, "code": stale, "redirect_uri": OOB_REDIRECT_URI}
    )
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_grant"


def test_token_endpoint_accepts_multipart_and_basic_auth(sandbox: Sandbox) -> None:
    # Procore's own curl examples post the token request with -F (multipart/form-data).
    multipart = httpx.post(
        f"{sandbox.url}/oauth/token",
        files={
            "grant_type": (None, "client_credentials"),
            "client_id": (None, "demo-client"),
            "client_secret": (None, "demo-secret"),
        },
    )
    assert multipart.status_code == 200, multipart.text
    basic = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("demo-client", "demo-secret"),
    )
    assert basic.status_code == 200


def test_authorize_page_shows_a_code_for_the_oob_redirect(sandbox: Sandbox) -> None:
    page = httpx.get(
        f"{sandbox.url}/oauth/authorize",
        params={"response_type": "code", "client_id": "demo-client", "redirect_uri": OOB_REDIRECT_URI},
    )
    assert page.status_code == 200
    code = page.text.split('<code id="code">')[1].split("</code>")[0]
    exchange = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "demo-client",
            "client_secret": "demo-secret",
            "code": code,
            "redirect_uri": OOB_REDIRECT_URI,
        },
    )
    assert exchange.status_code == 200


# --- headers --------------------------------------------------------------------------------


def test_rest_calls_need_a_valid_bearer_token(sandbox: Sandbox) -> None:
    company = {"Procore-Company-Id": str(sandbox.state.company_id)}
    missing = httpx.get(f"{sandbox.url}/rest/v1.0/companies", headers=company)
    assert missing.status_code == 401
    assert missing.json() == {"message": "The access token is invalid"}
    unknown = httpx.get(
        f"{sandbox.url}/rest/v1.0/companies", headers={**company, "Authorization": "Bearer nope"}
    )
    assert unknown.status_code == 401

    token = sandbox.token()
    with sandbox.client(token) as api:
        assert api.get("/rest/v1.0/companies").status_code == 200
        sandbox.state.expire_all_tokens()
        expired = api.get("/rest/v1.0/companies")
        assert expired.status_code == 401
        assert expired.json()["message"] == "The access token is invalid"


def test_company_header_is_required_except_for_me_and_companies(sandbox: Sandbox) -> None:
    bearer = {"Authorization": f"Bearer {sandbox.token()}"}
    with httpx.Client(base_url=sandbox.url, headers=bearer) as bare:
        assert bare.get("/rest/v1.0/me").status_code == 200
        companies = bare.get("/rest/v1.0/companies")
        assert companies.status_code == 200
        assert companies.json()[0]["id"] == sandbox.state.company_id
        assert companies.json()[0]["id"] > 2**32
        missing = bare.get("/rest/v1.0/projects", params={"company_id": sandbox.state.company_id})
        assert missing.status_code == 400
        assert missing.json()["message"] == "Missing Procore-Company-Id header!"
        # /me needs the header once it is asked about a company or project.
        assert bare.get("/rest/v1.0/me", params={"project_id": sandbox.riverside}).status_code == 400
        wrong = bare.get(
            "/rest/v1.0/projects",
            params={"company_id": sandbox.state.company_id},
            headers={"Procore-Company-Id": "12345"},
        )
        assert wrong.status_code == 403


# --- lists, pagination and filters ------------------------------------------------------------


def test_projects_vendors_and_commitments(sandbox: Sandbox, api: httpx.Client) -> None:
    company_id = sandbox.state.company_id
    projects = api.get("/rest/v1.0/projects", params={"company_id": company_id}).json()
    assert [p["name"] for p in projects] == ["Riverside Medical Office Building", "Oak Street Lofts"]
    vendors = api.get("/rest/v1.0/vendors", params={"company_id": company_id}).json()
    assert "Acme Concrete" in [v["name"] for v in vendors]

    commitments = api.get("/rest/v1.0/commitments", params={"project_id": sandbox.riverside}).json()
    assert {c["type"] for c in commitments} == {"WorkOrderContract", "PurchaseOrderContract"}
    assert len(commitments) == 4
    subcontracts = api.get("/rest/v1.0/work_order_contracts", params={"project_id": sandbox.riverside}).json()
    assert [c["number"] for c in subcontracts] == ["SC-001", "SC-002"]
    assert subcontracts[0]["vendor"] == {"id": sandbox.ids["vendors"]["acme"], "company": "Acme Concrete"}
    assert subcontracts[0]["grand_total"] == "485000.00"
    orders = api.get("/rest/v1.0/purchase_order_contracts", params={"project_id": sandbox.riverside}).json()
    assert [c["number"] for c in orders] == ["PO-001", "PO-002"]

    shown = api.get(
        f"/rest/v1.0/commitments/{sandbox.concrete}", params={"project_id": sandbox.riverside}
    ).json()
    assert shown["allow_payments"] is True
    assert shown["payments_issued"] == []


def test_pagination_headers_and_links(sandbox: Sandbox, api: httpx.Client) -> None:
    for number in range(5):
        _create(api, sandbox, payment_number=number + 1)
    params: dict[str, Any] = {**_scope(sandbox), "per_page": 2}

    first = api.get("/rest/v1.0/contract_payments", params=params)
    assert first.headers["Total"] == "5"
    assert first.headers["Per-Page"] == "2"
    assert set(first.links) == {"next", "last"}
    assert f"contract_id={sandbox.concrete}" in first.links["next"]["url"]
    assert first.links["next"]["url"].startswith(sandbox.url)

    second = api.get("/rest/v1.0/contract_payments", params={**params, "page": 2})
    # Procore's pagination page: page 2 lists first, next and last, but no prev.
    assert set(second.links) == {"first", "next", "last"}
    last = api.get("/rest/v1.0/contract_payments", params={**params, "page": 3})
    assert set(last.links) == {"first", "prev", "last"}
    assert len(last.json()) == 1

    seen: list[int] = []
    url: str | None = "/rest/v1.0/contract_payments"
    query: dict[str, Any] | None = params
    while url:
        page = api.get(url, params=query)
        seen += [p["payment_number"] for p in page.json()]
        url = page.links.get("next", {}).get("url")
        query = None
    assert seen == [1, 2, 3, 4, 5]


def test_requisitions_default_to_30_per_page(sandbox: Sandbox, api: httpx.Client) -> None:
    state = sandbox.state
    vendor = state.add_vendor("Big Job Drywall")
    project = sandbox.riverside
    commitment = state.add_commitment(
        project, "subcontract", "SC-099", "Drywall", vendor, grand_total="900000"
    )
    for number in range(1, 36):
        state.add_requisition(project, commitment, f"BJD-{number}", number, "1000.00")
    state.update_requisition(state.add_requisition(project, commitment, "BJD-36", 36, "1.00"), status="draft")
    params = {"project_id": project, "filters[commitment_id]": commitment}
    response = api.get("/rest/v1.1/requisitions", params=params)
    assert response.headers["Per-Page"] == "30"
    assert response.headers["Total"] == "36"
    assert len(response.json()) == 30
    drafts = api.get("/rest/v1.1/requisitions", params={**params, "filters[status]": "draft"}).json()
    assert [r["invoice_number"] for r in drafts] == ["BJD-36"]


def test_requisition_fields(sandbox: Sandbox, api: httpx.Client) -> None:
    params = {"project_id": sandbox.riverside, "filters[commitment_id]": sandbox.concrete}
    invoices = api.get("/rest/v1.1/requisitions", params=params).json()
    assert [r["number"] for r in invoices] == [1, 2, 3, 4]
    second = invoices[1]
    assert second["invoice_number"] == "ACME-2438"
    assert second["vendor_name"] == "Acme Concrete"
    assert second["commitment_type"] == "WorkOrderContract"
    assert second["total_claimed_amount"] == "72750.00"
    assert second["previous_requisition_id"] == invoices[0]["id"]
    assert second["erp_status"] == "synced"
    assert second["origin_id"]
    # 10 % retainage on the subcontract.
    assert second["summary"]["current_payment_due"] == "65475.00"
    assert invoices[3]["erp_status"] == "not_synced"
    assert invoices[3]["origin_id"] is None


def test_updated_at_filter(sandbox: Sandbox) -> None:
    state = sandbox.state
    state.advance_clock(86400 * 3)
    changed = sandbox.ids["requisitions"]["ACME-2411"]
    state.update_requisition(changed, erp_status="synced", origin_data="edited")
    updated_at = state.now()
    params = {"project_id": sandbox.riverside}
    with sandbox.client() as api:  # made after the clock moved, so its token is fresh
        _check_updated_at_filter(sandbox, api, changed, updated_at, params)


def _check_updated_at_filter(
    sandbox: Sandbox, api: httpx.Client, changed: int, updated_at: datetime, params: dict[str, Any]
) -> None:

    window = (
        f"{(updated_at.replace(microsecond=0)).isoformat().replace('+00:00', 'Z')}...2999-01-01T00:00:00Z"
    )
    recent = api.get("/rest/v1.1/requisitions", params={**params, "filters[updated_at]": window}).json()
    assert [r["id"] for r in recent] == [changed]

    day = updated_at.date().isoformat()
    by_day = api.get(
        "/rest/v1.1/requisitions", params={**params, "filters[updated_at]": f"{day}...{day}"}
    ).json()
    assert [r["id"] for r in by_day] == [changed]

    quoted = api.get("/rest/v1.1/requisitions", params={**params, "filters[updated_at]": f'"{day}...{day}"'})
    assert [r["id"] for r in quoted.json()] == [changed]

    bad = api.get("/rest/v1.1/requisitions", params={**params, "filters[updated_at]": day})
    assert bad.status_code == 400

    sandbox.state.update_commitment(sandbox.concrete, status="Complete")
    contracts = api.get(
        "/rest/v1.0/work_order_contracts", params={**params, "filters[updated_at]": f"{day}...{day}"}
    ).json()
    assert [c["id"] for c in contracts] == [sandbox.concrete]


def test_origin_id_filter(sandbox: Sandbox, api: httpx.Client) -> None:
    wanted = sandbox.ids["requisitions"]["BLE-10291"]
    origin_id = api.get(f"/rest/v1.1/requisitions/{wanted}", params={"project_id": sandbox.riverside}).json()[
        "origin_id"
    ]
    found = api.get(
        "/rest/v1.1/requisitions", params={"project_id": sandbox.riverside, "filters[origin_id]": origin_id}
    ).json()
    assert [r["id"] for r in found] == [wanted]


# --- permissions ------------------------------------------------------------------------------


def _tools(api: httpx.Client, **params: Any) -> dict[str, dict[str, Any]]:
    response = api.get("/rest/v1.0/settings/permissions", params=params)
    assert response.status_code == 200, response.text
    return {tool["name"]: tool for tool in response.json()["tools"]}


def test_permission_manifest_for_service_account_and_users(sandbox: Sandbox, api: httpx.Client) -> None:
    tools = _tools(api, project_id=sandbox.riverside)
    assert tools["commitments"]["friendly_name"] == "Commitments"
    assert tools["commitments"]["user_access_level"]["name"] == "Admin"
    erp = tools["erp_integrations"]
    assert erp["friendly_name"] == "ERP Integrations"
    assert {"action_name": "can_push_to_accounting"}.items() <= erp["permitted_actions"][0].items()
    company_tools = _tools(api, company_id=sandbox.state.company_id)
    assert company_tools["erp_integrations"]["user_access_level"]["name"] == "Admin"

    code = sandbox.state.issue_authorization_code("demo-client", "pm@summitridge.example")
    tokens = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "demo-client",
            "client_secret": "demo-secret",
            "code": code,
            "redirect_uri": OOB_REDIRECT_URI,
        },
    ).json()
    with sandbox.client(tokens["access_token"]) as pm:
        pm_tools = _tools(pm, project_id=sandbox.riverside)
        assert pm_tools["commitments"]["user_access_level"]["name"] == "Read Only"
        assert pm_tools["erp_integrations"]["user_access_level"]["name"] == "None"
        assert pm_tools["erp_integrations"]["permitted_actions"] == []
        assert pm.get("/rest/v1.0/contract_payments", params=_scope(sandbox)).status_code == 200
        refused = pm.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox))
        assert refused.status_code == 403
        oak = sandbox.ids["projects"]["oak-street"]
        assert pm.get("/rest/v1.0/commitments", params={"project_id": oak}).status_code == 403
    assert sandbox.state.payments() == []


# --- contract payments ------------------------------------------------------------------------


def test_create_show_and_delete_a_payment(sandbox: Sandbox, api: httpx.Client) -> None:
    invoice = sandbox.ids["requisitions"]["ACME-2438"]
    created = _create(
        api,
        sandbox,
        amount="65475.5",
        check_number="10482",
        payment_number=2,
        invoice_number="ACME-2438",
        invoice_date="2025-02-28",
        draw_request_number=2,
        requisition_id=invoice,
        notes="February draw",
    )
    assert created["id"] > 2**32
    assert created["amount"] == "65475.50"
    assert created["date"] == "2025-05-02"
    assert created["requisition_id"] == invoice
    assert created["origin_id"] is None
    stored = sandbox.state.payments(sandbox.concrete)
    assert stored[0]["payment_method"] == "check"
    assert stored[0]["invoice_date"] == "2025-02-28"

    shown = api.get(f"/rest/v1.0/contract_payments/{created['id']}", params=_scope(sandbox))
    assert shown.json() == created
    commitment = api.get(
        f"/rest/v1.0/commitments/{sandbox.concrete}", params={"project_id": sandbox.riverside}
    )
    assert commitment.json()["total_payments"] == "65475.50"

    deleted = api.delete(f"/rest/v1.0/contract_payments/{created['id']}", params=_scope(sandbox))
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert api.get(f"/rest/v1.0/contract_payments/{created['id']}", params=_scope(sandbox)).status_code == 404
    assert sandbox.state.payments() == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": 1250.5}, "amount", 'must be a decimal string such as "1250.00", not a JSON number'),
        ({"amount": "1e3"}, "amount", "is not a number"),
        ({"amount": "twelve"}, "amount", "is not a number"),
        ({"amount": None}, "amount", "can't be blank"),
        ({"date": None}, "date", "can't be blank"),
        ({"date": "05/02/2025"}, "date", "must be a date written YYYY-MM-DD"),
        ({"date": "2025-02-30"}, "date", "is not a valid date"),
        ({"payment_method": "ach"}, "payment_method", "is not included in the list"),
        ({"payment_number": "7b"}, "payment_number", "must be an integer"),
        ({"payment_number": 7.5}, "payment_number", "must be an integer"),
    ],
)
def test_invalid_fields_are_422(
    sandbox: Sandbox, api: httpx.Client, fields: dict[str, Any], field: str, message: str
) -> None:
    response = api.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox, **fields))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == 422
    assert body["errors"] == {field: [message]}
    assert message in body["message"]
    assert sandbox.state.payments() == []


def test_contract_and_requisition_must_fit(sandbox: Sandbox, api: httpx.Client) -> None:
    oak_contract = sandbox.ids["commitments"]["oak-street/SC-001"]
    elsewhere = api.post(
        "/rest/v1.0/contract_payments", json=_payment_body(sandbox, contract_id=oak_contract)
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"] == {"contract_id": ["does not exist in this project"]}

    other_invoice = sandbox.ids["requisitions"]["BLE-10234"]
    mismatched = api.post(
        "/rest/v1.0/contract_payments", json=_payment_body(sandbox, requisition_id=other_invoice)
    )
    assert mismatched.status_code == 422
    assert mismatched.json()["message"] == "Requisition must belong to the same contract"

    sandbox.state.update_commitment(sandbox.concrete, allow_payments=False)
    closed = api.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox))
    assert closed.status_code == 422
    assert closed.json()["errors"] == {"contract_id": ["does not allow payments"]}

    missing_scope = api.post("/rest/v1.0/contract_payments", json={"contract_payment": {"amount": "1.00"}})
    assert missing_scope.status_code == 400


def test_origin_id_is_unique_per_company(sandbox: Sandbox, api: httpx.Client) -> None:
    _create(api, sandbox, origin_id="qbd:file:TX-1:BILL-1")
    electric = sandbox.ids["commitments"]["riverside/SC-002"]
    duplicate = api.post(
        "/rest/v1.0/contract_payments",
        json=_payment_body(sandbox, contract_id=electric, origin_id="qbd:file:TX-1:BILL-1"),
    )
    assert duplicate.status_code == 422
    assert duplicate.json()["message"] == "Origin has already been taken"
    assert duplicate.json()["errors"] == {"origin_id": ["has already been taken"]}

    other = _create(api, sandbox)
    taken = _patch(api, sandbox, other["id"], origin_id="qbd:file:TX-1:BILL-1")
    assert taken.status_code == 422
    assert taken.json()["message"] == "Origin has already been taken"


def test_erp_lock_unlock_and_relock(sandbox: Sandbox, api: httpx.Client) -> None:
    payment = _create(api, sandbox, origin_id="qbd:file:TX-9:BILL-9", payment_number=3)
    payment_id = payment["id"]

    locked = _patch(api, sandbox, payment_id, amount="999.00")
    assert locked.status_code == 422
    assert locked.json()["message"] == ERP_LOCK_MESSAGE
    assert api.delete(f"/rest/v1.0/contract_payments/{payment_id}", params=_scope(sandbox)).json()[
        "message"
    ] == (ERP_LOCK_MESSAGE)
    # Sending a field unchanged is not an edit; origin_data stays editable.
    assert _patch(api, sandbox, payment_id, amount="1250.00", origin_data="voided? no").status_code == 200
    # Unlocking and editing in one request is judged on the stored (locked) record.
    assert _patch(api, sandbox, payment_id, origin_id=None, amount="999.00").status_code == 422

    unlocked = _patch(api, sandbox, payment_id, origin_id=None)
    assert unlocked.status_code == 200
    assert unlocked.json()["origin_id"] is None
    edited = _patch(api, sandbox, payment_id, amount="0.00", notes="Check 10482 voided")
    assert edited.status_code == 200
    assert edited.json()["amount"] == "0.00"
    relocked = _patch(api, sandbox, payment_id, origin_id="qbd:file:TX-9:BILL-9")
    assert relocked.status_code == 200
    assert _patch(api, sandbox, payment_id, payment_number=4).status_code == 422
    assert sandbox.state.payments()[0]["payment_number"] == 3


def test_attachments_by_multipart_even_while_locked(sandbox: Sandbox, api: httpx.Client) -> None:
    stub = bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n"
    created = api.post(
        "/rest/v1.0/contract_payments",
        data={
            "project_id": str(sandbox.riverside),
            "contract_id": str(sandbox.concrete),
            "contract_payment[date]": "2025-05-02",
            "contract_payment[amount]": "48500.00",
            "contract_payment[payment_number]": "1",
            "contract_payment[origin_id]": "qbd:file:TX-2:BILL-2",
        },
        files=[("attachments[]", ("check-10482.pdf", stub, "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["amount"] == "48500.00"
    assert payment["payment_number"] == 1
    assert [a["filename"] for a in payment["attachments"]] == ["check-10482.pdf"]
    assert httpx.get(payment["attachments"][0]["url"]).content == stub

    added = api.patch(
        f"/rest/v1.0/contract_payments/{payment['id']}",
        data={"project_id": str(sandbox.riverside), "contract_id": str(sandbox.concrete)},
        files=[
            ("attachments[]", ("lien-waiver.pdf", b"%PDF-1.4 waiver", "application/pdf")),
            ("attachments[]", ("remittance.txt", b"paid in full", "text/plain")),
        ],
    )
    assert added.status_code == 200, added.text
    stored = sandbox.state.payments()[0]["attachments"]
    assert [(a["filename"], a["size"]) for a in stored] == [
        ("check-10482.pdf", len(stub)),
        ("lien-waiver.pdf", 15),
        ("remittance.txt", 12),
    ]
    json_files = api.patch(
        f"/rest/v1.0/contract_payments/{payment['id']}",
        json={**_scope(sandbox), "attachments": ["base64..."]},
    )
    assert json_files.status_code == 422


# --- rate limits -------------------------------------------------------------------------------


def test_rate_limit_headers_and_429(sandbox: Sandbox) -> None:
    sandbox.state.rate_limit = RateLimit(limit=3, window_seconds=3600)
    with sandbox.client() as api:
        remaining = [api.get("/rest/v1.0/me").headers["X-Rate-Limit-Remaining"] for _ in range(2)]
        assert remaining == ["2", "1"]
        failed = api.get("/rest/v1.0/projects")  # a 400 still counts
        assert failed.status_code == 400
        assert failed.headers["X-Rate-Limit-Remaining"] == "0"
        assert failed.headers["X-Rate-Limit-Limit"] == "3"
        reset = int(failed.headers["X-Rate-Limit-Reset"])
        assert reset >= time.time() + 3500

        refused = api.get("/rest/v1.0/me")
        assert refused.status_code == 429
        assert 3500 <= int(refused.headers["Retry-After"]) <= 3600

        sandbox.state.advance_clock(3601)
        assert api.get("/rest/v1.0/me").status_code == 200


def test_spike_window_is_reported_while_closer(sandbox: Sandbox) -> None:
    sandbox.state.rate_limit = RateLimit(
        limit=600, window_seconds=3600, spike_limit=2, spike_window_seconds=10
    )
    with sandbox.client() as api:
        first = api.get("/rest/v1.0/me")
        assert (first.headers["X-Rate-Limit-Limit"], first.headers["X-Rate-Limit-Remaining"]) == ("2", "1")
        api.get("/rest/v1.0/me")
        refused = api.get("/rest/v1.0/me")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) <= 10
        sandbox.state.advance_clock(10)
        recovered = api.get("/rest/v1.0/me")
        assert recovered.status_code == 200


# --- faults ------------------------------------------------------------------------------------


def _writes(sandbox: Sandbox) -> list[int]:
    return [entry.status for entry in sandbox.state.log_entries("POST", "/rest/v1.0/contract_payments")]


@pytest.mark.parametrize("kind", ["429", "500", "503"])
def test_faults_before_the_work(sandbox: Sandbox, api: httpx.Client, kind: FaultKind) -> None:
    sandbox.state.inject_fault("POST", "/rest/v1.0/contract_payments", kind, times=2, retry_after=7)
    for _ in range(2):
        response = api.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox))
        assert response.status_code == int(kind)
        if kind in ("429", "503"):
            assert response.headers["Retry-After"] == "7"
    assert sandbox.state.payments() == []
    assert api.get("/rest/v1.0/contract_payments", params=_scope(sandbox)).status_code == 200
    _create(api, sandbox)
    assert _writes(sandbox) == [int(kind), int(kind), 201]


def test_commit_then_502(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.state.inject_fault("POST", "/rest/v1.0/contract_payments", "commit_then_502")
    response = api.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox, origin_id="qbd:f:T1:B1"))
    assert response.status_code == 502
    assert [p["origin_id"] for p in sandbox.state.payments()] == ["qbd:f:T1:B1"]
    # The retry a careless client would make collides with the payment that was written.
    retry = api.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox, origin_id="qbd:f:T1:B1"))
    assert retry.status_code == 422


def test_commit_then_timeout_commits_while_the_client_times_out(sandbox: Sandbox) -> None:
    sandbox.state.inject_fault("POST", "/rest/v1.0/contract_payments", "commit_then_timeout", delay=3)
    token = sandbox.token()
    started = time.monotonic()
    with (
        sandbox.client(token, timeout=httpx.Timeout(5.0, read=0.5)) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post("/rest/v1.0/contract_payments", json=_payment_body(sandbox, origin_id="qbd:f:T2:B2"))
    # The server is still sleeping on that response, yet answers others at once.
    with sandbox.client(token, timeout=2.0) as api:
        listed = api.get("/rest/v1.0/contract_payments", params=_scope(sandbox))
    assert time.monotonic() - started < 2.5
    assert [p["origin_id"] for p in listed.json()] == ["qbd:f:T2:B2"]
    assert _writes(sandbox) == [201]


def test_fault_on_token_refresh_kills_the_old_refresh_token(sandbox: Sandbox) -> None:
    code = sandbox.state.issue_authorization_code("demo-client", "ap@summitridge.example")
    credentials = {"client_id": "demo-client", "client_secret": "demo-secret"}
    tokens = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={
            **credentials,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": OOB_REDIRECT_URI,
        },
    ).json()
    sandbox.state.inject_fault("POST", "/oauth/token", "commit_then_502")
    refresh = {**credentials, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert httpx.post(f"{sandbox.url}/oauth/token", data=refresh).status_code == 502
    assert httpx.post(f"{sandbox.url}/oauth/token", data=refresh).json()["error"] == "invalid_grant"


# --- demo data ---------------------------------------------------------------------------------


def test_seed_demo_is_deterministic() -> None:
    first, second = ProcoreState(), ProcoreState()
    assert seed_demo(first) == seed_demo(second)
    ids = seed_demo(ProcoreState())
    assert len(ids["projects"]) == 2
    assert len(ids["commitments"]) == 6
    assert len(ids["requisitions"]) == 15
    assert all(value > 2**32 for value in ids["commitments"].values())


def test_add_payment_seeds_an_existing_locked_payment(sandbox: Sandbox, api: httpx.Client) -> None:
    payment_id = sandbox.state.add_payment(
        sandbox.riverside, sandbox.concrete, "100.00", date(2025, 1, 15), origin_id="erp:native:1"
    )
    listed = api.get("/rest/v1.0/contract_payments", params=_scope(sandbox)).json()
    assert [(p["id"], p["amount"], p["origin_id"]) for p in listed] == [
        (payment_id, "100.00", "erp:native:1")
    ]
    assert _patch(api, sandbox, payment_id, amount="1.00").json()["message"] == ERP_LOCK_MESSAGE


def test_page_parameters_are_checked_and_per_page_is_clamped(sandbox: Sandbox, api: httpx.Client) -> None:
    scope = _scope(sandbox)
    assert api.get("/rest/v1.0/contract_payments", params={**scope, "page": 0}).status_code == 400
    assert api.get("/rest/v1.0/contract_payments", params={**scope, "per_page": "many"}).status_code == 400
    huge = api.get("/rest/v1.0/contract_payments", params={**scope, "per_page": 50000})
    assert huge.headers["Per-Page"] == "1000"
    assert huge.headers["Total"] == "0"
    assert "Link" not in huge.headers


def test_payments_are_scoped_to_their_project_and_contract(sandbox: Sandbox, api: httpx.Client) -> None:
    payment = _create(api, sandbox)
    electric = sandbox.ids["commitments"]["riverside/SC-002"]
    wrong_contract = {"project_id": sandbox.riverside, "contract_id": electric}
    assert api.get(f"/rest/v1.0/contract_payments/{payment['id']}", params=wrong_contract).status_code == 404
    assert (
        api.delete(f"/rest/v1.0/contract_payments/{payment['id']}", params=wrong_contract).status_code == 404
    )
    patched = api.patch(
        f"/rest/v1.0/contract_payments/{payment['id']}",
        json={**wrong_contract, "contract_payment": {"notes": "moved?"}},
    )
    assert patched.status_code == 404
    assert len(sandbox.state.payments(sandbox.concrete)) == 1


def test_token_info_and_revoke(sandbox: Sandbox) -> None:
    token = sandbox.token()
    info = httpx.get(f"{sandbox.url}/oauth/token/info", headers={"Authorization": f"Bearer {token}"})
    assert info.json()["application"] == {"uid": "demo-client"}
    assert 5390 <= info.json()["expires_in_seconds"] <= 5400
    revoke = {"token": token, "client_id": "demo-client", "client_secret": "demo-secret"}
    assert httpx.post(f"{sandbox.url}/oauth/revoke", data=revoke).status_code == 200
    with sandbox.client(token) as api:
        assert api.get("/rest/v1.0/me").status_code == 401
    assert httpx.post(f"{sandbox.url}/oauth/revoke", data={**revoke, "token": "unknown"}).status_code == 200
