"""A real `paysync serve` process for the tests that need one (TLS, a service stop, a console beside
it, several processes on PostgreSQL): started with a clean environment, its first stdout line (the
announcement) and its log (stderr) read in the background, stopped as a person or a service would."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PREFIXES = ("PAYSYNC_", "PROCORE_", "QBWC_")


def serve_env(**values: str) -> dict[str, str]:
    """This environment without any PaySync setting, listening on a free loopback port, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    env.update(QBWC_HOST="127.0.0.1", QBWC_PORT="0", PYTHONUNBUFFERED="1")
    env.update(values)
    return env


class ServeProcess:
    """`paysync serve` with `env`; `announcement()` once it listens, `log` its stderr so far."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console", "--env-file", os.devnull, "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._first = ""
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_stdout(self) -> None:
        for line in self.process.stdout or ():
            self.lines.put(line)

    def _read_stderr(self) -> None:
        for line in self.process.stderr or ():
            self.log.append(line)

    def announcement(self, timeout: float = 60) -> str:
        """Its first line ("PaySync is listening for the QuickBooks Web Connector on …"); fails with
        its log when it exits or says nothing in time."""
        if not self._first:
            try:
                self._first = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"paysync serve did not come up (exit {self.process.poll()}):\n{''.join(self.log)}"
                ) from None
        return self._first

    def url(self, timeout: float = 60) -> str:
        announcement = self.announcement(timeout)
        match = re.search(r"on (https?://127\.0\.0\.1:\d+/qbwc) ", announcement)
        assert match, announcement
        return match.group(1)

    def stop(self, how: signal.Signals = signal.SIGINT, timeout: float = 30) -> int:
        """Ctrl+C (or `how`, e.g. a service's SIGTERM); killed when it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stderr_text(self, timeout: float = 5) -> str:
        """Everything it wrote on stderr (waits for the reader once the process has ended)."""
        self.process.wait(timeout)
        self._stderr_reader.join(timeout)
        return "".join(self.log)
