"""Security headers on every HTTP answer: pages, JSON, streams, files and errors alike.

An ASGI wrapper around the whole app (both APIs, gin's redirects and 404s, the static files), so no
answer leaves without them:

- ``X-Content-Type-Options: nosniff``: a browser takes each answer as the type it says it is (a JSON
  reply or an uploaded name never runs as a script or a style sheet).
- ``X-Frame-Options: DENY``: no other site may frame anything of ours (clickjacking the power button);
  the CSP's ``frame-ancestors 'none'`` says the same to browsers that read CSP.
- ``Referrer-Policy: same-origin``: addresses (with their query strings) never leak to another site.
  Not ``no-referrer``: our own requests keep their Referer (the cross-site guard's fallback where a
  browser sends no Origin), and a form POST keeps a real Origin (under no-referrer it is ``null``).
- ``Content-Security-Policy`` on HTML (our page; and on answers without a type): scripts, styles,
  fonts and connections from this origin alone, images also from ``data:``/``blob:`` (the favicon, the
  TOTP QR code, noVNC's cursor), no plugins, no ``<base>``, forms post here only. JSON and streams
  carry no CSP: the pages that use them (NanoKVM's, kvmd's) are other people's, served elsewhere, and
  a CSP applies to the document it came with, never to a page that fetches it.

A header the handler set itself is left as it is.
"""

from __future__ import annotations

from typing import Any, cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",  # CSP 3: 'self' covers ws:/wss: to this host (the sockets, noVNC)
        "font-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

EVERY_ANSWER: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
HTML_ONLY: tuple[tuple[bytes, bytes], ...] = ((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),)

# An HTTP answer, and the HTTP answer refusing a WebSocket upgrade (granian's denial extension).
_STARTS = frozenset({"http.response.start", "websocket.http.response.start"})


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), None)
    # Untyped answers too (a HEAD of the page has no type): a CSP matters only if one is shown as a page.
    html = content_type is None or content_type.lower().startswith(b"text/html")
    wanted = EVERY_ANSWER + (HTML_ONLY if html else ())
    return [*headers, *((name, value) for name, value in wanted if name not in present)]


def security_headers(app: ASGIApp) -> ASGIApp:
    """ASGI wrapper: the headers above on every answer ``app`` starts."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] in _STARTS:
                start = cast("dict[str, Any]", message)
                message = cast("Message", {**start, "headers": with_security_headers(list(start.get("headers") or ()))})
            await send(message)

        await app(scope, receive, sending)

    return wrapper
