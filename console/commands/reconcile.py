"""`paysync reconcile [--json] [--project ID]`: per commitment, what QuickBooks says was paid against
the Payments Issued Procore holds now (sync/engine/reconcile.py; docs/controller.md).

Progress goes to stderr, the table (or with `--json` one JSON object) to stdout. Exit status: 0
every commitment is reconciled, 1 at least one is off (so a script can alert), 2 it could not run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from console.commands.common import EXIT_FAILED, EXIT_OK, CouldNotRun, open_database_for
from sync.engine.reconcile import CommitmentReconciliation, Reconciliation, money_text
from sync.engine.service import SyncService
from sync.procore.errors import ProcoreError
from sync.settings import Settings, acting_person

HEADERS = (
    "Commitment",
    "Currency",
    "QuickBooks",
    "Procore (PaySync)",
    "Procore (other)",
    "Difference",
    "Status",
)
KIND_WORDS = {
    "missing_in_procore": "missing in Procore",
    "amount_differs": "amount differs",
    "extra_in_procore": "extra in Procore",
}


def command_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    open_database_for(args, settings)
    service = SyncService(settings, actor=acting_person("cli"))

    def progress(done: int, total: int) -> None:
        print(f"\rListing Payments Issued: {done}/{total} commitments", end="", file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)

    try:
        result = service.reconcile(project_id=args.project, progress=progress)
    except ProcoreError as exc:
        print(file=sys.stderr)
        raise CouldNotRun(f"Reconciling stopped: {exc}") from exc
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(as_text(result))
    return EXIT_FAILED if result.off else EXIT_OK


def as_text(result: Reconciliation) -> str:
    """The table, and under it the payments that explain each commitment that is off."""
    if not result.commitments:
        return "No commitment has bills PaySync placed on it yet: nothing to reconcile."
    rows = [HEADERS] + [_row(c) for c in result.commitments]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    right = {2, 3, 4, 5}

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()

    lines = [line(rows[0]), line(["-" * w for w in widths])]
    lines += [line(row) for row in rows[1:]]
    off = [c for c in result.commitments if c.items or c.status == "off"]
    for commitment in off:
        lines.append("")
        lines.append(
            f"{commitment.label} (project {commitment.project_id}): off by {money_text(commitment.difference)} "
            f"{commitment.currency}"
        )
        for item in commitment.items:
            amounts = (
                f"QuickBooks {money_text(item.quickbooks_amount) or '-'}, "
                f"Procore {money_text(item.procore_amount) or '-'}"
            )
            key = item.origin_id or (
                f"Procore payment {item.procore_payment_id}" if item.procore_payment_id else ""
            )
            lines.append(f"  - [{KIND_WORDS.get(item.kind, item.kind)}] {key}: {amounts}")
            lines.append(f"      {item.label}")
    lines.append("")
    lines.append(f"Reconciled: {result.reconciled}  Off: {result.off}")
    return "\n".join(lines)


def _row(c: CommitmentReconciliation) -> tuple[str, str, str, str, str, str, str]:
    return (
        c.label,
        c.currency,
        money_text(c.quickbooks) or "",
        money_text(c.procore_paysync) or "",
        money_text(c.procore_other) or "",
        money_text(c.difference) or "",
        c.status,
    )
