"""`paysync web`: the console in a browser, driven over its real HTTP and websocket endpoints.

The server runs as a real `paysync web` process on a loopback port (the demo console, which needs
no configuration); a session is what a browser does: GET the page, open the websocket, read the
terminal output the console sends.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from console.cli import main
from sync.quickbooks.webconnector.passwords import hash_password, verify_password

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "web-console-test-password"
START_SECONDS = 60.0  # a loaded 2-core machine: generous, and polled, so a fast one does not wait
SESSION_ENDED = {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}
ESCAPES = re.compile(r"\x1b(\[[0-9;?$]*[A-Za-z~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9])")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (Linux /proc)."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class WebServer:
    process: subprocess.Popen[str]
    url: str
    output: Path

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


@contextmanager
def paysync_web(tmp_path: Path, *args: str, password: str | None = None) -> Iterator[WebServer]:
    """`paysync web --demo` on a free loopback port, stopped (SIGTERM) at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PROCORE_", "QBWC_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if password is not None:
        env["PAYSYNC_WEB_PASSWORD"] = password
    port = free_port()
    output = tmp_path / "web.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "console", "--env-file", os.devnull, "web", "--demo", "--port", str(port), *args],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
    server = WebServer(process, f"http://127.0.0.1:{port}", output)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not listening(port):
            assert process.poll() is None, f"paysync web ended ({process.returncode}): {server.log()}"
            assert time.monotonic() < deadline, f"paysync web did not listen: {server.log()}"
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


def screen_text(raw: bytes) -> str:
    return ESCAPES.sub("", raw.decode("utf-8", errors="replace"))


async def read_until(websocket: aiohttp.ClientWebSocketResponse, wanted: str, seconds: float) -> str:
    """The terminal output the console sends, until `wanted` shows in it."""
    received = b""
    deadline = time.monotonic() + seconds
    while wanted not in screen_text(received):
        left = deadline - time.monotonic()
        assert left > 0, f"{wanted!r} never arrived; the screen so far: {screen_text(received)[-2000:]}"
        try:
            message = await websocket.receive(timeout=left)
        except TimeoutError:
            continue
        if message.type == aiohttp.WSMsgType.BINARY:
            received += message.data
        elif message.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"the console's websocket closed ({message.type}): {screen_text(received)}")
    return screen_text(received)


async def test_a_browser_session_shows_the_console_and_stopping_the_server_closes_it(tmp_path: Path) -> None:
    with paysync_web(tmp_path) as server:
        async with aiohttp.ClientSession() as browser:
            async with browser.get(f"{server.url}/") as page:
                assert page.status == 200
                html = await page.text()
            assert "<div>PaySync</div>" in html
            assert f'data-session-websocket-url="ws://127.0.0.1:{server.url.rsplit(":", 1)[1]}/ws"' in html
            async with browser.get(f"{server.url}/static/js/textual.js") as script:
                assert script.status == 200

            async with browser.ws_connect(f"{server.url}/ws?width=120&height=36") as websocket:
                await websocket.send_str(json.dumps(["resize", {"width": 120, "height": 36}]))
                screen = await read_until(websocket, "Commitments", seconds=START_SECONDS)
                assert "PaySync" in screen and "DEMO" in screen
                await websocket.send_str(json.dumps(["ping", "t1"]))
                while (message := await websocket.receive(timeout=30)).type != aiohttp.WSMsgType.TEXT:
                    pass
                assert json.loads(message.data) == ["pong", "t1"]
                consoles = children_of(server.process.pid)
                assert consoles, "no console process was started for the session"

                # Stopping the server with the console open: the console quits, the browser sees the
                # session end, the server exits 0.
                server.process.send_signal(signal.SIGTERM)
                while (await websocket.receive(timeout=45)).type not in SESSION_ENDED:
                    pass
            assert await asyncio.to_thread(server.process.wait, 45) == 0, server.log()
        assert not any(alive(pid) for pid in consoles), "a console outlived `paysync web`"
        assert "PaySync web console stopped." in server.log()
        assert "Traceback" not in server.log()


async def test_only_this_server_s_page_and_this_machine_s_name_open_the_console(tmp_path: Path) -> None:
    """Without a password: another site's page (Origin) cannot open the websocket, and a request by
    a name that is not this machine (DNS rebinding) is refused; neither starts a console."""
    with paysync_web(tmp_path) as server:
        async with aiohttp.ClientSession() as browser:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await browser.ws_connect(f"{server.url}/ws", headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            async with browser.get(f"{server.url}/", headers={"Host": "evil.example"}) as page:
                assert page.status == 403
                assert "127.0.0.1" in await page.text()
            with pytest.raises(aiohttp.WSServerHandshakeError) as rebound:
                await browser.ws_connect(f"{server.url}/ws", headers={"Host": "evil.example"})
            assert rebound.value.status == 403
        assert children_of(server.process.pid) == set()


@pytest.mark.parametrize("stored", ["as-is", "hashed"])
async def test_with_a_password_the_browser_must_give_it_before_a_console_opens(
    tmp_path: Path, stored: str
) -> None:
    setting = PASSWORD if stored == "as-is" else hash_password(PASSWORD, iterations=2_000)
    with paysync_web(tmp_path, password=setting) as server:
        async with aiohttp.ClientSession() as browser:
            async with browser.get(f"{server.url}/") as page:
                assert page.status == 401
                assert page.headers["WWW-Authenticate"].startswith('Basic realm="PaySync console"')
            wrong = basic_auth("anyone", "not-the-password")
            async with browser.get(f"{server.url}/", headers=wrong) as page:
                assert page.status == 401
            right = basic_auth("anyone", PASSWORD)
            async with browser.get(f"{server.url}/", headers=right) as page:
                assert page.status == 200
                assert "<div>PaySync</div>" in await page.text()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await browser.ws_connect(f"{server.url}/ws")
            assert refused.value.status == 401
            assert children_of(server.process.pid) == set()  # no console for a visitor without it
            assert PASSWORD not in server.log()


async def test_many_wrong_passwords_from_one_address_are_refused_for_a_while(tmp_path: Path) -> None:
    with paysync_web(tmp_path, password=PASSWORD) as server:
        async with aiohttp.ClientSession() as browser:
            statuses = []
            for attempt in range(11):
                async with browser.get(f"{server.url}/", headers=basic_auth("x", f"guess-{attempt}")) as page:
                    statuses.append(page.status)
            assert statuses == [401] * 10 + [429]
            async with browser.get(f"{server.url}/", headers=basic_auth("x", PASSWORD)) as page:
                assert page.status == 429  # even the right one, until the window has passed
                assert "Too many wrong passwords" in await page.text()


def test_paysync_web_on_a_non_local_address_without_a_password_is_refused(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = clean_env()
    port = free_port()

    assert main(["--env-file", str(env_file), "web", "--demo", "--host", "0.0.0.0", "--port", str(port)]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("paysync: --host 0.0.0.0 lets other machines open the console")
    assert "set PAYSYNC_WEB_PASSWORD" in err
    assert not listening(port)


def test_a_short_password_and_a_port_in_use_are_refused_clearly(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = clean_env(PAYSYNC_WEB_PASSWORD="short")
    assert main(["--env-file", str(env_file), "web", "--demo"]) == 2
    assert (
        capsys.readouterr().err
        == "paysync: PAYSYNC_WEB_PASSWORD is shorter than 8 characters: choose a longer one.\n"
    )

    monkeypatch.delenv("PAYSYNC_WEB_PASSWORD")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--env-file", str(env_file), "web", "--demo", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"paysync: cannot listen on 127.0.0.1 port {port}") and "choose another --port" in err
    )


def test_the_configured_console_that_could_not_start_is_refused_before_listening(
    clean_env: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = clean_env(PAYSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'paysync.db'}")
    port = free_port()

    assert main(["--env-file", str(env_file), "web", "--port", str(port)]) == 2

    err = capsys.readouterr().err
    assert err.startswith("paysync: PROCORE_CLIENT_ID, PROCORE_CLIENT_SECRET, PROCORE_COMPANY_ID are not set")
    assert not listening(port)


def test_hash_password_prints_a_line_for_env_that_the_server_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean_env: Callable[..., Path]
) -> None:
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    assert main(["--env-file", str(clean_env()), "web", "--hash-password"]) == 0

    line = capsys.readouterr().out.strip()
    key, _, value = line.partition("=")
    assert key == "PAYSYNC_WEB_PASSWORD" and value.startswith("pbkdf2_sha256$")
    assert verify_password(PASSWORD, value) and PASSWORD not in line
