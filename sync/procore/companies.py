"""Several Procore companies from one PaySync: one ProcoreClient per company, made when first needed,
and a payments client that sends each call to the company of the project it is about.

A firm whose legal entities each have their own Procore company installs the one OAuth app in each;
Procore's token then works for every one of them, and each request names its company with the
`Procore-Company-Id` header (API-NOTES §5.4). Our copy of Procore records each project's company
(ProcoreProject.company_id; None: PROCORE_COMPANY_ID's), so a write about a project carries the
header of the company that holds it. The company is a key here: None always means the default one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.db import tuple_rows
from storage.models import Commitment, ProcoreProject
from sync.procore.client import ProcoreClient

# Makes the client of one Procore company (None: PROCORE_COMPANY_ID's).
ClientMaker = Callable[[int | None], ProcoreClient]


def project_companies() -> dict[int, int]:
    """Project id -> its Procore company, for the projects not of PROCORE_COMPANY_ID's company."""
    return {
        int(project_id): int(company_id)
        for project_id, company_id in tuple_rows(
            ProcoreProject.select(ProcoreProject.id, ProcoreProject.company_id).where(
                ProcoreProject.company_id.is_null(False)
            )
        )
    }


def company_of_commitment(commitment_id: int) -> int | None:
    """The Procore company of a commitment in our copy of Procore (None: PROCORE_COMPANY_ID's, or
    a commitment not copied yet)."""
    for (company_id,) in tuple_rows(
        ProcoreProject.select(ProcoreProject.company_id)
        .join(Commitment, on=(Commitment.project == ProcoreProject.id))
        .where(Commitment.id == commitment_id)
    ):
        return int(company_id) if company_id is not None else None
    return None


class ProcoreClients:
    """The clients of one operation, by Procore company; `close()` closes those it made. As a
    payments client (sync.engine.listings.PaymentsClient) it routes each call by its project."""

    def __init__(self, make: ClientMaker, on_close: Callable[[ProcoreClient], None] | None = None) -> None:
        self._make = make
        self._on_close = on_close
        self._clients: dict[int | None, ProcoreClient] = {}
        self._projects: dict[int, int] | None = None

    @property
    def default(self) -> ProcoreClient:
        """The client of PROCORE_COMPANY_ID's company."""
        return self.company(None)

    def company(self, company_id: int | None) -> ProcoreClient:
        client = self._clients.get(company_id)
        if client is None:
            client = self._clients[company_id] = self._make(company_id)
        return client

    def company_of(self, project_id: int) -> int | None:
        if self._projects is None:
            self._projects = project_companies()
        return self._projects.get(project_id)

    def for_project(self, project_id: int) -> ProcoreClient:
        return self.company(self.company_of(project_id))

    def close(self) -> None:
        for client in self._clients.values():
            if self._on_close is not None:
                self._on_close(client)
        self._clients.clear()

    # -- the payments client: each call goes to its project's company ------------------------

    def list_contract_payments(self, project_id: int, contract_id: int) -> list[dict[str, Any]]:
        return self.for_project(project_id).list_contract_payments(project_id, contract_id)

    def get_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> dict[str, Any]:
        return self.for_project(project_id).get_contract_payment(payment_id, project_id, contract_id)

    def create_contract_payment(
        self, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        return self.for_project(project_id).create_contract_payment(project_id, contract_id, fields)

    def update_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]:
        return self.for_project(project_id).update_contract_payment(
            payment_id, project_id, contract_id, fields
        )

    def delete_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> None:
        self.for_project(project_id).delete_contract_payment(payment_id, project_id, contract_id)

    def attach_files_to_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, files: list[tuple[str, bytes, str]]
    ) -> dict[str, Any]:
        return self.for_project(project_id).attach_files_to_contract_payment(
            payment_id, project_id, contract_id, files
        )
