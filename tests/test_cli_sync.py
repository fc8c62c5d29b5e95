"""`paysync sync` end to end over loopback: its exit status says whether every payment it meant to
write is right, and its summary's counts are the payments it lists."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from storage.db import close_database
from tests.support.bridge import Bridge, Servers, new_bridge

PAYMENTS = "/rest/v1.0/contract_payments"


@pytest.fixture
def bridge(servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    built = new_bridge(servers, tmp_path, client_options={"timeout": 2.0})
    settings = built.settings
    for key, value in {
        "PAYSYNC_DATABASE_URL": str(settings.database_url),
        "PROCORE_API_BASE": built.world.url,
        "PROCORE_LOGIN_BASE": built.world.url,
        "PROCORE_CLIENT_ID": str(settings.procore_client_id),
        "PROCORE_CLIENT_SECRET": str(settings.procore_client_secret),
        "PROCORE_COMPANY_ID": str(built.state.company_id),
        "PROCORE_PROJECT_IDS": str(built.world.project_id),
    }.items():
        monkeypatch.setenv(key, value)
    built.vendor("acme", "Acme Concrete")
    built.world.add_commitment("SC-1", "acme")
    yield built
    built.state.release_delayed_responses.set()
    close_database()


def three_payments(bridge: Bridge) -> None:
    for n in range(3):
        bill = bridge.invoice_and_bill(
            f"A-{n}", "SC-1", "Acme Concrete", f"AC-{n}", "1000.00", by_origin=True, draw=n + 1
        )
        bridge.company.pay_bills("Acme Concrete", [(bill, Decimal("900.00"))], check_number=f"50{n}")
    bridge.session()


def sync(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["--env-file", os.devnull, "sync"])
    close_database()
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def listed_counts(out: str) -> tuple[int, int, int]:
    """(Needs attention, Failed) as the summary counts them, and how many payments it lists."""
    counts = re.search(r"Needs attention: (\d+)\s+Failed: (\d+)", out)
    assert counts, out
    listed = len(re.findall(r"^    - \[(?:needs attention|failed)\] ", out, re.M))
    return int(counts.group(1)), int(counts.group(2)), listed


def test_exit_0_when_every_payment_is_written(bridge: Bridge, capsys: pytest.CaptureFixture[str]) -> None:
    three_payments(bridge)
    status, out, err = sync(capsys)
    assert status == 0, out + err
    assert "Procore payments: 3 created" in out and listed_counts(out) == (0, 0, 0)


def test_exit_1_when_procore_answers_500_and_the_counts_are_the_listed_payments(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    three_payments(bridge)
    bridge.state.inject_fault("POST", PAYMENTS, "500", times=3)

    status, out, err = sync(capsys)

    assert status == 1, out + err
    needs, failed, listed = listed_counts(out)
    assert (needs, failed) == (0, 3) and listed == 3
    assert "Procore did not confirm the write" in out


def test_exit_1_when_procore_refuses_the_payments_with_403(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    three_payments(bridge)
    bridge.state.service_account_permissions = {
        bridge.world.project_id: {"commitments": "standard", "erp_integrations": "admin"}
    }  # may sync, but Procore refuses to add payments (payments need Admin on Commitments)

    status, out, err = sync(capsys)

    assert status == 1, out + err
    needs, failed, listed = listed_counts(out)
    assert (needs, failed, listed) == (3, 0, 3)
    assert "(403 Forbidden)" in out
    assert bridge.state.payments() == []
    # The same counts in `paysync status --json` (and so in the console, which reads the same query).
    capsys.readouterr()
    assert main(["--env-file", os.devnull, "status", "--json"]) == 0
    close_database()
    counts = json.loads(capsys.readouterr().out)["payments"]
    assert (counts["needs_attention"], counts["failed"], counts["synced"]) == (3, 0, 0)


def test_exit_2_when_it_could_not_run(bridge: Bridge, capsys: pytest.CaptureFixture[str]) -> None:
    bridge.state.service_account_permissions = {
        bridge.world.project_id: {"commitments": "admin", "erp_integrations": "read_only"}
    }
    status, out, err = sync(capsys)
    assert status == 2 and err.startswith("paysync: ") and "may not sync on demand" in err


def test_money_as_json_numbers_never_stops_the_push(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge.state.money_as_numbers = True
    three_payments(bridge)
    status, out, err = sync(capsys)
    assert status == 0, out + err
    assert "Procore payments: 3 created" in out
    assert sorted(Decimal(str(p["amount"])) for p in bridge.state.payments()) == [Decimal("900.00")] * 3


class StripsCreatedIds:
    """Procore answering a create without the payment's id (a garbled answer): the write happened."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PAYMENTS:
            await self.inner(scope, receive, send)
            return

        async def garbling_send(message: Any) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": re.sub(rb'"id":\s*\d+,?', b"", message["body"])}
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-length"]
                message = {**message, "headers": headers}
            await send(message)

        await self.inner(scope, receive, garbling_send)


def test_a_create_answer_without_the_id_is_read_back_not_guessed(
    bridge: Bridge, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    three_payments(bridge)
    servers.procore_app.target = StripsCreatedIds(servers.procore_app.target)

    status, out, err = sync(capsys)

    assert status == 0, out + err
    assert "Procore payments: 3 created" in out
    assert len(bridge.state.payments()) == 3  # each once
    status, out, err = sync(capsys)
    assert status == 0 and "0 created" in out and len(bridge.state.payments()) == 3
