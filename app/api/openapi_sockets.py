"""OpenAPI operations for the routes Litestar cannot describe: the raw ASGI streams and the WebSockets.

Litestar documents HTTP handlers only; the MJPEG stream, MCP and every WebSocket would be missing from
``/api/schema/openapi.json``. Each gets an operation here, as upstream's clients see it: the method of
its request (a WebSocket is a GET with ``Upgrade: websocket``, answered 101), its parameters, its
answers and, in ``x-protocol``, what travels after the handshake. ``openapi._annotate`` adds the
route's minimum role like every other operation's; a socket route without an entry here is a bug
that ``tests/api/test_openapi.py`` reports.
"""

from __future__ import annotations

from typing import Any

_UNAUTHORIZED = {
    "description": 'No valid session: the JSON string "unauthorized" (before any upgrade).',
    "content": {"application/json": {"schema": {"type": "string", "const": "unauthorized"}}},
}
_FORBIDDEN = {"description": "Below the route's role, or another site's page (Origin)."}
_UPGRADE = {
    "in": "header",
    "name": "Upgrade",
    "required": True,
    "schema": {"type": "string", "const": "websocket"},
}
_SESSION_END = (
    " The socket closes with code 4401 (session expired or revoked) within a second of the session's end;"
    " a client message over the path's cap closes it with 1009."
)


def _socket(summary: str, protocol: str, *, cap_kib: int = 4, parameters: tuple[dict[str, Any], ...] = ()) -> Any:
    return {
        "get": {
            "summary": summary,
            "description": f"WebSocket. {protocol}{_SESSION_END}",
            "tags": ["WebSocket"],
            "parameters": [_UPGRADE, *parameters],
            "responses": {
                "101": {"description": "Switching Protocols: the WebSocket is open."},
                "401": _UNAUTHORIZED,
                "403": _FORBIDDEN,
            },
            "x-protocol": "websocket",
            "x-max-message-bytes": cap_kib * 1024,
        }
    }


_MJPEG = {
    "summary": "MJPEG video stream",
    "description": (
        "NanoKVM's multipart stream: no preamble, each part `--frame\\r\\n"
        "Content-Type: image/jpeg\\r\\nContent-Length: <n>\\r\\n"
        "X-Timestamp: <capture time, Unix seconds>\\r\\n\\r\\n<jpeg>\\r\\n`, one per captured frame, "
        "no closing boundary; the answer lasts until the client goes or the session ends. "
        "Headers are sent with the first frame (`X-Server-Date` in RFC 1123). "
        "A slow viewer skips frames and sees the newest one."
    ),
    "tags": ["Video"],
    "responses": {
        "200": {
            "description": "The stream.",
            "headers": {
                "X-Server-Date": {"schema": {"type": "string"}, "description": "RFC 1123 date, zone name"},
                "Cache-Control": {"schema": {"type": "string", "const": "no-cache"}},
            },
            "content": {
                "multipart/x-mixed-replace; boundary=frame": {
                    "schema": {"type": "string", "format": "binary"},
                }
            },
        },
        "401": _UNAUTHORIZED,
        "403": _FORBIDDEN,
    },
    "x-protocol": "multipart/x-mixed-replace",
}

_MCP_RESPONSES = {
    "200": {
        "description": "A JSON-RPC answer (application/json), or an SSE stream of them (text/event-stream).",
        "content": {"application/json": {}, "text/event-stream": {}},
    },
    "401": {"description": 'No or a wrong key: `{"message": "invalid MCP API key"}`.'},
    "403": {"description": "MCP is not the AI control mode, or a cross-origin browser request."},
    "503": {"description": "This firmware has no MCP SDK installed."},
}

OPERATIONS: dict[str, dict[str, Any]] = {
    "/api/stream/mjpeg": {"get": _MJPEG, "head": {**_MJPEG, "summary": "MJPEG stream headers"}},
    "/api/ws": _socket(
        "Keyboard and mouse in, device status out",
        "Client → server binary messages, byte 0 the kind: 0 heartbeat (keeps the 90 s idle deadline), "
        "1 keyboard (8-byte HID report), 2 mouse (4 bytes relative: buttons, dx, dy, wheel as int8; "
        "6 bytes absolute: buttons, x and y little-endian 0..32767, wheel); other lengths are ignored, "
        "and NanoKVM ≤ 2.3.1's JSON arrays `[1, key, ctrl, shift, alt, meta]` / `[2, op, button, x, y]` "
        "are understood. A viewer's input is dropped. Server → client text messages "
        '`{"type": "capture-status"|"h264-mode-status"|"hid-led-status", "data": "<JSON as a string>"}`, '
        "a snapshot on connect and then on change.",
    ),
    "/api/vm/terminal": _socket(
        "A shell (administrators)",
        "Client text messages are typed into the terminal as they are; a binary message carries the size "
        'as JSON `{"rows": r, "cols": c}`. The output comes back as binary messages of at most 1024 bytes; '
        "the socket closes normally when the shell exits.",
        cap_kib=64,
    ),
    "/api/stream/h264": _socket(
        "H.264 over WebRTC: signalling",
        'Text messages `{"event": ..., "data": "<JSON as a string>"}`. The server sends `ice-servers` first; '
        "the client sends `video-offer` ({type: offer, sdp}) and `video-candidate`; the server answers "
        "`video-answer` and trickles `video-candidate`; `heartbeat` is echoed.",
        cap_kib=64,
    ),
    "/api/stream/h264/direct": _socket(
        "H.264 access units over a WebSocket (WebCodecs)",
        "Server → client binary messages: byte 0 is 1 for a key frame, else 0; bytes 1-8 the capture "
        "timestamp in µs (little-endian); then one Annex-B access unit. Client → server `[2, ts (8 bytes LE)]` "
        "acknowledges frames up to ts, `[3]` asks for a resync (the next key frame).",
        parameters=(
            {
                "in": "query",
                "name": "flow",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 8},
                "description": "At most this many unacknowledged frames in flight.",
            },
        ),
    ),
    "/api/vnc/ws": _socket(
        "RFB (VNC) for noVNC",
        "RFB 3.8 in binary messages; the session cookie is the identity (security type None is offered), "
        "a viewer's input is dropped.",
        cap_kib=64,
    ),
    "/api/mcp": {
        "post": {
            "summary": "MCP server (streamable HTTP)",
            "description": (
                "Model Context Protocol, streamable HTTP transport, stateless: JSON-RPC requests are POSTed. "
                "Needs `Authorization: Bearer <apiKey>` (POST /api/mcp/config, /api/mcp/key/regenerate), the AI "
                "control mode `mcp`, and no cross-origin browser request. Each tool needs a role, which the "
                "key's role must reach."
            ),
            "tags": ["AI"],
            "security": [{"mcpKey": []}],
            "responses": _MCP_RESPONSES,
            "x-protocol": "mcp-streamable-http",
        }
    },
}

SECURITY_SCHEMES = {"mcpKey": {"type": "http", "scheme": "bearer", "description": "The MCP API key"}}

# A recording's bytes (app.api.kasm.recording): a raw response so a revoked session ends a download.
OPERATIONS["/api/recordings/download"] = {
    "get": {
        "summary": "Download a recording",
        "description": (
            "The file named by `name` (relative to the recordings directory). A single `Range: bytes=` "
            "answers 206 with `Content-Range`, an unsatisfiable one 416. A missing name answers NanoKVM's "
            "envelope with a negative code. Revoking the session ends a download in progress."
        ),
        "tags": ["Recordings"],
        "parameters": [{"in": "query", "name": "name", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "The whole file.", "content": {"video/mp4": {}, "video/x-msvideo": {}}},
            "206": {"description": "The requested byte range."},
            "401": _UNAUTHORIZED,
            "403": _FORBIDDEN,
            "416": {"description": "The range lies outside the file."},
        },
    }
}
