"""Long-lived kvmd connections (log follow, WebSocket) run inside their session, as NanoKVM's do
(``LiveConnections.hold``): they end within a second of a revocation, an expiry, or credentials that no
longer reach the route's role. kvmd's credentials are re-checked here, not NanoKVM's cookie."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from app.api.access import current_session
from app.api.pikvm.auth import COOKIE, cookie, credentials
from app.api.routing import services as app_services
from app.runtime import Services
from app.services.auth.accounts import Role
from app.services.auth.sessions import Session


def still_valid(services: Services, session: Session, token: str | None, role: Role) -> bool:
    """Whether the credentials a connection was opened with still hold (cheap: no password check)."""
    if not services.auth.enabled:
        return True
    if token is not None:
        current = services.auth.sessions.authenticate(token)
        return current is not None and current.role >= role
    account = services.auth.store.cached(session.username)
    return (
        account is not None
        and account.enabled
        and account.token_version == session.token_version
        and Role.from_wire(account.role) >= role
    )


@contextlib.asynccontextmanager
async def held(connection: Any, role: Role) -> AsyncIterator[None]:
    """Run the body inside the caller's session; raises SessionEnded when it ends."""
    services = app_services(connection)
    session = current_session(connection)
    token = None if credentials(connection) is not None else cookie(connection.headers.get("cookie"), COOKIE)
    async with services.live.hold(
        session.username, session.expires, lambda: still_valid(services, session, token, role)
    ):
        yield
