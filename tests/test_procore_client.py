"""The Procore client against the simulated Procore, over real HTTP on loopback.

Sleeping is simulated: the client's `sleep` and `clock` move together with the sandbox's clock,
so Retry-After and rate-limit waits are honoured (and recorded) without the tests waiting.
"""

from __future__ import annotations

import io
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.procore import (
    DEMO_ACCOUNTANT_LOGIN,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ERP_LOCK_MESSAGE,
    ProcoreState,
    RateLimit,
    create_procore_app,
    seed_demo,
)
from sandbox.servers import run_asgi_in_thread
from storage.db import close_database
from storage.models import ProcoreToken
from sync.procore.auth import (
    DatabaseTokenStore,
    MemoryTokenStore,
    StoredToken,
    authorization_url,
    exchange_authorization_code,
)
from sync.procore.client import ProcoreClient
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreRequestError,
    ProcoreUnavailable,
    ProcoreWriteOutcomeUnknown,
    procore_error_messages,
)
from sync.procore.login import sign_in_with_code
from sync.settings import Settings
from tests.support.database import open_test_database


@dataclass
class Sandbox:
    state: ProcoreState
    ids: dict[str, Any]
    url: str

    @property
    def riverside(self) -> int:
        return int(self.ids["projects"]["riverside"])

    @property
    def concrete(self) -> int:
        """Subcontract SC-001 on Riverside (Acme Concrete)."""
        return int(self.ids["commitments"]["riverside/SC-001"])

    def authorization_code(self) -> str:
        return self.state.issue_authorization_code(DEMO_CLIENT_ID, DEMO_ACCOUNTANT_LOGIN)

    def requests(self, method: str, path: str) -> list[Any]:
        return self.state.log_entries(method, path)


class SimulatedTime:
    """The client's sleep and clock; sleeping advances the sandbox's clock instead of waiting."""

    def __init__(self, state: ProcoreState) -> None:
        self.state = state
        self.offset = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds
        self.state.advance_clock(seconds)

    def clock(self) -> float:
        return time.time() + self.offset


class SimulatedClock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def simulated_free() -> SimulatedClock:
    return SimulatedClock()


class RecordingTransport(httpx.BaseTransport):
    """Real HTTP; keeps each request so a test can look at the headers that went out."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    state = ProcoreState()
    ids = seed_demo(state)
    server = run_asgi_in_thread(create_procore_app(state))
    try:
        yield Sandbox(state, ids, server.url)
    finally:
        state.release_delayed_responses.set()
        server.stop()


@pytest.fixture
def simulated(sandbox: Sandbox) -> SimulatedTime:
    return SimulatedTime(sandbox.state)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[None]:
    open_test_database(tmp_path, cutoff=None)
    try:
        yield
    finally:
        close_database()


def make_client(
    sandbox: Sandbox,
    simulated: SimulatedTime,
    *,
    store: Any = None,
    **overrides: Any,
) -> ProcoreClient:
    options: dict[str, Any] = {
        "api_base": sandbox.url,
        "login_base": sandbox.url,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "company_id": sandbox.state.company_id,
        "token_store": store if store is not None else MemoryTokenStore(),
        "sleep": simulated.sleep,
        "clock": simulated.clock,
        "rng": random.Random(7),
        "timeout": 5.0,
    }
    options.update(overrides)
    return ProcoreClient(**options)


def signed_in_token(sandbox: Sandbox) -> StoredToken:
    return exchange_authorization_code(
        sandbox.url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, sandbox.authorization_code()
    )


def refresh_token_is_dead(sandbox: Sandbox, refresh_token: str) -> bool:
    response = httpx.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
    )
    return response.status_code == 400 and response.json()["error"] == "invalid_grant"


def payment_fields(amount: str = "1250.00", **extra: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "date": "2025-03-14",
        "payment_method": "check",
        "check_number": "10452",
        **extra,
    }


# --------------------------------------------------------------------------------------------
# Sign-in
# --------------------------------------------------------------------------------------------


def test_client_credentials_sign_in_lists_projects_and_reuses_its_token(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    with make_client(sandbox, simulated) as client:
        names = sorted(project["name"] for project in client.list_projects())
        me = client.get_me()
        vendors = list(client.list_vendors())

    assert names == ["Oak Street Lofts", "Riverside Medical Office Building"]
    assert me["id"] == sandbox.ids["service_account_id"]
    assert len(vendors) == 6
    assert len(sandbox.requests("POST", "/oauth/token")) == 1  # cached, not one per call


def test_wrong_client_secret_names_the_settings_to_fix(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    with (
        make_client(sandbox, simulated, client_secret="not-the-secret") as client,
        pytest.raises(ProcoreAuthError) as failure,
    ):
        client.get_me()

    assert "PROCORE_CLIENT_SECRET" in str(failure.value)
    assert "Client authentication failed" in str(failure.value)  # Procore's own reason
    assert sandbox.requests("GET", "/rest/") == []


def test_every_api_call_carries_the_company_header_and_bearer_token(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    transport = RecordingTransport()
    with make_client(sandbox, simulated, transport=transport) as client:
        list(client.list_projects())
        list(client.list_commitments(sandbox.riverside))
        client.get_permissions(sandbox.riverside)
        client.get_me()

    api_calls = [r for r in transport.requests if r.url.path.startswith("/rest/")]
    assert len(api_calls) == 5
    for request in api_calls:
        assert request.headers["Procore-Company-Id"] == str(sandbox.state.company_id)
        assert request.headers["Authorization"].startswith("Bearer sbx-at-")


def test_a_company_the_app_is_not_connected_to_is_refused_with_procores_message(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    with (
        make_client(sandbox, simulated, company_id=12345) as client,
        pytest.raises(ProcoreRequestError) as failure,
    ):
        list(client.list_projects())

    assert failure.value.status == 403
    assert "App is not connected to this company" in str(failure.value)


def test_an_expired_client_credentials_token_is_replaced_after_a_401(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    with make_client(sandbox, simulated) as client:
        client.get_me()
        sandbox.state.expire_all_tokens()
        me = client.get_me()

    assert me["id"] == sandbox.ids["service_account_id"]
    assert [entry.status for entry in sandbox.requests("GET", "/rest/v1.0/me")] == [200, 401, 200]
    assert len(sandbox.requests("POST", "/oauth/token")) == 2


def test_authorization_url_uses_the_out_of_band_redirect(sandbox: Sandbox) -> None:
    url = httpx.URL(authorization_url(sandbox.url, DEMO_CLIENT_ID))
    assert url.path == "/oauth/authorize"
    assert url.params["redirect_uri"] == "urn:ietf:wg:oauth:2.0:oob"
    assert url.params["client_id"] == DEMO_CLIENT_ID

    page = httpx.get(str(url))  # the sandbox "signs in" its default user and shows the code
    assert page.status_code == 200 and 'id="code"' in page.text


def test_login_saves_the_sign_in_and_names_the_user(sandbox: Sandbox, database: None) -> None:
    settings = Settings(
        procore_api_base=sandbox.url,
        procore_login_base=sandbox.url,
        procore_client_id=DEMO_CLIENT_ID,
        procore_client_secret=DEMO_CLIENT_SECRET,
        procore_company_id=sandbox.state.company_id,
    )
    me = sign_in_with_code(settings, sandbox.authorization_code())

    assert me["login"] == DEMO_ACCOUNTANT_LOGIN
    row = ProcoreToken.get_by_id("default")
    assert row.grant_type == "authorization_code" and row.refresh_token
    assert row.expires_at > datetime.now(UTC) + timedelta(minutes=80)


def test_a_used_authorization_code_says_to_run_login_again(sandbox: Sandbox) -> None:
    code = sandbox.authorization_code()
    exchange_authorization_code(sandbox.url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, code)
    with pytest.raises(ProcoreAuthError) as failure:
        exchange_authorization_code(sandbox.url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, code)
    assert "paysync login" in str(failure.value)


def test_refresh_rotates_the_pair_and_persists_it_before_use(
    sandbox: Sandbox, simulated: SimulatedTime, database: None
) -> None:
    store = DatabaseTokenStore()
    first = signed_in_token(sandbox)
    store.save(first)
    with make_client(sandbox, simulated, store=store) as client:
        assert client.get_me()["login"] == DEMO_ACCOUNTANT_LOGIN
        sandbox.state.expire_all_tokens()  # Procore-side expiry: the next call gets a 401
        assert client.get_me()["login"] == DEMO_ACCOUNTANT_LOGIN

    saved = store.load()
    assert saved is not None
    assert saved.refresh_token != first.refresh_token and saved.access_token != first.access_token
    assert first.refresh_token is not None and refresh_token_is_dead(sandbox, first.refresh_token)
    # A new process (a restarted `paysync serve`) picks up the rotated pair without refreshing.
    refreshes_before = len(sandbox.requests("POST", "/oauth/token"))
    with make_client(sandbox, simulated, store=DatabaseTokenStore()) as restarted:
        assert restarted.get_me()["login"] == DEMO_ACCOUNTANT_LOGIN
    assert len(sandbox.requests("POST", "/oauth/token")) == refreshes_before


def test_a_locally_expired_token_is_refreshed_before_the_call(
    sandbox: Sandbox, simulated: SimulatedTime, database: None
) -> None:
    token = signed_in_token(sandbox)
    store = DatabaseTokenStore()
    store.save(StoredToken(token.grant_type, token.access_token, token.refresh_token, datetime.now(UTC)))
    with make_client(sandbox, simulated, store=store) as client:
        client.get_me()

    assert [entry.status for entry in sandbox.requests("GET", "/rest/v1.0/me")] == [200]  # no 401 first
    saved = store.load()
    assert saved is not None and saved.refresh_token != token.refresh_token


class FailingStore(MemoryTokenStore):
    """A store whose save fails, as if the process died between the refresh and the commit."""

    def save(self, token: StoredToken) -> None:
        raise OSError("disk full")


def test_a_refreshed_token_that_cannot_be_saved_is_not_used(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    token = signed_in_token(sandbox)
    stale = StoredToken(token.grant_type, token.access_token, token.refresh_token, datetime.now(UTC))
    store = FailingStore(stale)
    exchanges = len(sandbox.requests("POST", "/oauth/token"))
    with make_client(sandbox, simulated, store=store) as client, pytest.raises(ProcoreAuthError) as failure:
        client.get_me()

    assert "could not be saved" in str(failure.value) and "paysync login" in str(failure.value)
    assert store.token == stale
    assert len(sandbox.requests("POST", "/oauth/token")) == exchanges + 1  # Procore did rotate the pair…
    assert sandbox.requests("GET", "/rest/") == []  # …but the unsaved new token never went out


def test_a_dead_refresh_token_asks_the_user_to_sign_in_again(
    sandbox: Sandbox, simulated: SimulatedTime, database: None
) -> None:
    token = signed_in_token(sandbox)
    assert token.refresh_token is not None
    refresh_token_is_dead(sandbox, token.refresh_token)  # someone used it up
    store = DatabaseTokenStore()
    store.save(StoredToken(token.grant_type, token.access_token, token.refresh_token, datetime.now(UTC)))
    with make_client(sandbox, simulated, store=store) as client, pytest.raises(ProcoreAuthError) as failure:
        client.get_me()
    assert "paysync login" in str(failure.value)


def test_a_pair_rotated_by_another_process_is_picked_up(
    sandbox: Sandbox, simulated: SimulatedTime, database: None
) -> None:
    store = DatabaseTokenStore()
    store.save(signed_in_token(sandbox))
    with (
        make_client(sandbox, simulated, store=store) as console,
        make_client(sandbox, simulated, store=DatabaseTokenStore()) as service,
    ):
        console.get_me()
        service.get_me()
        sandbox.state.expire_all_tokens()
        console.get_me()  # refreshes, rotating the pair in the shared store
        assert service.get_me()["login"] == DEMO_ACCOUNTANT_LOGIN  # must not reuse the dead refresh token

    refreshes = list(sandbox.requests("POST", "/oauth/token"))
    assert [e.status for e in refreshes] == [200, 200]  # the code exchange and one refresh


def test_database_token_store_refuses_to_save_inside_a_transaction(sandbox: Sandbox, database: None) -> None:
    store = DatabaseTokenStore()
    token = signed_in_token(sandbox)
    with ProcoreToken._meta.database.atomic(), pytest.raises(RuntimeError, match="transaction"):
        store.save(token)
    assert store.load() is None


def test_a_refresh_is_not_attempted_inside_a_transaction(
    sandbox: Sandbox, simulated: SimulatedTime, database: None
) -> None:
    token = signed_in_token(sandbox)
    store = DatabaseTokenStore()
    store.save(StoredToken(token.grant_type, token.access_token, token.refresh_token, datetime.now(UTC)))
    with make_client(sandbox, simulated, store=store) as client:
        with ProcoreToken._meta.database.atomic(), pytest.raises(RuntimeError, match="transaction"):
            client.get_me()
        # The refresh token was not spent, so the sign-in still works outside the transaction.
        assert client.get_me()["login"] == DEMO_ACCOUNTANT_LOGIN


# --------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------


def test_pagination_follows_link_headers_across_pages(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    for index in range(250):
        sandbox.state.add_payment(sandbox.riverside, sandbox.concrete, f"{index + 1}.00", date(2025, 3, 1))
    with make_client(sandbox, simulated) as client:
        payments = client.list_contract_payments(sandbox.riverside, sandbox.concrete)

    assert len(payments) == 250
    assert len({p["id"] for p in payments}) == 250
    assert payments[0]["amount"] == "1.00" and payments[-1]["amount"] == "250.00"
    pages = sandbox.requests("GET", "/rest/v1.0/contract_payments")
    assert len(pages) == 3
    assert all("per_page=100" in entry.query for entry in pages)


def test_listings_are_lazy(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    for _index in range(250):
        sandbox.state.add_payment(sandbox.riverside, sandbox.concrete, "10.00", date(2025, 3, 1))
    with make_client(sandbox, simulated) as client:
        payments = client.iter_contract_payments(sandbox.riverside, sandbox.concrete)
        first = next(payments)
        assert first["amount"] == "10.00"
        assert len(sandbox.requests("GET", "/rest/v1.0/contract_payments")) == 1


def test_requisitions_ask_for_an_explicit_page_size(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    for number in range(5, 45):  # 40 more invoices: more than the endpoint's default page of 30
        sandbox.state.add_requisition(sandbox.riverside, sandbox.concrete, f"ACME-{number}", number, "100.00")
    with make_client(sandbox, simulated) as client:
        invoices = list(client.list_requisitions(sandbox.riverside))

    assert len(invoices) == 11 + 40
    [request] = sandbox.requests("GET", "/rest/v1.1/requisitions")
    assert "per_page=100" in request.query


def test_commitments_of_both_kinds_carry_their_kind(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    with make_client(sandbox, simulated) as client:
        commitments = list(client.list_commitments(sandbox.riverside))

    kinds = {c["number"]: c["kind"] for c in commitments}
    assert kinds == {
        "SC-001": "subcontract",
        "SC-002": "subcontract",
        "PO-001": "purchase_order",
        "PO-002": "purchase_order",
    }


def test_updated_since_filters_commitments_on_procores_side(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    simulated.sleep(3600)  # an hour passes on both clocks
    sandbox.state.update_commitment(sandbox.concrete, title="Concrete, revised")
    with make_client(sandbox, simulated) as client:
        changed = list(
            client.list_commitments(
                sandbox.riverside, updated_since=datetime.now(UTC) + timedelta(minutes=30)
            )
        )

    assert [c["title"] for c in changed] == ["Concrete, revised"]
    [request] = sandbox.requests("GET", "/rest/v1.0/work_order_contracts")
    assert "updated_at" in request.query


# --------------------------------------------------------------------------------------------
# Rate limits and retries
# --------------------------------------------------------------------------------------------


def test_a_429_is_retried_after_retry_after(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    sandbox.state.inject_fault("GET", "/rest/v1.0/projects", "429", retry_after=7)
    with make_client(sandbox, simulated) as client:
        projects = list(client.list_projects())

    assert len(projects) == 2
    assert len(simulated.sleeps) == 1 and simulated.sleeps[0] >= 7
    assert [e.status for e in sandbox.requests("GET", "/rest/v1.0/projects")] == [429, 200]


def test_a_429_on_a_write_is_retried_because_procore_did_not_process_it(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    sandbox.state.inject_fault("POST", "/rest/v1.0/contract_payments", "429", retry_after=2)
    with make_client(sandbox, simulated) as client:
        created = client.create_contract_payment(sandbox.riverside, sandbox.concrete, payment_fields())

    assert [p["id"] for p in sandbox.state.payments(sandbox.concrete)] == [created["id"]]
    assert simulated.sleeps and simulated.sleeps[0] >= 2
    assert [e.status for e in sandbox.requests("POST", "/rest/v1.0/contract_payments")] == [429, 201]


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_on_reads_are_retried_until_they_succeed(
    sandbox: Sandbox, simulated: SimulatedTime, kind: str
) -> None:
    sandbox.state.inject_fault("GET", "/rest/v1.0/vendors", kind, times=2, retry_after=3)  # type: ignore[arg-type]
    with make_client(sandbox, simulated) as client:
        vendors = list(client.list_vendors())

    assert len(vendors) == 6
    assert [e.status for e in sandbox.requests("GET", "/rest/v1.0/vendors")] == [int(kind), int(kind), 200]
    assert len(simulated.sleeps) == 2
    if kind == "503":
        assert all(seconds >= 3 for seconds in simulated.sleeps)  # Retry-After honoured
    assert all(seconds <= 30 for seconds in simulated.sleeps)


def test_reads_give_up_after_max_retries(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    sandbox.state.inject_fault("GET", "/rest/v1.0/vendors", "500", times=10)
    with (
        make_client(sandbox, simulated, max_retries=2) as client,
        pytest.raises(ProcoreUnavailable) as failure,
    ):
        list(client.list_vendors())

    assert len(sandbox.requests("GET", "/rest/v1.0/vendors")) == 3
    assert "list vendors" in str(failure.value) and "3 attempts" in str(failure.value)


def test_a_read_timeout_on_a_read_is_retried(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    sandbox.state.inject_fault("GET", "/rest/v1.0/projects", "commit_then_timeout", delay=3.0)
    with make_client(sandbox, simulated, timeout=0.5) as client:
        assert len(list(client.list_projects())) == 2
    assert len(simulated.sleeps) == 1


def test_a_post_answered_500_is_an_unknown_outcome_and_is_not_retried(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    sandbox.state.inject_fault("POST", "/rest/v1.0/contract_payments", "500")
    with make_client(sandbox, simulated) as client, pytest.raises(ProcoreWriteOutcomeUnknown) as failure:
        client.create_contract_payment(sandbox.riverside, sandbox.concrete, payment_fields())

    assert failure.value.status == 500
    assert len(sandbox.requests("POST", "/rest/v1.0/contract_payments")) == 1
    assert sandbox.state.payments(sandbox.concrete) == []  # this 500 came before the write
    assert simulated.sleeps == []


def test_a_post_answered_502_after_committing_is_an_unknown_outcome(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    sandbox.state.inject_fault("POST", "/rest/v1.0/contract_payments", "commit_then_502")
    with make_client(sandbox, simulated) as client, pytest.raises(ProcoreWriteOutcomeUnknown):
        client.create_contract_payment(
            sandbox.riverside, sandbox.concrete, payment_fields(origin_id="qbd:main:1:2")
        )

    assert len(sandbox.requests("POST", "/rest/v1.0/contract_payments")) == 1
    # Written after all: the caller's reconciliation by origin_id finds it.
    with make_client(sandbox, simulated) as client:
        found = list(client.list_contract_payments(sandbox.riverside, sandbox.concrete))
    assert [p["origin_id"] for p in found] == ["qbd:main:1:2"]


def test_a_write_whose_response_times_out_is_an_unknown_outcome(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    sandbox.state.inject_fault("POST", "/rest/v1.0/contract_payments", "commit_then_timeout", delay=5.0)
    with (
        make_client(sandbox, simulated, timeout=0.5) as client,
        pytest.raises(ProcoreWriteOutcomeUnknown) as failure,
    ):
        client.create_contract_payment(sandbox.riverside, sandbox.concrete, payment_fields())

    assert "may or may not" in str(failure.value)
    assert len(sandbox.requests("POST", "/rest/v1.0/contract_payments")) == 1
    assert len(sandbox.state.payments(sandbox.concrete)) == 1  # it was written
    assert simulated.sleeps == []


def test_a_write_that_cannot_connect_is_retried_then_reported_unavailable(
    simulated_free: SimulatedClock,
) -> None:
    # Nothing listens on this port, so no byte of the request is ever sent: retrying is safe.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = StoredToken("client_credentials", "token", None, datetime.now(UTC) + timedelta(hours=1))
    client = ProcoreClient(
        api_base=f"http://127.0.0.1:{port}",
        login_base=f"http://127.0.0.1:{port}",
        client_id="id",
        client_secret="secret",
        company_id=1,
        token_store=MemoryTokenStore(token),
        max_retries=3,
        sleep=simulated_free.sleep,
        rng=random.Random(3),
    )
    with client, pytest.raises(ProcoreUnavailable) as failure:
        client.create_contract_payment(1, 2, payment_fields())
    assert len(simulated_free.sleeps) == 3
    assert "ConnectError" in str(failure.value)


def test_requests_use_the_window_then_wait_once_for_its_reset(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    sandbox.state.rate_limit = RateLimit(limit=20, window_seconds=60)
    with make_client(sandbox, simulated) as client:
        client.get_me()  # the token owner's window starts here
        for _ in range(30):
            client.get_me()
        assert client.rate_limit.limit == 20

    statuses = [e.status for e in sandbox.requests("GET", "/rest/v1.0/me")]
    assert statuses == [200] * 31  # no 429: the client waited for the window instead
    # Full speed until only the reads' reserve (a tenth) is left, then one pause until the reset
    # (rounded up to the second), not a spreading of the last requests over the window.
    assert len(simulated.sleeps) == 1 and 59 < simulated.sleeps[0] <= 61.1


def test_a_rate_limit_reset_far_away_is_reported_not_waited_for(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    sandbox.state.rate_limit = RateLimit(limit=3, window_seconds=3600)
    with make_client(sandbox, simulated) as client:
        for _ in range(3):
            client.get_me()
        with pytest.raises(ProcoreUnavailable) as failure:
            client.get_me()
    assert "rate limit" in str(failure.value)
    assert sum(simulated.sleeps) < 200


# --------------------------------------------------------------------------------------------
# Procore's refusals
# --------------------------------------------------------------------------------------------


def test_a_422_carries_procores_message_and_field_errors(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    with make_client(sandbox, simulated) as client, pytest.raises(ProcoreRequestError) as failure:
        client.create_contract_payment(sandbox.riverside, sandbox.concrete, {"date": "2025-03-14"})

    assert failure.value.status == 422
    assert failure.value.errors == {"amount": ["can't be blank"]}
    assert "Amount can't be blank" in str(failure.value)
    assert f"create a payment on commitment {sandbox.concrete}" in str(failure.value)
    assert sandbox.state.payments(sandbox.concrete) == []


def test_the_erp_lock_message_surfaces(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    with make_client(sandbox, simulated) as client:
        created = client.create_contract_payment(
            sandbox.riverside, sandbox.concrete, payment_fields(origin_id="qbd:main:AA-1:BB-1")
        )
        with pytest.raises(ProcoreRequestError) as edit:
            client.update_contract_payment(
                created["id"], sandbox.riverside, sandbox.concrete, {"amount": "1.00"}
            )
        with pytest.raises(ProcoreRequestError) as delete:
            client.delete_contract_payment(created["id"], sandbox.riverside, sandbox.concrete)
        # Unlocking, editing and relocking is allowed (DESIGN rule 5).
        client.update_contract_payment(
            created["id"], sandbox.riverside, sandbox.concrete, {"origin_id": None}
        )
        client.update_contract_payment(created["id"], sandbox.riverside, sandbox.concrete, {"amount": "1.00"})
        client.delete_contract_payment(created["id"], sandbox.riverside, sandbox.concrete)

    assert ERP_LOCK_MESSAGE in str(edit.value) and ERP_LOCK_MESSAGE in str(delete.value)
    assert sandbox.state.payments(sandbox.concrete) == []


def test_a_missing_payment_is_a_404_request_error(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    with make_client(sandbox, simulated) as client, pytest.raises(ProcoreRequestError) as failure:
        client.delete_contract_payment(1, sandbox.riverside, sandbox.concrete)
    assert failure.value.status == 404
    assert "Couldn't find ContractPayment" in str(failure.value)


def test_files_are_attached_as_multipart_attachments_even_to_a_locked_payment(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    pdf = b"%PDF-1.4 check stub\n"
    with make_client(sandbox, simulated) as client:
        created = client.create_contract_payment(
            sandbox.riverside, sandbox.concrete, payment_fields(origin_id="qbd:main:CC-1:DD-1")
        )
        updated = client.attach_files_to_contract_payment(
            created["id"],
            sandbox.riverside,
            sandbox.concrete,
            [("check-10452.pdf", pdf, "application/pdf"), ("remittance.txt", b"paid in full", "text/plain")],
        )

    assert [a["filename"] for a in updated["attachments"]] == ["check-10452.pdf", "remittance.txt"]
    [stored] = sandbox.state.payments(sandbox.concrete)
    assert [(a["filename"], a["size"]) for a in stored["attachments"]] == [
        ("check-10452.pdf", len(pdf)),
        ("remittance.txt", 12),
    ]
    assert stored["amount"] == "1250.00"  # the locked fields are untouched
    assert httpx.get(stored["attachments"][0]["url"]).content == pdf


def test_permissions_manifest_is_returned(sandbox: Sandbox, simulated: SimulatedTime) -> None:
    with make_client(sandbox, simulated) as client:
        manifest = client.get_permissions(sandbox.riverside)
    levels = {tool["name"]: tool["user_access_level"]["name"] for tool in manifest["tools"]}
    assert levels["commitments"] == "Admin"


# --------------------------------------------------------------------------------------------
# `paysync login`
# --------------------------------------------------------------------------------------------


def _login_environment(clean_env: Callable[..., Path], sandbox: Sandbox, tmp_path: Path) -> list[str]:
    env_file = clean_env(
        PAYSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'paysync.db'}",
        PROCORE_API_BASE=sandbox.url,
        PROCORE_LOGIN_BASE=sandbox.url,
        PROCORE_CLIENT_ID=DEMO_CLIENT_ID,
        PROCORE_CLIENT_SECRET=DEMO_CLIENT_SECRET,
        PROCORE_COMPANY_ID=str(sandbox.state.company_id),
    )
    return ["--env-file", str(env_file)]


def test_paysync_login_prints_the_address_reads_the_code_and_names_the_user(
    sandbox: Sandbox,
    tmp_path: Path,
    clean_env: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from console.cli import main

    env_file = _login_environment(clean_env, sandbox, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(sandbox.authorization_code() + "\n"))
    try:
        status = main([*env_file, "login"])
        saved = DatabaseTokenStore().load()
    finally:
        close_database()

    out = capsys.readouterr().out
    assert status == 0
    assert f"{sandbox.url}/oauth/authorize?" in out and "urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob" in out
    assert "Signed in to Procore as Dana Reyes (ap@summitridge.example" in out
    assert saved is not None and saved.grant_type == "authorization_code"


def test_after_login_the_audit_trail_names_the_procore_user(
    sandbox: Sandbox,
    tmp_path: Path,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Who did what: the person `paysync login` signed in, else the computer account (CLI, console),
    else the service."""
    import getpass

    from console.cli import main
    from storage.models import AuditLog
    from sync.settings import acting_person

    env_file = _login_environment(clean_env, sandbox, tmp_path)
    assert main([*env_file, "cutoff", "--set", "2026-11-01"]) == 0
    try:
        me = getpass.getuser()
        assert AuditLog.get(AuditLog.action == "cutoff.set").actor == f"{me} (computer account)"
        assert (acting_person("console"), acting_person("serve")) == (
            f"{me} (computer account)",
            "paysync serve",
        )
    finally:
        close_database()

    assert main([*env_file, "login", "--code", sandbox.authorization_code()]) == 0
    assert main([*env_file, "cutoff", "--set", "2026-11-02"]) == 0
    try:
        user_id = next(u.id for u in sandbox.state._users.values() if u.login == DEMO_ACCOUNTANT_LOGIN)
        latest = AuditLog.select().where(AuditLog.action == "cutoff.set").order_by(AuditLog.id.desc())
        person = latest.first().actor
        assert person == f"Dana Reyes ({DEMO_ACCOUNTANT_LOGIN}, Procore user {user_id})"
        for interface in ("cli", "console", "serve"):  # PaySync acts in Procore as that person
            assert acting_person(interface) == person
    finally:
        close_database()
    capsys.readouterr()


def test_paysync_login_with_a_bad_code_fails_clearly_and_stores_nothing(
    sandbox: Sandbox, tmp_path: Path, clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from console.cli import main

    env_file = _login_environment(clean_env, sandbox, tmp_path)
    try:
        status = main([*env_file, "login", "--code", "not-a-code"])
        saved = DatabaseTokenStore().load()
    finally:
        close_database()

    assert status == 1
    assert "paysync login" in capsys.readouterr().err
    assert saved is None


def test_a_project_the_sign_in_is_not_a_member_of_is_a_403_with_advice(
    sandbox: Sandbox, simulated: SimulatedTime
) -> None:
    elsewhere = sandbox.state.add_project("Harbor Point Garage")
    with make_client(sandbox, simulated) as client, pytest.raises(ProcoreRequestError) as failure:
        client.get_permissions(elsewhere)
    assert failure.value.status == 403
    assert "You are not a member of this project" in str(failure.value)
    assert "ask a Procore admin" in str(failure.value)


@pytest.mark.parametrize(
    ("body", "message", "fields"),
    [
        ({"message": "Missing Procore-Company-Id header!"}, "Missing Procore-Company-Id header!", {}),
        ({"error": "Not allowed"}, "Not allowed", {}),
        (
            {"error": {"code": "bad_request", "message": "project_id is required"}},
            "project_id is required",
            {},
        ),
        ({"errors": "Origin has already been taken"}, "Origin has already been taken", {}),
        (
            {"errors": {"amount": ["can't be blank"], "date": ["is not a date", "is required"]}},
            "amount can't be blank; date is not a date; is required",
            {"amount": ["can't be blank"], "date": ["is not a date", "is required"]},
        ),
        ({"error": "invalid_grant", "error_description": "The grant is invalid"}, "The grant is invalid", {}),
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>", {}),
    ],
)
def test_procores_error_shapes_are_all_read(body: object, message: str, fields: dict[str, list[str]]) -> None:
    assert procore_error_messages(body) == (message, fields)
