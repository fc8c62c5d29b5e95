"""`paysync company add/list/remove`: the QuickBooks company files PaySync serves (sync/quickbooks/companies.py)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from console.commands.common import EXIT_OK, CouldNotRun, open_database_for
from sync.quickbooks.companies import CompanyEntry, CompanyError, add_company, list_companies, remove_company
from sync.quickbooks.cutoff import format_cutoff
from sync.runtime.scheduler import parse_schedule
from sync.settings import ConfigError, Settings, acting_person


def add_company_arguments(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], env_file: argparse.ArgumentParser
) -> None:
    company = commands.add_parser(
        "company", parents=[env_file], help="the QuickBooks company files PaySync serves: add, list, remove"
    )
    actions = company.add_subparsers(dest="company_command", metavar="add|list|remove", required=True)
    add = actions.add_parser(
        "add",
        parents=[env_file],
        help="add a company file with its own Web Connector user (password from stdin, or asked for)",
    )
    add.add_argument("key", metavar="KEY", help="a short key: up to 32 letters, digits, '-' or '_'")
    add.add_argument("--name", required=True, help="the company file's name, as the accountants call it")
    add.add_argument(
        "--procore-company-id",
        type=int,
        metavar="ID",
        help="the Procore company its payments go to (default PROCORE_COMPANY_ID); another company needs the "
        "same Procore app installed there",
    )
    add.add_argument(
        "--procore-project-ids",
        metavar="LIST",
        help="comma list of the Procore projects this file's bills belong to (needed when another file "
        "already matches against every project)",
    )
    add.add_argument("--username", help="its Web Connector user name (default paysync-KEY)")
    add.add_argument("--schedule", help="its own schedule (default PAYSYNC_SCHEDULE)")
    listing = actions.add_parser("list", parents=[env_file], help="the company files, with their state")
    listing.add_argument("--json", action="store_true", help="print JSON")
    remove = actions.add_parser(
        "remove",
        parents=[env_file],
        help="stop syncing a company file (kept on record; adding it again continues where it stopped)",
    )
    remove.add_argument("key", metavar="KEY")
    remove.add_argument("--force", action="store_true", help="remove it even though it has unsynced work")


def _project_list(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise CouldNotRun(
                f"--procore-project-ids {text!r}: {part!r} is not a Procore project id; give numbers such as 123,456."
            )
        ids.append(int(part))
    return tuple(ids)


def read_password(file_key: str) -> str:
    """From stdin when it is not a terminal (scripts, `echo ... |`), else asked for twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"Web Connector password for company file {file_key}: ")
    second = getpass.getpass("The same password again: ")
    if first != second:
        raise CouldNotRun("The two passwords differ; nothing was added. Run the command again.")
    return first


def _describe(entry: CompanyEntry) -> str:
    state = "removed" if not entry.active else "default, from .env" if entry.default else "active"
    projects = (
        ", ".join(str(p) for p in entry.procore_project_ids) if entry.procore_project_ids else "all unclaimed"
    )
    contact = entry.last_contact_at.strftime("%Y-%m-%d %H:%M UTC") if entry.last_contact_at else "never"
    cutoff = format_cutoff(entry.cutoff) if entry.cutoff else "not yet (recorded at its first run)"
    name = f" {entry.name}" if entry.name else ""
    lines = [
        f"{entry.file_key}{name} ({state})",
        f"    Web Connector user {entry.username or '(none)'}; last contact {contact}"
        + (f"; {entry.country}" if entry.country else ""),
        f"    Procore company {entry.procore_company_id if entry.procore_company_id is not None else '(not set)'}"
        f"; projects: {projects}; schedule {entry.schedule}; cutoff {cutoff}",
    ]
    if entry.last_error:
        lines.append(f"    last error: {entry.last_error}")
    return "\n".join(lines)


def command_company(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 0 when done; 2 when refused (the message says why) or the database cannot be used."""
    open_database_for(args, settings)
    try:
        if args.company_command == "list":
            entries = list_companies(settings)
            if args.json:
                print(json.dumps({"company_files": [entry.as_json() for entry in entries]}, indent=2))
            else:
                print("\n".join(_describe(entry) for entry in entries))
            return EXIT_OK
        if args.company_command == "add":
            projects = _project_list(args.procore_project_ids)
            password = read_password(args.key)
            entry = add_company(
                settings,
                args.key,
                name=args.name,
                password=password,
                actor=acting_person("cli"),
                username=args.username,
                procore_company_id=args.procore_company_id,
                procore_project_ids=projects,
                schedule=parse_schedule(args.schedule).expression if args.schedule else None,
            )
            print(f"Added company file {entry.file_key} ({entry.name}); Web Connector user {entry.username}.")
            if entry.own_procore_company:
                print(
                    f"Its payments go to Procore company {entry.procore_company_id}: install the same Procore app "
                    "there (and give its service account the projects), then `paysync doctor` checks it."
                )
            print(
                f"Next: `paysync qwc --company {entry.file_key} -o {entry.file_key}.qwc`, load that file into the "
                "Web Connector on the machine where this company file is open, and type the password you just "
                "gave into its Password cell. Its cutoff is recorded at its first session: payments created "
                "before it are never synced."
            )
            return EXIT_OK
        removal = remove_company(settings, args.key, actor=acting_person("cli"), force=args.force)
        print(f"Removed company file {removal.file_key}: its Web Connector user is refused from now on.")
        if removal.left_behind.any:
            print(f"Left waiting until it is added again: {removal.left_behind.describe()}.")
        print(
            "What PaySync recorded for it is kept; `paysync company add "
            f"{removal.file_key} --name NAME` continues where it stopped, without posting anything twice."
        )
        return EXIT_OK
    except (CompanyError, ConfigError) as exc:
        raise CouldNotRun(str(exc)) from None
