"""Which API answers a request on the shared listener (pikvm-clients.md §3, §4).

kvmd's own paths (``/api/info``, ``/api/atx``, ``/redfish``...) never exist in NanoKVM's API and go
to the kvmd app. Four routes exist in both; they go to kvmd only on an explicit kvmd signal, so
NanoKVM's clients and pages see exactly what they saw before:

* ``POST /api/auth/login``: a body with kvmd's ``user``/``passwd`` keys (form or JSON);
* ``POST /api/auth/logout``, ``POST /api/hid/reset``: kvmd credentials (``X-KVMD-User``, HTTP Basic),
  or an ``auth_token`` cookie without a ``nano-kvm-token`` one;
* ``GET /api/ws``: the same, or a ``stream`` query parameter (every kvmd client sends one).

A browser that holds both cookies (both pages open on one host) keeps NanoKVM's routes unless the
request says otherwise: the explicit signals win over cookies.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from app.api.pikvm.auth import COOKIE, NANO_COOKIE, basic, cookie

# Paths that only kvmd has: the path itself or anything below it.
KVMD_TREES = (
    "/api/auth/check",
    "/api/info",
    "/api/log",
    "/api/atx",
    "/api/msd",
    "/api/gpio",
    "/api/streamer",
    "/api/export",
    "/api/switch",
    "/api/redfish",
    "/redfish",
    "/api/hid/set_params",
    "/api/hid/set_connected",
    "/api/hid/keymaps",
    "/api/hid/print",
    "/api/hid/events",
    "/streamer",
)
KVMD_EXACT = ("/api/hid", "/api/hid/")
LOGIN_BODY_LIMIT = 64 << 10
# The HTTP routes both APIs have (all POST): only these need a closer look at the request.
_SHARED_POSTS = frozenset({"/api/auth/login", "/api/auth/logout", "/api/hid/reset"})


_TREE_ROOTS = frozenset(KVMD_TREES)
_TREE_PREFIXES = tuple(tree + "/" for tree in KVMD_TREES)


def kvmd_path(path: str) -> bool:
    # One set look-up and one C-level startswith: this runs for every request on the listener.
    return path in KVMD_EXACT or path in _TREE_ROOTS or path.startswith(_TREE_PREFIXES)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}


def kvmd_credentials(headers: dict[str, str]) -> bool:
    """An explicit kvmd credential, or kvmd's cookie alone (without NanoKVM's)."""
    if "x-kvmd-user" in headers or basic(headers.get("authorization")) is not None:
        return True
    jar = headers.get("cookie")
    return cookie(jar, COOKIE) is not None and cookie(jar, NANO_COOKIE) is None


def kvmd_login_body(content_type: str, body: bytes) -> bool:
    """kvmd's login fields (``user``, ``passwd``) rather than NanoKVM's (``username``, ``password``)."""
    keys: set[str]
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        try:
            value = msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            return False
        keys = {str(k).lower() for k in value} if isinstance(value, dict) else set()
    elif content_type.startswith(("application/x-www-form-urlencoded", "text/plain")) or not content_type:
        keys = {k.lower() for k in parse_qs(body.decode("latin-1"), keep_blank_values=True)}
    elif content_type.startswith("multipart/form-data"):
        text = body.decode("latin-1")
        keys = {k for k in ("user", "passwd", "username", "password") if f'name="{k}"' in text}
    else:
        return False
    return bool(keys & {"user", "passwd"}) and not keys & {"username", "password"}


async def _read_body(receive: Receive) -> tuple[list[Any], bytes, bool]:
    """The request body up to the limit (messages kept for replay); False if it went beyond."""
    messages: list[Any] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, bytes(body), True
        body += message.get("body", b"")
        if len(body) > LOGIN_BODY_LIMIT:
            return messages, bytes(body), False
        if not message.get("more_body", False):
            return messages, bytes(body), True


def _replay(messages: list[Any], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def kvmd_dispatch(nanokvm: ASGIApp, kvmd: ASGIApp) -> ASGIApp:
    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        kind = str(scope["type"])
        if kind not in ("http", "websocket"):
            await nanokvm(scope, receive, send)
            return
        path: str = scope["path"]
        if kvmd_path(path):
            await kvmd(scope, receive, send)
            return
        if kind == "http" and (scope.get("method") != "POST" or path not in _SHARED_POSTS):
            await nanokvm(scope, receive, send)  # the common case: no header is looked at
            return
        headers = _headers(scope)
        if kind == "websocket":
            if path in ("/api/ws", "/api/ws/") and (
                "stream" in parse_qs(scope.get("query_string", b"").decode("latin-1")) or kvmd_credentials(headers)
            ):
                await kvmd(scope, receive, send)
                return
        elif scope.get("method") == "POST":
            if path in ("/api/auth/logout", "/api/hid/reset") and kvmd_credentials(headers):
                await kvmd(scope, receive, send)
                return
            if path == "/api/auth/login":
                messages, body, whole = await _read_body(receive)
                content_type = headers.get("content-type", "").lower()
                explicit = "x-kvmd-user" in headers or basic(headers.get("authorization")) is not None
                target = kvmd if whole and (explicit or kvmd_login_body(content_type, body)) else nanokvm
                await target(scope, _replay(messages, receive), send)
                return
        await nanokvm(scope, receive, send)

    return dispatch
