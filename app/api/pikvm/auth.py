"""kvmd's credentials on the shared account store (its access check: ``app.api.pikvm.access``).

Order as kvmd: ``X-KVMD-User``/``X-KVMD-Passwd``, then the ``auth_token`` cookie (a session token of the
same kind NanoKVM's login issues, so logout, password and role changes revoke it alike), then HTTP
Basic without a ``WWW-Authenticate`` challenge. No credentials: 401; wrong ones: 403. Failures count
towards the same per-IP lock-out as NanoKVM logins.

Checking a password costs a bcrypt round (tens of ms on a board) and kvmd's clients send one with every
request, so a checked (user, password) pair is remembered, keyed by a keyed hash of the password and
valid only while the account's stored hash, its token version and its enabled flag are unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import unquote

from litestar.connection import ASGIConnection
from litestar.types import Scope

from app.api.access import ANONYMOUS_ADMIN
from app.api.pikvm.envelope import KvmdError
from app.services.auth.accounts import Account, Role, StoreError
from app.services.auth.sessions import Session

COOKIE = "auth_token"
NANO_COOKIE = "nano-kvm-token"

Conn = ASGIConnection[Any, Any, Any, Any]

_CACHE_SECONDS = 300.0
_CACHE_LIMIT = 256
_KEY = secrets.token_bytes(32)
# (username, keyed hash of the password) -> (stored hash, token version, checked at)
_checked: dict[tuple[str, bytes], tuple[str, int, float]] = {}


def cookie(cookie_header: str | None, name: str) -> str | None:
    for pair in (cookie_header or "").split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name:
            return unquote(value.strip().strip('"'))
    return None


def basic(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def credentials(connection: Conn) -> tuple[str, str] | None:
    """The user and password a request carries (X-KVMD-* first, then Basic), if any."""
    user = connection.headers.get("x-kvmd-user")
    if user is not None:
        return user, connection.headers.get("x-kvmd-passwd", "")
    return basic(connection.headers.get("authorization"))


def _remembered(account: Account, password: str) -> bool:
    digest = hmac.new(_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    entry = _checked.get((account.username, digest))
    return (
        entry is not None
        and entry[0] == account.password
        and entry[1] == account.token_version
        and time.monotonic() - entry[2] < _CACHE_SECONDS
    )


def _remember(account: Account, password: str) -> None:
    if len(_checked) >= _CACHE_LIMIT:
        _checked.clear()
    digest = hmac.new(_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    _checked[(account.username, digest)] = (account.password, account.token_version, time.monotonic())


def remembered_account(services: Any, username: str, password: str) -> Account | None:
    """The account if this pair was checked lately and nothing about the account changed since."""
    account: Account | None = services.auth.store.cached(username)
    if account is not None and account.enabled and _remembered(account, password):
        return account
    return None


def check_account(services: Any, username: str, password: str) -> Account | None:
    """The enabled account if ``password`` is its password (blocking: bcrypt). Raises StoreError.

    Hook for a second factor (a TOTP code appended to the password): when the auth service offers
    ``split_second_factor``, it strips and checks the code before the password is compared."""
    store = services.auth.store
    account: Account | None = store.cached(username)
    sent = password
    second = getattr(services.auth, "split_second_factor", None)
    if second is not None and account is not None:
        password_only = second(account, password)
        if password_only is None:
            return None
        password = password_only
    found: Account | None = store.authenticate(username, password)
    if found is None:
        # store.authenticate already spent a bcrypt round on unknown users too.
        return None
    # What the client sent (with its TOTP code): kvmd's clients repeat the same header on every
    # request, and a code is accepted once, so the repeats must be recognised here.
    _remember(found, sent)
    return found


def client_ip(connection: Conn) -> str:
    return connection.client.host if connection.client else ""


async def login_account(services: Any, ip: str, username: str, password: str) -> Account:
    """Check a user and password as NanoKVM's login does: refused while the address ``ip`` is locked
    out; an attempt that needs a password check is counted before it (the lock-out's ``reserve``), a
    right one forgets the count, a wrong one pauses."""
    auth = services.auth
    if auth.lockout.is_locked(ip):
        await _locked(auth)
    known = remembered_account(services, username, password)
    if known is not None:
        return known
    if not auth.lockout.reserve(ip):
        await _locked(auth)
    try:
        account = await asyncio.to_thread(check_account, services, username, password) if username else None
    except StoreError:
        raise KvmdError(503, "UnavailableError", "Authentication unavailable") from None
    if account is None:
        await auth.pause()
        raise KvmdError(403, "ForbiddenError", "Invalid credentials")
    auth.lockout.success(ip)
    return account


async def _locked(auth: Any) -> None:
    await auth.pause(1.5)
    raise KvmdError(403, "ForbiddenError", "Locked out after too many failed attempts")


def _session(account: Account) -> Session:
    return Session(account.username, Role.from_wire(account.role), account.token_version, float("inf"))


# The request headers kvmd's credentials are in (ASGI names are lower case).
_CREDENTIAL_HEADERS = frozenset({b"x-kvmd-user", b"x-kvmd-passwd", b"authorization", b"cookie"})


def _credential_headers(scope: Scope) -> dict[bytes, str]:
    """Those headers, the first of each as Litestar's ``headers.get`` reads them; from the raw scope,
    as this runs on every request and a Litestar connection costs more than the look-up."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _CREDENTIAL_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def kvmd_session(scope: Scope, quick: bool = False) -> Session:
    """The caller's session from kvmd's credentials; 401 without any, 403 with wrong ones.

    ``quick`` (the hot routes): a password is taken only if it was checked lately (no bcrypt, no
    lock-out count, no pause); any other refuses, so that the full check decides, once."""
    services = scope["app"].state.services
    if not services.auth.enabled:
        return ANONYMOUS_ADMIN
    found = _credential_headers(scope)
    user = found.get(b"x-kvmd-user")
    pair = (user, found.get(b"x-kvmd-passwd", "")) if user is not None else basic(found.get(b"authorization"))
    if pair is not None:
        client = scope.get("client")
        ip = client[0] if client else ""
        if not quick:
            return _session(await login_account(services, ip, *pair))
        known = None if services.auth.lockout.is_locked(ip) else remembered_account(services, *pair)
        if known is None:
            raise KvmdError(403, "ForbiddenError", "Not checked lately")
        return _session(known)
    token = cookie(found.get(b"cookie"), COOKIE)
    if token is not None:
        session: Session | None = services.auth.sessions.authenticate(token)
        if session is None:
            raise KvmdError(403, "ForbiddenError", "Invalid or expired token")
        return session
    raise KvmdError(401, "UnauthorizedError", "No credentials")
