"""PaySync's log files (docs/operations.md "Logs"): where they are, and size-based rotation.

- `serve.log`: what `paysync serve` logs (the same lines it writes to stderr, which systemd's
  journal or WinSW's log also keep).
- `errors.log`: the whole traceback of an unexpected error any command met (its message on stderr
  names this file).

Both live in PAYSYNC_LOG_FOLDER, else platformdirs' user log folder (Linux: ~/.local/state/paysync/log;
Windows: %LOCALAPPDATA%\\paysync\\Logs), and roll over at 5 MB, keeping 5 old files (serve.log.1 …
serve.log.5), so a service left alone for years never fills the disk.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from platformdirs import user_log_dir

from storage.secrets import make_private_folder

LOG_FOLDER_ENV = "PAYSYNC_LOG_FOLDER"
MAX_BYTES = 5 * 1024 * 1024
BACKUP_COUNT = 5
SERVE_LOG = "serve.log"
ERRORS_LOG = "errors.log"
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_folder(configured: str | None = None) -> Path:
    """PAYSYNC_LOG_FOLDER (from the settings, else the environment), else the user's log folder."""
    chosen = (configured or os.environ.get(LOG_FOLDER_ENV) or "").strip()
    if chosen:
        return Path(chosen).expanduser()
    return Path(user_log_dir("paysync", appauthor=False))


def rotating_file(path: Path) -> RotatingFileHandler:
    """A handler that starts a new file at MAX_BYTES and keeps BACKUP_COUNT old ones."""
    make_private_folder(path.parent)  # logs name payments and vendors: owner only (DESIGN rule 12)
    return RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")


def configure_serve_logging(configured_folder: str | None = None) -> Path | None:
    """INFO and above to stderr and to serve.log (rotated); returns the file, or None when the
    folder cannot be written (a warning says so on stderr, and serve goes on with stderr alone)."""
    logging.basicConfig(level=logging.INFO, format=LINE_FORMAT)
    logging.getLogger().setLevel(logging.INFO)  # also when a handler was there before basicConfig
    path = log_folder(configured_folder) / SERVE_LOG
    try:
        handler = rotating_file(path)
    except OSError as exc:
        print(
            f"paysync: warning: cannot write the log file {path} ({exc.strerror or exc}); logging to stderr "
            f"only. Set {LOG_FOLDER_ENV} to a folder the service account may write.",
            file=sys.stderr,
        )
        return None
    handler.setFormatter(logging.Formatter(LINE_FORMAT))
    logging.getLogger().addHandler(handler)
    return path


def append_to_errors_log(text: str, configured_folder: str | None = None) -> Path:
    """Append `text` to errors.log (rotated like serve.log); returns the file. Raises OSError
    when it cannot be written."""
    path = log_folder(configured_folder) / ERRORS_LOG
    handler = rotating_file(path)
    try:
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.emit(
            logging.LogRecord("paysync.errors", logging.ERROR, __file__, 0, text.rstrip("\n"), None, None)
        )
    finally:
        handler.close()
    return path
