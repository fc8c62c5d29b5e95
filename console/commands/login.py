"""`paysync login`: Procore sign-in as a person (authorization code, out of band)."""

from __future__ import annotations

import argparse
import sys

from console.commands.common import EXIT_FAILED, EXIT_OK, open_database_for
from sync.procore.auth import authorization_url
from sync.procore.errors import ProcoreError
from sync.procore.login import sign_in_with_code
from sync.settings import Settings


def command_login(args: argparse.Namespace, settings: Settings) -> int:
    """Procore sign-in as a person (authorization code, out of band). The tokens go into the
    database, where every PaySync process using it finds and renews them."""
    settings.require_procore()
    assert settings.procore_client_id is not None
    open_database_for(args, settings)
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
