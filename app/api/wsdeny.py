"""WebSocket upgrades refused for want of a session answer as NanoKVM's HTTP routes do: 401
``"unauthorized"`` (spec 2.4), not the bare 403 a server sends for a socket closed before accepting.

The access guard marks the scope (``UNAUTHORIZED``); this middleware turns the close that follows into
an HTTP denial response (the ASGI ``websocket.http.response`` extension, which granian provides).
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

UNAUTHORIZED = "nanokvm.ws_unauthorized"


def deny_websockets_plainly(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.WEBSOCKET or "websocket.http.response" not in (scope.get("extensions") or {}):
            await app(scope, receive, send)
            return
        accepted = False

        async def denying_send(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close" and not accepted and scope.get(UNAUTHORIZED):
                headers = [(b"content-type", b"application/json; charset=utf-8")]
                await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": b'"unauthorized"', "more_body": False})
                return
            await send(message)

        await app(scope, receive, denying_send)

    return middleware
