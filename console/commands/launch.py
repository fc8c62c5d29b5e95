"""The commands that open the console: `paysync` (the configured Procore and Web Connector) and
`paysync demo` (the embedded sandbox)."""

from __future__ import annotations

import argparse

from sync.settings import Settings


def command_demo(args: argparse.Namespace) -> int:
    from console.demo import run_demo

    return run_demo()


def command_console(args: argparse.Namespace, settings: Settings) -> int:
    from console.app import run_console

    return run_console(
        settings,
        with_web_connector=bool(getattr(args, "with_web_connector", False)),
        new_database=bool(getattr(args, "new_database", False)),
    )
