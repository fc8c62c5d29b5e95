"""Every failed run is on record with its reason: the scheduled sync and the push after a Web
Connector session of `paysync serve`'s runtime, when Procore is not configured or cannot be reached,
or when the push stops on an unexpected error. `paysync status` then shows it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from console.cli import main
from storage.db import close_database, open_database
from storage.models import ErrorEvent, QuickBooksWork, SyncRun
from sync.engine.service import SyncService
from sync.runtime.pusher import BackgroundPusher
from sync.runtime.runtime import Runtime
from sync.settings import Settings, acting_person, computer_user

NOT_SET = (
    "PROCORE_CLIENT_ID, PROCORE_CLIENT_SECRET, PROCORE_COMPANY_ID are not set: add them to .env (see "
    ".env.example) with the values of your Procore app (Developer Portal → your app → OAuth credentials) "
    "and company id."
)


def serve_runtime(settings: Settings) -> Runtime:
    """The runtime as `paysync serve` builds it (its endpoint not hosted: the tests call its hook)."""
    return Runtime(settings, SyncService(settings, actor=acting_person("serve")), role="serve")


def runs() -> list[tuple[str, str | None, str, str | None]]:
    return [(r.trigger, r.actor, r.status, r.message) for r in SyncRun.select().order_by(SyncRun.id)]


def errors() -> list[tuple[str, str]]:
    return [(e.where, e.message) for e in ErrorEvent.select().order_by(ErrorEvent.id)]


def test_a_scheduled_run_without_procore_is_kept_as_failed(db: Database, db_url: str) -> None:
    settings = Settings(database_url=db_url)

    serve_runtime(settings).run_scheduled_job()

    assert QuickBooksWork.select().count() > 0  # the QuickBooks queries were still queued
    reason = f"QuickBooks queries were queued, but nothing can be pushed to Procore: {NOT_SET}"
    assert runs() == [("schedule", "paysync serve", "failed", reason)]
    assert errors() == [("config", f"The scheduled sync could not run: {reason}")]


def test_a_web_connector_session_without_procore_is_kept_as_a_failed_push(db: Database, db_url: str) -> None:
    serve_runtime(Settings(database_url=db_url)).session_closed("main")

    reason = f"the payments from company file 'main' are stored but cannot be pushed to Procore: {NOT_SET}"
    assert runs() == [("web_connector", "paysync serve", "failed", reason)]
    assert errors() == [("config", f"The push after a Web Connector session could not run: {reason}")]


def test_a_scheduled_run_that_cannot_reach_procore_is_kept_as_failed(db: Database, db_url: str) -> None:
    settings = Settings(
        database_url=db_url,
        procore_api_base="https://api.procore.invalid",
        procore_login_base="https://login.procore.invalid",
        procore_client_id="app",
        procore_client_secret="secret",
        procore_company_id=42,
    )

    serve_runtime(settings).run_scheduled_job()

    ((trigger, actor, status, message),) = runs()
    assert (trigger, actor, status) == ("schedule", "paysync serve", "failed")
    assert message is not None and message.startswith(
        "Refreshing from Procore failed: PROCORE_LOGIN_BASE='https://login.procore.invalid': the host "
        "login.procore.invalid cannot be found ("
    )
    assert message.endswith(
        ") and that this computer can reach the internet. (pushed with what PaySync already knew)"
    )


def test_an_automatic_push_stopped_by_an_unexpected_error_is_kept(db: Database) -> None:
    class Broken:
        actor = "paysync serve"

        def refresh_and_push(self, *, trigger: str, **_: Any) -> Any:
            raise RuntimeError("disk full")

    pusher = BackgroundPusher(Broken())  # type: ignore[arg-type]
    pusher.request("web_connector")
    pusher.wait(10)

    reason = "stopped by an unexpected error: RuntimeError: disk full"
    assert runs() == [("web_connector", "paysync serve", "failed", reason)]
    assert errors() == [("engine", f"The push after a Web Connector session could not run: {reason}")]


def test_status_shows_a_failed_scheduled_run(
    db: Database, db_url: str, clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    serve_runtime(Settings(database_url=db_url)).run_scheduled_job()
    close_database()
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url)

    assert main(["--env-file", str(env_file), "status", "--json"]) == 1  # Procore is not configured
    facts = json.loads(capsys.readouterr().out)
    close_database()
    reason = f"QuickBooks queries were queued, but nothing can be pushed to Procore: {NOT_SET}"
    assert facts["last_sync"]["status"] == "failed" and facts["last_sync"]["message"] == reason
    assert facts["last_failure"] == facts["last_sync"]


def test_a_sync_refused_by_its_configuration_is_kept_when_the_database_exists(
    db: Database,
    db_url: str,
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    close_database()
    env_file = clean_env(PAYSYNC_DATABASE_URL=db_url, QBWC_PORT="eighty")

    assert main(["--env-file", str(env_file), "sync"]) == 2
    reason = "QBWC_PORT='eighty' is not a whole number: write e.g. QBWC_PORT=12345"
    assert capsys.readouterr().err == f"paysync: {reason}\n"
    open_database(db_url)
    assert runs() == [("cli", f"{computer_user()} (computer account)", "failed", reason)]
    assert errors() == [("config", f"`paysync sync` could not run: {reason}")]

    # Where there is no database yet, none is created just to say that nothing ran.
    elsewhere = tmp_path / "new" / "paysync.db"
    elsewhere.parent.mkdir()
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{elsewhere}", QBWC_PORT="eighty")
    assert main(["--env-file", str(env_file), "sync"]) == 2
    assert not elsewhere.exists()
