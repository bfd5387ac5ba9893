"""Deny by default, enforced as an ASGI middleware rather than a Litestar guard.

Litestar runs a guard with a fresh copy of the route handler on every request (``copy(handler)``),
which cost about a tenth of an authenticated request's CPU. This middleware sits innermost in the
app's middleware list, where Litestar has already routed the request (``scope["route_handler"]``),
and applies ``access.check_access`` itself: same rules, same answers. Its refusals are rendered
here, through the audit and cross-site middleware outside it, as Litestar renders a guard's: HTTP
by NanoKVM's error mapping, a WebSocket by a close before accepting (``wsdeny`` turns the
unauthenticated one into a plain 401).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from app.api.access import check_access
from app.api.envelope import http_error

# What Litestar closes a WebSocket with when its handler (or guard) raises a non-WebSocket error.
_WS_REFUSED = 4500


def enforce_access(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: only requests their route's role admits reach ``app``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler: BaseRouteHandler = scope["route_handler"]
        try:
            await check_access(scope, handler)
        except HTTPException as refusal:
            await _refuse(scope, receive, send, refusal)
            return
        await app(scope, receive, send)

    return middleware


async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: HTTPException) -> None:
    if scope["type"] == ScopeType.WEBSOCKET:
        await send({"type": "websocket.close", "code": _WS_REFUSED, "reason": refusal.detail})
        return
    request: Request[Any, Any, Any] = Request(scope, receive, send)
    await http_error(request, refusal).to_asgi_response(app=None, request=request)(scope, receive, send)
