"""kvmd's access check, applied by the shared access middleware (``app.api.access_middleware``).

The same rules as the NanoKVM side, in kvmd's terms: a route without a role answers 403 (deny by
default, Litestar's automatic OPTIONS routes included); a state change from another site is refused
(kvmd's API has no global cross-site middleware, so the check is here, before the credentials, and
covers the public login too); then kvmd's credentials (``auth.kvmd_session``) must reach the route's
role, and an account still on its default password is held to the password change, as NanoKVM holds
it. Refusals are kvmd's envelope ``{ok: false, result: {error, error_msg}}`` with its statuses.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.handlers import BaseRouteHandler
from litestar.types import Scope

from app.api.access import PasswordChangeRequired, required_role
from app.api.access_middleware import access_middleware
from app.api.crosssite import from_another_site
from app.api.pikvm.auth import kvmd_session
from app.api.pikvm.envelope import KvmdError, failure
from app.services.auth.accounts import Role

_READS = frozenset({"GET", "HEAD"})


def cross_site(scope: Scope) -> bool:
    """A browser request from another site (Sec-Fetch-Site, Origin or Referer; the NanoKVM side's
    rule, ``crosssite``)."""
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    return from_another_site(headers, scope.get("scheme", "http"))


async def check_kvmd_access(scope: Scope, handler: BaseRouteHandler, quick: bool = False) -> None:
    """Admit the request to ``handler`` (its session to ``scope["state"]``) or raise a KvmdError.
    ``quick``: without side effects, refusing what only a password check could admit (the hot routes)."""
    role = required_role(handler)
    if role is None:
        raise KvmdError(403, "ForbiddenError", "Forbidden")
    if scope.get("method", "GET") not in _READS and cross_site(scope):  # a WebSocket's origin: its handler's
        raise KvmdError(403, "ForbiddenError", "Cross-site request refused")
    if role is Role.PUBLIC:
        return
    session = await kvmd_session(scope, quick)
    if session.role < role:
        raise KvmdError(403, "ForbiddenError", f"The {role.wire} role is required")
    auth = scope["app"].state.services.auth
    account = auth.store.cached(session.username)
    if auth.enabled and account is not None and account.must_change_password:
        raise KvmdError(403, "ForbiddenError", PasswordChangeRequired.MESSAGE)  # as on the NanoKVM side
    scope.setdefault("state", {})["session"] = session


def _render(_: Request[Any, Any, Any], refusal: KvmdError) -> Response[bytes]:
    return failure(refusal.status, refusal.error, refusal.message)


def _reason(refusal: KvmdError) -> str:
    return refusal.error  # short: a close reason has room for 123 bytes


async def quick_kvmd_access(scope: Scope, handler: BaseRouteHandler) -> None:
    await check_kvmd_access(scope, handler, quick=True)


enforce_kvmd_access = access_middleware(check_kvmd_access, KvmdError, _render, _reason)
