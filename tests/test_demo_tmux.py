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


def start_terminal(tmp_path: Path, width: int, height: int) -> Terminal:
    socket = str(tmp_path / "tmux.sock")  # a private tmux server, removed with tmp_path
    term = Terminal(socket, "demo")
    # COLUMNS/LINES from the test run would override the terminal size the app sees; the console's
    # settings (theme, keymap) go to a folder of the test's, never the user's own.
    status = shlex.quote(str(tmp_path / "exit-status"))
    folder = shlex.quote(str(tmp_path))
    config = shlex.quote(str(tmp_path / "config"))
    command = (
        f"cd {shlex.quote(str(ROOT))} && unset COLUMNS LINES PAYSYNC_DISPLAY_TZ && TMPDIR={folder} "
        f"PAYSYNC_CONFIG_DIR={config} {shlex.quote(sys.executable)} -m console demo; echo $? > {status}"
    )
    assert TMUX is not None
    subprocess.run(
        [TMUX, "-S", socket, "new-session", "-d", "-s", "demo", "-x", str(width), "-y", str(height), command],
        check=True,
    )
    # Keep the pane after the demo exits, to read its last words.
    term.tmux("set-option", "-t", "demo", "remain-on-exit", "on")
    return term


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = start_terminal(tmp_path, 160, 45)
    try:
        yield term
    finally:
        term.tmux("kill-server")


@pytest.fixture
def small_terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = start_terminal(tmp_path, 80, 24)
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


def test_at_80_by_24_the_payments_list_quit_and_help_are_on_screen(
    small_terminal: Terminal, tmp_path: Path
) -> None:
    screen = small_terminal.wait_for("the demo's main screen", lambda s: "Payments of" in s and "Quit" in s)
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    footer = lines[-1]
    assert "q Quit" in footer and "? Help" in footer, footer
    assert "Commitments" in screen and "Invoices" in screen
    assert "4,200.00" in screen  # the needs-mapping payment's amount, whole
    small_terminal.press("q")
    small_terminal.wait_for("the demo to stop", lambda s: "PaySync demo stopped" in s, timeout=30)
    assert small_terminal.exit_status(tmp_path / "exit-status") == 0
    assert not (tmp_path / "config" / "console.json").exists()  # nothing chosen, nothing written
