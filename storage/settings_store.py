"""The small facts PaySync remembers between runs (the `Setting` key/value table), read and written
here only, under the keys named below.

Every key PaySync stores is a constant of this module, so one look tells what the table can hold
and who writes it. Values are text (JSON where they have parts). The leases (storage/leases.py)
take their rows by compare-and-swap, under the same key constants.
"""

from __future__ import annotations

from datetime import datetime

from peewee import fn

from storage import models
from storage.fields import utc_now
from storage.models import Setting

# The schedule (sync.runtime.scheduler) and the cutoff (sync.quickbooks.cutoff, sync.runtime.cutoff).
SCHEDULE_EXPRESSION = "schedule_expression"  # the schedule in use, as configured ("hourly", a cron)
SCHEDULE_CUTOFF = "schedule_cutoff"  # ISO date-time: payments QuickBooks created before it are pre-existing
SCHEDULE_CUTOFF_SOURCE = (
    "schedule_cutoff_source"  # JSON: how the cutoff came to be (recorded or set), by whom
)


def company_cutoff_keys(file_key: str) -> tuple[str, str]:
    """A company file's own cutoff keys (a file added with `paysync company add`; sync.quickbooks.cutoff)."""
    return f"{SCHEDULE_CUTOFF}:{file_key}", f"{SCHEDULE_CUTOFF_SOURCE}:{file_key}"


# Procore (sync.procore, written after each operation; read by the console and `paysync status`).
PROCORE_RATE_LIMIT = (  # the last X-Rate-Limit-* figures: limit, remaining, reset (ISO)
    "procore_rate_limit_limit",
    "procore_rate_limit_remaining",
    "procore_rate_limit_reset",
)
PROCORE_COMPANY_CURRENCY = "procore_company_currency"  # ISO code; commitments without one are in it
PROCORE_SIGNED_IN_USER = "procore_signed_in_user"  # JSON of Procore's /me for `paysync login`


def procore_import_watermark(project_id: int, what: str) -> str:
    """When the last import of a project's `what` ("commitments", "invoices") started (ISO)."""
    return f"procore_import:{project_id}:{what}"


# That this database has listed a commitment's Payments Issued (sync.engine.listings): JSON with
# when, and the origin ids in PaySync's form found there that no payment of this database held. Until
# a commitment has one, a push lists it before creating on it; a database restored from a backup
# must forget them all (sync.engine.listings.forget_payment_listings).
PROCORE_PAYMENTS_LISTED_PREFIX = "procore_payments_listed:"


def procore_payments_listed(contract_id: int) -> str:
    return f"{PROCORE_PAYMENTS_LISTED_PREFIX}{contract_id}"


# `paysync doctor` (sync/doctor): what its probes found out about this Procore (JSON with when; read by
# the engine: sync/doctor/findings.py), and the last good backup `paysync backup` recorded (ISO UTC).
DOCTOR_PROBE_FINDINGS = "doctor_probe_findings"
# The last good `paysync backup` (storage/backup.py), ISO UTC; `paysync doctor` reads it.
LAST_BACKUP_AT = "last_backup_at"

# Leases (storage/leases.py): JSON naming the holder and when the lease expires.
PUSH_LEASE = "sync_push_lease"  # one push at a time
SCHEDULE_LEASE = "schedule_lease"  # one process runs the schedule


def get_setting(key: str) -> str | None:
    """The stored text, or None when the key was never written (or was deleted).

    Plain SQL: it is read inside every page the Web Connector stores (the cutoff), where peewee's
    building of the statement cost more than the statement (docs/performance.md)."""
    database = Setting._meta.database
    cursor = database.execute_sql(_GET_SETTING_SQL.format(mark=database.param), (key,))
    row = cursor.fetchone()
    return None if row is None else str(row[0])


_GET_SETTING_SQL = 'SELECT "value" FROM "setting" WHERE "key" = {mark}'


def get_settings(*keys: str) -> dict[str, str]:
    """The stored text of those of `keys` that were written, in one statement."""
    if not keys:
        return {}
    database = Setting._meta.database
    marks = ", ".join(database.param for _ in keys)
    cursor = database.execute_sql(f'SELECT "key", "value" FROM "setting" WHERE "key" IN ({marks})', keys)
    return {str(key): str(value) for key, value in cursor.fetchall()}


def set_setting(key: str, value: str, *, now: datetime | None = None) -> None:
    """Write `value` under `key`, whether or not it was there (one statement, in a transaction)."""
    at = now or utc_now()
    with models.database_proxy.atomic():
        Setting.insert(key=key, value=value, updated_at=at).on_conflict(
            conflict_target=[Setting.key], update={Setting.value: value, Setting.updated_at: at}
        ).execute()


def delete_setting(*keys: str) -> None:
    """Forget these keys (nothing happens for a key that is not there)."""
    Setting.delete().where(Setting.key.in_(keys)).execute()


def delete_settings_starting_with(prefix: str) -> int:
    """Forget every key that starts with `prefix` (a family of keys, such as one per commitment);
    returns how many there were."""
    if not prefix:
        raise ValueError("a prefix is needed: this would forget every setting")
    # SUBSTR, not LIKE: the prefix's underscores must not match any character.
    return int(Setting.delete().where(fn.SUBSTR(Setting.key, 1, len(prefix)) == prefix).execute())
