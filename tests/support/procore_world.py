"""One Procore world: a sandbox Procore company (sandbox.procore.ProcoreState) with a project whose
service account may write payments, the keys tests use to name its vendors, commitments and
invoices, and the client and settings that reach it over loopback once it is served (the `world`
fixture in tests/conftest.py serves `base_world`; tests/support/bridge.py serves an empty one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.procore import CommitmentKind, ProcoreState, RequestLogEntry
from sync.procore.auth import MemoryTokenStore
from sync.procore.client import ProcoreClient
from sync.settings import Settings
from tests.support.quickbooks_world import FILE_KEY

CLIENT_ID = "engine-client"
CLIENT_SECRET = "engine-secret"
PAYMENTS = "/rest/v1.0/contract_payments"


@dataclass
class ProcoreWorld:
    """A small Procore company: one project, vendors whose origin_id is the QuickBooks ListID.
    `url` is set once it is served."""

    state: ProcoreState
    url: str = ""
    project_id: int = 0
    vendors: dict[str, int] = field(default_factory=dict)
    commitments: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, int] = field(default_factory=dict)

    def client(self, **kwargs: Any) -> ProcoreClient:
        """A client of this company, or of `company_id=` (another company served on the same API)."""
        options: dict[str, Any] = {"timeout": 2.0, "sleep": lambda seconds: None, "max_retries": 4}
        options.update(kwargs)
        company_id = int(options.pop("company_id", self.state.company_id))
        return ProcoreClient(
            api_base=self.url,
            login_base=self.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            company_id=company_id,
            token_store=MemoryTokenStore(),
            **options,
        )

    def settings(self, database_url: str, **changes: Any) -> Settings:
        base = Settings(
            database_url=database_url,
            procore_api_base=self.url,
            procore_login_base=self.url,
            procore_client_id=CLIENT_ID,
            procore_client_secret=CLIENT_SECRET,
            procore_company_id=self.state.company_id,
            procore_project_ids=(self.project_id,),
            qbwc_file_key=FILE_KEY,
        )
        return base.with_overrides(**changes) if changes else base

    def add_vendor(self, key: str, name: str, origin_id: str | None) -> int:
        self.vendors[key] = self.state.add_vendor(name, origin_id)
        return self.vendors[key]

    def add_commitment(
        self, key: str, vendor: str, *, kind: CommitmentKind = "subcontract", **options: Any
    ) -> int:
        self.commitments[key] = self.state.add_commitment(
            self.project_id, kind, key, f"{key} work", self.vendors[vendor], **options
        )
        return self.commitments[key]

    def add_invoice(
        self, key: str, commitment: str, invoice_number: str, number: int, origin_id: str | None = None
    ) -> int:
        self.invoices[key] = self.state.add_requisition(
            self.project_id, self.commitments[commitment], invoice_number, number, "100000.00", origin_id
        )
        return self.invoices[key]

    def invoice_number(self, key: str) -> str:
        with self.state.lock:
            return str(self.state._requisitions[self.invoices[key]].invoice_number)

    def payments(self) -> list[dict[str, Any]]:
        return self.state.payments()

    def writes(self) -> list[RequestLogEntry]:
        """Every payment write Procore received (POST, PATCH, DELETE), in order."""
        return [
            e
            for e in self.state.request_log
            if e.method in ("POST", "PATCH", "DELETE") and "contract_payments" in e.path
        ]


def new_procore_state(name: str = "Engine Test Builders") -> ProcoreState:
    """A sandbox Procore company that knows PaySync's OAuth client."""
    state = ProcoreState(name)
    state.add_client(CLIENT_ID, CLIENT_SECRET)
    return state


def new_world(project: str, *, company: str = "Engine Test Builders") -> ProcoreWorld:
    """A company with one project on which the service account is admin of commitments and ERP
    integrations, and nothing else yet."""
    state = new_procore_state(company)
    world = ProcoreWorld(state)
    world.project_id = state.add_project(project)
    state.service_account_permissions = {
        world.project_id: {"commitments": "admin", "erp_integrations": "admin"}
    }
    return world


def base_world() -> ProcoreWorld:
    """Project "Engine Tower": Acme (ListID V-ACME) with SC-1 and invoices INV-100 (origin B-100),
    INV-101 (no origin); Bolt (matched by name, no origin id) with PO-1 and invoice BOLT-7."""
    world = new_world("Engine Tower")
    world.add_vendor("acme", "Acme Concrete", "V-ACME")
    world.add_vendor("bolt", "Bolt Electric", None)
    world.add_commitment("SC-1", "acme")
    world.add_commitment("PO-1", "bolt", kind="purchase_order")
    world.add_invoice("INV-100", "SC-1", "INV-100", 1, origin_id="B-100")
    world.add_invoice("INV-101", "SC-1", "INV-101", 2)
    world.add_invoice("BOLT-7", "PO-1", "BOLT-7", 1)
    return world


def procore_view(payments: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The fields a user sees in Payments Issued, sorted, for exact comparisons."""
    return sorted(
        (
            p["origin_id"],
            p["amount"],
            p["date"],
            p["payment_method"],
            p["check_number"],
            p["invoice_number"],
            p["requisition_id"],
        )
        for p in payments
    )
