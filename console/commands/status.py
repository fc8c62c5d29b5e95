"""`paysync status`: whether PaySync can sync, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from console.commands.common import open_database_for
from sync.runtime.status import collect_status, format_status_text, status_exit_code
from sync.settings import Settings


def command_status(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 0 when PaySync can sync; 1 while something stops it (Procore not configured, an
    invalid schedule: the `problems`); 2 when it could not run (configuration, database)."""
    open_database_for(args, settings)
    status = collect_status(settings)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=False))
    else:
        sys.stdout.write(format_status_text(status))
    return status_exit_code(status)
