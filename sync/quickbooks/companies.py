"""Several QuickBooks company files: adding, listing and removing them (`paysync company ...`).

A firm often keeps one company file per legal entity. Each file PaySync serves has its own Web
Connector user, watermarks, cutoff, schedule and work queue, and everything stored from it is keyed
by the file (QuickBooks TxnIDs and ListIDs are unique only within a file; Procore origin ids carry
the file's key, DESIGN rule 3).

The file configured in .env (QBWC_FILE_KEY, QBWC_USERNAME, QBWC_PASSWORD, PAYSYNC_SCHEDULE) is the
*default* company and keeps working exactly as before. Files added here are *registered*: their
settings live in the database (the password only as a PBKDF2 hash).

Procore side: a file writes to the Procore company of this installation (PROCORE_COMPANY_ID) unless
it was added with `--procore-company-id`: a firm whose legal entities each have their own Procore
company installs the one OAuth app in each, and one PaySync serves them all (Procore's token works
for every company the app is installed in; each request names its company in the
`Procore-Company-Id` header). Each Procore company is imported on its own, and a file's bills match
only invoices and vendors of its own Procore company.

Within one Procore company, files can split its projects: a file added with `--procore-project-ids`
matches its bills only against invoices of those projects, and a file without a list matches
against the company's projects no other file claims. Two files may not claim the same project, and
at most one file per Procore company goes without a list, so a bill is never matched against an
invoice that belongs to another entity's books.

Removing a file stops syncing it (its Web Connector user is refused, its queued queries cancelled,
the push leaves its payments alone) but keeps what was recorded: the audit trail and the write
journal. Adding the same key again continues where it stopped, without posting anything twice.

Long because adding, listing and removing share the rules about keys, users, Procore companies and
claimed projects, and what the push and the import ask of the files (active keys, Procore companies
to import) is read from the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from storage.db import tuple_rows, write_transaction
from storage.fields import utc_now
from storage.models import (
    AuditLog,
    CompanyFile,
    QuickBooksWork,
    WebConnectorCredential,
)
from storage.queries import payment_status_counts, procore_push_record, queue_counts
from storage.settings_store import company_cutoff_keys, get_setting, set_setting
from storage.vocabulary import ErpStatus
from sync.quickbooks.company_file import company_file_for
from sync.quickbooks.cutoff import record_cutoff_at_first_run, schedule_cutoff
from sync.quickbooks.webconnector.passwords import DEFAULT_ITERATIONS, hash_password
from sync.settings import ConfigError, Settings, check_file_key

MIN_PASSWORD_LENGTH = 8


class CompanyError(Exception):
    """A company command that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class CompanyEntry:
    file_key: str
    name: str | None
    username: str | None
    default: bool  # configured in .env rather than added with `paysync company add`
    removed_at: datetime | None
    procore_project_ids: tuple[int, ...]
    schedule: str
    cutoff: datetime | None
    # The Procore company its payments go to (PROCORE_COMPANY_ID's unless added with another).
    procore_company_id: int | None = None
    # True when added with --procore-company-id of another company than PROCORE_COMPANY_ID's.
    own_procore_company: bool = False
    country: str | None = None
    product_name: str | None = None
    last_contact_at: datetime | None = None
    last_error: str | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def as_json(self) -> dict[str, object]:
        return {
            "file_key": self.file_key,
            "name": self.name,
            "username": self.username,
            "default": self.default,
            "active": self.active,
            "removed_at": self.removed_at.isoformat() if self.removed_at else None,
            "procore_company_id": self.procore_company_id,
            "procore_project_ids": list(self.procore_project_ids),
            "schedule": self.schedule,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "country": self.country,
            "product_name": self.product_name,
            "last_contact": self.last_contact_at.isoformat() if self.last_contact_at else None,
            "last_error": self.last_error,
        }


def _project_ids(raw: str | None) -> tuple[int, ...]:
    if not raw:
        return ()
    return tuple(int(part) for part in raw.split(",") if part.strip())


def list_companies(settings: Settings, *, include_removed: bool = True) -> list[CompanyEntry]:
    """The default company (from .env) first, then the registered ones by key."""
    rows = {str(row.file_key): row for row in CompanyFile.select()}
    users: dict[str, str] = {}
    for username, file_key in tuple_rows(
        WebConnectorCredential.select(WebConnectorCredential.username, WebConnectorCredential.file_key)
    ):
        users.setdefault(str(file_key), str(username))
    entries: list[CompanyEntry] = []
    default_row = rows.get(settings.qbwc_file_key)
    entries.append(
        CompanyEntry(
            file_key=settings.qbwc_file_key,
            name=(default_row.label or default_row.company_name) if default_row else None,
            username=settings.qbwc_username,
            default=True,
            removed_at=None,
            procore_project_ids=(),  # the projects no added file claims (PROCORE_PROJECT_IDS limits the import)
            procore_company_id=settings.procore_company_id,
            schedule=settings.schedule,
            cutoff=schedule_cutoff(settings.qbwc_file_key),
            **_contact(default_row),
        )
    )
    for key in sorted(rows):
        row = rows[key]
        if key == settings.qbwc_file_key or row.registered_at is None:
            continue
        if row.removed_at is not None and not include_removed:
            continue
        entries.append(
            CompanyEntry(
                file_key=key,
                name=row.label,
                username=users.get(key),
                default=False,
                removed_at=row.removed_at,
                procore_project_ids=_project_ids(row.procore_project_ids),
                procore_company_id=(
                    int(row.procore_company_id)
                    if row.procore_company_id is not None
                    else settings.procore_company_id
                ),
                own_procore_company=row.procore_company_id is not None,
                schedule=row.schedule or settings.schedule,
                cutoff=schedule_cutoff(key),
                **_contact(row),
            )
        )
    return entries


class _Contact(TypedDict, total=False):
    country: str | None
    product_name: str | None
    last_contact_at: datetime | None
    last_error: str | None


def _contact(row: CompanyFile | None) -> _Contact:
    """What the company file's Web Connector last said (nothing before its first session)."""
    if row is None:
        return {}
    return {
        "country": row.country,
        "product_name": row.product_name,
        "last_contact_at": row.last_contact_at,
        "last_error": row.last_error,
    }


def active_companies(settings: Settings) -> list[CompanyEntry]:
    return list_companies(settings, include_removed=False)


def find_company(settings: Settings, file_key: str) -> CompanyEntry | None:
    for entry in list_companies(settings):
        if entry.file_key == file_key:
            return entry
    return None


def require_active_company(settings: Settings, file_key: str) -> CompanyEntry:
    """The company file named on a command line, or CompanyError naming the ones there are."""
    entry = find_company(settings, file_key)
    if entry is not None and entry.active:
        return entry
    known = ", ".join(e.file_key for e in active_companies(settings))
    if entry is not None:
        raise CompanyError(
            f"Company file {file_key!r} was removed; `paysync company add {file_key} --name NAME` adds it again."
        )
    raise CompanyError(f"No company file {file_key!r}: PaySync serves {known} (`paysync company list`).")


def stored_procore_company(settings: Settings, procore_company_id: int | None) -> int | None:
    """What CompanyFile.procore_company_id holds for a Procore company: None for PROCORE_COMPANY_ID's
    (so a file follows that setting, and matches the projects imported for it), else the id."""
    if procore_company_id is None or procore_company_id == settings.procore_company_id:
        return None
    return procore_company_id


def _claimed_projects(settings: Settings, *, except_key: str | None = None) -> dict[int, str]:
    """Project id -> the company file that claims it, over the active files (of every Procore
    company: Procore's project ids are unique across companies)."""
    claimed: dict[int, str] = {}
    for entry in active_companies(settings):
        if entry.file_key == except_key:
            continue
        for project_id in entry.procore_project_ids:
            claimed[project_id] = entry.file_key
    return claimed


def add_company(
    settings: Settings,
    file_key: str,
    *,
    name: str,
    password: str,
    actor: str,
    username: str | None = None,
    procore_company_id: int | None = None,
    procore_project_ids: Iterable[int] = (),
    schedule: str | None = None,
    password_iterations: int = DEFAULT_ITERATIONS,
    now: datetime | None = None,
) -> CompanyEntry:
    """Register a company file (or add a removed one again). Raises CompanyError with the reason."""
    try:
        key = check_file_key(file_key, "the company key")
    except ConfigError as exc:
        raise CompanyError(str(exc)) from None
    if key == settings.qbwc_file_key:
        raise CompanyError(
            f"{key!r} is the company file configured in .env (QBWC_FILE_KEY); choose another key for this file."
        )
    label = " ".join(name.split())
    if not label:
        raise CompanyError("Give the company file a name (--name), as the accountants call it.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CompanyError(
            f"The Web Connector password must have at least {MIN_PASSWORD_LENGTH} characters; it is typed into "
            "the Web Connector's Password cell for this file."
        )
    if procore_company_id is not None and procore_company_id <= 0:
        raise CompanyError(
            f"--procore-company-id {procore_company_id} is not a Procore company id; it is the number in the "
            "company's Procore address (https://app.procore.com/<id>/company/home)."
        )
    own_company = stored_procore_company(settings, procore_company_id)
    user = (username or f"paysync-{key}").strip()
    if not user or len(user) > 100:
        raise CompanyError("The Web Connector user name must have 1 to 100 characters.")
    projects = tuple(sorted(set(procore_project_ids)))
    expression = schedule  # checked by the caller (sync.runtime.scheduler.parse_schedule)
    now = now or utc_now()
    with write_transaction():
        existing: CompanyFile | None = CompanyFile.get_or_none(CompanyFile.file_key == key)
        if existing is not None and existing.registered_at is not None and existing.removed_at is None:
            raise CompanyError(f"Company file {key!r} is already there (`paysync company list`).")
        if existing is not None and existing.registered_at is None:
            raise CompanyError(
                f"{key!r} was the key of the company file configured in .env before; choose another key, so "
                "its payments are not mixed with this file's."
            )
        taken = WebConnectorCredential.get_or_none(WebConnectorCredential.username == user)
        if (taken is not None and str(taken.file_key) != key) or user == settings.qbwc_username:
            raise CompanyError(
                f"The Web Connector user {user!r} belongs to another company file; choose another with --username."
            )
        claimed = _claimed_projects(settings, except_key=key)
        overlap = sorted(set(projects) & set(claimed))
        if overlap:
            raise CompanyError(
                f"Procore project {overlap[0]} already belongs to company file {claimed[overlap[0]]!r}; a project's "
                "invoices can match the bills of one company file only."
            )
        # The "unlisted" rule holds per Procore company: a file alone in its company needs no list.
        same_company = own_company if own_company is not None else settings.procore_company_id
        unlisted = [
            entry.file_key
            for entry in active_companies(settings)
            if entry.file_key != key
            and not entry.procore_project_ids
            and entry.procore_company_id == same_company
        ]
        if not projects and unlisted:
            raise CompanyError(
                f"Company file {unlisted[0]!r} already matches against every Procore project not claimed by "
                "another file; give this one its projects with --procore-project-ids 123,456 (Procore's "
                "project ids), so each bill is matched only against its own entity's invoices."
            )
        row = existing or company_file_for(key)
        row.label = label
        row.registered_at = row.registered_at or now
        row.removed_at = None
        row.procore_project_ids = ",".join(str(p) for p in projects) or None
        row.procore_company_id = own_company
        row.schedule = expression
        row.save()
        own_cutoff, _ = company_cutoff_keys(key)
        if get_setting(own_cutoff) is None:
            # Empty: this file has not run yet. Its cutoff is recorded at its own first run, so its
            # payments from before it joined PaySync are pre-existing (never synced).
            set_setting(own_cutoff, "", now=now)
        WebConnectorCredential.delete().where(WebConnectorCredential.file_key == key).execute()
        WebConnectorCredential.create(
            username=user,
            password_hash=hash_password(password, iterations=password_iterations),
            file_key=key,
            updated_at=now,
        )
        AuditLog.create(
            at=now,
            actor=actor[:100],
            action="company.added" if existing is None else "company.added_again",
            target=key,
            detail=json.dumps(
                {
                    "name": label,
                    "username": user,
                    "procore_company_id": own_company,
                    "procore_project_ids": list(projects),
                }
            ),
        )
    entry = find_company(settings, key)
    assert entry is not None
    return entry


@dataclass(frozen=True)
class UnsyncedWork:
    """What a company file still has to do; `paysync company remove` refuses while there is any."""

    queued_queries: int = 0
    payments_waiting: int = 0
    writes_unsettled: int = 0

    @property
    def any(self) -> bool:
        return bool(self.queued_queries or self.payments_waiting or self.writes_unsettled)

    def describe(self) -> str:
        parts = []
        if self.queued_queries:
            parts.append(f"{self.queued_queries} QuickBooks queries waiting for the Web Connector")
        if self.payments_waiting:
            parts.append(f"{self.payments_waiting} payments waiting to reach Procore")
        if self.writes_unsettled:
            parts.append(f"{self.writes_unsettled} Procore writes whose outcome is not confirmed yet")
        return ", ".join(parts)


def unsynced_work(file_key: str) -> UnsyncedWork:
    """From the figures `paysync status` shows for the file: its queue, its payments waiting (those
    not planned yet included) and its unconfirmed writes."""
    return UnsyncedWork(
        queued_queries=sum(queue_counts(file_key).values()),
        payments_waiting=payment_status_counts(file_key)[ErpStatus.WAITING.value],
        writes_unsettled=procore_push_record(file_key)["writes_unsettled"],
    )


@dataclass(frozen=True)
class Removal:
    file_key: str
    left_behind: UnsyncedWork
    cancelled_queries: int


def remove_company(
    settings: Settings, file_key: str, *, actor: str, force: bool = False, now: datetime | None = None
) -> Removal:
    """Stop syncing a registered company file; refused while it has unsynced work unless `force`."""
    if file_key == settings.qbwc_file_key:
        raise CompanyError(
            f"{file_key!r} is the company file configured in .env (QBWC_FILE_KEY); it is not removed with this "
            "command. Remove PaySync from the Web Connector on that machine, or point QBWC_FILE_KEY elsewhere."
        )
    now = now or utc_now()
    with write_transaction():
        row: CompanyFile | None = CompanyFile.get_or_none(CompanyFile.file_key == file_key)
        if row is None or row.registered_at is None or row.removed_at is not None:
            raise CompanyError(f"No company file {file_key!r} to remove (`paysync company list`).")
        work = unsynced_work(file_key)
        if work.any and not force:
            raise CompanyError(
                f"Company file {file_key!r} still has {work.describe()}. Let the next Web Connector session and "
                f"push finish (`paysync status`), or remove it anyway with --force: what is pending then waits "
                "until the file is added again."
            )
        cancelled = (
            QuickBooksWork.update(status="cancelled", finished_at=now)
            .where((QuickBooksWork.file_key == file_key) & (QuickBooksWork.status == "queued"))
            .execute()
        )
        row.removed_at = now
        row.save()
        WebConnectorCredential.delete().where(WebConnectorCredential.file_key == file_key).execute()
        AuditLog.create(
            at=now,
            actor=actor[:100],
            action="company.removed",
            target=file_key,
            detail=json.dumps({"forced": force, "left_behind": work.describe() or None}),
        )
    return Removal(file_key=file_key, left_behind=work, cancelled_queries=int(cancelled))


@dataclass(frozen=True)
class ProcoreImport:
    """One Procore company to import: None is PROCORE_COMPANY_ID's; `project_ids` () means all."""

    company_id: int | None
    project_ids: tuple[int, ...]
    project_ids_from: str


def procore_imports(settings: Settings) -> list[ProcoreImport]:
    """The Procore companies the active company files write to, PROCORE_COMPANY_ID's first. That one
    is limited by PROCORE_PROJECT_IDS; another company is imported whole, unless every file in it
    lists its projects (--procore-project-ids): then only those."""
    imports = [ProcoreImport(None, tuple(settings.procore_project_ids), "PROCORE_PROJECT_IDS")]
    files_by_company: dict[int, list[CompanyEntry]] = {}
    for entry in active_companies(settings):
        if entry.own_procore_company and entry.procore_company_id is not None:
            files_by_company.setdefault(entry.procore_company_id, []).append(entry)
    for company_id in sorted(files_by_company):
        files = files_by_company[company_id]
        listed = all(entry.procore_project_ids for entry in files)
        projects = sorted({p for entry in files for p in entry.procore_project_ids}) if listed else []
        keys = ", ".join(entry.file_key for entry in files)
        imports.append(ProcoreImport(company_id, tuple(projects), f"--procore-project-ids of {keys}"))
    return imports


def procore_companies(settings: Settings) -> list[int | None]:
    """The Procore companies the active company files write to: None (PROCORE_COMPANY_ID's) first,
    then the others by id."""
    return [wanted.company_id for wanted in procore_imports(settings)]


def active_file_keys(settings: Settings) -> list[str]:
    """The company files PaySync serves now: the one in .env first, then those added."""
    keys = [settings.qbwc_file_key]
    keys.extend(
        str(key)
        for (key,) in tuple_rows(
            CompanyFile.select(CompanyFile.file_key)
            .where(CompanyFile.registered_at.is_null(False) & CompanyFile.removed_at.is_null(True))
            .order_by(CompanyFile.file_key)
        )
        if str(key) != settings.qbwc_file_key
    )
    return keys


def record_cutoffs_at_first_run(settings: Settings, actor: str, trigger: str) -> datetime | None:
    """A real run (Procore reached): record the cutoff of every active company file that has none yet.
    Returns the one recorded for the file configured in .env, if this call recorded it."""
    recorded: datetime | None = None
    for key in active_file_keys(settings):
        moment = record_cutoff_at_first_run(actor, trigger, file_key=key)
        if key == settings.qbwc_file_key:
            recorded = moment
    return recorded
