"""A Procore address that is wrong says so in seconds, naming the setting: a host that does not
resolve, or a server that answers with a web page instead of Procore's JSON. The failed sync is
kept on record like any other."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from sandbox.procore import create_procore_app
from storage.db import close_database, open_database
from storage.models import Setting, SyncRun
from tests.conftest import RunningFactory
from tests.support.procore_world import CLIENT_ID, CLIENT_SECRET, new_procore_state

LOGIN_EXAMPLE = "https://login.procore.com; a sandbox company uses https://login-sandbox.procore.com"
API_EXAMPLE = "https://api.procore.com; a sandbox company uses https://sandbox.procore.com"
WEB_PAGE = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body>Our company site</body></html>"


def web_site(status: int = 200) -> Any:
    """A server that is not Procore: every address answers with a web page."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": WEB_PAGE})

    return app


def sync_against(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str, **procore: str
) -> tuple[int, str, float]:
    state = new_procore_state()
    env_file = clean_env(
        PAYSYNC_DATABASE_URL=db_url,
        PROCORE_CLIENT_ID=CLIENT_ID,
        PROCORE_CLIENT_SECRET=CLIENT_SECRET,
        PROCORE_COMPANY_ID=str(state.company_id),
        **procore,
    )
    capsys.readouterr()
    started = time.monotonic()
    try:
        status = main(["--env-file", str(env_file), "sync"])
    finally:
        close_database()
    return status, capsys.readouterr().err, time.monotonic() - started


def failed_runs(db_url: str) -> list[str]:
    open_database(db_url)
    try:
        assert Setting.get_or_none(Setting.key == "schedule_cutoff") is None  # not a real run
        return [str(run.message) for run in SyncRun.select().where(SyncRun.status == "failed")]
    finally:
        close_database()


def test_a_login_host_that_does_not_resolve_fails_at_once_naming_procore_login_base(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    status, err, seconds = sync_against(
        clean_env, capsys, db_url, PROCORE_LOGIN_BASE="https://login.procore.invalid"
    )
    assert status == 2 and seconds < 5
    said = re.fullmatch(
        r"paysync: PROCORE_LOGIN_BASE='https://login\.procore\.invalid': the host login\.procore\.invalid cannot "
        r"be found \((?P<why>[^)]+)\)\. Check PROCORE_LOGIN_BASE for a typo \(Procore's is "
        + re.escape(LOGIN_EXAMPLE)
        + r"\) and that this computer can reach the internet\.\n",
        err,
    )
    assert said, err
    assert failed_runs(db_url) == [err.removeprefix("paysync: ").rstrip("\n")]


def test_an_api_host_that_does_not_resolve_fails_at_once_naming_procore_api_base(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str, running: RunningFactory
) -> None:
    state = new_procore_state()
    with running(create_procore_app(state)) as procore:
        status, err, seconds = sync_against(
            clean_env,
            capsys,
            db_url,
            PROCORE_LOGIN_BASE=procore.url,  # signs in fine ...
            PROCORE_API_BASE="https://api.procore.invalid",  # ... but the API host is mistyped
        )
    assert status == 2 and seconds < 5
    assert re.fullmatch(
        r"paysync: PROCORE_API_BASE='https://api\.procore\.invalid': the host api\.procore\.invalid cannot be "
        r"found \([^)]+\)\. Check PROCORE_API_BASE for a typo \(Procore's is "
        + re.escape(API_EXAMPLE)
        + r"\) and that this computer can reach the internet\.\n",
        err,
    ), err


def test_a_login_host_that_answers_with_a_web_page_names_procore_login_base(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], db_url: str, running: RunningFactory
) -> None:
    with running(web_site()) as site:
        status, err, seconds = sync_against(clean_env, capsys, db_url, PROCORE_LOGIN_BASE=site.url)
    assert status == 2 and seconds < 5
    assert err == (
        f"paysync: PROCORE_LOGIN_BASE={site.url!r} does not answer as Procore: POST /oauth/token answered 200 "
        f"with a web page (HTML), not JSON. Check PROCORE_LOGIN_BASE (Procore's is {LOGIN_EXAMPLE}).\n"
    )


@pytest.mark.parametrize("answer", [200, 404])
def test_an_api_host_that_answers_with_a_web_page_names_procore_api_base(
    clean_env: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    running: RunningFactory,
    answer: int,
) -> None:
    state = new_procore_state()
    with running(create_procore_app(state)) as procore, running(web_site(answer)) as site:
        status, err, seconds = sync_against(
            clean_env, capsys, db_url, PROCORE_LOGIN_BASE=procore.url, PROCORE_API_BASE=site.url
        )
    assert status == 2 and seconds < 5
    assert err == (
        f"paysync: PROCORE_API_BASE={site.url!r} does not answer as Procore: GET /rest/v1.0/me answered "
        f"{answer} with a web page (HTML), not JSON. Check PROCORE_API_BASE (Procore's is {API_EXAMPLE}).\n"
    )
    assert len(failed_runs(db_url)) == 1
