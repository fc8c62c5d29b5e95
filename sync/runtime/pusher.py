"""The push after each Web Connector session, in the background (`paysync serve`, the console).

Asks made while a push runs are coalesced into one more push afterwards, so a burst of sessions
costs at most two pushes. A push that fails unexpectedly is kept as a failed run (sync.engine.runs).
"""

from __future__ import annotations

import logging
import threading

from sync.engine.runs import record_failed_run
from sync.engine.service import SyncService
from sync.engine.summary import SyncSummary

log = logging.getLogger("paysync.sync")


class BackgroundPusher:
    """Runs `service.push` in a background thread when asked; asks made while one runs are
    coalesced into one more push afterwards. Used after each Web Connector session and by the
    scheduler in `paysync serve`."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again: str | None = None
        self.last_summary: SyncSummary | None = None

    def request(self, trigger: str) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._again = trigger
                return
            self._thread = threading.Thread(
                target=self._run, args=(trigger,), name="paysync-push", daemon=True
            )
            self._thread.start()

    def _run(self, trigger: str) -> None:
        while True:
            try:
                self.last_summary = self.service.refresh_and_push(trigger=trigger)
                log.info("%s", self.last_summary.as_text())
            except Exception as exc:
                log.exception("automatic push failed")
                record_failed_run(
                    trigger,
                    getattr(self.service, "actor", None),
                    f"stopped by an unexpected error: {type(exc).__name__}: {exc}",
                )
            with self._lock:
                if self._again is None:
                    self._thread = None
                    return
                trigger, self._again = self._again, None

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
