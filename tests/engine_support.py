"""Shared helpers for the sync engine tests: a sandbox Procore over loopback HTTP, a SQLite file
in tmp_path, and rows of QuickBooks data the way the Web Connector service stores them."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.procore import ProcoreState
from sandbox.servers import run_asgi_in_thread
from storage.db import close_database, open_database
from storage.models import ALL_MODELS, BillPayment, BillPaymentApplication, CompanyFile, Setting
from sync.procore.auth import MemoryTokenStore
from sync.procore.client import ProcoreClient
from sync.settings import Settings

CLIENT_ID = "engine-client"
CLIENT_SECRET = "engine-secret"
FILE_KEY = "main"
CUTOFF = datetime(2026, 11, 1, tzinfo=UTC)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = run_asgi_in_thread(app)
    try:
        yield server.url
    finally:
        server.stop()


@dataclass
class ProcoreWorld:
    """A small Procore company: one project, vendors whose origin_id is the QuickBooks ListID."""

    state: ProcoreState
    url: str = ""
    project_id: int = 0
    vendors: dict[str, int] = field(default_factory=dict)
    commitments: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, int] = field(default_factory=dict)

    def client(self, **kwargs: Any) -> ProcoreClient:
        options: dict[str, Any] = {"timeout": 2.0, "sleep": lambda seconds: None, "max_retries": 4}
        options.update(kwargs)
        return ProcoreClient(
            api_base=self.url,
            login_base=self.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            company_id=self.state.company_id,
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

    def add_commitment(self, key: str, vendor: str, *, kind: str = "subcontract", **options: Any) -> int:
        self.commitments[key] = self.state.add_commitment(
            self.project_id,
            kind,
            key,
            f"{key} work",
            self.vendors[vendor],
            **options,  # type: ignore[arg-type]
        )
        return self.commitments[key]

    def add_invoice(
        self, key: str, commitment: str, invoice_number: str, number: int, origin_id: str | None = None
    ) -> int:
        self.invoices[key] = self.state.add_requisition(
            self.project_id, self.commitments[commitment], invoice_number, number, "100000.00", origin_id
        )
        return self.invoices[key]

    def payments(self) -> list[dict[str, Any]]:
        return self.state.payments()

    def writes(self) -> list[Any]:
        return [
            e
            for e in self.state.request_log
            if e.method in ("POST", "PATCH", "DELETE") and "contract_payments" in e.path
        ]


def new_procore_state() -> ProcoreState:
    state = ProcoreState("Engine Test Builders")
    state.add_client(CLIENT_ID, CLIENT_SECRET)
    return state


def base_world(state: ProcoreState) -> ProcoreWorld:
    """Acme (ListID V-ACME) with SC-1 and invoices INV-100 (origin B-100), INV-101 (no origin);
    Bolt (matched by name, no origin id) with PO-1 and invoice BOLT-7."""
    world = ProcoreWorld(state)
    world.project_id = state.add_project("Engine Tower")
    state.service_account_permissions = {
        world.project_id: {"commitments": "admin", "erp_integrations": "admin"}
    }
    world.add_vendor("acme", "Acme Concrete", "V-ACME")
    world.add_vendor("bolt", "Bolt Electric", None)
    world.add_commitment("SC-1", "acme")
    world.add_commitment("PO-1", "bolt", kind="purchase_order")
    world.add_invoice("INV-100", "SC-1", "INV-100", 1, origin_id="B-100")
    world.add_invoice("INV-101", "SC-1", "INV-101", 2)
    world.add_invoice("BOLT-7", "PO-1", "BOLT-7", 1)
    return world


def open_test_database(tmp_path: Path, kind: str = "sqlite") -> str:
    """A fresh database with the schedule cutoff recorded: a SQLite file in tmp_path, or (kind
    "postgres") the server named by PAYSYNC_TEST_POSTGRES_URL, emptied first."""
    close_database()
    if kind == "postgres":
        url = os.environ["PAYSYNC_TEST_POSTGRES_URL"]
        open_database(url).drop_tables(ALL_MODELS, safe=True, cascade=True)
        close_database()
    else:
        url = f"sqlite:///{tmp_path / 'paysync.db'}"
    open_database(url)
    Setting.delete().where(Setting.key == "schedule_cutoff").execute()
    Setting.create(key="schedule_cutoff", value=CUTOFF.isoformat())
    return url


def database_kinds() -> list[Any]:
    """SQLite always; PostgreSQL when .ci/run (or you) set PAYSYNC_TEST_POSTGRES_URL."""
    return [
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(
                    not os.environ.get("PAYSYNC_TEST_POSTGRES_URL"),
                    reason="PAYSYNC_TEST_POSTGRES_URL not set",
                ),
            ],
        ),
    ]


_txn_counter = itertools.count(1)


@dataclass
class QB:
    """Writes QuickBooks rows the way the Web Connector service stores them."""

    file_key: str = FILE_KEY

    def company(self) -> CompanyFile:
        row = CompanyFile.get_or_none(CompanyFile.file_key == self.file_key)
        return row or CompanyFile.create(file_key=self.file_key, country="US")

    def pay(
        self,
        bills: list[tuple[str, str | None, str]],
        *,
        txn_id: str | None = None,
        kind: str = "check",
        ref_number: str | None = "1001",
        vendor_list_id: str | None = "V-ACME",
        vendor_name: str | None = "Acme Concrete",
        txn_date: date = date(2026, 11, 20),
        pre_existing: bool = False,
    ) -> BillPayment:
        """bills: (bill TxnID, bill RefNumber, applied amount)."""
        txn_id = txn_id or f"P-{next(_txn_counter)}"
        amounts = [Decimal(a) for _, _, a in bills]
        payment = BillPayment.create(
            company_file=self.company(),
            txn_id=txn_id,
            kind=kind,
            edit_sequence="1",
            time_created="2026-11-20T09:00:00-05:00",
            time_modified="2026-11-20T09:00:00-05:00",
            vendor_list_id=vendor_list_id,
            vendor_name=vendor_name,
            txn_date=txn_date,
            amount=sum(amounts, Decimal("0.00")),
            ref_number=ref_number,
            pre_existing=pre_existing,
        )
        for (bill_txn_id, bill_ref, _), amount in zip(bills, amounts, strict=True):
            BillPaymentApplication.create(
                payment=payment, bill_txn_id=bill_txn_id, bill_ref_number=bill_ref, amount=amount
            )
        return payment

    def edit(self, payment: BillPayment, **changes: Any) -> None:
        """Change the payment as a new EditSequence would; `applied` maps bill TxnID -> amount."""
        applied: dict[str, str] | None = changes.pop("applied", None)
        fresh = BillPayment.get_by_id(payment.id)
        for name, value in changes.items():
            setattr(fresh, name, value)
        fresh.edit_sequence = str(int(fresh.edit_sequence) + 1)
        if applied is not None:
            for app in BillPaymentApplication.select().where(BillPaymentApplication.payment == fresh):
                if app.bill_txn_id in applied:
                    app.amount = Decimal(applied[app.bill_txn_id])
                    app.save()
            fresh.amount = sum(
                (
                    a.amount
                    for a in BillPaymentApplication.select().where(BillPaymentApplication.payment == fresh)
                ),
                Decimal("0.00"),
            )
        fresh.save()

    def void(self, payment: BillPayment) -> None:
        self.edit(payment, is_void=True, memo="VOID:", amount=Decimal("0.00"))
        BillPaymentApplication.update(amount=Decimal("0.00")).where(
            BillPaymentApplication.payment == payment.id
        ).execute()

    def delete(self, payment: BillPayment) -> None:
        BillPayment.update(deleted_at=datetime.now(UTC)).where(BillPayment.id == payment.id).execute()


def origin(payment: BillPayment, bill_txn_id: str, file_key: str = FILE_KEY) -> str:
    return f"qbd:{file_key}:{payment.txn_id}:{bill_txn_id}"


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
