"""`paysync qwc`: the .qwc file to load into the QuickBooks Web Connector."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.commands.common import EXIT_FAILED, EXIT_OK
from sync.quickbooks.webconnector.app import is_loopback_host
from sync.quickbooks.webconnector.qwc import build_qwc
from sync.runtime.scheduler import parse_schedule
from sync.settings import Settings


def command_qwc(args: argparse.Namespace, settings: Settings) -> int:
    schedule = parse_schedule(settings.schedule)
    text = build_qwc(settings, schedule, file_key=args.file_key)
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
            "and type the QBWC_PASSWORD value into the Password cell.",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return EXIT_OK
