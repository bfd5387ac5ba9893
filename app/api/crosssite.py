"""Cross-site request refusal: a page of another site cannot change anything with the user's cookie.

SameSite=Strict on the session cookie is one guard; this is the second, for old browsers, same-site
subdomains and any future relaxation of the cookie. A state-changing request (POST, PUT, PATCH,
DELETE) is refused with 403 ``"forbidden"`` when the browser says it comes from elsewhere:
``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin`` (else a ``Referer``) whose
scheme, host and port differ from the ``Host`` it was sent to, the rule ``/api/ws`` applies to its
upgrade. Requests without those headers are not from a browser (curl, the ``nanokvm`` client) and
have nothing to forge. With ``authentication: disable`` nothing is protected and NanoKVM's permissive
CORS applies, so nothing is refused here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCH = frozenset({"same-origin", "none"})
# Routes with their own equivalent check, which answers in that protocol's words: NanoKVM's MCP server
# refuses with Go's CrossOriginProtection message, which MCP clients show their users.
OWN_CHECK = frozenset({"/api/mcp"})


def _host_port(netloc: str, scheme: str) -> tuple[str, int]:
    parts = urlsplit(f"//{netloc}")
    default = 443 if scheme in ("https", "wss") else 80
    return (parts.hostname or "").lower(), parts.port or default


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether ``origin`` (a URL) names the server reached as ``host`` over ``scheme``."""
    parsed = urlsplit(origin)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False  # "null" (sandboxed frames, file: pages) and anything else unusable
    try:
        secure = scheme in ("https", "wss")
        return (parsed.scheme == "https") == secure and _host_port(parsed.netloc, parsed.scheme) == _host_port(
            host, scheme
        )
    except ValueError:
        return False


def request_scheme(forwarded_proto: str | None, scheme: str) -> str:
    """The scheme the browser used: a reverse proxy's ``X-Forwarded-Proto``, else the connection's."""
    return (forwarded_proto or "").split(",")[0].strip().lower() or scheme


def from_another_site(headers: dict[str, str], scheme: str) -> bool:
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in SAME_SITE_FETCH:
        return True
    source = headers.get("origin") or headers.get("referer")
    if source is None:
        return False
    return not same_origin(source, headers.get("host", ""), request_scheme(headers.get("x-forwarded-proto"), scheme))


_FORBIDDEN_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"content-length", b"11"),
]


def refuse_cross_site(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: 403 for a state-changing request from another site."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope.get("method") in UNSAFE_METHODS and scope["path"] not in OWN_CHECK:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if from_another_site(headers, scope.get("scheme", "http")) and scope["app"].state.services.auth.enabled:
                await send({"type": "http.response.start", "status": 403, "headers": _FORBIDDEN_HEADERS})
                await send({"type": "http.response.body", "body": b'"forbidden"', "more_body": False})
                return
        await app(scope, receive, send)

    return middleware
