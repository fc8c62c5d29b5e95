"""`paysync qwc`: the .qwc file to load into the QuickBooks Web Connector."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.commands.common import EXIT_FAILED, EXIT_OK, company_key_argument, open_database_for
from sync.quickbooks.companies import require_active_company
from sync.quickbooks.webconnector.app import is_loopback_host
from sync.quickbooks.webconnector.qwc import build_qwc
from sync.runtime.scheduler import parse_schedule
from sync.settings import Settings


def command_qwc(args: argparse.Namespace, settings: Settings) -> int:
    file_key, username, expression = settings.qbwc_file_key, settings.qbwc_username, settings.schedule
    if args.company and args.company != settings.qbwc_file_key:
        # A file added with `paysync company add`: its user and schedule are in the database.
        open_database_for(args, settings)
        entry = require_active_company(settings, company_key_argument(args, settings))
        file_key, username, expression = entry.file_key, entry.username or username, entry.schedule
    schedule = parse_schedule(expression)
    text = build_qwc(settings, schedule, file_key=file_key, username=username)
    url = settings.qbwc_url
    if url.startswith("http://"):
        host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
        if not is_loopback_host(host):
            print(
                f"paysync: warning: {url} is plain HTTP on another machine; the Web Connector accepts http:// "
                "only for localhost. Set QBWC_TLS_CERT/QBWC_TLS_KEY or an https QBWC_PUBLIC_URL.",
                file=sys.stderr,
            )
    if args.output:
        path = Path(args.output)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"paysync: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        print(
            f"Wrote {path}. In the QuickBooks Web Connector choose Add an application, pick this file, "
            + (
                "and type the QBWC_PASSWORD value into the Password cell."
                if file_key == settings.qbwc_file_key
                else f"and type the password given to `paysync company add {file_key}` into the Password cell."
            ),
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return EXIT_OK
