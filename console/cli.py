"""The `paysync` command line (DESIGN "Interfaces").

    paysync [--env-file FILE] [command]

Commands: serve, qwc, status, sync, cutoff, demo, login; no command opens the console.

Exit status: 0 everything meant to happen happened; 1 it ran, but something needs a person (some
payments need attention or failed; for `status`, something stops PaySync from syncing); 2 it could
not run (configuration, database, Procore sign-in or permission; a refused `cutoff --set`). Errors
print "paysync: <message>" on stderr, never a traceback: an unexpected one is written whole to a
log file whose path the message gives. `status --json` prints a JSON object even then.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from platformdirs import user_log_dir

from storage import models
from storage.db import DatabaseConfigError, close_database, open_database, sqlite_path
from storage.fields import utc_now
from storage.leases import ScheduleHolder
from storage.migrations import SchemaTooNewError
from storage.queries import last_web_connector_contact, pending_work_kinds
from storage.secrets import KeySource, SecretKeyError
from sync.engine.runs import record_failed_run
from sync.engine.service import SyncService
from sync.procore.auth import authorization_url
from sync.procore.errors import ProcoreError
from sync.procore.login import sign_in_with_code
from sync.procore.permissions import PermissionDenied
from sync.quickbooks.cutoff import cutoff_source, format_cutoff, schedule_cutoff
from sync.quickbooks.steps import WORK_LABELS
from sync.quickbooks.webconnector.app import check_tls_settings, is_loopback_host
from sync.quickbooks.webconnector.qwc import build_qwc
from sync.runtime.cutoff import CutoffLocked, change_cutoff, parse_cutoff, why_locked
from sync.runtime.events import (
    EndpointListening,
    RuntimeEvent,
    ScheduledRunFinished,
    ScheduleHolderChanged,
)
from sync.runtime.runtime import EndpointError, Runtime
from sync.runtime.scheduler import parse_schedule, remember_schedule
from sync.runtime.status import (
    collect_status,
    configuration_facts,
    format_status_text,
    iso_utc,
    status_exit_code,
)
from sync.settings import (
    DEFAULT_ENV_FILE,
    ConfigError,
    Settings,
    acting_person,
    load_raw_environment,
    load_settings,
    open_settings_database,
)

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


_KIND_LABELS = WORK_LABELS


def _warn(message: str) -> None:
    print(f"paysync: warning: {message}", file=sys.stderr)


def _settings(args: argparse.Namespace) -> Settings:
    """The configuration; `--env-file FILE` given on purpose must exist (the default .env may not)."""
    named = getattr(args, "env_file", None)
    return load_settings(named or DEFAULT_ENV_FILE, must_exist=named is not None, warn=_warn)


def _open(args: argparse.Namespace, settings: Settings) -> None:
    """The configured database, refused with a message when it must not be used as it is."""
    open_settings_database(settings, new_database=bool(getattr(args, "new_database", False)))


# ---------------------------------------------------------------------------------------------
# serve


def _cutoff_words() -> str:
    try:
        cutoff = schedule_cutoff()
    except Exception:  # the announcement must not fail on a database hiccup
        return ""
    if cutoff is None:
        return (
            "Cutoff: not recorded yet (PaySync records it at the Web Connector's first session or the first "
            "Procore refresh; `paysync cutoff` shows it)."
        )
    return f"Cutoff: {format_cutoff(cutoff)}."


class ServeReport:
    """What `paysync serve` says about its runtime's events: the announcement on stdout once the
    endpoint listens, the rest in the log."""

    def __init__(self, runtime: Runtime, taken_from: ScheduleHolder | None = None) -> None:
        self.runtime = runtime
        self.taken_from = taken_from
        self.log = logging.getLogger("paysync.serve")

    def __call__(self, event: RuntimeEvent) -> None:
        if isinstance(event, EndpointListening):
            print(self.announcement(event.url), flush=True)
        elif isinstance(event, ScheduleHolderChanged):
            if event.held_here:
                self.log.info("this service runs the schedule on this database")
            else:
                holder = event.holder.describe() if event.holder else "another PaySync"
                self.log.warning(
                    "the schedule runs in %s now; this service takes it back when it can", holder
                )
        elif isinstance(event, ScheduledRunFinished) and event.summary is not None:
            self.log.info("%s", event.summary.as_text())  # the pushes after a session log their own

    def announcement(self, url: str) -> str:
        runtime = self.runtime
        schedule = runtime.schedule
        next_run = iso_utc(runtime.next_run_at or schedule.next_run(utc_now()))
        text = (
            f"PaySync is listening for the QuickBooks Web Connector on {url} (WSDL: {url}?wsdl). "
            f"Schedule: {schedule.expression}, next run {next_run or 'never'}. {_cutoff_words()} The .qwc file "
            f"points at {runtime.settings.qbwc_url}. Stop with Ctrl+C."
        )
        if self.taken_from is not None:
            text += (
                f" The schedule ran in {self.taken_from.describe()}: this service took it over (that console "
                "now shows what this service does)."
            )
        return text


def claim_schedule(runtime: Runtime) -> None:
    """Take the schedule for `paysync serve`: over from a console, never from another serve."""
    for _ in range(3):  # a console renewing at the same moment wins a compare-and-swap; ask again
        if runtime.hold_schedule():
            return
        holder = runtime.lease.current_holder
        if holder is None or holder.role != "console":
            break
    raise CouldNotRun(
        f"{runtime.lease.describe_holder()}. Two PaySync services on one database would both run the schedule: "
        "stop the other one first, or point this one at another database (PAYSYNC_DATABASE_URL)."
    )


def command_serve(args: argparse.Namespace, settings: Settings) -> int:
    """The runtime headless (sync/runtime/runtime.py): the Web Connector endpoint, the scheduler and
    the pushes on one event loop, until Ctrl+C or SIGTERM. Refused while another `paysync serve`
    runs the schedule on the database; a console that runs it hands it over (it then shows what
    this service does)."""
    if args.host:
        settings = settings.with_overrides(qbwc_host=args.host)
    if args.port is not None:
        settings = settings.with_overrides(qbwc_port=args.port)
    schedule = parse_schedule(settings.schedule)
    check_tls_settings(settings)
    settings.require_qbwc_password()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _open(args, settings)
    # The schedule is remembered (the console shows it); the cutoff is recorded only when a real
    # run starts: the Web Connector's first session or the first Procore refresh (sync.cutoff).
    remember_schedule(schedule.expression)
    runtime = Runtime(
        settings, SyncService(settings, actor=acting_person("serve")), role="serve", host_endpoint=True
    )
    claim_schedule(runtime)
    runtime.add_listener(ServeReport(runtime, taken_from=runtime.lease.took_over_from))
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runtime.run())
    except EndpointError as exc:
        raise CouldNotRun(str(exc)) from None
    finally:
        runtime.release_schedule()
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# qwc


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


# ---------------------------------------------------------------------------------------------
# status


def command_status(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 0 when PaySync can sync; 1 while something stops it (Procore not configured, an
    invalid schedule: the `problems`); 2 when it could not run (configuration, database)."""
    _open(args, settings)
    status = collect_status(settings)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=False))
    else:
        sys.stdout.write(format_status_text(status))
    return status_exit_code(status)


# ---------------------------------------------------------------------------------------------
# sync


def command_sync(args: argparse.Namespace, settings: Settings) -> int:
    """On-demand sync from the shell: refresh from Procore, push to Procore now, and queue the
    QuickBooks queries for the Web Connector's next poll (it is pull-only). Prints a summary.

    Exits 0 only when every payment it meant to write is right; 1 when it ran but some payments
    need attention or failed (or the push could not start, the refresh failed); 2 when it could not
    run at all (configuration, database, Procore sign-in or permission). A sync that could not run
    is kept as a failed run with its reason (`paysync status` shows it); the cutoff is recorded only
    once Procore was reached (sync.cutoff)."""
    _open(args, settings)
    actor = acting_person("cli")
    file_key = settings.qbwc_file_key
    try:
        schedule = parse_schedule(settings.schedule)
    except ConfigError as exc:
        record_failed_run("cli", actor, str(exc), where="config")
        raise
    remember_schedule(schedule.expression)
    try:
        summary = SyncService(settings, actor=actor).sync_now(trigger="cli")
    except (PermissionDenied, ProcoreError) as exc:  # kept as a failed run by sync_now
        raise CouldNotRun(str(exc)) from exc
    except ConfigError:  # kept as a failed run by sync_now
        raise
    except Exception as exc:
        record_failed_run("cli", actor, f"stopped by an unexpected error: {type(exc).__name__}: {exc}")
        raise
    print(summary.as_text())
    created_kinds = set(summary.queued_quickbooks)
    pending = pending_work_kinds(file_key)
    already = [(kind, status) for kind, status in pending if kind not in created_kinds]
    if already:
        print(
            "Already waiting: "
            + ", ".join(
                f"{_KIND_LABELS.get(kind, kind)} ({status.replace('_', ' ')})" for kind, status in already
            )
            + "."
        )
    last = last_web_connector_contact(file_key)
    if last is None:
        print(
            "The Web Connector has never polled PaySync. Run `paysync serve`, load the file from "
            "`paysync qwc` into the QuickBooks Web Connector, and enter the QBWC_PASSWORD there."
        )
    else:
        minutes = int((utc_now() - last).total_seconds() // 60)
        print(
            f"The Web Connector last polled at {iso_utc(last)} ({minutes} min ago); the queries run at its next poll."
        )
    return EXIT_OK if summary.all_right else EXIT_FAILED


# ---------------------------------------------------------------------------------------------
# cutoff

DATE_MEANING = "a date means its start, 00:00 UTC; a date and time without an offset is read as UTC"


def _stored_payment_split() -> tuple[int, int]:
    payment: Any = models.BillPayment
    pre = payment.select().where(payment.pre_existing == True).count()  # noqa: E712 - SQL
    return int(pre), int(payment.select().count() - pre)


def _payments_words(pre_existing: int, after: int) -> str:
    if not pre_existing and not after:
        return "PaySync has stored no QuickBooks payment yet"
    return f"of the payments PaySync has stored, {pre_existing} are pre-existing and {after} were created after it"


def command_cutoff(args: argparse.Namespace, settings: Settings) -> int:
    """Show the cutoff; before the first payment reaches Procore, set (`--set DATE`) or clear
    (`--reset`) it. Exits 0 when shown or changed; 2 when the date cannot be read, the change is
    refused (a payment is already in Procore, the Web Connector is in a session) or the database
    cannot be used."""
    _open(args, settings)
    if args.set is not None or args.reset:
        new = None
        if args.set is not None:
            try:
                new = parse_cutoff(args.set)
            except ValueError as exc:
                raise CouldNotRun(str(exc)) from None
        current = schedule_cutoff()
        try:
            change = change_cutoff(new, acting_person("cli"))
        except CutoffLocked as exc:
            shown = f"stays {format_cutoff(current)}" if current else "stays unset"
            raise CouldNotRun(f"Nothing changed: the cutoff {shown}. {exc}") from None
        was = f"it was {format_cutoff(change.old)}" if change.old else "there was none"
        if change.new is None:
            print(
                f"The cutoff is cleared ({was}). PaySync records a new one when it next runs for real; until "
                "then every payment it stores counts as pre-existing."
            )
            return EXIT_OK
        print(
            f"The cutoff is now {format_cutoff(change.new)} ({was}; {DATE_MEANING}). Payments created in "
            f"QuickBooks before it are never synced: {_payments_words(change.pre_existing, change.to_sync)}."
        )
        if change.new > utc_now():
            print(
                "That is in the future: payments created in QuickBooks between now and then are pre-existing "
                "too, and are never synced."
            )
        if change.reread_from is not None:
            print(
                f"The Web Connector's next session reads QuickBooks from {format_cutoff(change.reread_from)} on, "
                "so payments created since the new cutoff are fetched."
            )
        return EXIT_OK
    cutoff = schedule_cutoff()
    locked = why_locked()
    if cutoff is None:
        print(
            "No cutoff yet. PaySync records it when it first runs for real: the first `paysync sync`, the "
            "console's first sync, the first Procore refresh of `paysync serve`, or the Web Connector's first "
            "session. Payments created in QuickBooks before it are never synced."
        )
    else:
        source = cutoff_source() or {}
        how = ""
        if source.get("how") == "set":
            how = f" (set by {source.get('by')})"
        elif source.get("how") == "recorded":
            how = f" (recorded at the first real run, by {source.get('by')})"
        pre_existing, after = _stored_payment_split()
        print(
            f"Cutoff: {format_cutoff(cutoff)}{how}. Payments created in QuickBooks before it are never synced: "
            f"{_payments_words(pre_existing, after)}."
        )
    if locked:
        print(f"It can no longer change: {locked}")
    elif cutoff is None:
        print(
            "To choose it yourself (your go-live date, say), run `paysync cutoff --set 2026-12-01` "
            f"({DATE_MEANING})."
        )
    else:
        print(
            "It can still change, because no payment has been pushed to Procore yet: `paysync cutoff --set "
            f"DATE` moves it ({DATE_MEANING}); `paysync cutoff --reset` clears it, so the next real run "
            "records it."
        )
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# demo, login, console (wired by their own modules)


def command_demo(args: argparse.Namespace) -> int:
    from console.demo import run_demo

    return run_demo()


def command_login(args: argparse.Namespace, settings: Settings) -> int:
    """Procore sign-in as a person (authorization code, out of band). The tokens go into the
    database, where every PaySync process using it finds and renews them."""
    settings.require_procore()
    assert settings.procore_client_id is not None
    _open(args, settings)
    code = (getattr(args, "code", None) or "").strip()
    if not code:
        url = authorization_url(settings.procore_login_base, settings.procore_client_id)
        print(f"1. Open this address in a browser and sign in to Procore:\n\n   {url}\n")
        print("2. Procore then shows an authorization code (valid for 10 minutes, usable once).")
        try:
            code = input("3. Paste the code here and press Enter: ").strip()
        except EOFError:
            code = ""
    if not code:
        print(
            "paysync: no code was given; run `paysync login` again and paste the code Procore shows.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        me = sign_in_with_code(settings, code)
    except ProcoreError as exc:
        print(f"paysync: {exc}", file=sys.stderr)
        return EXIT_FAILED
    who = me.get("name") or me.get("login") or "?"
    print(
        f"Signed in to Procore as {who} ({me.get('login')}, user {me.get('id')}) for company "
        f"{settings.procore_company_id}. PaySync keeps this sign-in in its database and renews it itself."
    )
    return EXIT_OK


def command_console(args: argparse.Namespace, settings: Settings) -> int:
    from console.app import run_console

    return run_console(
        settings,
        with_web_connector=bool(getattr(args, "with_web_connector", False)),
        new_database=bool(getattr(args, "new_database", False)),
    )


# ---------------------------------------------------------------------------------------------
# parser and entry point


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
    qwc = commands.add_parser(
        "qwc", parents=[env_file], help="print the .qwc file to load into the Web Connector"
    )
    qwc.add_argument("--file-key", help="company file key (default QBWC_FILE_KEY)")
    qwc.add_argument("--output", "-o", metavar="FILE", help="write the .qwc to FILE instead of printing it")
    cutoff = commands.add_parser(
        "cutoff",
        parents=[env_file],
        help="show the cutoff (payments created in QuickBooks before it are never synced); before the "
        "first push, set or clear it",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        if args.command == "demo":
            return command_demo(args)
        try:
            settings = _settings(args)
        except ConfigError as exc:
            if args.command == "sync":
                _record_sync_that_could_not_start(args, str(exc))
            raise
        handlers: dict[str | None, Callable[[argparse.Namespace, Settings], int]] = {
            None: command_console,
            "serve": command_serve,
            "sync": command_sync,
            "status": command_status,
            "cutoff": command_cutoff,
            "qwc": command_qwc,
            "login": command_login,
        }
        return handlers[args.command](args, settings)
    except (*CONFIG_ERRORS, CouldNotRun) as exc:
        return _could_not_run(args, settings, str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # no traceback reaches a user: it goes to a file, the message says where
        return _could_not_run(args, settings, unexpected_error(exc))


def _could_not_run(args: argparse.Namespace, settings: Settings | None, message: str) -> int:
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


def _record_sync_that_could_not_start(args: argparse.Namespace, reason: str) -> None:
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


def unexpected_error(exc: BaseException) -> str:
    """One line for the person; the traceback is appended to a log file (PAYSYNC_DEBUG=1 prints it)."""
    if os.environ.get("PAYSYNC_DEBUG") == "1":
        traceback.print_exception(exc)
    where = "PaySync's log"
    try:
        folder = Path(user_log_dir("paysync", appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "errors.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {datetime.now(UTC).isoformat()} paysync {' '.join(sys.argv[1:])}\n")
            handle.write("".join(traceback.format_exception(exc)))
        where = str(path)
    except OSError:
        pass
    return (
        f"unexpected error ({type(exc).__name__}: {exc}). Nothing more was done. The details are in {where}; "
        "please send them to your PaySync support."
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
