"""``/api/vnc``: the VNC server's state and settings (admins), and RFB over a WebSocket for noVNC.

The WebSocket (``/api/vnc/ws``, any signed-in role; a viewer's input is dropped) speaks RFB in
binary messages, so noVNC connects to the app itself, without websockify. The browser's session
cookie is the identity (the RFB handshake then offers security None), a browser's Origin must match
the Host, inbound data waiting to be read is capped, and the session's end closes the socket.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from litestar import Controller, WebSocket, websocket
from litestar.exceptions import PermissionDeniedException

from app.api.access import current_session
from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, get, post, services
from app.api.ws import origin_allowed, run_session
from app.errors import InvalidArgument
from app.services.auth import transport
from app.services.auth.accounts import Role
from app.services.video.pacing import TcpPacer
from app.services.vnc.link import WebSocketLink
from app.services.vnc.security import Identity
from app.services.vnc.server import VncStatus

Socket = WebSocket[Any, Any, Any]

# Bytes a client may have sent that the RFB reader has not taken yet (a cut text is at most 256 KiB).
INBOUND_LIMIT = 512 * 1024
TOO_MUCH = (1009, "too much data")


class VncSettingsRequest(msgspec.Struct):
    enabled: bool | None = None  # the listener on the VNC port, at run time (kept across restarts)
    layout: str | None = None
    # The classic VNC password, sent with the AES transport as every password; "" removes it.
    password: str | None = None


class VncController(Controller):
    path = "/api/vnc"

    @get("", role=Role.ADMIN)
    async def status(self, request: Req) -> Envelope[VncStatus]:
        return ok(services(request).vnc.status())

    @post("/settings", role=Role.ADMIN, body=VncSettingsRequest)
    async def settings(self, request: Req) -> Envelope[VncStatus]:
        body = await parse_body(request, VncSettingsRequest)
        vnc = services(request).vnc
        if body.enabled is not None:
            await vnc.set_enabled(body.enabled)
        if body.layout is not None:
            vnc.set_layout(body.layout)
        if body.password is not None:
            try:
                password = transport.decrypt(body.password) if body.password else ""
            except transport.TransportError:
                raise InvalidArgument("invalid password", code=-2) from None
            vnc.set_password(password)
        return ok(vnc.status())


async def _receive(socket: Socket, link: WebSocketLink) -> None:
    while True:
        message: dict[str, Any] = dict(await socket.receive())
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None and message.get("text") is not None:
            data = str(message["text"]).encode("latin-1", errors="replace")
        if data:
            link.feed(data)
            if link.buffered() > INBOUND_LIMIT:
                with contextlib.suppress(Exception):
                    await socket.close(*TOO_MUCH)
                return


@websocket("/api/vnc/ws", role=Role.VIEWER)
async def vnc_socket(socket: Socket) -> None:
    if not origin_allowed(socket):
        raise PermissionDeniedException()
    services_ = services(socket)
    session = current_session(socket)
    protocols = socket.headers.get("sec-websocket-protocol", "")
    subprotocol = "binary" if "binary" in [p.strip() for p in protocols.split(",")] else None
    await socket.accept(subprotocols=subprotocol)
    pacer = TcpPacer.for_scope(socket.scope)
    client = socket.scope.get("client")
    link = WebSocketLink(str(client[0]) if client else "unknown", socket.send_bytes, pacer, INBOUND_LIMIT)
    # The socket's session is held by run_session from the upgrade on (also during the RFB handshake).
    identity = Identity(session.username, session.role, None)
    try:
        await run_session(socket, lambda _: (_receive(socket, link), services_.vnc.serve_websocket(link, identity)))
    finally:
        link.close()
