"""Configuration from the environment and a `.env` file (python-dotenv).

Precedence: real environment variables win over the `.env` file, which wins over defaults.
Every key is documented in `.env.example`. A bad value raises `ConfigError` naming the key
and saying how to fix it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values
from peewee import Database

from storage.db import open_database
from storage.secrets import KeySource

DEFAULT_PROCORE_API_BASE = "https://api.procore.com"
DEFAULT_PROCORE_LOGIN_BASE = "https://login.procore.com"
DEFAULT_QBWC_PORT = 8085


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
            raise ConfigError(
                f"{', '.join(missing)} not set: add them to .env (see .env.example) with the values "
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
    file_key = env.get("QBWC_FILE_KEY", "main").strip() or "main"
    if not file_key.replace("-", "").replace("_", "").isalnum() or len(file_key) > 32:
        raise ConfigError(
            f"QBWC_FILE_KEY={file_key!r}: use up to 32 letters, digits, '-' or '_' (it becomes part of Procore origin ids)."
        )
    return Settings(
        database_url=_opt(env, "PAYSYNC_DATABASE_URL"),
        procore_api_base=(_opt(env, "PROCORE_API_BASE") or DEFAULT_PROCORE_API_BASE).rstrip("/"),
        procore_login_base=(_opt(env, "PROCORE_LOGIN_BASE") or DEFAULT_PROCORE_LOGIN_BASE).rstrip("/"),
        procore_client_id=_opt(env, "PROCORE_CLIENT_ID"),
        procore_client_secret=_opt(env, "PROCORE_CLIENT_SECRET"),
        procore_company_id=_int(env, "PROCORE_COMPANY_ID", None),
        procore_project_ids=_int_list(env, "PROCORE_PROJECT_IDS"),
        qbwc_host=_opt(env, "QBWC_HOST") or "127.0.0.1",
        qbwc_port=port,
        qbwc_public_url=_opt(env, "QBWC_PUBLIC_URL"),
        qbwc_username=_opt(env, "QBWC_USERNAME") or "paysync",
        qbwc_password=_opt(env, "QBWC_PASSWORD"),
        qbwc_tls_cert=cert,
        qbwc_tls_key=key,
        qbwc_file_key=file_key,
        schedule=_opt(env, "PAYSYNC_SCHEDULE") or "hourly",
        accounting_approvers=_str_list(env, "PAYSYNC_ACCOUNTING_APPROVERS"),
        secret_key=_opt(env, "PAYSYNC_SECRET_KEY"),
        key_file=_opt(env, "PAYSYNC_KEY_FILE"),
    )


def load_settings(env_file: str | Path | None = ".env", environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings: the process environment over the `.env` file over the defaults."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return settings_from_mapping(merged)


def open_settings_database(settings: Settings, *, new_database: bool = False) -> Database:
    """Open (and migrate) the database the settings name, with their secret key source."""
    return open_database(settings.database_url, new_database=new_database, secrets=settings.key_source())
