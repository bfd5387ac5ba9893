"""Deny-by-default access control: every route states its minimum role.

A route declares ``role=Role.X`` in its decorator (Litestar puts it in ``opt``). A route without one
is refused at runtime, and ``check_routes`` stops the app from starting with such a route at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import Scope

from app.api.routing import services as app_services
from app.api.wsdeny import UNAUTHORIZED
from app.runtime import Services
from app.services.auth.accounts import Role
from app.services.auth.service import AuthService
from app.services.auth.sessions import Session

COOKIE = "nano-kvm-token"

# With ``authentication: disable`` every caller acts as this (spec 2.1).
ANONYMOUS_ADMIN = Session("admin", Role.ADMIN, 1, float("inf"))


def _automatic_options(handler: BaseRouteHandler) -> bool:
    """Litestar adds an OPTIONS handler per path; gin has none, so those answer 404."""
    return set(getattr(handler, "http_methods", ())) == {"OPTIONS"} and "role" not in handler.opt


def required_role(handler: BaseRouteHandler) -> Role | None:
    role = handler.opt.get("role")
    return role if isinstance(role, Role) else None


def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Session | None:
    """Who the request acts as (see ``scope_session``); also re-checks long-lived ones."""
    return scope_session(connection.scope)


def scope_session(scope: Scope) -> Session | None:
    """Who the request acts as: ``Authorization: Bearer`` (an API token, or a login's token as
    curl scripts hold it) when present, else the session cookie. Reads the raw ASGI scope: this
    runs on every request, and building a Litestar connection for it costs more than the check."""
    services: Services = scope["app"].state.services
    auth: AuthService = services.auth
    if not auth.enabled:
        return ANONYMOUS_ADMIN
    authorization = cookie = None
    for name, value in scope["headers"]:  # ASGI header names are lower case; the first one counts
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"cookie" and cookie is None:
            cookie = value.decode("latin-1")
    client = scope.get("client")
    address = client[0] if client else ""
    bearer = bearer_token(authorization)
    if bearer is not None:
        return auth.authenticate_bearer(bearer, address)
    return auth.sessions.authenticate(session_token(cookie), address)


def bearer_token(header: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer`` header; None without one (Basic is not ours)."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def session_token(cookie_header: str | None) -> str | None:
    """The first ``nano-kvm-token`` cookie, URL-unescaped, as NanoKVM reads it."""
    for pair in (cookie_header or "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == COOKIE:
            return unquote(value.strip().strip('"'))
    return None


async def check_access(scope: Scope, handler: BaseRouteHandler) -> None:
    """Admit the request to ``handler`` or raise the refusal (401, 403, or 404 for Litestar's
    automatic OPTIONS routes); an admitted request's session goes to ``scope["state"]``."""
    role = required_role(handler)
    if role is None:
        if _automatic_options(handler):
            raise NotFoundException()
        raise PermissionDeniedException()
    if role is Role.PUBLIC:
        return
    session = scope_session(scope)
    fallback = handler.opt.get("credentials")  # a surface's own credentials (KasmVNC's HTTP Basic)
    if session is None and fallback is not None:
        session = await fallback(ASGIConnection(scope))
    if session is None:
        scope[UNAUTHORIZED] = True  # type: ignore[literal-required]  # a WebSocket answers 401 too
        raise NotAuthorizedException()
    if session.role < role:
        raise PermissionDeniedException()
    if not handler.opt.get("before_password_change") and _must_change_password(scope, session):
        raise PasswordChangeRequired()
    scope.setdefault("state", {})["session"] = session


class PasswordChangeRequired(PermissionDeniedException):
    """The account still has its default password: only login, its account and the change are open."""

    MESSAGE = (
        "password change required: this account still has the default password; change it first with "
        "POST /api/auth/password {currentPassword, password} (then log in again)"
    )


def _must_change_password(scope: Scope, session: Session) -> bool:
    auth = scope["app"].state.services.auth
    if not auth.enabled:
        return False
    account = auth.store.cached(session.username)
    return account is not None and account.must_change_password


def current_session(connection: ASGIConnection[Any, Any, Any, Any]) -> Session:
    session: Session = connection.state.session
    return session


@contextlib.asynccontextmanager
async def held(connection: ASGIConnection[Any, Any, Any, Any], role: Role) -> AsyncIterator[None]:
    """Run a long-lived response (stream, socket) inside its session: the body is cancelled and
    ``SessionEnded`` raised within a second of the session's revocation or expiry, or of its
    credentials no longer reaching ``role``."""
    services = app_services(connection)
    session = current_session(connection)

    def still_valid() -> bool:
        current = session_of(connection)
        return current is not None and current.role >= role

    async with services.live.hold(session.username, session.expires, still_valid, session.sid):
        yield


def check_routes(app: Litestar) -> None:
    """Refuse to start with a route that does not state its role."""
    missing = [
        f"{', '.join(sorted(getattr(handler, 'http_methods', ['WS'])))} {route.path}"
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if required_role(handler) is None and not _automatic_options(handler)
    ]
    if missing:
        raise RuntimeError(f"routes without a role (deny by default): {'; '.join(missing)}")
