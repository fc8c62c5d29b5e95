"""The `paysync` command line (DESIGN "Interfaces").

    paysync [--env-file FILE] [command]

Commands: serve, qwc, status, doctor, sync, cutoff, demo, login, reconcile, mappings, map, unmap,
company, web, backup, restore; no command opens the console.

Exit status: 0 everything meant to happen happened; 1 it ran, but something needs a person (some
payments need attention or failed; for `status`, something stops PaySync from syncing); 2 it could
not run (configuration, database, Procore sign-in or permission; a refused `cutoff --set`). Errors
print "paysync: <message>" on stderr, never a traceback: an unexpected one is written whole to a
log file whose path the message gives. `status --json` prints a JSON object even then.

This module parses the command line and runs the command; each command is a module of
console/commands/ (what they share, the exit statuses among it, is console/commands/common.py; how
one that could not run ends is console/commands/failures.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from console.commands.backup import command_backup
from console.commands.common import COULD_NOT_RUN, settings_for
from console.commands.company import add_company_arguments, command_company
from console.commands.cutoff import DATE_MEANING, command_cutoff
from console.commands.doctor import add_doctor_parser, command_doctor
from console.commands.failures import could_not_run, record_sync_that_could_not_start, unexpected_error
from console.commands.launch import command_console, command_demo
from console.commands.login import command_login
from console.commands.mappings import command_map, command_mappings, command_unmap
from console.commands.qwc import command_qwc
from console.commands.reconcile import command_reconcile
from console.commands.restore import command_restore
from console.commands.serve import command_serve
from console.commands.status import command_status
from console.commands.sync import command_sync
from console.commands.web import DEFAULT_WEB_HOST, DEFAULT_WEB_PORT, command_web
from sync.settings import ConfigError, Settings


def build_parser() -> argparse.ArgumentParser:
    env_file = argparse.ArgumentParser(add_help=False)
    env_file.add_argument(
        "--env-file",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="read configuration from FILE, which must exist (default: .env in the current folder, if "
        "there is one); real environment variables win",
    )
    env_file.add_argument(
        "--new-database",
        action="store_const",
        const=True,
        default=argparse.SUPPRESS,
        help="start a new, empty database where the configured file is empty, corrupt or not PaySync's "
        "(the old file is kept beside it); without it such a file is refused",
    )
    parser = argparse.ArgumentParser(
        prog="paysync",
        description="Keeps Procore Payments Issued in step with QuickBooks Desktop (U.S.) bill payments. "
        "With no command, opens the console.",
        parents=[env_file],
    )
    # No default for env_file here: set_defaults would also change the --env-file action the
    # subcommands share, and their default would then overwrite a `--env-file` given before them.
    parser.set_defaults(command=None)
    parser.add_argument(
        "--with-web-connector",
        action="store_true",
        help="console only: also host the Web Connector endpoint (when `paysync serve` is not running)",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")

    commands.add_parser(
        "demo", parents=[env_file], help="the console on the embedded sandbox (no configuration needed)"
    )
    serve = commands.add_parser(
        "serve", parents=[env_file], help="headless: the Web Connector endpoint, the scheduler and the pushes"
    )
    serve.add_argument("--host", help="listen address (default QBWC_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default QBWC_PORT; 0 picks a free one)")
    commands.add_parser(
        "sync",
        parents=[env_file],
        help="on-demand sync: refresh from Procore, push now, queue QuickBooks queries for the next poll",
    )
    status = commands.add_parser(
        "status",
        parents=[env_file],
        help="health: Web Connector contact, payments per ERP status, schedule, errors",
    )
    status.add_argument(
        "--json", action="store_true", help="print one JSON object (for scripts and monitoring)"
    )
    add_doctor_parser(commands, env_file)
    qwc = commands.add_parser(
        "qwc", parents=[env_file], help="print the .qwc file to load into the Web Connector"
    )
    qwc.add_argument(
        "--company",
        "--file-key",
        dest="company",
        metavar="KEY",
        help="the company file (`paysync company list`; default QBWC_FILE_KEY)",
    )
    qwc.add_argument("--output", "-o", metavar="FILE", help="write the .qwc to FILE instead of printing it")
    cutoff = commands.add_parser(
        "cutoff",
        parents=[env_file],
        help="show the cutoff (payments created in QuickBooks before it are never synced); before the "
        "first push, set or clear it",
    )
    cutoff.add_argument(
        "--company", metavar="KEY", help="the company file (`paysync company list`; default QBWC_FILE_KEY)"
    )
    change = cutoff.add_mutually_exclusive_group()
    change.add_argument(
        "--set",
        metavar="DATE",
        help=f"set the cutoff: an ISO date such as 2026-12-01 or date and time such as 2026-12-01T08:00 "
        f"({DATE_MEANING}); refused once a payment is in Procore",
    )
    change.add_argument(
        "--reset",
        action="store_true",
        help="clear the cutoff, so the next real run records it; refused once a payment is in Procore",
    )
    login = commands.add_parser(
        "login", parents=[env_file], help="Procore sign-in (authorization code, out of band)"
    )
    login.add_argument("--code", help="the authorization code Procore showed (default: prompt for it)")
    reconcile = commands.add_parser(
        "reconcile",
        parents=[env_file],
        help="per commitment, what QuickBooks says was paid against Procore's Payments Issued (listed "
        "fresh); exit 1 when any commitment is off",
    )
    reconcile.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    reconcile.add_argument(
        "--project", type=int, metavar="ID", help="only the commitments of this Procore project"
    )
    # Suggested matches (sync/engine/suggestions.py): list them, confirm one, undo it.
    mappings = commands.add_parser(
        "mappings",
        parents=[env_file],
        help="the bills behind needs-mapping payments, with up to three suggested Procore invoices each",
    )
    mappings.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    map_bill = commands.add_parser(
        "map",
        parents=[env_file],
        help="confirm that a QuickBooks bill belongs to a Procore invoice; the next sync places its payments",
    )
    map_bill.add_argument("bill_txn_id", metavar="BILL_TXN_ID", help="the bill's QuickBooks TxnID")
    map_bill.add_argument("invoice_id", metavar="INVOICE_ID", type=int, help="the Procore invoice's id")
    map_bill.add_argument(
        "--company", metavar="KEY", help="the bill's company file, when TxnIDs repeat across files"
    )
    unmap_bill = commands.add_parser(
        "unmap",
        parents=[env_file],
        help="undo a confirmed mapping (refused once the bill's payment is in Procore)",
    )
    unmap_bill.add_argument("bill_txn_id", metavar="BILL_TXN_ID", help="the bill's QuickBooks TxnID")
    unmap_bill.add_argument(
        "--company", metavar="KEY", help="the bill's company file, when TxnIDs repeat across files"
    )
    add_company_arguments(commands, env_file)
    web = commands.add_parser(
        "web",
        parents=[env_file],
        help="the same console in a browser (one console per browser tab); this machine only unless "
        "PAYSYNC_WEB_PASSWORD is set",
    )
    web.add_argument(
        "--host",
        help=f"listen address (default {DEFAULT_WEB_HOST}); any other than this machine's needs "
        "PAYSYNC_WEB_PASSWORD",
    )
    web.add_argument("--port", type=int, help=f"listen port (default {DEFAULT_WEB_PORT})")
    web.add_argument("--demo", action="store_true", help="serve the demo console (embedded sandbox) instead")
    web.add_argument(
        "--hash-password",
        action="store_true",
        help="ask for a password and print the PAYSYNC_WEB_PASSWORD line holding its hash, then exit",
    )
    # Backup and restore (storage/backup.py; docs/operations.md "Backup and restore").
    backup = commands.add_parser(
        "backup",
        parents=[env_file],
        help="a consistent copy of the database into PATH (SQLite: safe while serve runs; PostgreSQL: pg_dump -Fc)",
    )
    backup.add_argument(
        "path", metavar="PATH", help="the file to write (refused if it exists, unless --force)"
    )
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    restore = commands.add_parser(
        "restore",
        parents=[env_file],
        help="SQLite: put a backup in place of the database (the old one kept as <name>.before-restore)",
    )
    restore.add_argument("path", metavar="PATH", nargs="?", help="a file made by `paysync backup`")
    restore.add_argument(
        "--force", action="store_true", help="restore even while a serve or console holds the schedule lease"
    )
    restore.add_argument(
        "--after-pg-restore",
        action="store_true",
        help="PostgreSQL: after you ran pg_restore, make PaySync forget what the restored database cannot know",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        if args.command == "demo":
            return command_demo(args)
        try:
            settings = settings_for(args)
        except ConfigError as exc:
            if args.command == "sync":
                record_sync_that_could_not_start(args, str(exc))
            raise
        handlers: dict[str | None, Callable[[argparse.Namespace, Settings], int]] = {
            None: command_console,
            "serve": command_serve,
            "sync": command_sync,
            "status": command_status,
            "doctor": command_doctor,
            "cutoff": command_cutoff,
            "qwc": command_qwc,
            "login": command_login,
            "reconcile": command_reconcile,
            "mappings": command_mappings,
            "map": command_map,
            "unmap": command_unmap,
            "company": command_company,
            "web": command_web,
            "backup": command_backup,
            "restore": command_restore,
        }
        return handlers[args.command](args, settings)
    except COULD_NOT_RUN as exc:
        return could_not_run(args, settings, str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # no traceback reaches a user: it goes to a file, the message says where
        return could_not_run(args, settings, unexpected_error(exc, settings.log_folder if settings else None))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
