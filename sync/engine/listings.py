"""What Procore holds on a commitment: its Payments Issued, listed only when the journal cannot answer.

Contract payments cannot be filtered by `origin_id`, so finding one means listing the whole
commitment. The journal answers "did this database already create it?" (a `ProcoreWrite` for the
origin id, `PaymentLink.procore_payment_id`), so a push lists a commitment only:
  (a) to settle an open intent (resolve.py: an uncertain outcome),
  (b) when a create is refused in a way that may mean the payment is already there (apply.py),
  (c) before the first create on a commitment this database has never listed, to adopt what an
      earlier database (or a lost record) may have posted: each listing is recorded per commitment
      (`procore_payments_listed:{id}`), with the origin ids in PaySync's form found there that no
      payment of this database held, so a later create of one of those lists again and adopts it;
  (d) when a create has a trace in the journal (an earlier attempt), and for reconciliation.
Each commitment is listed at most once per run; the listing is kept current with our own writes
and looked up by origin id or Procore id.

A database restored from a backup does not know what was posted after the backup was taken: run
`forget_payment_listings()` on it, so the next push lists every commitment once again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from storage.fields import utc_now
from storage.models import PaymentLink
from storage.settings_store import (
    PROCORE_PAYMENTS_LISTED_PREFIX,
    delete_settings_starting_with,
    get_setting,
    procore_payments_listed,
    set_setting,
)
from sync.procore.errors import ProcoreError

OUR_ORIGIN_PREFIX = "qbd:"  # PaySync's origin ids: qbd:{file_key}:{payment TxnID}:{bill TxnID}
CHUNK = 500


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


@dataclass(frozen=True)
class ListedBefore:
    """What this database remembers of a commitment's last listing: when, and the origin ids in
    PaySync's form that were there without a payment of this database holding them."""

    at: str
    unclaimed: frozenset[str]


class ContractListings:
    """Lists each contract's payments at most once per run (the endpoint has no origin_id filter),
    and remembers per commitment that it was listed, so later runs create without listing."""

    def __init__(self, client: PaymentsClient) -> None:
        self.client = client
        self._cache: dict[tuple[int, int], ContractListing] = {}
        self._failed: dict[tuple[int, int], ProcoreError] = {}
        self._listed_before: dict[int, ListedBefore | None] = {}
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
            self._remember(contract_id, listing)
        return listing

    def cached(self, project_id: int, contract_id: int) -> ContractListing | None:
        return self._cache.get((project_id, contract_id))

    def refresh(self, project_id: int, contract_id: int) -> ContractListing:
        """List the contract's payments again (a read-back after an answer PaySync cannot use)."""
        self._cache.pop((project_id, contract_id), None)
        self._failed.pop((project_id, contract_id), None)
        return self.get(project_id, contract_id)

    # -- what the journal cannot answer --------------------------------------------------------

    def must_list_before_create(self, contract_id: int, origin_id: str) -> bool:
        """Whether creating `origin_id` on this commitment needs its listing first: never listed by
        this database (something posted before may be there), or listed with that origin id on it
        unclaimed. The caller adds (d): an earlier attempt in the journal."""
        before = self.listed_before(contract_id)
        return before is None or origin_id in before.unclaimed

    def listed_before(self, contract_id: int) -> ListedBefore | None:
        """This database's record of the commitment's last listing (read once per run)."""
        if contract_id not in self._listed_before:
            self._listed_before[contract_id] = _read_record(get_setting(procore_payments_listed(contract_id)))
        return self._listed_before[contract_id]

    def _remember(self, contract_id: int, listing: ContractListing) -> None:
        ours = {
            int(payment["id"]): str(origin)
            for origin, payments in listing.by_origin.items()
            if origin.startswith(OUR_ORIGIN_PREFIX)
            for payment in payments
        }
        held = _held_procore_ids(ours)
        record = ListedBefore(
            at=utc_now().isoformat(),
            unclaimed=frozenset(origin for payment_id, origin in ours.items() if payment_id not in held),
        )
        set_setting(
            procore_payments_listed(contract_id),
            json.dumps({"listed_at": record.at, "unclaimed": sorted(record.unclaimed)}),
        )
        self._listed_before[contract_id] = record


def _held_procore_ids(payment_ids: Iterable[int]) -> set[int]:
    """Which of these Procore payments a link of this database holds."""
    wanted = list(payment_ids)
    held: set[int] = set()
    for start in range(0, len(wanted), CHUNK):
        query = PaymentLink.select(PaymentLink.procore_payment_id).where(
            PaymentLink.procore_payment_id.in_(wanted[start : start + CHUNK])
        )
        held.update(int(row.procore_payment_id) for row in query if row.procore_payment_id is not None)
    return held


def _read_record(raw: str | None) -> ListedBefore | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        unclaimed = frozenset(str(origin) for origin in value.get("unclaimed") or ())
        return ListedBefore(at=str(value.get("listed_at") or ""), unclaimed=unclaimed)
    except (ValueError, TypeError, AttributeError):
        return None  # unreadable: as if never listed (costs one listing, never a duplicate)


def forget_payment_listings() -> int:
    """Forget that any commitment was listed: the next push lists each commitment once before
    creating on it, and adopts what it finds. For a database restored from a backup (it does not
    know the payments posted after the backup was taken). Returns how many records there were."""
    return delete_settings_starting_with(PROCORE_PAYMENTS_LISTED_PREFIX)
