"""Leases in the database: one push at a time, and one process running the schedule.

Two pushes running side by side could both decide to create the same payment; two processes
running the schedule on one database (a `paysync serve` and a console, say) would both run every
scheduled sync. A lease is a `Setting` row taken by compare-and-swap (an UPDATE that matches the old
value), so it works the same on SQLite and PostgreSQL. A lease whose holder died (a killed `paysync
serve`) is taken over once it expires, or at once when the holder was a process on this machine
that no longer runs.

The schedule lease says who holds it (`ScheduleHolder`: "paysync serve (process 1234 on host X)"),
so the process that does not hold it can say where the schedule runs. `paysync serve` takes it over
from a console (the service is where the schedule belongs; the console then shows what the service
does), never from another `paysync serve`.

Several processes on one PostgreSQL: the compare-and-swap is one UPDATE whose WHERE names the
value read, so of two processes that race for a lease PostgreSQL's row lock lets the first UPDATE
win and gives the second, which waited for it, zero rows (READ COMMITTED re-reads the row); the
INSERT that creates the row does nothing when another created it first. Only the holder's process
renews a lease, and one whose process died expires. Each scheduled run is claimed once more by its
due time (`claim_scheduled_run`), so a run is never made twice, even by a holder that lost the
lease while it ran.

The lease lives here, beside the settings store, because both sides of the house take one: the
engine's facade (sync.engine.service) takes the push lease, and the runtime (sync.runtime.runtime)
the schedule lease; the engine never imports the runtime.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from storage.db import write_transaction
from storage.fields import utc_now
from storage.models import Setting
from storage.settings_store import PUSH_LEASE, SCHEDULE_LEASE

LEASE_TTL = timedelta(minutes=15)
RENEW_AFTER_SECONDS = 60.0
SCHEDULE_LEASE_TTL = timedelta(minutes=2)  # renewed every 30 s by the process that holds it

Role = Literal["serve", "console"]


ON_WINDOWS = sys.platform == "win32"


def _process_alive(pid: int) -> bool:
    """Whether process `pid` on this machine still runs (a lease it held can then not be taken at once)."""
    if ON_WINDOWS:
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _windows_process_alive(pid: int) -> bool:
    """os.kill(pid, 0) is no probe on Windows: it calls TerminateProcess and would end the holder.
    Ask the kernel instead; when that cannot tell, say alive (the lease then expires on its own)."""
    still_active, query_limited_information, access_denied = 259, 0x1000, 5
    try:
        import ctypes

        kernel32 = getattr(ctypes, "windll").kernel32  # noqa: B009 (typeshed has windll only on win32)
        handle = kernel32.OpenProcess(query_limited_information, False, pid)
        if not handle:
            return bool(kernel32.GetLastError() == access_denied)  # there, but another account's
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == still_active
        finally:
            kernel32.CloseHandle(handle)
    except Exception:  # no kernel32 to ask: do not guess that it died
        return True


class Lease:
    """A named lease row; `PushLease` and `ScheduleLease` are the two PaySync takes."""

    key = PUSH_LEASE

    def __init__(self, owner: str, *, ttl: timedelta = LEASE_TTL) -> None:
        self.owner = owner
        self.ttl = ttl
        self.token = uuid.uuid4().hex
        self._value: str | None = None
        self._since = utc_now().isoformat()
        self._renewed_at = time.monotonic()
        self.holder: dict[str, Any] | None = None  # who holds it when we could not take it

    def _new_value(self) -> str:
        return json.dumps(
            {
                "token": self.token,
                "owner": self.owner,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "expires_at": (utc_now() + self.ttl).isoformat(),
                "since": self._since,
            },
            sort_keys=True,
        )

    def _takeover_allowed(self, current: dict[str, Any]) -> bool:
        try:
            expires = datetime.fromisoformat(str(current.get("expires_at")))
        except ValueError:
            return True
        if expires <= utc_now():
            return True
        if current.get("host") == socket.gethostname():
            pid = current.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and not _process_alive(pid):
                return True
        return False

    def try_acquire(self) -> bool:
        value = self._new_value()
        Setting.insert(key=self.key, value=value, updated_at=utc_now()).on_conflict_ignore().execute()
        row = Setting.get_or_none(Setting.key == self.key)
        if row is None:
            return False
        if row.value == value:  # the token is unique: only our insert can have written it
            self._value = value
            return True
        try:
            current = json.loads(row.value)
        except ValueError:
            current = {}
        if not isinstance(current, dict):
            current = {}
        if not self._takeover_allowed(current):
            self.holder = current
            return False
        swapped = (
            Setting.update(value=value, updated_at=utc_now())
            .where((Setting.key == self.key) & (Setting.value == row.value))
            .execute()
        )
        if swapped == 1:
            self._value = value
            return True
        return False

    def acquire(self, *, wait_seconds: float = 0.0, poll: float = 0.25) -> bool:
        deadline = time.monotonic() + wait_seconds
        while True:
            if self.try_acquire():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    def renew_if_due(self) -> None:
        """Cheap enough to call after every item: renews at most once a minute."""
        if time.monotonic() - self._renewed_at >= RENEW_AFTER_SECONDS:
            self.renew()

    def renew(self) -> bool:
        """Push the expiry forward (call now and then during a long push). False when the lease is
        no longer ours (never taken, released, or taken over after it expired)."""
        self._renewed_at = time.monotonic()
        if self._value is None:
            return False
        value = self._new_value()
        swapped = (
            Setting.update(value=value, updated_at=utc_now())
            .where((Setting.key == self.key) & (Setting.value == self._value))
            .execute()
        )
        if swapped == 1:
            self._value = value
            return True
        self._value = None
        return False

    @property
    def held(self) -> bool:
        return self._value is not None

    def release(self) -> None:
        if self._value is None:
            return
        Setting.delete().where((Setting.key == self.key) & (Setting.value == self._value)).execute()
        self._value = None

    def describe_holder(self) -> str:
        holder = self.holder or {}
        return (
            f"another push is running ({holder.get('owner', 'unknown')}, process {holder.get('pid', '?')} "
            f"on {holder.get('host', '?')}, since {holder.get('since', '?')})"
        )


PushLease = Lease


@dataclass(frozen=True)
class ScheduleHolder:
    """Who runs the schedule on this database, as the lease row says."""

    owner: str  # "paysync serve", "the console"
    role: str  # "serve" | "console" ("" for a lease written before roles were kept)
    pid: int | None
    host: str
    since: str

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> ScheduleHolder:
        pid = value.get("pid")
        return cls(
            owner=str(value.get("owner") or "another PaySync"),
            role=str(value.get("role") or ""),
            pid=pid if isinstance(pid, int) else None,
            host=str(value.get("host") or "?"),
            since=str(value.get("since") or "?"),
        )

    def describe(self) -> str:
        """ "paysync serve (process 1234 on host X)"."""
        return f"{self.owner} (process {self.pid if self.pid is not None else '?'} on {self.host})"


class ScheduleLease(Lease):
    """Held by the one process that runs the schedule on a database: a `paysync serve` or a console.

    A `paysync serve` takes it over from a console that holds it (`took_over_from` then names that
    console); a console never takes it from anyone who still holds it."""

    key = SCHEDULE_LEASE

    def __init__(self, owner: str, *, role: Role = "serve") -> None:
        super().__init__(owner, ttl=SCHEDULE_LEASE_TTL)
        self.role: Role = role
        self.took_over_from: ScheduleHolder | None = None

    def _new_value(self) -> str:
        value = json.loads(super()._new_value())
        value["role"] = self.role
        return json.dumps(value, sort_keys=True)

    def _takeover_allowed(self, current: dict[str, Any]) -> bool:
        if super()._takeover_allowed(current):
            return True
        if self.role == "serve" and current.get("role") == "console":
            self.took_over_from = ScheduleHolder.from_value(current)
            return True
        return False

    def try_acquire(self) -> bool:
        self.took_over_from = None
        self.holder = None
        taken = super().try_acquire()
        if not taken:
            self.took_over_from = None
        return taken

    @property
    def current_holder(self) -> ScheduleHolder | None:
        """Who held it when it could not be taken (None when we hold it or never tried)."""
        return ScheduleHolder.from_value(self.holder) if self.holder is not None else None

    def describe_holder(self) -> str:
        holder = self.holder or {}
        return (
            f"{holder.get('owner', 'another PaySync')} (process {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, since {holder.get('since', '?')}) already runs the schedule on this "
            "database"
        )


def schedule_holder() -> ScheduleHolder | None:
    """Who holds the schedule lease now (None: nobody, or a holder whose lease has expired)."""
    row = Setting.get_or_none(Setting.key == SCHEDULE_LEASE)
    if row is None:
        return None
    try:
        value = json.loads(row.value)
        expires = datetime.fromisoformat(str(value.get("expires_at")))
    except (ValueError, AttributeError):
        return None
    if not isinstance(value, dict) or expires <= utc_now():
        return None
    return ScheduleHolder.from_value(value)


SCHEDULED_RUN_CLAIM = "schedule_last_run_due"  # the due time of the last scheduled run, claimed


def claim_scheduled_run(due: datetime) -> bool:
    """Claim the scheduled run due at `due` for this process: True once per due time per database,
    False when a run due then or later was already claimed (by any process)."""
    wanted = due.astimezone(UTC).isoformat()
    with write_transaction():  # read and write as one: one writer at a time, in every process
        row = Setting.get_or_none(Setting.key == SCHEDULED_RUN_CLAIM)
        if row is not None:
            try:
                if datetime.fromisoformat(row.value) >= due:
                    return False
            except ValueError:
                pass  # unreadable: claim it afresh
        Setting.insert(key=SCHEDULED_RUN_CLAIM, value=wanted, updated_at=utc_now()).on_conflict(
            conflict_target=[Setting.key], update={Setting.value: wanted, Setting.updated_at: utc_now()}
        ).execute()
    return True
