"""Deny by default, enforced as an ASGI middleware rather than a Litestar guard.

Litestar runs a guard with a fresh copy of the route handler on every request (``copy(handler)``),
which cost about a tenth of an authenticated request's CPU. This middleware sits innermost in the
app's middleware list, where Litestar has already routed the request (``scope["route_handler"]``),
and applies the API's access check itself: same rules, same answers. Its refusals are rendered
here, through the audit and cross-site middleware outside it, as Litestar renders a guard's: HTTP
by the API's error mapping, a WebSocket by a close before accepting (``wsdeny`` turns NanoKVM's
unauthenticated one into a plain 401).

Both APIs use it: NanoKVM's with ``access.check_access`` (``enforce_access``), kvmd's with its own
credentials and envelope (``app.api.pikvm.access``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from app.api.access import check_access
from app.api.envelope import http_error

# What Litestar closes a WebSocket with when its handler (or guard) raises a non-WebSocket error.
WS_REFUSED = 4500

Refusal = TypeVar("Refusal", bound=Exception)
# Admits the request to the handler (the session in ``scope["state"]``) or raises the refusal.
Check = Callable[[Scope, BaseRouteHandler], Awaitable[None]]
# The HTTP answer to a refusal, in the API's envelope.
Render = Callable[[Request[Any, Any, Any], Refusal], Response[Any]]
# What a refused WebSocket's close says (no client sees it: the socket was never accepted).
Reason = Callable[[Refusal], str]


def access_middleware(
    check: Check, refused: type[Refusal], render: Render[Refusal], reason: Reason[Refusal]
) -> Callable[[ASGIApp], ASGIApp]:
    """An ASGI middleware factory: only requests ``check`` admits reach the app; what it raises as
    ``refused`` is answered with ``render`` (HTTP) or a close (WebSocket)."""

    def enforce(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            handler: BaseRouteHandler = scope["route_handler"]
            try:
                await check(scope, handler)
            except refused as refusal:
                if scope["type"] == ScopeType.WEBSOCKET:
                    await send({"type": "websocket.close", "code": WS_REFUSED, "reason": reason(refusal)})
                    return
                request: Request[Any, Any, Any] = Request(scope, receive, send)
                await render(request, refusal).to_asgi_response(app=None, request=request)(scope, receive, send)
                return
            await app(scope, receive, send)

        return middleware

    return enforce


def _detail(refusal: HTTPException) -> str:
    return refusal.detail


# NanoKVM's API: its roles and sessions, its error mapping.
enforce_access = access_middleware(check_access, HTTPException, http_error, _detail)
