"""Stopping a push between two writes.

A person (the console's stop key, or quitting it) or a stopping runtime asks; the push looks at the
request before each planned action, never inside one, so the write under way finishes and is
journaled as usual: what is written stays, and the rest waits for the next sync.
"""

from __future__ import annotations

import threading


class SyncCancel:
    """A request to stop a sync after the write under way; safe to set from any thread."""

    def __init__(self) -> None:
        self._flag = threading.Event()
        self.by: str | None = None  # who asked: "jdoe (computer account)"

    def request(self, by: str) -> None:
        """Ask the sync to stop after the write under way; the first asker is the one named."""
        if not self._flag.is_set():
            self.by = by
            self._flag.set()

    @property
    def requested(self) -> bool:
        return self._flag.is_set()
