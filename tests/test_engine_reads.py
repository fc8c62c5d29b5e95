"""What a push reads from Procore, and the tokens it asks for: one call per new payment.

The journal answers "did this database already create it?", so a push reads a commitment's
payments only when the journal cannot answer (an open intent, a refusal that may mean "already
there", a commitment this database never listed, an origin id seen there unclaimed), and the access
token is kept in the encrypted token store for every later client and process. Every request the
sandbox Procore receives is counted (its request log), tokens included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.db import close_database
from storage.models import PaymentLink, ProcoreToken, ProcoreWrite
from storage.settings_store import get_setting, procore_payments_listed
from sync.engine.listings import forget_payment_listings
from sync.engine.service import SyncService
from sync.procore.auth import DatabaseTokenStore, StoredToken
from sync.procore.client import ProcoreClient
from sync.procore.tokens import TOKEN_RENEW_MARGIN
from tests.support.database import database_kinds, open_test_database
from tests.support.procore_world import CLIENT_ID, CLIENT_SECRET, ProcoreWorld
from tests.support.quickbooks_world import QB, origin

PAYMENTS = "/rest/v1.0/contract_payments"
TOKEN = "/oauth/token"


def stored_token_client(world: ProcoreWorld, **options: Any) -> ProcoreClient:
    """A client as `paysync` makes one: its token comes from (and goes to) the database's store."""
    settings: dict[str, Any] = {"timeout": 2.0, "sleep": lambda seconds: None, "max_retries": 4}
    settings.update(options)
    return ProcoreClient(
        api_base=world.url,
        login_base=world.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        company_id=world.state.company_id,
        token_store=DatabaseTokenStore(),
        **settings,
    )


@pytest.fixture(params=database_kinds())
def service(world: ProcoreWorld, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SyncService]:
    url = open_test_database(tmp_path, request.param)
    svc = SyncService(world.settings(url), client_factory=lambda: stored_token_client(world), actor="tester")
    svc.refresh_from_procore()
    yield svc
    close_database()


def requests_since(world: ProcoreWorld, mark: int) -> list[tuple[str, str, int]]:
    return [(e.method, e.path, e.status) for e in world.state.request_log[mark:]]


def push_counting(world: ProcoreWorld, service: SyncService) -> tuple[Any, list[tuple[str, str, int]]]:
    mark = len(world.state.request_log)
    summary = service.push(trigger="manual")
    return summary, requests_since(world, mark)


def held_by(world: ProcoreWorld, origin_id: str) -> list[dict[str, Any]]:
    """The Procore payments that carry this origin id."""
    return [p for p in world.payments() if p["origin_id"] == origin_id]


def synced_link(origin_id: str) -> PaymentLink:
    link = PaymentLink.get(PaymentLink.origin_id == origin_id)
    assert link.erp_status == "synced" and link.procore_payment_id is not None, (
        link.erp_status,
        link.status_reason,
    )
    return link


def seed_as_earlier_database(world: ProcoreWorld, payment: Any, bill: str, invoice: str, amount: str) -> int:
    """The payment as an earlier PaySync database posted it (same origin id), locked."""
    return world.state.add_payment(
        world.project_id,
        world.commitments["SC-1"],
        amount,
        date(2026, 11, 20),
        origin_id=origin(payment, bill),
        check_number=payment.ref_number,
        invoice_number=invoice,
        requisition_id=world.invoices[invoice],
        payment_method="check",
    )


# -- one call per created payment ------------------------------------------------------------------


def test_new_payments_on_listed_commitments_cost_one_create_each_and_nothing_else(
    world: ProcoreWorld, service: SyncService
) -> None:
    qb = QB()
    qb.pay([("B-100", "INV-100", "10.00")], ref_number="1")
    first, calls = push_counting(world, service)
    assert first.created == 1, first.as_text()
    # The first push to SC-1 lists it once (an earlier database may have posted there), and says so.
    assert [c for c in calls if c[0] == "GET"] == [("GET", PAYMENTS, 200)]
    record = get_setting(procore_payments_listed(world.commitments["SC-1"]))
    assert record is not None and json.loads(record)["unclaimed"] == []

    made = [qb.pay([("B-100", "INV-100", f"{n}.00")], ref_number=str(100 + n)) for n in range(1, 6)]
    made.append(qb.pay([("B-101", "INV-101", "7.00")], ref_number="200"))
    summary, calls = push_counting(world, service)

    assert summary.created == 6 and summary.failed == 0, summary.as_text()
    # Exactly one request per new payment: no listing, no token (the stored one is reused).
    assert calls == [("POST", PAYMENTS, 201)] * 6
    assert len(world.payments()) == 7
    assert {p["origin_id"] for p in world.payments()} >= {
        origin(p, p_bill) for p, p_bill in zip(made, ["B-100"] * 5 + ["B-101"], strict=True)
    }


def test_a_plain_push_reads_nothing_when_there_is_nothing_to_send(
    world: ProcoreWorld, service: SyncService
) -> None:
    QB().pay([("B-100", "INV-100", "10.00")], ref_number="1")
    service.push(trigger="manual")

    summary, calls = push_counting(world, service)

    assert summary.created == 0 and summary.skipped == 1, summary.as_text()
    assert calls == []


# -- the token, kept and reused ------------------------------------------------------------------


def test_a_new_client_reuses_the_stored_token_until_it_is_about_to_expire(
    world: ProcoreWorld, service: SyncService
) -> None:
    tokens_before = len(world.state.log_entries("POST", TOKEN))
    assert tokens_before == 1  # the import in the fixture asked for it, and kept it
    row = ProcoreToken.get_by_id("default")
    assert row.grant_type == "client_credentials"
    raw = ProcoreToken._meta.database.execute_sql("SELECT access_token FROM procore_token").fetchone()[0]
    assert str(raw).startswith("enc:v1:") and row.access_token not in str(raw)  # encrypted at rest

    for _ in range(3):  # a restart: a new client (as a new process makes) each time
        with stored_token_client(world) as client:
            client.get_me()
    assert len(world.state.log_entries("POST", TOKEN)) == 1

    # Within TOKEN_RENEW_MARGIN of its expiry, the next client asks for a new one and keeps it.
    soon = time.time() + (row.expires_at - datetime.now(UTC)).total_seconds() - TOKEN_RENEW_MARGIN / 2
    with stored_token_client(world, clock=lambda: soon) as client:
        client.get_me()
    assert len(world.state.log_entries("POST", TOKEN)) == 2
    renewed = DatabaseTokenStore().load()
    assert renewed is not None and renewed.access_token != row.access_token
    with stored_token_client(world) as client:
        client.get_me()
    assert len(world.state.log_entries("POST", TOKEN)) == 2


def test_a_stored_token_procore_refuses_is_replaced_once(world: ProcoreWorld, service: SyncService) -> None:
    world.state.expire_all_tokens()  # revoked, or expired early on Procore's side
    with stored_token_client(world) as client:
        client.get_me()
    with stored_token_client(world) as client:
        client.get_me()
    assert len(world.state.log_entries("POST", TOKEN)) == 2  # the import's, and one after the 401


def test_a_client_credentials_token_never_replaces_a_persons_sign_in(service: SyncService) -> None:
    store = DatabaseTokenStore()
    later = datetime.now(UTC) + timedelta(hours=1)
    store.save(StoredToken("authorization_code", "PERSON-ACCESS", "PERSON-REFRESH", later))
    store.save(StoredToken("client_credentials", "SERVICE-ACCESS", None, later))
    kept = store.load()
    assert kept is not None and (kept.grant_type, kept.access_token, kept.refresh_token) == (
        "authorization_code",
        "PERSON-ACCESS",
        "PERSON-REFRESH",
    )


# -- reads only where the journal cannot answer ------------------------------------------------------


@pytest.mark.parametrize("duplicates", ["refuse", "accept"])
def test_a_lost_create_response_is_settled_by_one_read_and_never_posted_twice(
    world: ProcoreWorld, service: SyncService, duplicates: str
) -> None:
    world.state.duplicate_origin_mode = duplicates  # type: ignore[assignment]
    qb = QB()
    qb.pay([("B-100", "INV-100", "10.00")], ref_number="1")
    service.push(trigger="manual")  # SC-1 listed once, for good
    lost = qb.pay([("B-100", "INV-100", "20.00")], ref_number="2")
    world.state.inject_fault("POST", PAYMENTS, "commit_then_502")  # written, but the answer is lost

    first, calls = push_counting(world, service)
    assert first.failed == 1 and first.created == 0, first.as_text()
    assert calls == [("POST", PAYMENTS, 201)]
    assert ProcoreWrite.select().where(ProcoreWrite.status == "unknown").count() == 1

    again, calls = push_counting(world, service)

    assert again.failed == 0 and again.created == 0, again.as_text()
    assert calls == [("GET", PAYMENTS, 200)]  # one read settles it; nothing is posted again
    (held,) = held_by(world, origin(lost, "B-100"))
    assert synced_link(origin(lost, "B-100")).procore_payment_id == held["id"]
    assert ProcoreWrite.select().where(ProcoreWrite.status.in_(("intent", "unknown"))).count() == 0


@pytest.mark.parametrize("duplicates", ["refuse", "accept"])
def test_a_payment_an_earlier_database_posted_is_adopted_on_the_first_push_to_its_commitment(
    world: ProcoreWorld, service: SyncService, duplicates: str
) -> None:
    world.state.duplicate_origin_mode = duplicates  # type: ignore[assignment]
    qb = QB()
    earlier = qb.pay([("B-100", "INV-100", "1250.00")], ref_number="7001")
    new = qb.pay([("B-101", "INV-101", "99.99")], ref_number="7002")
    seeded = seed_as_earlier_database(world, earlier, "B-100", "INV-100", "1250.00")

    summary, calls = push_counting(world, service)

    assert summary.failed == 0 and summary.needs_attention == 0 and summary.created == 1, summary.as_text()
    assert calls.count(("GET", PAYMENTS, 200)) == 1  # SC-1, listed once
    assert [c for c in calls if c[0] == "POST"] == [("POST", PAYMENTS, 201)]  # only the new one
    assert [p["id"] for p in held_by(world, origin(earlier, "B-100"))] == [seeded]
    assert synced_link(origin(earlier, "B-100")).procore_payment_id == seeded
    assert len(held_by(world, origin(new, "B-101"))) == 1


def test_a_create_refused_as_already_there_is_checked_once_and_adopted(
    world: ProcoreWorld, service: SyncService
) -> None:
    world.state.duplicate_origin_mode = "refuse"
    qb = QB()
    qb.pay([("B-100", "INV-100", "10.00")], ref_number="1")
    service.push(trigger="manual")  # SC-1 listed
    # Posted by this database after a backup was taken; the database was then restored from it.
    restored = qb.pay([("B-100", "INV-100", "1250.00")], ref_number="7001")
    seeded = seed_as_earlier_database(world, restored, "B-100", "INV-100", "1250.00")

    summary, calls = push_counting(world, service)

    assert summary.failed == 0 and summary.needs_attention == 0, summary.as_text()
    assert calls[:2] == [("POST", PAYMENTS, 422), ("GET", PAYMENTS, 200)]
    assert [c for c in calls if c[0] == "POST"] == [("POST", PAYMENTS, 422)]
    assert [p["id"] for p in held_by(world, origin(restored, "B-100"))] == [seeded]
    assert synced_link(origin(restored, "B-100")).procore_payment_id == seeded


def test_a_restored_database_forgets_its_listings_and_lists_before_creating(
    world: ProcoreWorld, service: SyncService
) -> None:
    world.state.duplicate_origin_mode = "accept"  # Procore would store a duplicate: only a read can stop it
    qb = QB()
    qb.pay([("B-100", "INV-100", "10.00")], ref_number="1")
    service.push(trigger="manual")
    restored = qb.pay([("B-100", "INV-100", "1250.00")], ref_number="7001")
    seeded = seed_as_earlier_database(world, restored, "B-100", "INV-100", "1250.00")

    assert forget_payment_listings() == 1
    summary, calls = push_counting(world, service)

    assert summary.failed == 0 and summary.needs_attention == 0, summary.as_text()
    assert calls[0] == ("GET", PAYMENTS, 200) and not [c for c in calls if c[0] == "POST"]
    assert [p["id"] for p in held_by(world, origin(restored, "B-100"))] == [seeded]


def test_an_origin_id_seen_unclaimed_on_a_listing_is_looked_for_again_when_its_payment_arrives(
    world: ProcoreWorld, service: SyncService
) -> None:
    world.state.duplicate_origin_mode = "accept"
    qb = QB()
    qb.pay([("B-100", "INV-100", "10.00")], ref_number="1")
    late_origin = f"qbd:main:P-LATE-{id(world)}:B-101"
    world.state.add_payment(
        world.project_id,
        world.commitments["SC-1"],
        "99.99",
        date(2026, 11, 20),
        origin_id=late_origin,
        check_number="7002",
        invoice_number="INV-101",
        requisition_id=world.invoices["INV-101"],
        payment_method="check",
    )
    service.push(trigger="manual")  # lists SC-1: the late origin id is there, no payment of ours yet
    record = get_setting(procore_payments_listed(world.commitments["SC-1"]))
    assert record is not None and json.loads(record)["unclaimed"] == [late_origin]

    qb.pay([("B-101", "INV-101", "99.99")], ref_number="7002", txn_id=late_origin.split(":")[2])
    summary, calls = push_counting(world, service)

    assert summary.failed == 0 and summary.created == 0, summary.as_text()
    assert calls[0] == ("GET", PAYMENTS, 200) and not [c for c in calls if c[0] == "POST"]
    assert len(held_by(world, late_origin)) == 1
    synced_link(late_origin)
