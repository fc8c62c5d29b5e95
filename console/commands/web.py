"""`paysync web`: the same console in a browser (textual-serve; console/web/).

Each browser connection starts its own console: `paysync` against the configured database (or the
demo console with `--demo`), run by this Python with the same configuration file, so it behaves
exactly as in a terminal. Listens on 127.0.0.1 unless told otherwise; any other address needs
PAYSYNC_WEB_PASSWORD, and with it set the browser asks for the password before a console opens.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.commands.common import EXIT_CONFIG, EXIT_OK, CouldNotRun, open_database_for, warn
from storage.db import close_database
from sync.quickbooks.webconnector.passwords import hash_password
from sync.runtime.scheduler import parse_schedule
from sync.settings import Settings, is_loopback

if TYPE_CHECKING:  # aiohttp is imported only when `paysync web` runs, not by every command
    from console.web.auth import WebPassword

DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8566


def console_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs per connection: this interpreter, this configuration."""
    words = [sys.executable, "-m", "console"]
    env_file = getattr(args, "env_file", None)
    if env_file:
        words += ["--env-file", str(Path(env_file).expanduser().resolve())]
    if args.demo:
        words.append("demo")
    # textual-serve runs it through the shell: cmd.exe on Windows, quoted its own way.
    return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


def check_console_can_start(args: argparse.Namespace, settings: Settings) -> None:
    """What `paysync` would refuse at start, refused here once instead of in every browser tab."""
    parse_schedule(settings.schedule)
    settings.require_procore()
    open_database_for(args, settings)  # with --new-database, the new one is made here, once
    close_database()


def web_password_from(settings: Settings, host: str) -> WebPassword | None:
    """The password rule of the module docstring; returns the checker (None: no password)."""
    from console.web.auth import PASSWORD_KEY, WebPassword

    if settings.web_password is not None:
        return WebPassword(settings.web_password)
    if not is_loopback(host):
        raise CouldNotRun(
            f"--host {host} lets other machines open the console, so it needs a password: set "
            f"{PASSWORD_KEY} in .env (at least 8 characters; see .env.example), or leave --host out to "
            "listen on 127.0.0.1 only."
        )
    return None


def print_password_hash() -> int:
    """`paysync web --hash-password`: ask for a password twice, print its PBKDF2 hash for .env."""
    try:
        first = getpass.getpass("Console password: ")
        second = getpass.getpass("Same password again: ")
    except EOFError:
        first, second = "", "-"
    if first != second:
        print("paysync: the two passwords differ; nothing printed. Run it again.", file=sys.stderr)
        return EXIT_CONFIG
    if len(first) < 8:
        print("paysync: choose a password of at least 8 characters.", file=sys.stderr)
        return EXIT_CONFIG
    print(f"PAYSYNC_WEB_PASSWORD={hash_password(first)}")
    return EXIT_OK


def command_web(args: argparse.Namespace, settings: Settings) -> int:
    from console.web.server import ConsoleWebServer, serve_until_stopped

    if args.hash_password:
        return print_password_hash()
    host = args.host or DEFAULT_WEB_HOST
    port = DEFAULT_WEB_PORT if args.port is None else args.port
    if not 1 <= port <= 65535:
        raise CouldNotRun(f"--port {port} is not a TCP port: use a number from 1 to 65535.")
    password = web_password_from(settings, host)
    if not args.demo:
        check_console_can_start(args, settings)
    if not is_loopback(host):
        warn(
            "plain http: the password and the console travel unencrypted. Reach it over a network you "
            "trust, or through a TLS reverse proxy (docs/console.md, `paysync web` behind HTTPS)."
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = ConsoleWebServer(console_command(args), host, port, password)
    shown = f"[{host}]" if ":" in host else host
    where = f"http://{shown}:{port}/"
    if host in ("0.0.0.0", "::"):
        where = f"port {port} of every address of this machine (http://<this machine's name>:{port}/)"

    def announce() -> None:
        asked = "the browser asks for the password first" if password else "no password (this machine only)"
        what = "the demo console" if args.demo else "the PaySync console"
        print(
            f"Serving {what} in a browser at {where}; each browser tab opens its own console; {asked}. "
            "Stop with Ctrl+C.",
            flush=True,
        )

    try:
        asyncio.run(serve_until_stopped(server, announce))
    except OSError as exc:
        raise CouldNotRun(
            f"cannot listen on {host} port {port} ({exc.strerror or exc}): choose another --port, or "
            "stop what uses it."
        ) from None
    print("PaySync web console stopped.", flush=True)
    return EXIT_OK
