"""A cap on inbound WebSocket messages, for every socket the app serves.

No legitimate client sends more than a few KB at once (HID reports are bytes, a terminal paste a
few KB), and the board has 256 MB: ten viewers each sending a 16 MiB message must not be able to
exhaust it. Granian assembles a message before the app sees it, so the guard sits at the first
point we control, the ASGI ``receive``: an oversized message is dropped there, before any handler
keeps it, the socket is closed with 1009 (message too big) and the handler sees a disconnect.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from litestar.types.asgi_types import WebSocketDisconnectEvent

MAX_MESSAGE_BYTES = 4 * 1024
# Per path where a client legitimately sends more: the terminal gets pasted text as one message,
# WebRTC signalling a browser's SDP offer (several KB), VNC a clipboard's text.
MAX_MESSAGE_BYTES_BY_PATH = {
    "/api/vm/terminal": 64 * 1024,
    "/api/stream/h264": 64 * 1024,
    "/api/vnc/ws": 64 * 1024,
}
TOO_BIG = 1009


def _size(message: ReceiveMessage) -> int:
    data: bytes | str | None = message.get("bytes")  # type: ignore[assignment]
    if data is None:
        data = message.get("text")  # type: ignore[assignment]
    return len(data) if data is not None else 0


def _disconnect() -> WebSocketDisconnectEvent:
    return {"type": "websocket.disconnect", "code": TOO_BIG}


def cap_websocket_messages(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: close (1009) a WebSocket whose client sends a message over the path's cap."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.WEBSOCKET:
            await app(scope, receive, send)
            return
        limit = MAX_MESSAGE_BYTES_BY_PATH.get(scope["path"], MAX_MESSAGE_BYTES)
        closed = False

        async def capped_receive() -> ReceiveMessage:
            nonlocal closed
            if closed:
                return _disconnect()
            message = await receive()
            if message["type"] == "websocket.receive" and _size(message) > limit:
                del message  # drop it now, not when the handler is done
                closed = True
                await send({"type": "websocket.close", "code": TOO_BIG, "reason": "message too big"})
                return _disconnect()
            return message

        async def guarded_send(message: Message) -> None:
            if not closed:  # after our close frame nothing else may go
                await send(message)

        await app(scope, capped_receive, guarded_send)

    return middleware
