"""What gin does around every route, applied before Litestar routes (spec 1.3, 1.4, 11.4).

* Trailing slashes: gin serves a route only at the path it was registered with. A request that
  matches only with the slash added or removed is redirected before any middleware (so before
  authentication): 301 for GET, 307 for every other method, ``Location`` the other form with the
  query kept, and the bodies of Go's ``http.Redirect``. Litestar would serve both forms alike.
* JSON: gin answers ``application/json; charset=utf-8`` and Go's encoder writes ``<``, ``>``, ``&``,
  U+2028 and U+2029 as ``\\u003c``-style escapes. These can only occur inside JSON strings, so
  replacing the bytes keeps the document's meaning and gives gin's bytes.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any, cast

from litestar.exceptions import HTTPException
from litestar.types import ASGIApp
from litestar.utils import normalize_path

# Plain ASGI mappings: this layer edits messages, which Litestar's TypedDicts do not let it type.
Message = dict[str, Any]
Scope = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

# Routes NanoKVM registers with a trailing slash (method, path without it).
SLASH_ROUTES = frozenset({("POST", "/api/vm/mouse-jiggler")})

_JSON = b"application/json"
_JSON_UTF8 = b"application/json; charset=utf-8"
_RESET = (b"content-type", b"content-length")
_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)

Router = Callable[[str, Any], tuple[Any, ...]]


def go_json(body: bytes) -> bytes:
    """``body`` (a JSON document) with the characters Go's encoder escapes escaped as Go does."""
    for raw, escaped in _ESCAPES:
        if raw in body:
            body = body.replace(raw, escaped)
    return body


def _redirect_target(scope: Scope, router: Router) -> bytes | None:
    """The path gin would redirect this request to, or None when it is served (or is a 404) as it is."""
    path: str = scope["path"]
    method: str = scope["method"]
    if not path.startswith("/api/"):
        return None  # our own frontend's files, not NanoKVM's routes
    slashed = path.endswith("/")
    if not slashed and (method, path) not in SLASH_ROUTES:
        return None  # the common case, no routing lookup
    try:
        template: str = router(normalize_path(path), method)[4]
    except HTTPException:  # no such route for this method: gin has nothing to redirect to either
        return None
    if slashed == ((method, template) in SLASH_ROUTES):
        return None
    raw = bytes(scope.get("raw_path") or path.encode()).split(b"?", 1)[0]
    target = raw.rstrip(b"/") if slashed else raw + b"/"
    query: bytes = scope.get("query_string", b"")
    return target + (b"?" + query if query else b"")


async def _send_redirect(send: Send, method: str, location: bytes) -> None:
    """Go's ``http.Redirect``: an HTML body for GET only, a Content-Type for GET and HEAD."""
    status = 301 if method == "GET" else 307
    headers = [(b"location", location)]
    body = b""
    if method in ("GET", "HEAD"):
        headers.append((b"content-type", b"text/html; charset=utf-8"))
    if method == "GET":
        text = "Moved Permanently" if status == 301 else "Temporary Redirect"
        body = f'<a href="{html.escape(location.decode("latin-1"))}">{text}</a>.\n\n'.encode("latin-1")
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _JsonSend:
    """Wraps ``send``: JSON answers get gin's Content-Type and Go's escapes (Content-Length fixed)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None  # a JSON answer's start, held until its first body part
        self.escaping = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers", ())
            for name, value in headers:
                if name.lower() == b"content-type" and value.split(b";")[0].strip().lower() == _JSON:
                    # Held until the body: its length changes with the escapes (a streamed answer
                    # goes out chunked instead), so Content-Length is set then.
                    kept = [(n, v) for n, v in headers if n.lower() not in _RESET]
                    kept.append((b"content-type", _JSON_UTF8))
                    self.start, self.escaping = {**message, "headers": kept}, True
                    return
            await self.send(message)
            return
        if message["type"] != "http.response.body" or not self.escaping:
            await self.send(message)
            return
        body: bytes = message.get("body", b"")
        escaped = go_json(body)
        if self.start is not None:
            start, self.start = self.start, None
            if not message.get("more_body", False):
                start["headers"].append((b"content-length", str(len(escaped)).encode()))
            await self.send(start)
        await self.send(message if escaped is body else {**message, "body": escaped})


def gin_wire(app: ASGIApp, router: Router) -> ASGIApp:
    """``app`` (Litestar's ASGI handler) behind gin's trailing-slash redirects and JSON bytes."""
    inner = cast(Callable[[Scope, Receive, Send], Awaitable[None]], app)

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        target = _redirect_target(scope, router)
        if target is not None:
            await _send_redirect(send, scope["method"], target)
            return
        await inner(scope, receive, _JsonSend(send))

    return cast(ASGIApp, handle)
