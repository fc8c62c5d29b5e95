"""``seed_demo``: a small general contractor (two projects, six vendors, six commitments, fifteen
invoices, an accountant and a project manager), the same every time, for ``paysync demo`` and the
tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from sandbox.procore.records import AccessLevel, CommitmentKind
from sandbox.procore.state import ProcoreState

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_ACCOUNTANT_LOGIN = "ap@summitridge.example"
DEMO_PROJECT_MANAGER_LOGIN = "pm@summitridge.example"

_DEMO_VENDORS: list[tuple[str, str, str]] = [
    # key, name, QuickBooks vendor ListID (the QBD connector's origin_id, inferred)
    ("acme", "Acme Concrete", "80000001-1700000001"),
    ("brightline", "Brightline Electric", "80000002-1700000002"),
    ("ironclad", "Ironclad Steel Erectors", "80000003-1700000003"),
    ("keystone", "Keystone Rebar & Supply", "80000004-1700000004"),
    ("cascade", "Cascade Plumbing & Mechanical", "80000005-1700000005"),
    ("northwind", "Northwind Lumber Supply", "80000006-1700000006"),
]

_DEMO_COMMITMENTS: list[tuple[str, str, CommitmentKind, str, str, str, str]] = [
    # key, project key, kind, number, title, vendor key, grand total
    ("riverside/SC-001", "riverside", "subcontract", "SC-001", "Cast-in-place concrete", "acme", "485000.00"),
    ("riverside/SC-002", "riverside", "subcontract", "SC-002", "Electrical", "brightline", "312500.00"),
    (
        "riverside/PO-001",
        "riverside",
        "purchase_order",
        "PO-001",
        "Structural steel package",
        "ironclad",
        "198750.00",
    ),
    (
        "riverside/PO-002",
        "riverside",
        "purchase_order",
        "PO-002",
        "Reinforcing steel",
        "keystone",
        "46200.00",
    ),
    ("oak-street/SC-001", "oak-street", "subcontract", "SC-001", "Plumbing and HVAC", "cascade", "268000.00"),
    (
        "oak-street/PO-001",
        "oak-street",
        "purchase_order",
        "PO-001",
        "Framing lumber package",
        "northwind",
        "87450.00",
    ),
]

_DEMO_REQUISITIONS: list[tuple[str, int, str, str, str, bool]] = [
    # commitment key, number, invoice number, amount, billing date, exported to QuickBooks
    ("riverside/SC-001", 1, "ACME-2411", "48500.00", "2025-01-31", True),
    ("riverside/SC-001", 2, "ACME-2438", "72750.00", "2025-02-28", True),
    ("riverside/SC-001", 3, "ACME-2467", "61200.00", "2025-03-31", True),
    ("riverside/SC-001", 4, "ACME-2495", "55125.50", "2025-04-30", False),
    ("riverside/SC-002", 1, "BLE-10234", "31250.00", "2025-01-31", True),
    ("riverside/SC-002", 2, "BLE-10291", "46875.00", "2025-02-28", True),
    ("riverside/SC-002", 3, "BLE-10355", "38410.25", "2025-03-31", True),
    ("riverside/PO-001", 1, "ISE-7781", "99375.00", "2025-02-15", True),
    ("riverside/PO-001", 2, "ISE-7824", "66250.00", "2025-03-15", True),
    ("riverside/PO-002", 1, "KRS-55012", "23100.00", "2025-02-10", True),
    ("riverside/PO-002", 2, "KRS-55087", "15400.00", "2025-03-10", False),
    ("oak-street/SC-001", 1, "CPM-3301", "26800.00", "2025-02-28", True),
    ("oak-street/SC-001", 2, "CPM-3342", "40200.00", "2025-03-31", True),
    ("oak-street/PO-001", 1, "NLS-90417", "43725.00", "2025-03-05", True),
    ("oak-street/PO-001", 2, "NLS-90466", "21862.50", "2025-04-05", True),
]


def seed_demo(state: ProcoreState) -> dict[str, Any]:
    """Fill ``state`` with a small general contractor, the same every time.

    Returns ``{"company_id", "client_id", "client_secret", "projects": {key: id},
    "vendors": {key: id}, "commitments": {"project/number": id},
    "requisitions": {invoice_number: id}, "users": {login: id}, "service_account_id"}``.
    On a fresh state the ids are the same on every run.
    """
    state.company_name = "Summit Ridge Builders"
    state.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    projects = {
        "riverside": state.add_project("Riverside Medical Office Building", project_number="2024-017"),
        "oak-street": state.add_project("Oak Street Lofts", project_number="2025-003"),
    }
    vendors = {key: state.add_vendor(name, origin_id) for key, name, origin_id in _DEMO_VENDORS}
    commitments: dict[str, int] = {}
    for index, (key, project_key, kind, contract_number, title, vendor_key, total) in enumerate(
        _DEMO_COMMITMENTS, 1
    ):
        commitments[key] = state.add_commitment(
            projects[project_key],
            kind,
            contract_number,
            title,
            vendors[vendor_key],
            origin_id=f"{index:X}0-1700100{index:03d}",  # QuickBooks PO TxnID (inferred shape)
            grand_total=total,
            retainage_percent="10.00" if kind == "subcontract" else "0.00",
        )
    requisitions: dict[str, int] = {}
    for index, (commitment_key, number, invoice_number, amount, billing, exported) in enumerate(
        _DEMO_REQUISITIONS, 1
    ):
        project_key = commitment_key.split("/")[0]
        requisitions[invoice_number] = state.add_requisition(
            projects[project_key],
            commitments[commitment_key],
            invoice_number,
            number,
            amount,
            # After export the invoice's origin_id is probably the QuickBooks Bill TxnID (inferred).
            origin_id=f"{index + 0x100:X}-1700200{index:03d}" if exported else None,
            erp_status="synced" if exported else "not_synced",
            billing_date=date.fromisoformat(billing),
        )
    full_access: dict[str, AccessLevel] = {"commitments": "admin", "erp_integrations": "admin"}
    users = {
        DEMO_ACCOUNTANT_LOGIN: state.add_user(
            DEMO_ACCOUNTANT_LOGIN,
            dict.fromkeys(projects.values(), full_access),
            name="Dana Reyes",
            company_permissions={"erp_integrations": "admin"},
            can_push_to_accounting=True,
        ),
        DEMO_PROJECT_MANAGER_LOGIN: state.add_user(
            DEMO_PROJECT_MANAGER_LOGIN,
            {projects["riverside"]: {"commitments": "read_only", "erp_integrations": "none"}},
            name="Sam Okafor",
        ),
    }
    state.service_account_permissions = dict.fromkeys(projects.values(), full_access)
    state.service_account_company_permissions = {"erp_integrations": "admin"}
    state.service_account_can_push_to_accounting = True
    state.default_authorize_login = DEMO_ACCOUNTANT_LOGIN
    return {
        "company_id": state.company_id,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "projects": projects,
        "vendors": vendors,
        "commitments": commitments,
        "requisitions": requisitions,
        "users": users,
        "service_account_id": state.service_account_id,
    }
