"""The checks that need no Procore: configuration and secrets, the database, the Web Connector, the
schedule and the cutoff. Network checks (the public URL) use short timeouts."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
from cryptography import x509

from storage import models
from storage.leases import schedule_holder
from storage.migrations import LATEST_VERSION, current_version
from storage.models import CompanyFile
from storage.secrets import KEY_ENV, KEY_FILE_ENV, default_key_file
from storage.settings_store import LAST_BACKUP_AT, delete_setting, get_setting, set_setting
from sync.doctor.check import Check, fail, ok, warn
from sync.quickbooks.companies import active_file_keys
from sync.quickbooks.company_file import (
    NEEDED_QUICKBOOKS,
    describe_country_refusal,
    describe_version_refusal,
    supports_needed_version,
)
from sync.quickbooks.cutoff import schedule_cutoff
from sync.runtime.scheduler import company_schedules, parse_schedule
from sync.runtime.status import iso_utc, permission_warnings
from sync.settings import ConfigError, Settings, is_loopback

CONFIG = "Configuration"
DATABASE = "Database"
WEB_CONNECTOR = "Web Connector"
SCHEDULE = "Schedule"

DEFAULT_BACKUP_MAX_AGE = timedelta(days=7)
CONTACT_MAX_AGE = timedelta(days=2)  # a Web Connector silent longer than this has likely stopped
CERT_WARN_BEFORE = timedelta(days=30)
NETWORK_TIMEOUT = 5.0  # seconds: the doctor must answer promptly even when something is down
_WRITE_PROBE_KEY = "doctor_write_check"


def _ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if seconds < 120:
        return "just now"
    if seconds < 7200:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


# ---------------------------------------------------------------------------------------------
# Configuration and secrets


def configuration_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    if settings.config_warnings:
        checks.append(
            warn(
                CONFIG,
                "Settings",
                f"{len(settings.config_warnings)} problem(s) in the configuration: {settings.config_warnings[0]}",
                "Correct the keys named (.env.example lists every setting).",
            )
        )
    else:
        checks.append(ok(CONFIG, "Settings", "the configuration reads without a warning"))
    try:
        settings.require_procore()
        checks.append(ok(CONFIG, "Procore settings", f"app and company {settings.procore_company_id} set"))
    except ConfigError as exc:
        checks.append(fail(CONFIG, "Procore settings", "Procore is not configured", str(exc)))
    try:
        settings.require_qbwc_password()
        checks.append(ok(CONFIG, "Web Connector password", "set, 8 characters or more"))
    except ConfigError as exc:
        checks.append(fail(CONFIG, "Web Connector password", "not usable", str(exc)))
    checks.append(_secret_key_check(settings))
    problems = permission_warnings(settings)
    if problems:
        checks.append(
            fail(
                CONFIG,
                "File modes",
                problems[0].removeprefix("Others may read PaySync's data or key: ").rstrip("."),
                "Make PaySync's data folder 0700 and its files 0600 (the chmod above); docs/security.md.",
            )
        )
    else:
        checks.append(ok(CONFIG, "File modes", "the data and the key are readable by their owner only"))
    return checks


def _secret_key_check(settings: Settings) -> Check:
    if settings.secret_key or os.environ.get(KEY_ENV):
        return ok(CONFIG, "Secret key", f"given by {KEY_ENV}")
    key_file = Path(settings.key_file or os.environ.get(KEY_FILE_ENV) or default_key_file()).expanduser()
    if key_file.is_file():
        return ok(CONFIG, "Secret key", f"in {key_file}, outside the database")
    return warn(
        CONFIG,
        "Secret key",
        f"no key file at {key_file} (the system keyring may hold it)",
        f"Set {KEY_FILE_ENV} or {KEY_ENV}, or let PaySync create the key at its first sign-in; keep a "
        "copy apart from the database backups (docs/security.md).",
    )


# ---------------------------------------------------------------------------------------------
# The database (it is open when these run)


def database_checks(*, now: datetime, backup_max_age: timedelta = DEFAULT_BACKUP_MAX_AGE) -> list[Check]:
    db = models.database_proxy.obj
    if db is None:
        return [
            fail(
                DATABASE,
                "Reachable",
                "the database is not open",
                "Check PAYSYNC_DATABASE_URL and run `paysync doctor` again.",
            )
        ]
    kind = "PostgreSQL" if "postgres" in type(db).__name__.lower() else "SQLite"
    checks = [ok(DATABASE, "Reachable", f"the {kind} database answers")]
    version = current_version(db)
    if version == LATEST_VERSION:
        checks.append(ok(DATABASE, "Schema version", f"{version}, this PaySync's"))
    else:
        checks.append(
            fail(
                DATABASE,
                "Schema version",
                f"{version}, this PaySync expects {LATEST_VERSION}",
                "Run the PaySync that matches this database, or open it once with this one to migrate it.",
            )
        )
    try:
        set_setting(_WRITE_PROBE_KEY, iso_utc(now) or "")
        delete_setting(_WRITE_PROBE_KEY)
        checks.append(ok(DATABASE, "Writable", "a test row was written and removed"))
    except Exception as exc:  # a read-only file, a revoked grant: the finding itself
        checks.append(
            fail(
                DATABASE,
                "Writable",
                f"a write was refused: {' '.join(str(exc).split())}"[:200],
                "Give PaySync's account write access to the database (file or PostgreSQL grants).",
            )
        )
    checks.append(backup_check(now=now, max_age=backup_max_age))
    return checks


def backup_check(*, now: datetime, max_age: timedelta = DEFAULT_BACKUP_MAX_AGE) -> Check:
    raw = get_setting(LAST_BACKUP_AT)
    fix = "Run `paysync backup PATH` (and schedule it), so a lost disk does not lose what was synced."
    if not raw:
        return warn(DATABASE, "Backup", "no backup on record", fix)
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return warn(DATABASE, "Backup", f"the recorded backup time {raw!r} cannot be read", fix)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if now - at > max_age:
        return warn(
            DATABASE,
            "Backup",
            f"the last backup is {_ago(at, now)} ({iso_utc(at)}), older than {max_age.days} days",
            fix,
        )
    return ok(DATABASE, "Backup", f"the last backup was {_ago(at, now)} ({iso_utc(at)})")


# ---------------------------------------------------------------------------------------------
# The Web Connector


def web_connector_checks(settings: Settings, *, now: datetime) -> list[Check]:
    """One pair of checks per company file (several files each have their own Web Connector user),
    then the endpoint's TLS certificate and whether its public URL answers from here."""
    checks: list[Check] = []
    files = list(
        CompanyFile.select().where(CompanyFile.removed_at.is_null(True)).order_by(CompanyFile.file_key)
    )
    if not any(str(row.file_key) == settings.qbwc_file_key for row in files):
        checks.append(
            warn(
                WEB_CONNECTOR,
                f"Contact ({settings.qbwc_file_key})",
                "the Web Connector has never polled PaySync for this company file",
                "Load `paysync qwc` into the QuickBooks Web Connector, enter QBWC_PASSWORD, and run it once.",
            )
        )
    for row in files:
        checks.extend(_company_file_checks(row, now=now))
    checks.append(tls_check(settings, now=now))
    checks.append(public_url_check(settings))
    return checks


def _company_file_checks(row: CompanyFile, *, now: datetime) -> list[Check]:
    key = str(row.file_key)
    checks: list[Check] = []
    last: datetime | None = row.last_contact_at
    if last is None:
        checks.append(
            warn(
                WEB_CONNECTOR,
                f"Contact ({key})",
                "never polled",
                "Run the Web Connector (or check its schedule); `paysync qwc` gives the file to load.",
            )
        )
    elif now - last > CONTACT_MAX_AGE:
        checks.append(
            warn(
                WEB_CONNECTOR,
                f"Contact ({key})",
                f"last poll {_ago(last, now)} ({iso_utc(last)})",
                "Check the Web Connector is running on the QuickBooks computer with Auto-Run on, and "
                "that QuickBooks is open or the file is reachable.",
            )
        )
    elif row.last_error:
        checks.append(
            warn(
                WEB_CONNECTOR,
                f"Contact ({key})",
                f"last poll {_ago(last, now)}, with an error: {' '.join(str(row.last_error).split())}"[:300],
                "Fix what the error says (it is also in the event log) and run the Web Connector again.",
            )
        )
    else:
        checks.append(ok(WEB_CONNECTOR, f"Contact ({key})", f"last poll {_ago(last, now)} ({iso_utc(last)})"))
    name = row.company_name or "the company file"
    country = (row.country or "").strip().upper()
    supported = tuple(v.strip() for v in str(row.supported_qbxml_versions or "").split(",") if v.strip())
    if country and country != "US":
        checks.append(
            fail(
                WEB_CONNECTOR,
                f"Company file ({key})",
                f"{name}: QuickBooks Desktop country {country}, not the U.S. edition",
                describe_country_refusal(country),
            )
        )
    elif supported and not supports_needed_version(supported):
        checks.append(
            fail(
                WEB_CONNECTOR,
                f"Company file ({key})",
                f"{name}: {row.product_name or 'QuickBooks'} is older than {NEEDED_QUICKBOOKS}",
                describe_version_refusal(row.product_name, supported),
            )
        )
    elif not country:
        checks.append(
            warn(
                WEB_CONNECTOR,
                f"Company file ({key})",
                "its country and QuickBooks version are not known yet",
                "They are read at the Web Connector's first poll: run it once.",
            )
        )
    else:
        product = row.product_name or "QuickBooks Desktop"
        checks.append(
            ok(
                WEB_CONNECTOR,
                f"Company file ({key})",
                f"{name}: {product}, U.S. edition, within the supported range",
            )
        )
    return checks


def tls_check(settings: Settings, *, now: datetime) -> Check:
    url = urlparse(settings.qbwc_url)
    host = url.hostname or ""
    local = is_loopback(host)
    if settings.qbwc_tls_cert:
        return _certificate_check(Path(settings.qbwc_tls_cert).expanduser(), now=now)
    if local:
        return ok(
            WEB_CONNECTOR, "TLS certificate", "none needed: the Web Connector reaches PaySync on this machine"
        )
    if url.scheme == "https":
        return ok(
            WEB_CONNECTOR,
            "TLS certificate",
            f"{settings.qbwc_url} is https; PaySync does not hold the certificate (a proxy in front does)",
        )
    return fail(
        WEB_CONNECTOR,
        "TLS certificate",
        f"{settings.qbwc_url} is plain http on another machine: the Web Connector refuses it",
        "Set QBWC_TLS_CERT and QBWC_TLS_KEY (or put PaySync behind an https proxy) and an https QBWC_PUBLIC_URL.",
    )


def _certificate_check(path: Path, *, now: datetime) -> Check:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return fail(
            WEB_CONNECTOR,
            "TLS certificate",
            f"{path} cannot be read as a PEM certificate ({type(exc).__name__})",
            "Point QBWC_TLS_CERT at the certificate in PEM form (the text starting -----BEGIN CERTIFICATE-----).",
        )
    expires = certificate.not_valid_after_utc
    starts = certificate.not_valid_before_utc
    renew = "Renew the certificate, put the new one at QBWC_TLS_CERT (and its key at QBWC_TLS_KEY), restart `paysync serve`."
    if expires <= now:
        return fail(WEB_CONNECTOR, "TLS certificate", f"{path} expired on {iso_utc(expires)}", renew)
    if starts > now:
        return fail(WEB_CONNECTOR, "TLS certificate", f"{path} is not valid before {iso_utc(starts)}", renew)
    if expires - now < CERT_WARN_BEFORE:
        return warn(
            WEB_CONNECTOR,
            "TLS certificate",
            f"{path} expires in {(expires - now).days} days ({iso_utc(expires)})",
            renew,
        )
    return ok(WEB_CONNECTOR, "TLS certificate", f"valid until {iso_utc(expires)}")


def public_url_check(settings: Settings) -> Check:
    url = settings.qbwc_url
    try:
        response = httpx.get(url, timeout=NETWORK_TIMEOUT)
    except httpx.ConnectError as exc:
        if "CERTIFICATE" in str(exc).upper():
            return warn(
                WEB_CONNECTOR,
                "Public URL",
                f"{url} answers, but this machine does not trust its certificate",
                "The Web Connector's computer must trust it too: use a certificate from a public CA, or "
                "install yours as trusted there.",
            )
        return fail(
            WEB_CONNECTOR,
            "Public URL",
            f"no answer at {url} from this machine",
            "Start `paysync serve` (or the console with --with-web-connector), and check QBWC_PUBLIC_URL, "
            "the firewall and the port forward.",
        )
    except httpx.HTTPError as exc:
        return fail(
            WEB_CONNECTOR,
            "Public URL",
            f"{url} did not answer in time ({type(exc).__name__})",
            "Check that `paysync serve` runs and QBWC_PUBLIC_URL points at it.",
        )
    return ok(WEB_CONNECTOR, "Public URL", f"{url} answers (HTTP {response.status_code})")


# ---------------------------------------------------------------------------------------------
# The schedule and the cutoff


def schedule_checks(settings: Settings, *, now: datetime) -> list[Check]:
    checks: list[Check] = []
    try:
        schedule = parse_schedule(settings.schedule)
    except ConfigError as exc:
        checks.append(
            fail(SCHEDULE, "Schedule", f"PAYSYNC_SCHEDULE={settings.schedule!r} is invalid", str(exc))
        )
    else:
        following = schedule.next_run(now)
        if following is None:
            checks.append(
                warn(
                    SCHEDULE,
                    "Schedule",
                    "never: nothing syncs unless someone syncs by hand",
                    "Set PAYSYNC_SCHEDULE (hourly, every-2-hours, every-4-hours, daily, or a cron expression).",
                )
            )
        else:
            checks.append(ok(SCHEDULE, "Schedule", f"{schedule.expression}; next run {iso_utc(following)}"))
    try:
        own_schedules = company_schedules(settings).entries
    except ConfigError:
        own_schedules = ()
    for key, own in own_schedules:  # company files added with their own schedule
        if key == settings.qbwc_file_key or own.expression == settings.schedule:
            continue
        following = own.next_run(now)
        checks.append(
            ok(SCHEDULE, f"Schedule ({key})", f"{own.expression}; next run {iso_utc(following)}")
            if following is not None
            else warn(
                SCHEDULE,
                f"Schedule ({key})",
                "never: this company file syncs only by hand",
                f"Add it again with a schedule: `paysync company remove {key}` then `paysync company add {key} "
                "--schedule hourly ...`.",
            )
        )
    holder = schedule_holder()
    if holder is None:
        checks.append(
            warn(
                SCHEDULE,
                "Runs in",
                "no PaySync process runs the schedule right now",
                "Start `paysync serve` (as a service) on the machine that runs PaySync.",
            )
        )
    else:
        checks.append(ok(SCHEDULE, "Runs in", holder.describe()))
    for key in active_file_keys(settings):  # each company file has its own cutoff
        title = "Cutoff" if key == settings.qbwc_file_key else f"Cutoff ({key})"
        option = "" if key == settings.qbwc_file_key else f"--company {key} "
        cutoff = schedule_cutoff(key)
        if cutoff is None:
            checks.append(
                warn(
                    SCHEDULE,
                    title,
                    "not set yet: PaySync records it at its first real run",
                    f"Set it on purpose before go-live: `paysync cutoff {option}--set 2026-12-01` (payments "
                    "created earlier in QuickBooks are never synced).",
                )
            )
        else:
            checks.append(
                ok(
                    SCHEDULE,
                    title,
                    f"{iso_utc(cutoff)}: payments created earlier in QuickBooks are not synced",
                )
            )
    return checks
