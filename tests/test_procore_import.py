"""Importing projects, vendors, commitments and subcontractor invoices from the simulated Procore
into a real SQLite file (and PostgreSQL when PAYSYNC_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.procore import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, ProcoreState, create_procore_app, seed_demo
from sandbox.servers import run_asgi_in_thread
from storage.db import close_database
from storage.models import Commitment, Invoice, ProcoreProject, ProcoreVendor, Setting
from sync.procore.auth import MemoryTokenStore
from sync.procore.client import ProcoreClient
from sync.procore.importer import import_from_procore, watermark_key
from tests.support.database import database_kinds, open_test_database

TWO_HOURS = 7200.0


@dataclass
class Sandbox:
    state: ProcoreState
    ids: dict[str, Any]
    url: str

    def project(self, key: str) -> int:
        return int(self.ids["projects"][key])

    def commitment(self, key: str) -> int:
        return int(self.ids["commitments"][key])

    def invoice(self, invoice_number: str) -> int:
        return int(self.ids["requisitions"][invoice_number])

    def client(self, transport: httpx.BaseTransport | None = None) -> ProcoreClient:
        return ProcoreClient(
            api_base=self.url,
            login_base=self.url,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            company_id=self.state.company_id,
            token_store=MemoryTokenStore(),
            sleep=lambda seconds: None,
            transport=transport,
        )

    def listed(self, path: str) -> list[Any]:
        return self.state.log_entries("GET", path)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    state = ProcoreState()
    # The demo company's data was entered two hours ago, so a later edit is clearly newer than
    # the first import (the watermark overlap is ten minutes).
    state.advance_clock(-TWO_HOURS)
    ids = seed_demo(state)
    state.advance_clock(TWO_HOURS)
    server = run_asgi_in_thread(create_procore_app(state))
    try:
        yield Sandbox(state, ids, server.url)
    finally:
        server.stop()


@pytest.fixture(params=database_kinds())
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    open_test_database(tmp_path, request.param, cutoff=None)
    try:
        yield
    finally:
        close_database()


class HookTransport(httpx.BaseTransport):
    """Real HTTP; runs `before` once, just before the first request whose path starts with `prefix`
    (to change Procore at an exact moment of an import)."""

    def __init__(self, prefix: str, before: Callable[[], None]) -> None:
        self.inner = httpx.HTTPTransport()
        self.prefix = prefix
        self.before: Callable[[], None] | None = before

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.before is not None and request.url.path.startswith(self.prefix):
            before, self.before = self.before, None
            before()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_first_import_copies_everything_matching_needs(sandbox: Sandbox, database: None) -> None:
    with sandbox.client() as client:
        summary = import_from_procore(client)

    assert (summary.projects, summary.vendors, summary.commitments, summary.invoices) == (2, 6, 6, 15)
    assert summary.warnings == []
    assert summary.duration_seconds > 0
    assert ProcoreProject.select().count() == 2 and ProcoreVendor.select().count() == 6
    assert ProcoreVendor.get_by_id(sandbox.ids["vendors"]["acme"]).origin_id == "80000001-1700000001"

    steel = Commitment.get_by_id(sandbox.commitment("riverside/PO-001"))
    assert (steel.kind, steel.number, steel.vendor_name) == (
        "purchase_order",
        "PO-001",
        "Ironclad Steel Erectors",
    )
    assert steel.project_id == sandbox.project("riverside")
    assert Commitment.get_by_id(sandbox.commitment("riverside/SC-001")).kind == "subcontract"

    invoice = Invoice.get_by_id(sandbox.invoice("ACME-2495"))
    assert invoice.commitment_id == sandbox.commitment("riverside/SC-001")
    assert (invoice.number, invoice.invoice_number) == (4, "ACME-2495")
    assert invoice.amount == Decimal("55125.50")
    assert invoice.vendor_id == sandbox.ids["vendors"]["acme"]
    assert (invoice.status, invoice.erp_status, invoice.origin_id) == ("approved", "not_synced", None)
    assert invoice.billing_date == date(2025, 4, 30)
    exported = Invoice.get_by_id(sandbox.invoice("ACME-2411"))
    assert exported.erp_status == "synced" and exported.origin_id

    for project in ("riverside", "oak-street"):
        for what in ("commitments", "invoices"):
            assert (
                Setting.get_or_none(Setting.key == watermark_key(sandbox.project(project), what)) is not None
            )
    assert all("updated_at" not in e.query for e in sandbox.listed("/rest/v1.1/requisitions"))


def test_second_import_fetches_only_what_changed(sandbox: Sandbox, database: None) -> None:
    riverside = sandbox.project("riverside")
    with sandbox.client() as client:
        import_from_procore(client)
        sandbox.state.update_requisition(
            sandbox.invoice("ACME-2495"), amount="56000.00", erp_status="synced", origin_id="1F0-1700200099"
        )
        sandbox.state.update_commitment(sandbox.commitment("riverside/PO-002"), title="Rebar and mesh")
        requests_before = len(sandbox.state.request_log)
        summary = import_from_procore(client)

    assert (summary.commitments, summary.invoices) == (1, 1)
    invoice = Invoice.get_by_id(sandbox.invoice("ACME-2495"))
    assert (invoice.amount, invoice.erp_status, invoice.origin_id) == (
        Decimal("56000.00"),
        "synced",
        "1F0-1700200099",
    )
    assert Commitment.get_by_id(sandbox.commitment("riverside/PO-002")).title == "Rebar and mesh"
    assert Invoice.select().count() == 15  # the unchanged ones are still there

    second = sandbox.state.request_log[requests_before:]
    listings = [e for e in second if e.path in ("/rest/v1.1/requisitions", "/rest/v1.0/work_order_contracts")]
    assert listings and all("updated_at" in e.query for e in listings)
    assert any(str(riverside) in e.query for e in listings)


def test_an_invoice_on_a_commitment_created_during_the_import_is_still_imported(
    sandbox: Sandbox, database: None
) -> None:
    riverside = sandbox.project("riverside")
    created: dict[str, int] = {}

    def new_commitment_and_invoice() -> None:
        # Someone adds a subcontract and its first invoice after we listed the commitments.
        commitment = sandbox.state.add_commitment(
            riverside,
            "subcontract",
            "SC-003",
            "Drywall",
            sandbox.ids["vendors"]["cascade"],
            grand_total="90000.00",
        )
        created["invoice"] = sandbox.state.add_requisition(riverside, commitment, "DRY-001", 1, "9000.00")
        created["commitment"] = commitment

    transport = HookTransport("/rest/v1.1/requisitions", new_commitment_and_invoice)
    with sandbox.client(transport=transport) as client:
        summary = import_from_procore(client, project_ids=[riverside])

    invoice = Invoice.get_by_id(created["invoice"])
    assert invoice.commitment_id == created["commitment"]
    assert invoice.vendor_id == sandbox.ids["vendors"]["cascade"]
    assert Commitment.get_by_id(created["commitment"]).number == "SC-003"
    assert summary.warnings == []


def test_only_the_chosen_projects_are_imported(sandbox: Sandbox, database: None) -> None:
    oak_street = sandbox.project("oak-street")
    with sandbox.client() as client:
        summary = import_from_procore(client, project_ids=[oak_street, 999])

    assert [p.id for p in ProcoreProject.select()] == [oak_street]
    assert (summary.projects, summary.commitments, summary.invoices) == (1, 2, 4)
    assert {c.project_id for c in Commitment.select()} == {oak_street}
    assert (
        len(summary.warnings) == 1
        and "999" in summary.warnings[0]
        and "PROCORE_PROJECT_IDS" in summary.warnings[0]
    )
    assert all(
        str(sandbox.project("riverside")) not in e.query for e in sandbox.listed("/rest/v1.1/requisitions")
    )


def test_a_failed_import_leaves_the_watermark_so_nothing_is_skipped(sandbox: Sandbox, database: None) -> None:
    riverside = sandbox.project("riverside")
    with sandbox.client() as client:
        import_from_procore(client, project_ids=[riverside])
        key = watermark_key(riverside, "invoices")
        first_watermark = Setting.get_by_id(key).value
        sandbox.state.update_requisition(sandbox.invoice("BLE-10355"), status="approved_as_noted")
        sandbox.state.inject_fault("GET", "/rest/v1.1/requisitions", "500", times=20)
        with pytest.raises(Exception, match="subcontractor invoices"):
            import_from_procore(client, project_ids=[riverside])
        assert Setting.get_by_id(key).value == first_watermark
        sandbox.state.clear_faults()
        import_from_procore(client, project_ids=[riverside])

    assert Invoice.get_by_id(sandbox.invoice("BLE-10355")).status == "approved_as_noted"


# ---------------------------------------------------------------------------------------------
# Items Procore sends that PaySync cannot read: each is skipped with a reason, the rest imported


def _odd_procore() -> Any:
    """A Procore (over real HTTP) whose answers hold what a real company's data can: items without
    usable ids, a currency that is not a code, money as JSON numbers."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def raw_json(text: str) -> Response:
        return Response(text, media_type="application/json")

    async def token(request: Request) -> Response:
        return JSONResponse(
            {"access_token": "t", "token_type": "bearer", "expires_in": 5400, "created_at": 0}
        )

    async def projects(request: Request) -> Response:
        return JSONResponse([{"id": 7, "name": "Harbor Point"}, {"name": "no id"}])

    async def vendors(request: Request) -> Response:
        return JSONResponse([{"id": 11, "name": "Acme"}, {"id": "eleven", "name": "Bad id"}])

    async def commitments(request: Request) -> Response:
        if "purchase_order" in request.url.path:
            return JSONResponse([])
        return JSONResponse(
            [
                {"id": 21, "number": "SC-1", "vendor": {"id": 11, "company": "Acme"}},
                {
                    "id": 22,
                    "number": "SC-2",
                    "vendor": {"id": 11},
                    "currency_configuration": {"currency_iso_code": "CAD", "base_currency_iso_code": "USD"},
                },
                {"id": 23, "number": "SC-3", "currency_configuration": {"currency_iso_code": "Canadian $"}},
                {"id": None, "number": "SC-4"},
            ]
        )

    async def requisitions(request: Request) -> Response:
        # Money as JSON numbers, with digits a float could not keep (0.1 + 0.2 style).
        return raw_json(
            '[{"id": 31, "commitment_id": 21, "invoice_number": "INV-1", "number": 1, '
            '"total_claimed_amount": 1234567.3},'
            ' {"id": 32, "commitment_id": 22, "invoice_number": "INV-2", "number": 1, '
            '"total_claimed_amount": "0.30"},'
            ' {"id": "x", "commitment_id": 21, "invoice_number": "INV-3"}]'
        )

    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/rest/v1.0/projects", projects),
            Route("/rest/v1.0/vendors", vendors),
            Route("/rest/v1.0/work_order_contracts", commitments),
            Route("/rest/v1.0/purchase_order_contracts", commitments),
            Route("/rest/v1.1/requisitions", requisitions),
        ]
    )


def test_items_procore_sends_that_paysync_cannot_read_are_skipped_and_named(tmp_path: Path) -> None:
    server = run_asgi_in_thread(_odd_procore())
    open_test_database(tmp_path, cutoff=None, name="odd.db")
    try:
        client = ProcoreClient(
            api_base=server.url,
            login_base=server.url,
            client_id="c",
            client_secret="s",
            company_id=1,
            token_store=MemoryTokenStore(),
            sleep=lambda seconds: None,
        )
        summary = import_from_procore(client)
    finally:
        server.stop()

    assert [p.id for p in ProcoreProject.select()] == [7]
    assert [v.id for v in ProcoreVendor.select()] == [11]
    assert sorted((c.id, c.currency) for c in Commitment.select()) == [(21, None), (22, "CAD")]
    amounts = {i.invoice_number: i.amount for i in Invoice.select()}
    assert amounts == {"INV-1": Decimal("1234567.30"), "INV-2": Decimal("0.30")}  # exact, from the digits
    warnings = "\n".join(summary.warnings)
    assert "Procore sent a project without an id that PaySync cannot read" in warnings
    assert (
        "Procore sent a vendor id eleven that PaySync cannot read (id 'eleven' is not a Procore id)"
        in warnings
    )
    assert (
        "Procore sent a commitment id 23 that PaySync cannot read (currency_iso_code 'Canadian $' is not an "
        "ISO currency code); it was skipped and the others were imported. Check it in Procore."
    ) in warnings
    assert "Procore sent a subcontractor invoice id x that PaySync cannot read" in warnings
    assert len(summary.warnings) == 5
    close_database()
