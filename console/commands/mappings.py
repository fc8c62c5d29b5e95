"""`paysync mappings`, `paysync map BILL_TXN_ID INVOICE_ID`, `paysync unmap BILL_TXN_ID`: the bills
PaySync cannot place with the invoices it suggests, and the mappings a person confirms
(sync/engine/suggestions.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.commands.common import EXIT_OK, CouldNotRun, company_key_argument, open_database_for
from sync.engine.suggestions import (
    BillSuggestions,
    MappingRefused,
    confirm_mapping,
    remove_mapping,
    suggestions_for_unmapped_bills,
)
from sync.settings import Settings, acting_person


def _as_json(bill: BillSuggestions) -> dict[str, Any]:
    return {
        "bill_txn_id": bill.bill_txn_id,
        "ref_number": bill.ref_number,
        "vendor": bill.vendor,
        "amount": str(bill.amount),
        "currency": bill.currency,
        "suggestions": [
            {
                "invoice_id": s.invoice_id,
                "invoice_number": s.invoice_number,
                "commitment_id": s.commitment_id,
                "commitment_label": s.commitment_label,
                "score": s.score,
                "reasons": list(s.reasons),
            }
            for s in bill.suggestions
        ],
    }


def format_suggestions_text(bills: list[BillSuggestions]) -> str:
    if not bills:
        return "No bill needs mapping: every payment PaySync holds is placed on a Procore invoice, or waits for another reason.\n"
    lines = [
        f"{len(bills)} bill{'s' if len(bills) != 1 else ''} need{'s' if len(bills) == 1 else ''} mapping."
    ]
    for bill in bills:
        currency = f" {bill.currency}" if bill.currency else ""
        lines.append("")
        lines.append(
            f"Bill {bill.ref_number or '(no number)'}  TxnID {bill.bill_txn_id}  {bill.vendor or '(no vendor)'}  "
            f"{bill.amount:,.2f}{currency}"
        )
        if not bill.suggestions:
            lines.append("  no suggestion: no invoice of the vendor's commitments resembles it")
        for rank, suggestion in enumerate(bill.suggestions, start=1):
            lines.append(
                f"  {rank}. invoice {suggestion.invoice_number or '(no number)'} (id {suggestion.invoice_id}) on "
                f"{suggestion.commitment_label}  score {suggestion.score}"
            )
            lines.extend(f"       - {reason}" for reason in suggestion.reasons)
    lines.append("")
    lines.append(
        "Nothing is placed by a suggestion: `paysync map BILL_TXN_ID INVOICE_ID` confirms one, and the next "
        "sync records the bill's payments there; `paysync unmap BILL_TXN_ID` undoes it before then."
    )
    return "\n".join(lines) + "\n"


def command_mappings(args: argparse.Namespace, settings: Settings) -> int:
    """The bills behind *needs mapping* payments, with up to three suggested invoices each. Exits 0
    (a listing: the payments themselves are counted by `paysync status`)."""
    open_database_for(args, settings)
    bills = suggestions_for_unmapped_bills()
    if args.json:
        print(json.dumps({"bills": [_as_json(bill) for bill in bills]}, indent=2))
    else:
        sys.stdout.write(format_suggestions_text(bills))
    return EXIT_OK


def command_map(args: argparse.Namespace, settings: Settings) -> int:
    """Confirm a mapping: 0 when stored (or already so); 2 when refused, with the reason."""
    open_database_for(args, settings)
    try:
        print(
            confirm_mapping(
                args.bill_txn_id,
                args.invoice_id,
                actor=acting_person("cli"),
                file_key=company_key_argument(args, settings) if args.company else None,
            )
        )
    except MappingRefused as exc:
        raise CouldNotRun(str(exc)) from None
    return EXIT_OK


def command_unmap(args: argparse.Namespace, settings: Settings) -> int:
    """Undo a confirmed mapping: 0 when removed; 2 when refused, with the reason and what to do."""
    open_database_for(args, settings)
    try:
        print(
            remove_mapping(
                args.bill_txn_id,
                actor=acting_person("cli"),
                file_key=company_key_argument(args, settings) if args.company else None,
            )
        )
    except MappingRefused as exc:
        raise CouldNotRun(str(exc)) from None
    return EXIT_OK
