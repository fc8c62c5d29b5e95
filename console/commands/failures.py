"""How a command that could not run ends: exit status 2, one line on stderr (and for `status
--json` a JSON object), never a traceback; an unexpected error is written whole to a log file."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from console.commands.common import EXIT_CONFIG
from console.logfiles import append_to_errors_log
from storage.db import close_database, open_database, sqlite_path
from storage.secrets import KeySource
from sync.engine.runs import record_failed_run
from sync.runtime.status import configuration_facts
from sync.settings import DEFAULT_ENV_FILE, Settings, acting_person, load_raw_environment


def could_not_run(args: argparse.Namespace, settings: Settings | None, message: str) -> int:
    """Exit 2 with the message on stderr; `status --json` also prints a JSON object on stdout:
    {"error": message, "exit": 2} and whatever the settings alone tell."""
    if args.command == "status" and getattr(args, "json", False):
        payload: dict[str, Any] = {"error": message, "exit": EXIT_CONFIG}
        if settings is not None:
            try:
                payload.update(configuration_facts(settings))
            except Exception:  # whatever could be collected, and nothing else
                pass
        print(json.dumps(payload, indent=2))
    print(f"paysync: {message}", file=sys.stderr)
    return EXIT_CONFIG


def record_sync_that_could_not_start(args: argparse.Namespace, reason: str) -> None:
    """`paysync sync` refused by its configuration is kept as a failed run when the database the
    configuration names can still be opened (nothing is created for it)."""
    try:
        named = getattr(args, "env_file", None)
        raw = load_raw_environment(named or DEFAULT_ENV_FILE)
        url = (raw.get("PAYSYNC_DATABASE_URL") or "").strip() or None
        source = KeySource(
            key=(raw.get("PAYSYNC_SECRET_KEY") or "").strip() or None,
            key_file=(raw.get("PAYSYNC_KEY_FILE") or "").strip() or None,
        )
        path = sqlite_path(url)
        if path is not None and not (path.is_file() and path.stat().st_size > 0):
            return  # no database yet: none is created just to say that nothing ran
        open_database(url, secrets=source)
        try:
            record_failed_run("cli", acting_person("cli"), reason, where="config")
        finally:
            close_database()
    except Exception:  # nowhere to keep it: the message on stderr is all there is
        logging.getLogger(__name__).debug("could not record the failed sync", exc_info=True)


def unexpected_error(exc: BaseException, log_folder: str | None = None) -> str:
    """One line for the person; the traceback is appended to errors.log (console/logfiles.py; in
    PAYSYNC_LOG_FOLDER when `log_folder` names it) and PAYSYNC_DEBUG=1 prints it."""
    if os.environ.get("PAYSYNC_DEBUG") == "1":
        traceback.print_exception(exc)
    where = "PaySync's log"
    try:
        header = f"--- {datetime.now(UTC).isoformat()} paysync {' '.join(sys.argv[1:])}\n"
        where = str(append_to_errors_log(header + "".join(traceback.format_exception(exc)), log_folder))
    except OSError:
        pass
    return (
        f"unexpected error ({type(exc).__name__}: {exc}). Nothing more was done. The details are in {where}; "
        "please send them to your PaySync support."
    )
