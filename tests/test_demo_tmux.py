"""Smoke test of `paysync demo` in a real terminal: tmux runs it, we read the screen and press keys."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TMUX = shutil.which("tmux")

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (CI installs it: apt-get install tmux)"),
]


class Terminal:
    def __init__(self, socket: str, session: str) -> None:
        self.socket = socket
        self.session = session

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run([TMUX, "-S", self.socket, *args], capture_output=True, text=True, check=False)
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, what: str, seen: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if seen(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"waited {timeout:.0f} s for {what}; the screen shows:\n{text}")

    def exit_status(self, status_file: Path, timeout: float = 30.0) -> int | None:
        """The demo's exit status, which the shell in the pane writes to `status_file` when it ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = status_file.read_text().strip() if status_file.exists() else ""
            if text.isdigit():
                return int(text)
            time.sleep(0.2)
        return None


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    socket = str(tmp_path / "tmux.sock")  # a private tmux server, removed with tmp_path
    term = Terminal(socket, "demo")
    # COLUMNS/LINES from the test run would override the terminal size the app sees.
    status = shlex.quote(str(tmp_path / "exit-status"))
    command = f"cd {shlex.quote(str(ROOT))} && unset COLUMNS LINES && TMPDIR={shlex.quote(str(tmp_path))} {shlex.quote(sys.executable)} -m console demo; echo $? > {status}"
    assert TMUX is not None
    subprocess.run(
        [TMUX, "-S", socket, "new-session", "-d", "-s", "demo", "-x", "160", "-y", "45", command], check=True
    )
    # Keep the pane after the demo exits, to read its last words.
    term.tmux("set-option", "-t", "demo", "remain-on-exit", "on")
    try:
        yield term
    finally:
        term.tmux("kill-server")


def synced(screen: str) -> int | None:
    found = re.search(r"● (\d+) Synced", screen)
    return int(found.group(1)) if found else None


def test_paysync_demo_runs_syncs_on_s_and_stops_cleanly_on_q(terminal: Terminal, tmp_path: Path) -> None:
    screen = terminal.wait_for(
        "the demo's main screen", lambda s: synced(s) is not None and "Commitments" in s
    )
    assert "DEMO" in screen and "(simulated)" in screen
    before = synced(screen)
    assert before is not None

    terminal.press("s")
    screen = terminal.wait_for("the sync summary", lambda s: "Sync finished" in s)
    assert "created" in screen
    after = terminal.wait_for("the new Synced count", lambda s: (synced(s) or 0) > before)
    assert (synced(after) or 0) > before

    terminal.press("q")
    screen = terminal.wait_for("the demo to stop", lambda s: "PaySync demo stopped" in s, timeout=30)
    assert terminal.exit_status(tmp_path / "exit-status") == 0
    assert not any(tmp_path.glob("paysync-demo-*")), "the demo left its temporary folder behind"
