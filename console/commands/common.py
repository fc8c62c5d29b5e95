"""What every `paysync` command shares: the exit statuses, the "could not run" error, and reading
the configuration and opening its database the same way."""

from __future__ import annotations

import argparse
import sys

from storage.db import DatabaseConfigError
from storage.migrations import SchemaTooNewError
from storage.secrets import SecretKeyError
from sync.settings import DEFAULT_ENV_FILE, ConfigError, Settings, load_settings, open_settings_database

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

# Errors that mean "it could not run": a message, exit status 2, no traceback.
CONFIG_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    DatabaseConfigError,
    SchemaTooNewError,
    SecretKeyError,
)


class CouldNotRun(Exception):
    """The command could not do its job (exit status 2); the message says why and what to do."""


def warn(message: str) -> None:
    print(f"paysync: warning: {message}", file=sys.stderr)


def settings_for(args: argparse.Namespace) -> Settings:
    """The configuration; `--env-file FILE` given on purpose must exist (the default .env may not)."""
    named = getattr(args, "env_file", None)
    return load_settings(named or DEFAULT_ENV_FILE, must_exist=named is not None, warn=warn)


def open_database_for(args: argparse.Namespace, settings: Settings) -> None:
    """The configured database, refused with a message when it must not be used as it is."""
    open_settings_database(settings, new_database=bool(getattr(args, "new_database", False)))


def company_key_argument(args: argparse.Namespace, settings: Settings) -> str:
    """The company file a command is about: `--company KEY` (an active one), else the .env file's."""
    from sync.quickbooks.companies import CompanyError, require_active_company

    named = getattr(args, "company", None)
    if not named:
        return settings.qbwc_file_key
    try:
        return require_active_company(settings, named).file_key
    except CompanyError as exc:
        raise CouldNotRun(str(exc)) from None


# What main() turns into "paysync: <message>" and exit status 2.
COULD_NOT_RUN: tuple[type[Exception], ...] = (*CONFIG_ERRORS, CouldNotRun)
