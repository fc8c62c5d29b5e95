"""`paysync login`: the out-of-band authorization-code sign-in, kept in the database."""

from __future__ import annotations

from typing import Any

import httpx

from sync.procore.auth import DatabaseTokenStore, TokenStore, exchange_authorization_code
from sync.procore.client import ProcoreClient
from sync.settings import Settings, remember_signed_in_user


def sign_in_with_code(
    settings: Settings,
    code: str,
    *,
    token_store: TokenStore | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Trade the pasted code for tokens, save them (DatabaseTokenStore by default) and return
    who is signed in (`GET /rest/v1.0/me`: id, login, name). With the database store, who it is
    is kept too: the audit trail names that person (sync.settings.acting_person)."""
    settings.require_procore()
    assert settings.procore_client_id and settings.procore_client_secret
    assert settings.procore_company_id is not None
    store = token_store or DatabaseTokenStore()
    with httpx.Client(transport=transport, timeout=30.0) as http:
        token = exchange_authorization_code(
            settings.procore_login_base,
            settings.procore_client_id,
            settings.procore_client_secret,
            code,
            http=http,
        )
    store.save(token)
    with ProcoreClient(
        api_base=settings.procore_api_base,
        login_base=settings.procore_login_base,
        client_id=settings.procore_client_id,
        client_secret=settings.procore_client_secret,
        company_id=settings.procore_company_id,
        token_store=store,
        transport=transport,
    ) as client:
        me = client.get_me()
    if isinstance(store, DatabaseTokenStore):
        remember_signed_in_user(me)
    return me
