"""The pushes the runtime makes, one at a time in this process: the push after each Web Connector
session (in the background, coalesced) and the scheduled one (in the scheduler's worker thread).

Asks made while a background push runs are coalesced into one more push afterwards, so a burst of
sessions costs at most two pushes. A push that fails unexpectedly is kept as a failed run
(sync.engine.runs). Each push can be stopped between two writes (`cancel`, engine/cancel.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sync.engine.cancel import SyncCancel
from sync.engine.runs import record_failed_run
from sync.engine.service import SyncService
from sync.engine.summary import SyncSummary

log = logging.getLogger("paysync.sync")

Progress = Callable[[int, int, str], None]
# Told when a background push ends: (trigger, its summary or None, the unexpected error or None).
Finished = Callable[[str, SyncSummary | None, str | None], None]


class BackgroundPusher:
    """Runs `service.refresh_and_push`: in a background thread when asked (`request`), or in the
    caller's thread (`push_now`); never two at once in this process."""

    def __init__(self, service: SyncService, *, on_finished: Finished | None = None) -> None:
        self.service = service
        self.on_finished = on_finished
        self._lock = threading.Lock()
        self._pushing = threading.Lock()  # one push at a time, background or not
        self._thread: threading.Thread | None = None
        self._again: str | None = None
        self._cancels: set[SyncCancel] = set()
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

    def push_now(
        self, trigger: str, *, progress: Progress | None = None, cancel: SyncCancel | None = None
    ) -> SyncSummary:
        """One push in the caller's thread (after any background push under way)."""
        cancel = cancel or SyncCancel()
        with self._lock:
            self._cancels.add(cancel)
        try:
            with self._pushing:
                summary = self.service.refresh_and_push(trigger=trigger, progress=progress, cancel=cancel)
            self.last_summary = summary
            return summary
        finally:
            with self._lock:
                self._cancels.discard(cancel)

    def cancel(self, by: str) -> None:
        """Stop every push under way after its current write, and drop a push asked for meanwhile."""
        with self._lock:
            self._again = None
            for cancel in self._cancels:
                cancel.request(by)

    def _run(self, trigger: str) -> None:
        while True:
            summary: SyncSummary | None = None
            problem: str | None = None
            try:
                summary = self.push_now(trigger)
                log.info("%s", summary.as_text())
            except Exception as exc:
                log.exception("automatic push failed")
                problem = f"stopped by an unexpected error: {type(exc).__name__}: {exc}"
                record_failed_run(trigger, getattr(self.service, "actor", None), problem)
            if self.on_finished is not None:
                try:
                    self.on_finished(trigger, summary, problem)
                except Exception:
                    log.exception("could not report the end of a push")
            with self._lock:
                if self._again is None:
                    self._thread = None
                    return
                trigger, self._again = self._again, None

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
