"""OAuth as Procore's login host answers it (API-NOTES §5): ``/oauth/token`` (client credentials,
authorization code, refresh token; single-use refresh tokens), ``/oauth/token/info``,
``/oauth/revoke``, ``/oauth/authorize`` (out-of-band code page), and the bearer-token check every
REST call goes through."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from sandbox.procore.call import Call
from sandbox.procore.errors import ApiError, oauth_error
from sandbox.procore.records import OOB_REDIRECT_URI, AccessToken, RefreshToken
from sandbox.procore.requests import read_body
from sandbox.procore.state import ProcoreState


def token_from_header(state: ProcoreState, request: Request) -> AccessToken | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    with state.lock:
        token = state._access_tokens.get(value.strip())
        if token is None or token.revoked or token.expires_at <= state.now():
            return None
        return token


async def oauth_token(call: Call) -> Response:
    fields, _ = await read_body(call.request)
    client_id, client_secret = _client_credentials(call.request, fields)
    grant_type = str(fields.get("grant_type") or "")
    state = call.state
    with state.lock:
        client = state._clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, client_secret):
            raise oauth_error(
                401,
                "invalid_client",
                "Client authentication failed due to unknown client, no client authentication "
                "included, or unsupported authentication method.",
            )
        if grant_type == "client_credentials":
            token = _issue_token(state, client_id, state.service_account_id, with_refresh=False)
        elif grant_type == "authorization_code":
            code = state._codes.get(str(fields.get("code") or ""))
            redirect_uri = str(fields.get("redirect_uri") or "")
            if (
                code is None
                or code.used
                or code.client_id != client_id
                or code.expires_at <= state.now()
                or redirect_uri != code.redirect_uri
                or redirect_uri != OOB_REDIRECT_URI
            ):
                raise _invalid_grant()
            code.used = True
            token = _issue_token(state, client_id, code.user_id, with_refresh=True)
        elif grant_type == "refresh_token":
            refresh = state._refresh_tokens.get(str(fields.get("refresh_token") or ""))
            if refresh is None or refresh.used or refresh.client_id != client_id:
                raise _invalid_grant()
            # Single use: the old refresh token dies now, even if this response is lost.
            refresh.used = True
            token = _issue_token(state, client_id, refresh.user_id, with_refresh=True)
        elif not grant_type:
            raise oauth_error(
                400, "invalid_request", "The request is missing a required parameter: grant_type."
            )
        else:
            raise oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        body: dict[str, Any] = {
            "access_token": token.token,
            "token_type": "bearer",
            "expires_in": int((token.expires_at - token.created_at).total_seconds()),
            "created_at": int(token.created_at.timestamp()),
        }
        if token.refresh_token is not None:
            body["refresh_token"] = token.refresh_token
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _invalid_grant() -> ApiError:
    return oauth_error(
        400,
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the "
        "redirection URI used in the authorization request, or was issued to another client.",
    )


def _client_credentials(request: Request, fields: Mapping[str, Any]) -> tuple[str, str]:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return str(fields.get("client_id") or ""), str(fields.get("client_secret") or "")


def _issue_token(state: ProcoreState, client_id: str, user_id: int, *, with_refresh: bool) -> AccessToken:
    now = state.now()
    refresh_value: str | None = None
    if with_refresh:
        refresh_value = "sbx-rt-" + secrets.token_hex(24)
        state._refresh_tokens[refresh_value] = RefreshToken(refresh_value, client_id, user_id)
    token = AccessToken(
        token="sbx-at-" + secrets.token_hex(24),
        client_id=client_id,
        user_id=user_id,
        created_at=now,
        expires_at=now + state.access_token_lifetime,
        refresh_token=refresh_value,
    )
    state._access_tokens[token.token] = token
    return token


async def oauth_token_info(call: Call) -> Response:
    token = token_from_header(call.state, call.request)
    if token is None:
        raise oauth_error(401, "invalid_token", "The access token is invalid")
    return JSONResponse(
        {
            "resource_owner_id": token.user_id,
            "scopes": [],
            "expires_in_seconds": max(0, int((token.expires_at - call.state.now()).total_seconds())),
            "application": {"uid": token.client_id},
            "created_at": int(token.created_at.timestamp()),
        }
    )


async def oauth_revoke(call: Call) -> Response:
    fields, _ = await read_body(call.request)
    value = str(fields.get("token") or "")
    with call.state.lock:
        for token in call.state._access_tokens.values():
            if value in (token.token, token.refresh_token):
                token.revoked = True
                if token.refresh_token in call.state._refresh_tokens:
                    call.state._refresh_tokens[token.refresh_token].used = True
        if value in call.state._refresh_tokens:
            call.state._refresh_tokens[value].used = True
    # Revocation answers 200 even for an unknown token (API-NOTES §5.2).
    return JSONResponse({})


async def oauth_authorize(call: Call) -> Response:
    params = call.request.query_params
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if params.get("response_type") != "code" or client_id not in call.state._clients:
        return HTMLResponse("<h1>Invalid authorization request</h1>", status_code=400)
    if redirect_uri != OOB_REDIRECT_URI:
        # The sandbox app is registered with the out-of-band redirect URI only.
        return HTMLResponse("<h1>The redirect uri included is not valid.</h1>", status_code=400)
    login = call.state.default_authorize_login
    if login is None:
        return HTMLResponse(
            "<h1>No user is signed in to the sandbox (set default_authorize_login)</h1>", status_code=400
        )
    code = call.state.issue_authorization_code(client_id, login, redirect_uri)
    return HTMLResponse(
        "<html><body><h1>Authorization code</h1>"
        f'<p>Copy this code into your application:</p><code id="code">{code}</code></body></html>'
    )
