"""The simulated Procore's modes for behaviours Procore does not document (API-NOTES §12), and
its commitment currency / "payments enabled" settings, exercised over real loopback HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from sandbox.procore import (
    DUPLICATE_ORIGIN_MESSAGE,
    ERP_LOCK_MESSAGE,
    PAYMENTS_DISABLED_MESSAGE,
    ErpUnlockMode,
    ProcoreState,
    create_procore_app,
    seed_demo,
)
from tests.conftest import RunningFactory

PAYMENTS = "/rest/v1.0/contract_payments"
ORIGIN = "qbd:main:1A2B-1700000001:3C4D-1700000002"


@dataclass
class Sandbox:
    state: ProcoreState
    ids: dict[str, Any]
    url: str
    api: httpx.Client

    @property
    def riverside(self) -> int:
        return int(self.ids["projects"]["riverside"])

    @property
    def concrete(self) -> int:
        return int(self.ids["commitments"]["riverside/SC-001"])

    def scope(self, contract_id: int | None = None) -> dict[str, int]:
        return {"project_id": self.riverside, "contract_id": contract_id or self.concrete}

    def post(self, contract_id: int | None = None, **fields: Any) -> httpx.Response:
        payment: dict[str, Any] = {"date": "2025-05-02", "amount": "1250.00"}
        payment.update(fields)
        return self.api.post(PAYMENTS, json={**self.scope(contract_id), "contract_payment": payment})

    def create(self, contract_id: int | None = None, **fields: Any) -> dict[str, Any]:
        response = self.post(contract_id, **fields)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def patch(self, payment_id: int, contract_id: int | None = None, **fields: Any) -> httpx.Response:
        body = {**self.scope(contract_id), "contract_payment": fields}
        return self.api.patch(f"{PAYMENTS}/{payment_id}", json=body)

    def delete(self, payment_id: int) -> httpx.Response:
        return self.api.delete(f"{PAYMENTS}/{payment_id}", params=self.scope())

    def show(self, payment_id: int) -> dict[str, Any]:
        response = self.api.get(f"{PAYMENTS}/{payment_id}", params=self.scope())
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def get_json(self, path: str, **params: Any) -> Any:
        response = self.api.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def locked(self, payment_id: int) -> bool:
        return bool(next(p for p in self.state.payments() if p["id"] == payment_id)["erp_locked"])


def _token(url: str, ids: dict[str, Any]) -> str:
    response = httpx.post(
        f"{url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": ids["client_id"],
            "client_secret": ids["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def sandbox(running: RunningFactory) -> Iterator[Sandbox]:
    state = ProcoreState()
    ids = seed_demo(state)
    with running(create_procore_app(state)) as server:
        headers = {
            "Authorization": f"Bearer {_token(server.url, ids)}",
            "Procore-Company-Id": str(state.company_id),
        }
        with httpx.Client(base_url=server.url, headers=headers) as api:
            yield Sandbox(state, ids, server.url, api)


def _assert_lock_refusal(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.json() == {
        "code": 422,
        "message": ERP_LOCK_MESSAGE,
        "errors": {"base": [ERP_LOCK_MESSAGE]},
    }


# --- 1. ERP lock / unlock -------------------------------------------------------------------------


def test_modes_default_to_the_original_answers() -> None:
    state = ProcoreState()
    assert state.erp_unlock_mode == "clearing_origin_unlocks"
    assert state.link_mode == "full_query"
    assert state.duplicate_origin_mode == "refuse"
    assert state.money_as_numbers is False


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("erp_unlock_mode", "unlocked"), ("link_mode", "relative"), ("duplicate_origin_mode", "409")],
)
def test_an_unknown_mode_is_refused(attribute: str, value: str) -> None:
    state = ProcoreState()
    with pytest.raises(ValueError, match=attribute):
        setattr(state, attribute, value)


def test_clearing_origin_unlocks(sandbox: Sandbox) -> None:
    payment = sandbox.create(origin_id=ORIGIN, notes="April draw")
    payment_id = payment["id"]
    assert sandbox.locked(payment_id)
    _assert_lock_refusal(sandbox.patch(payment_id, amount="999.00"))
    _assert_lock_refusal(sandbox.delete(payment_id))

    cleared = sandbox.patch(payment_id, origin_id=None)
    assert cleared.status_code == 200
    assert cleared.json()["origin_id"] is None
    assert not sandbox.locked(payment_id)
    edited = sandbox.patch(payment_id, amount="999.00")
    assert edited.status_code == 200
    assert edited.json()["amount"] == "999.00"

    # Setting an origin_id again locks it again.
    assert sandbox.patch(payment_id, origin_id=ORIGIN).status_code == 200
    _assert_lock_refusal(sandbox.patch(payment_id, notes="changed"))
    assert sandbox.patch(payment_id, origin_id=None).status_code == 200
    assert sandbox.delete(payment_id).status_code == 200
    assert sandbox.state.payments() == []


def test_stays_locked_stores_the_cleared_origin_id_but_keeps_the_lock(sandbox: Sandbox) -> None:
    sandbox.state.erp_unlock_mode = "stays_locked"
    payment_id = sandbox.create(origin_id=ORIGIN, amount="500.00")["id"]

    cleared = sandbox.patch(payment_id, origin_id=None)
    assert cleared.status_code == 200
    assert cleared.json()["origin_id"] is None
    assert sandbox.show(payment_id)["origin_id"] is None
    listed = sandbox.get_json(PAYMENTS, **sandbox.scope())
    assert [(p["id"], p["origin_id"]) for p in listed] == [(payment_id, None)]

    # Every later change to a locked field, and any DELETE, is still refused.
    _assert_lock_refusal(sandbox.patch(payment_id, amount="0.00"))
    _assert_lock_refusal(sandbox.patch(payment_id, notes="voided", check_number="10482"))
    _assert_lock_refusal(sandbox.delete(payment_id))
    # origin_data and origin_id stay writable; setting an origin_id does not unlock either.
    assert sandbox.patch(payment_id, origin_data="void pending").status_code == 200
    assert sandbox.patch(payment_id, origin_id="qbd:main:other").status_code == 200
    assert sandbox.patch(payment_id, origin_id=None).status_code == 200
    _assert_lock_refusal(sandbox.patch(payment_id, amount="0.00"))
    assert sandbox.show(payment_id)["amount"] == "500.00"

    # Only the accounting approver's Unlink frees it.
    sandbox.state.unlink_payment(payment_id)
    edited = sandbox.patch(payment_id, amount="0.00", notes="voided")
    assert edited.status_code == 200
    assert (edited.json()["amount"], edited.json()["notes"]) == ("0.00", "voided")


def test_origin_id_frozen_refuses_any_change_of_origin_id(sandbox: Sandbox) -> None:
    sandbox.state.erp_unlock_mode = "origin_id_frozen"
    payment_id = sandbox.create(origin_id=ORIGIN)["id"]

    _assert_lock_refusal(sandbox.patch(payment_id, origin_id=None))
    _assert_lock_refusal(sandbox.patch(payment_id, origin_id="qbd:main:other"))
    assert sandbox.show(payment_id)["origin_id"] == ORIGIN
    _assert_lock_refusal(sandbox.patch(payment_id, amount="1.00"))
    _assert_lock_refusal(sandbox.delete(payment_id))
    # Sending the same origin_id is no change; origin_data stays editable.
    kept = sandbox.patch(payment_id, origin_id=ORIGIN, origin_data="note")
    assert kept.status_code == 200
    assert kept.json()["origin_data"] == "note"

    sandbox.state.unlink_payment(payment_id)
    assert sandbox.show(payment_id)["origin_id"] is None
    assert sandbox.patch(payment_id, amount="1.00").status_code == 200
    # An unlocked payment takes an origin_id (which locks it, and freezes it again).
    assert sandbox.patch(payment_id, origin_id=ORIGIN).status_code == 200
    _assert_lock_refusal(sandbox.patch(payment_id, origin_id=None))
    _assert_lock_refusal(sandbox.patch(payment_id, amount="2.00"))


@pytest.mark.parametrize("mode", ["clearing_origin_unlocks", "stays_locked", "origin_id_frozen"])
def test_unlink_payment_clears_origin_id_and_lock_in_every_mode(
    sandbox: Sandbox, mode: ErpUnlockMode
) -> None:
    sandbox.state.erp_unlock_mode = mode
    payment = sandbox.create(origin_id=ORIGIN)
    payment_id = payment["id"]
    _assert_lock_refusal(sandbox.patch(payment_id, amount="1.00"))

    sandbox.state.advance_clock(120)
    sandbox.state.unlink_payment(payment_id)
    shown = sandbox.show(payment_id)
    assert shown["origin_id"] is None
    assert shown["updated_at"] > payment["updated_at"]
    assert not sandbox.locked(payment_id)
    assert sandbox.patch(payment_id, amount="1.00").json()["amount"] == "1.00"

    assert sandbox.patch(payment_id, origin_id=ORIGIN).status_code == 200
    _assert_lock_refusal(sandbox.patch(payment_id, amount="2.00"))
    _assert_lock_refusal(sandbox.delete(payment_id))
    sandbox.state.unlink_payment(payment_id)
    assert sandbox.delete(payment_id).status_code == 200
    assert sandbox.state.payments() == []

    with pytest.raises(KeyError):
        sandbox.state.unlink_payment(payment_id)


def test_seeded_payments_lock_by_origin_id_or_explicitly(sandbox: Sandbox) -> None:
    state = sandbox.state
    synced = state.add_payment(
        sandbox.riverside, sandbox.concrete, "10.00", date(2025, 1, 2), origin_id="erp:1"
    )
    # A payment whose origin_id was cleared under "stays_locked" (origin_id null, still locked).
    cleared = state.add_payment(
        sandbox.riverside, sandbox.concrete, "20.00", date(2025, 1, 3), erp_locked=True
    )
    plain = state.add_payment(sandbox.riverside, sandbox.concrete, "30.00", date(2025, 1, 4))
    _assert_lock_refusal(sandbox.patch(synced, amount="1.00"))
    _assert_lock_refusal(sandbox.patch(cleared, amount="1.00"))
    assert sandbox.show(cleared)["origin_id"] is None
    assert sandbox.patch(plain, amount="1.00").status_code == 200


# --- 2. Pagination links ----------------------------------------------------------------------------


def _link_query(response: httpx.Response, relation: str) -> tuple[str, dict[str, str]]:
    url = response.links[relation]["url"]
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


def test_full_query_links_keep_the_query(sandbox: Sandbox) -> None:
    for number in range(3):
        sandbox.create(payment_number=number + 1)
    first = sandbox.api.get(PAYMENTS, params={**sandbox.scope(), "per_page": 2})
    base, query = _link_query(first, "next")
    assert base == f"{sandbox.url}{PAYMENTS}"
    assert query == {**{k: str(v) for k, v in sandbox.scope().items()}, "page": "2", "per_page": "2"}
    following = sandbox.api.get(first.links["next"]["url"])
    assert [p["payment_number"] for p in following.json()] == [3]


def test_page_only_links_lose_the_query(sandbox: Sandbox) -> None:
    sandbox.state.link_mode = "page_only"
    for number in range(3):
        sandbox.create(payment_number=number + 1)
    params = {**sandbox.scope(), "per_page": 2}
    first = sandbox.api.get(PAYMENTS, params=params)
    assert first.status_code == 200
    assert (first.headers["Total"], first.headers["Per-Page"]) == ("3", "2")
    assert set(first.links) == {"next", "last"}
    base, query = _link_query(first, "next")
    assert base == f"{sandbox.url}{PAYMENTS}"
    assert query == {"page": "2", "per_page": "2"}
    assert _link_query(first, "last")[1] == {"page": "2", "per_page": "2"}

    # Followed literally, the link lacks project_id: the usual 400 for a missing parameter.
    literal = sandbox.api.get(first.links["next"]["url"])
    assert literal.status_code == 400
    assert literal.json() == {"code": 400, "message": "param is missing or the value is empty: project_id"}

    # The original query with the link's page works.
    second = sandbox.api.get(PAYMENTS, params={**params, "page": query["page"]})
    assert [p["payment_number"] for p in second.json()] == [3]
    assert set(second.links) == {"first", "last"}
    assert _link_query(second, "first")[1] == {"page": "1", "per_page": "2"}


def test_page_only_links_drop_filters_and_company_id(sandbox: Sandbox) -> None:
    sandbox.state.link_mode = "page_only"
    invoices = sandbox.api.get(
        "/rest/v1.1/requisitions",
        params={"project_id": sandbox.riverside, "filters[commitment_id]": sandbox.concrete, "per_page": 3},
    )
    assert invoices.headers["Total"] == "4"
    assert _link_query(invoices, "next")[1] == {"page": "2", "per_page": "3"}
    assert sandbox.api.get(invoices.links["next"]["url"]).status_code == 400

    projects = sandbox.api.get(
        "/rest/v1.0/projects", params={"company_id": sandbox.state.company_id, "per_page": 1}
    )
    assert _link_query(projects, "next")[1] == {"page": "2", "per_page": "1"}
    lost = sandbox.api.get(projects.links["next"]["url"])
    assert lost.status_code == 400
    assert lost.json()["message"] == "param is missing or the value is empty: company_id"

    contracts = sandbox.api.get(
        "/rest/v1.0/work_order_contracts",
        params={"project_id": sandbox.riverside, "filters[status]": "Approved", "per_page": 1},
    )
    assert _link_query(contracts, "next")[1] == {"page": "2", "per_page": "1"}


# --- 3. Duplicate origin_id -------------------------------------------------------------------------


def test_duplicate_origin_id_is_refused_by_default(sandbox: Sandbox) -> None:
    sandbox.create(origin_id=ORIGIN)
    electric = sandbox.ids["commitments"]["riverside/SC-002"]
    duplicate = sandbox.post(electric, origin_id=ORIGIN)
    assert duplicate.status_code == 422
    assert duplicate.json() == {
        "code": 422,
        "message": DUPLICATE_ORIGIN_MESSAGE,
        "errors": {"origin_id": ["has already been taken"]},
    }
    assert [p["origin_id"] for p in sandbox.state.payments()] == [ORIGIN]


def test_duplicate_origin_id_is_stored_in_accept_mode(sandbox: Sandbox) -> None:
    sandbox.state.duplicate_origin_mode = "accept"
    first = sandbox.create(origin_id=ORIGIN, amount="100.00")
    second = sandbox.post(origin_id=ORIGIN, amount="100.00")
    assert second.status_code == 201
    assert second.json()["origin_id"] == ORIGIN
    assert second.json()["id"] != first["id"]
    listed = sandbox.get_json(PAYMENTS, **sandbox.scope())
    assert [p["origin_id"] for p in listed] == [ORIGIN, ORIGIN]
    # A PATCH to an origin_id already taken is accepted too.
    third = sandbox.create()
    assert sandbox.patch(third["id"], origin_id=ORIGIN).json()["origin_id"] == ORIGIN
    assert [p["origin_id"] for p in sandbox.state.payments()] == [ORIGIN, ORIGIN, ORIGIN]


# --- 4. Money as JSON numbers ---------------------------------------------------------------------


def test_money_is_decimal_strings_by_default(sandbox: Sandbox) -> None:
    created = sandbox.post(amount="1234.5")
    assert '"amount":"1234.50"' in created.text
    shown = sandbox.api.get(
        f"/rest/v1.0/commitments/{sandbox.concrete}", params={"project_id": sandbox.riverside}
    )
    assert '"total_payments":"1234.50"' in shown.text
    assert '"grand_total":"485000.00"' in shown.text


def _exact(response: httpx.Response) -> Any:
    """The body parsed with JSON numbers as Decimals (what a careful client does)."""
    return json.loads(response.text, parse_float=Decimal)


def test_money_as_numbers_keeps_exact_digits(sandbox: Sandbox) -> None:
    sandbox.state.money_as_numbers = True
    created = sandbox.post(amount="0.10", payment_number=1)
    assert created.status_code == 201
    assert '"amount":0.10' in created.text
    assert _exact(created)["amount"] == Decimal("0.10")
    second = sandbox.post(amount="1234.5", payment_number=2)
    assert '"amount":1234.50' in second.text
    payment_id = second.json()["id"]
    assert isinstance(second.json()["amount"], float)  # a JSON number, not a string

    patched = sandbox.patch(payment_id, amount="0.20")
    assert '"amount":0.20' in patched.text
    shown = sandbox.api.get(f"{PAYMENTS}/{payment_id}", params=sandbox.scope())
    assert '"amount":0.20' in shown.text
    listed = sandbox.api.get(PAYMENTS, params=sandbox.scope())
    assert [p["amount"] for p in _exact(listed)] == [Decimal("0.10"), Decimal("0.20")]

    # 0.10 + 0.20 is 0.30000000000000004 in binary floats; the sum is rendered from decimals.
    commitment = sandbox.api.get(
        f"/rest/v1.0/commitments/{sandbox.concrete}", params={"project_id": sandbox.riverside}
    )
    assert '"total_payments":0.30' in commitment.text
    assert '"grand_total":485000.00' in commitment.text
    assert '"remaining_balance_outstanding":484999.70' in commitment.text
    assert "0.30000000000000004" not in commitment.text
    body = _exact(commitment)
    assert [p["amount"] for p in body["payments_issued"]] == [Decimal("0.10"), Decimal("0.20")]
    assert body["retainage_percent"] == Decimal("10.00")

    contracts = sandbox.api.get("/rest/v1.0/work_order_contracts", params={"project_id": sandbox.riverside})
    first_contract = _exact(contracts)[0]
    assert first_contract["total_payments"] == Decimal("0.30")
    assert first_contract["approved_change_orders"] == Decimal("0.00")
    contract = sandbox.api.get(
        f"/rest/v1.0/work_order_contracts/{sandbox.concrete}", params={"project_id": sandbox.riverside}
    )
    assert '"total_payments":0.30' in contract.text
    assert re.search(r'"payments_issued":\[\{"id":\d+,"amount":0\.10,', contract.text)

    invoice_id = sandbox.ids["requisitions"]["ACME-2438"]
    invoice = sandbox.api.get(
        f"/rest/v1.1/requisitions/{invoice_id}", params={"project_id": sandbox.riverside}
    )
    assert '"total_claimed_amount":72750.00' in invoice.text
    assert '"current_payment_due":65475.00' in invoice.text
    summary = _exact(invoice)["summary"]
    assert summary["net_change_by_change_orders"] == Decimal("0.00")
    assert summary["formatted_period"] == "Feb 2025"
    assert _exact(invoice)["percent_complete"].endswith("%")

    # Requests still refuse a JSON number; the inspection helper still shows strings.
    refused = sandbox.post(amount=12.5)
    assert refused.status_code == 422
    assert refused.json()["errors"] == {
        "amount": ['must be a decimal string such as "1250.00", not a JSON number']
    }
    assert [p["amount"] for p in sandbox.state.payments()] == ["0.10", "0.20"]

    sandbox.state.money_as_numbers = False
    assert '"amount":"0.20"' in sandbox.api.get(f"{PAYMENTS}/{payment_id}", params=sandbox.scope()).text


# --- 5. Commitment currency and payments enabled ------------------------------------------------------


def test_no_currency_configuration_for_a_commitment_in_the_company_currency(sandbox: Sandbox) -> None:
    sandbox.create()
    project = {"project_id": sandbox.riverside}
    listed = sandbox.get_json("/rest/v1.0/work_order_contracts", **project)
    assert all("currency_configuration" not in c for c in listed)
    shown = sandbox.get_json(f"/rest/v1.0/work_order_contracts/{sandbox.concrete}", **project)
    assert "currency_configuration" not in shown
    assert "currency_configuration" not in shown["payments_issued"][0]
    generic = sandbox.get_json(f"/rest/v1.0/commitments/{sandbox.concrete}", **project)
    assert "currency_configuration" not in generic
    assert "currency_configuration" not in generic["payments_issued"][0]


def test_currency_configuration_of_a_foreign_currency_commitment(sandbox: Sandbox) -> None:
    state = sandbox.state
    vendor = state.add_vendor("Maple Glazing Ltd.")
    currency: dict[str, Any] = {
        "currency_iso_code": "CAD",
        "base_currency_iso_code": "USD",
        "currency_exchange_rate": "0.7312",
    }
    order = state.add_commitment(
        sandbox.riverside,
        "purchase_order",
        "PO-CAD",
        "Curtain wall",
        vendor,
        grand_total="50000.00",
        **currency,
    )
    subcontract = state.add_commitment(
        sandbox.riverside, "subcontract", "SC-CAD", "Glazing install", vendor, currency_iso_code="CAD"
    )
    sandbox.create(order, amount="2500.00")
    project = {"project_id": sandbox.riverside}

    orders = sandbox.get_json("/rest/v1.0/purchase_order_contracts", **project)
    assert [c.get("currency_configuration") for c in orders] == [None, None, currency]
    shown = sandbox.get_json(f"/rest/v1.0/purchase_order_contracts/{order}", **project)
    assert shown["currency_configuration"] == currency
    assert shown["payments_issued"][0]["currency_configuration"] == currency
    generic = sandbox.get_json(f"/rest/v1.0/commitments/{order}", **project)
    assert generic["currency_configuration"] == currency
    assert generic["payments_issued"][0]["currency_configuration"] == currency
    # The contract_payments schema has no currency_configuration.
    payment = sandbox.get_json(PAYMENTS, **sandbox.scope(order))[0]
    assert "currency_configuration" not in payment

    partial = sandbox.get_json(f"/rest/v1.0/work_order_contracts/{subcontract}", **project)
    assert partial["currency_configuration"] == {
        "currency_iso_code": "CAD",
        "base_currency_iso_code": None,
        "currency_exchange_rate": None,
    }
    invoice = state.add_requisition(sandbox.riverside, order, "MGL-1", 1, "1000.00")
    assert (
        sandbox.get_json(f"/rest/v1.1/requisitions/{invoice}", **project)["currency_configuration"]
        == currency
    )

    with pytest.raises(ValueError, match="currency_iso_code"):
        state.add_commitment(
            sandbox.riverside, "subcontract", "SC-X", "X", vendor, base_currency_iso_code="USD"
        )


def test_payments_disabled_are_refused_then_reenabled(sandbox: Sandbox) -> None:
    state = sandbox.state
    vendor = state.add_vendor("Summit Excavation")
    contract = state.add_commitment(
        sandbox.riverside, "subcontract", "SC-077", "Earthwork", vendor, payments_enabled=False
    )
    project = {"project_id": sandbox.riverside}
    assert sandbox.get_json(f"/rest/v1.0/commitments/{contract}", **project)["allow_payments"] is False

    refused = sandbox.post(contract)
    assert refused.status_code == 422
    assert refused.json() == {
        "code": 422,
        "message": PAYMENTS_DISABLED_MESSAGE,
        "errors": {"contract_id": ["does not allow payments"]},
    }
    assert state.payments(contract) == []

    before = sandbox.get_json(f"/rest/v1.0/work_order_contracts/{contract}", **project)["updated_at"]
    state.advance_clock(120)
    state.update_commitment(contract, payments_enabled=True)
    after = sandbox.get_json(f"/rest/v1.0/work_order_contracts/{contract}", **project)["updated_at"]
    assert after > before
    changed = sandbox.get_json(
        "/rest/v1.0/work_order_contracts",
        **project,
        **{"filters[updated_at]": f"{after}...2999-01-01T00:00:00Z"},
    )
    assert [c["id"] for c in changed] == [contract]
    assert sandbox.get_json(f"/rest/v1.0/commitments/{contract}", **project)["allow_payments"] is True
    payment = sandbox.create(contract)

    # Disabled again: new payments are refused, the existing one stays editable.
    state.update_commitment(contract, payments_enabled=False)
    assert sandbox.post(contract).status_code == 422
    assert sandbox.patch(payment["id"], contract, notes="still editable").status_code == 200

    with pytest.raises(ValueError, match="disagree"):
        state.update_commitment(contract, payments_enabled=True, allow_payments=False)
