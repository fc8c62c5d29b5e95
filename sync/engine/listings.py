"""What Procore holds on a commitment: its Payments Issued, listed at most once per contract per run.

Contract payments cannot be filtered by `origin_id`, so the engine lists a commitment's payments
once, keeps that listing current with its own writes, and looks payments up in it by origin id or
Procore id (to adopt a payment already there, and to resolve open intents).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sync.procore.errors import ProcoreError


class PaymentsClient(Protocol):
    """The part of sync.procore.ProcoreClient the engine uses."""

    def list_contract_payments(self, project_id: int, contract_id: int) -> list[dict[str, Any]]: ...

    def get_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> dict[str, Any]: ...

    def create_contract_payment(
        self, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]: ...

    def update_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, fields: dict[str, Any]
    ) -> dict[str, Any]: ...

    def delete_contract_payment(self, payment_id: int, project_id: int, contract_id: int) -> None: ...

    def attach_files_to_contract_payment(
        self, payment_id: int, project_id: int, contract_id: int, files: list[tuple[str, bytes, str]]
    ) -> dict[str, Any]: ...


@dataclass
class ContractListing:
    """A commitment's Payments Issued as listed once this run, kept current with our own writes."""

    by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_origin: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def put(self, payment: Mapping[str, Any]) -> None:
        payment_id = int(payment["id"])
        self.remove(payment_id)
        stored = dict(payment)
        self.by_id[payment_id] = stored
        origin = stored.get("origin_id")
        if origin:
            self.by_origin[str(origin)].append(stored)
            self.by_origin[str(origin)].sort(key=lambda p: int(p["id"]))

    def remove(self, payment_id: int) -> None:
        old = self.by_id.pop(payment_id, None)
        if old is not None and old.get("origin_id"):
            same = [p for p in self.by_origin.get(str(old["origin_id"]), []) if int(p["id"]) != payment_id]
            if same:
                self.by_origin[str(old["origin_id"])] = same
            else:
                self.by_origin.pop(str(old["origin_id"]), None)

    def find_origin(self, origin_id: str) -> dict[str, Any] | None:
        found = self.by_origin.get(origin_id)
        return found[0] if found else None


class ContractListings:
    """Lists each contract's payments at most once per run (the endpoint has no origin_id filter)."""

    def __init__(self, client: PaymentsClient) -> None:
        self.client = client
        self._cache: dict[tuple[int, int], ContractListing] = {}
        self._failed: dict[tuple[int, int], ProcoreError] = {}
        self.requests = 0
        self.unreadable: list[str] = []  # listed payments PaySync could not read

    def get(self, project_id: int, contract_id: int) -> ContractListing:
        """The contract's listing; a listing that failed (after the client's retries) fails again
        at once for the rest of the run, so one broken contract costs its retries only once."""
        key = (project_id, contract_id)
        if key in self._failed:
            raise self._failed[key]
        listing = self._cache.get(key)
        if listing is None:
            self.requests += 1
            listing = ContractListing()
            try:
                for payment in self.client.list_contract_payments(project_id, contract_id):
                    try:
                        listing.put(payment)
                    except (KeyError, TypeError, ValueError):
                        # A payment without a readable id cannot be matched to anything: left out,
                        # and said once, rather than failing every payment of the commitment.
                        self.unreadable.append(f"commitment {contract_id}: {str(payment)[:200]}")
            except ProcoreError as exc:
                self._failed[key] = exc
                raise
            self._cache[key] = listing
        return listing

    def cached(self, project_id: int, contract_id: int) -> ContractListing | None:
        return self._cache.get((project_id, contract_id))

    def refresh(self, project_id: int, contract_id: int) -> ContractListing:
        """List the contract's payments again (a read-back after an answer PaySync cannot use)."""
        self._cache.pop((project_id, contract_id), None)
        self._failed.pop((project_id, contract_id), None)
        return self.get(project_id, contract_id)
