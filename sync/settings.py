"""Configuration from the environment and a `.env` file (python-dotenv).

Precedence: real environment variables win over the `.env` file, which wins over defaults.
Every key is documented in `.env.example`. A bad value raises `ConfigError` naming the key
and saying how to fix it; a line of the `.env` file that cannot be read names the file and line;
a key PaySync does not know (a misspelling such as PROCORE_CLIENTID) is a warning naming the
nearest known key.

`acting_person(interface)` names who is acting, for the audit trail.
"""

from __future__ import annotations

import difflib
import getpass
import ipaddress
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from peewee import Database

from storage import models
from storage.db import open_database
from storage.secrets import KeySource
from storage.settings_store import PROCORE_SIGNED_IN_USER, get_setting, set_setting

log = logging.getLogger(__name__)

DEFAULT_PROCORE_API_BASE = "https://api.procore.com"
DEFAULT_PROCORE_LOGIN_BASE = "https://login.procore.com"
DEFAULT_QBWC_PORT = 8085
DEFAULT_ENV_FILE = ".env"

# Every key PaySync reads (documented in .env.example), for spotting misspelt ones.
KNOWN_KEYS: tuple[str, ...] = (
    "PAYSYNC_DATABASE_URL",
    "PAYSYNC_KEY_FILE",
    "PAYSYNC_SECRET_KEY",
    "PROCORE_API_BASE",
    "PROCORE_LOGIN_BASE",
    "PROCORE_CLIENT_ID",
    "PROCORE_CLIENT_SECRET",
    "PROCORE_COMPANY_ID",
    "PROCORE_PROJECT_IDS",
    "QBWC_HOST",
    "QBWC_PORT",
    "QBWC_PUBLIC_URL",
    "QBWC_USERNAME",
    "QBWC_PASSWORD",
    "QBWC_TLS_CERT",
    "QBWC_TLS_KEY",
    "QBWC_FILE_KEY",
    "PAYSYNC_SCHEDULE",
    "PAYSYNC_ACCOUNTING_APPROVERS",
    "PAYSYNC_DEBUG",
    "PAYSYNC_WEB_PASSWORD",
    "PAYSYNC_LOG_FOLDER",
    "PAYSYNC_PG_DUMP",
)
_OUR_PREFIXES = ("PAYSYNC_", "PROCORE_", "QBWC_")

SERVICE_ACTOR = "paysync serve"
_INTERFACE_FALLBACK = {"console": "the PaySync console", "cli": "the paysync command", "serve": SERVICE_ACTOR}
ACTOR_MAX_LENGTH = 100  # AuditLog.actor, SyncRun.actor


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message says which key and how to fix it."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    procore_api_base: str = DEFAULT_PROCORE_API_BASE
    procore_login_base: str = DEFAULT_PROCORE_LOGIN_BASE
    procore_client_id: str | None = None
    procore_client_secret: str | None = None
    procore_company_id: int | None = None
    procore_project_ids: tuple[int, ...] = ()
    qbwc_host: str = "127.0.0.1"
    qbwc_port: int = DEFAULT_QBWC_PORT
    qbwc_public_url: str | None = None
    qbwc_username: str = "paysync"
    qbwc_password: str | None = None
    qbwc_tls_cert: str | None = None
    qbwc_tls_key: str | None = None
    qbwc_file_key: str = "main"
    schedule: str = "hourly"
    accounting_approvers: tuple[str, ...] = field(default_factory=tuple)
    # Where the key for secrets stored in the database is (storage/secrets.py); both None: the OS
    # keyring where there is one, else a key file in the user's configuration folder.
    secret_key: str | None = None
    key_file: str | None = None
    # `paysync web`: the password a browser must give (or its PBKDF2 hash); checked by console/web/.
    web_password: str | None = field(default=None, repr=False)
    # Operations (docs/operations.md): where log files go (None: the user's log folder), and the
    # pg_dump `paysync backup` runs for PostgreSQL (None: the one on PATH).
    log_folder: str | None = None
    pg_dump: str | None = None
    # Problems worth a warning that did not stop PaySync (a misspelt key in .env); not compared.
    config_warnings: tuple[str, ...] = field(default=(), compare=False)

    def key_source(self) -> KeySource:
        return KeySource(key=self.secret_key, key_file=self.key_file)

    @property
    def qbwc_url(self) -> str:
        """The AppURL written into the .qwc file."""
        if self.qbwc_public_url:
            return self.qbwc_public_url
        scheme = "https" if self.qbwc_tls_cert else "http"
        host = "localhost" if self.qbwc_host in ("127.0.0.1", "0.0.0.0", "::") else self.qbwc_host
        return f"{scheme}://{host}:{self.qbwc_port}/qbwc"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def require_procore(self) -> None:
        missing = [
            key
            for key, value in (
                ("PROCORE_CLIENT_ID", self.procore_client_id),
                ("PROCORE_CLIENT_SECRET", self.procore_client_secret),
                ("PROCORE_COMPANY_ID", self.procore_company_id),
            )
            if not value
        ]
        if missing:
            names, verb, pronoun = ", ".join(missing), "is" if len(missing) == 1 else "are", "it"
            if len(missing) > 1:
                pronoun = "them"
            raise ConfigError(
                f"{names} {verb} not set: add {pronoun} to .env (see .env.example) with the values "
                "of your Procore app (Developer Portal → your app → OAuth credentials) and company id."
            )

    def require_qbwc_password(self) -> str:
        if not self.qbwc_password:
            raise ConfigError(
                "QBWC_PASSWORD is not set: choose a password, put it in .env, and type the same "
                "password into the QuickBooks Web Connector when you add the .qwc file."
            )
        if len(self.qbwc_password) < 8:
            raise ConfigError("QBWC_PASSWORD is shorter than 8 characters: choose a longer one.")
        return self.qbwc_password


def _int(env: Mapping[str, str], key: str, default: int | None) -> int | None:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a whole number: write e.g. {key}=12345") from None


def _int_list(env: Mapping[str, str], key: str) -> tuple[int, ...]:
    raw = env.get(key, "").strip()
    if not raw:
        return ()
    values: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(int(part))
        except ValueError:
            raise ConfigError(
                f"{key} has {part!r}, which is not a Procore id: write a comma list like {key}=1001,1002"
            ) from None
    return tuple(values)


def _str_list(env: Mapping[str, str], key: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in env.get(key, "").split(",") if p.strip())


def _opt(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key, "").strip()
    return value or None


def is_loopback(host: str) -> bool:
    """localhost, 127.x.x.x or ::1: this machine only (the sandbox and the tests run there)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _procore_base(env: Mapping[str, str], key: str, default: str) -> str:
    """PROCORE_API_BASE / PROCORE_LOGIN_BASE: https only (the access token and the client secret
    travel there), except a loopback address (the sandbox, the tests)."""
    raw = (_opt(env, key) or default).rstrip("/")
    parsed = urlparse(raw)
    example = default
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"{key}={raw!r} is not a web address: write it as {example} (https://, the host, no path)."
        )
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        raise ConfigError(
            f"{key}={raw!r} uses plain http://: PaySync talks to Procore only over https://, because the "
            f"Procore sign-in travels with every request. Write {key}=https://{parsed.netloc} "
            "(http:// is accepted only for a test server on this machine, such as http://127.0.0.1)."
        )
    return raw


def _public_url(env: Mapping[str, str]) -> str | None:
    raw = _opt(env, "QBWC_PUBLIC_URL")
    if raw is None:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"QBWC_PUBLIC_URL={raw!r} is not a web address: write the address the Web Connector reaches "
            "PaySync at, ending in /qbwc, e.g. QBWC_PUBLIC_URL=https://paysync.example.com/qbwc"
        )
    if not parsed.path.endswith("/qbwc") or parsed.query or parsed.fragment:
        fixed = f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/qbwc"
        if parsed.path.rstrip("/").endswith("/qbwc"):
            fixed = f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"
        raise ConfigError(
            f"QBWC_PUBLIC_URL={raw!r} must end in /qbwc, the path where PaySync answers the Web Connector: "
            f"write e.g. QBWC_PUBLIC_URL={fixed}"
        )
    return raw


def check_file_key(file_key: str, what: str) -> str:
    """A company file's key: it becomes part of Procore origin ids (DESIGN rule 3)."""
    if not file_key or not file_key.replace("-", "").replace("_", "").isascii():
        valid = False
    else:
        valid = file_key.replace("-", "").replace("_", "").isalnum() and len(file_key) <= 32
    if not valid:
        shown = f"{what}={file_key!r}" if what.isupper() else f"{what} {file_key!r}"
        raise ConfigError(
            f"{shown}: use up to 32 letters, digits, '-' or '_' (it becomes part of Procore origin ids)."
        )
    return file_key


def settings_from_mapping(env: Mapping[str, str]) -> Settings:
    port = _int(env, "QBWC_PORT", DEFAULT_QBWC_PORT)
    assert port is not None
    if not 0 <= port <= 65535:
        raise ConfigError(f"QBWC_PORT={port} is not a TCP port: use a number from 1 to 65535")
    cert, key = _opt(env, "QBWC_TLS_CERT"), _opt(env, "QBWC_TLS_KEY")
    if bool(cert) != bool(key):
        raise ConfigError(
            "Set both QBWC_TLS_CERT and QBWC_TLS_KEY (the certificate and its private key), or neither."
        )
    for name, path in (("QBWC_TLS_CERT", cert), ("QBWC_TLS_KEY", key)):
        if path and not Path(path).expanduser().is_file():
            raise ConfigError(f"{name}={path!r}: no such file. Give the path of the PEM file.")
    file_key = check_file_key(env.get("QBWC_FILE_KEY", "main").strip() or "main", "QBWC_FILE_KEY")
    return Settings(
        database_url=_opt(env, "PAYSYNC_DATABASE_URL"),
        procore_api_base=_procore_base(env, "PROCORE_API_BASE", DEFAULT_PROCORE_API_BASE),
        procore_login_base=_procore_base(env, "PROCORE_LOGIN_BASE", DEFAULT_PROCORE_LOGIN_BASE),
        procore_client_id=_opt(env, "PROCORE_CLIENT_ID"),
        procore_client_secret=_opt(env, "PROCORE_CLIENT_SECRET"),
        procore_company_id=_int(env, "PROCORE_COMPANY_ID", None),
        procore_project_ids=_int_list(env, "PROCORE_PROJECT_IDS"),
        qbwc_host=_opt(env, "QBWC_HOST") or "127.0.0.1",
        qbwc_port=port,
        qbwc_public_url=_public_url(env),
        qbwc_username=_opt(env, "QBWC_USERNAME") or "paysync",
        qbwc_password=_opt(env, "QBWC_PASSWORD"),
        qbwc_tls_cert=cert,
        qbwc_tls_key=key,
        qbwc_file_key=file_key,
        schedule=_opt(env, "PAYSYNC_SCHEDULE") or "hourly",
        accounting_approvers=_str_list(env, "PAYSYNC_ACCOUNTING_APPROVERS"),
        secret_key=_opt(env, "PAYSYNC_SECRET_KEY"),
        key_file=_opt(env, "PAYSYNC_KEY_FILE"),
        web_password=_opt(env, "PAYSYNC_WEB_PASSWORD"),
        log_folder=_opt(env, "PAYSYNC_LOG_FOLDER"),
        pg_dump=_opt(env, "PAYSYNC_PG_DUMP"),
    )


def _suggestion(key: str) -> str | None:
    close = difflib.get_close_matches(key.upper(), KNOWN_KEYS, n=1, cutoff=0.75)
    return close[0] if close else None


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The values of a .env file and warnings about its keys. A line python-dotenv cannot parse
    raises ConfigError naming the file and the line (dotenv itself would only log and skip it)."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            bindings = list(parse_stream(handle))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not a text file in UTF-8 (byte {exc.start} cannot be read): save it as UTF-8 "
            "(plain text) and try again."
        ) from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path} ({exc.strerror or exc}).") from None
    warnings: list[str] = []
    for binding in bindings:
        raw = binding.original.string
        # dotenv counts a binding from the blank lines before it; name the line the text is on.
        line = binding.original.line + raw[: len(raw) - len(raw.lstrip())].count("\n")
        text = raw.strip()
        if binding.error:
            shown = text if len(text) <= 60 else text[:57] + "…"
            raise ConfigError(
                f"{path}:{line}: this line cannot be read ({shown!r}). Write KEY=value, one per line; "
                'put quotes around a value with spaces or # (KEY="a value"), close every quote, and '
                "start comments with #."
            )
        key = binding.key
        if key is None or key in KNOWN_KEYS:
            continue
        nearest = _suggestion(key)
        if nearest is not None:
            warnings.append(
                f"{path}:{line}: {key} is not a PaySync setting, so it is ignored. Did you mean {nearest}?"
            )
        elif key.upper().startswith(_OUR_PREFIXES):
            warnings.append(
                f"{path}:{line}: {key} is not a PaySync setting, so it is ignored (.env.example lists them)."
            )
    with path.open(encoding="utf-8-sig") as handle:
        values = {k: v for k, v in dotenv_values(stream=handle).items() if v is not None}
    return values, warnings


def load_settings(
    env_file: str | Path | None = DEFAULT_ENV_FILE,
    environ: Mapping[str, str] | None = None,
    *,
    must_exist: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Read settings: the process environment over the `.env` file over the defaults.

    `must_exist`: the file was named on purpose (`--env-file FILE`), so its absence is a
    ConfigError; the default `.env` may be absent. `warn` receives each warning (a misspelt key);
    they are also kept in `Settings.config_warnings`."""
    warnings: list[str] = []
    merged = load_raw_environment(env_file, environ, must_exist=must_exist, warnings=warnings)
    for warning in warnings:
        if warn is not None:
            warn(warning)
    settings = settings_from_mapping(merged)
    return replace(settings, config_warnings=tuple(warnings)) if warnings else settings


def load_raw_environment(
    env_file: str | Path | None = DEFAULT_ENV_FILE,
    environ: Mapping[str, str] | None = None,
    *,
    must_exist: bool = False,
    warnings: list[str] | None = None,
) -> dict[str, str]:
    """The values load_settings reads (environment over file), unchecked; warnings are appended."""
    merged: dict[str, str] = {}
    if env_file is not None:
        path = Path(env_file).expanduser()
        if path.is_dir():
            raise ConfigError(f"--env-file {env_file}: that is a folder; name the .env file in it.")
        if path.exists():
            values, found = read_env_file(path)
            merged.update(values)
            if warnings is not None:
                warnings.extend(found)
        elif must_exist:
            raise ConfigError(
                f"--env-file {env_file}: no such file. Give the path of your configuration file (make one "
                "from .env.example), or leave --env-file out to read .env in the current folder."
            )
    merged.update(os.environ if environ is None else environ)
    return merged


def open_settings_database(settings: Settings, *, new_database: bool = False) -> Database:
    """Open (and migrate) the database the settings name, with their secret key source."""
    return open_database(settings.database_url, new_database=new_database, secrets=settings.key_source())


# ---------------------------------------------------------------------------------------------
# Who is acting (the audit trail)


def remember_signed_in_user(me: Mapping[str, Any]) -> None:
    """Keep who `paysync login` signed in (Procore's /me: id, login, name); the database must be open."""
    value = json.dumps({"id": me.get("id"), "login": me.get("login"), "name": me.get("name")}, default=str)
    set_setting(PROCORE_SIGNED_IN_USER, value)


def signed_in_procore_user() -> str | None:
    """The person signed in with `paysync login` whose sign-in PaySync uses, as
    "Jane Doe (jane@example.com, Procore user 42)"; None without one (client credentials)."""
    if models.database_proxy.obj is None:
        return None
    try:
        grant = (
            models.ProcoreToken.select(models.ProcoreToken.grant_type)
            .where(models.ProcoreToken.name == "default")
            .scalar()
        )
        if grant != "authorization_code":
            return None
        raw = get_setting(PROCORE_SIGNED_IN_USER)
    except Exception:  # an unreadable database is reported elsewhere; naming the actor must not fail
        log.debug("could not read the signed-in Procore user", exc_info=True)
        return None
    if not raw:
        return None
    try:
        me = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(me, dict):
        return None
    name, login, user_id = me.get("name"), me.get("login"), me.get("id")
    details = ", ".join(str(part) for part in (login, f"Procore user {user_id}" if user_id else None) if part)
    label = f"{name or login or f'Procore user {user_id}'}"
    if details and details != label:
        label = f"{label} ({details})"
    return label


def computer_user() -> str | None:
    """The operating-system account running this process, if it can be told."""
    try:
        name = getpass.getuser()
    except Exception:  # no login name in a bare container (KeyError, OSError)
        return None
    return name.strip() or None


def acting_person(interface: str) -> str:
    """Who is acting, for AuditLog.actor, SyncRun.actor and the journal of Procore writes.

    `interface` is "console", "cli" (a person at this computer) or "serve" (the service). In order:
    the Procore user signed in with `paysync login` (PaySync acts in Procore as that person); else,
    at the console or the CLI, the computer account ("jdoe (computer account)"); else the service,
    "paysync serve"."""
    person = signed_in_procore_user()
    if person is None and interface in ("console", "cli"):
        user = computer_user()
        person = f"{user} (computer account)" if user else None
    if person is None:
        person = _INTERFACE_FALLBACK.get(interface, SERVICE_ACTOR)
    return person[:ACTOR_MAX_LENGTH]
