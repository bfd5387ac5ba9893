"""KasmVNC's credentials: HTTP Basic with an account of ours (besides our sessions and tokens, which
the access guard checks first). Failures count towards the same per-address lock-out as logins.

bcrypt costs tens of ms and scripts send Basic with every call, so a checked pair is remembered as
kvmd's credentials are (``app.api.pikvm.auth``: valid while the account is unchanged)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.connection import ASGIConnection

from app.api.pikvm.auth import basic, check_account, client_ip, remembered_account
from app.api.routing import services as app_services
from app.services.auth.accounts import Account, Role, StoreError
from app.services.auth.sessions import Session

Conn = ASGIConnection[Any, Any, Any, Any]


def _session(account: Account) -> Session:
    return Session(account.username, Role.from_wire(account.role), account.token_version, float("inf"), kind="basic")


async def basic_session(connection: Conn) -> Session | None:
    """The account a request's ``Authorization: Basic`` names, if the password is right; else None
    (the guard then answers 401)."""
    pair = basic(connection.headers.get("authorization"))
    if pair is None or not pair[0]:
        return None
    services = app_services(connection)
    auth = services.auth
    ip = client_ip(connection)
    if auth.lockout.is_locked(ip):
        await auth.pause(1.5)
        return None
    known = remembered_account(services, *pair)
    if known is not None:
        return _session(known)
    if not auth.lockout.reserve(ip):
        await auth.pause(1.5)
        return None
    try:
        account = await asyncio.to_thread(check_account, services, *pair)
    except StoreError:
        return None
    if account is None:
        await auth.pause()
        return None
    auth.lockout.success(ip)
    return _session(account)
