"""Hot read-only routes answered straight from ASGI, ahead of Litestar's request pipeline.

Clients poll a few GET routes (NanoKVM's page and Home Assistant read ``/api/vm/info`` and the
LEDs again and again). For those, Litestar's pipeline (routing, five middleware, the signature
model, a Response object and its header structure) cost several times the answer itself, which
matters on a 1 GHz core. A route opts in with ``hot=`` in its decorator, naming the function of the
Services that gives its envelope's data; its Litestar handler returns ``ok()`` of the same function,
so the route keeps its OpenAPI entry and serves every request this layer declines.

This layer answers only what it can answer exactly as Litestar would: a GET to the route's own
path that the route's role admits (``access.check_access``, the same rules the access middleware
applies), with authentication on (off, NanoKVM's permissive CORS adds headers). The answer is the
envelope ``{code: 0, msg: "success", data}`` encoded once, with gin's escapes, its type and length
and the security headers (app/api/headers.py) every answer carries.
Anything else (no session, a lower role, a bad Host header, a data function that raises) goes on
to Litestar, which refuses or answers it as before: refusals have one renderer.

kvmd's API has hot routes too (``serve_kvmd_hot``: its envelope ``{ok: true, result}``, its
credentials checked without side effects, ``pikvm.access.quick_kvmd_access``); that layer sits
inside the kvmd app, within the security headers the app gets on both listeners.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp
from litestar.types import Scope as AsgiScope

from app.api.access import check_access
from app.api.envelope import ok
from app.api.gin_wire import go_json
from app.api.headers import with_security_headers
from app.api.pikvm.access import quick_kvmd_access
from app.api.pikvm.envelope import encode as kvmd_encode
from app.runtime import Services

# The data of a hot route's envelope, from the services alone (read-only: it may run twice when
# this layer hands the request on).
HotData = Callable[[Services], object]  # or an awaitable of it: blocking reads run in a thread

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

_JSON_UTF8 = b"application/json; charset=utf-8"
# Litestar answers 400 to a Host header with other characters (RFC 3986 reg-name, IP literals, port).
_VALID_HOST = re.compile(rb"\A[0-9A-Za-z!$&'()*+,;=\-._~:\[\]@%]*\Z")
_encode = msgspec.json.Encoder().encode
# What app/api/headers.py adds to a JSON answer, added here once.
_SECURITY = with_security_headers([(b"content-type", _JSON_UTF8)])[1:]


def hot_routes(app: Litestar) -> dict[str, tuple[BaseRouteHandler, HotData]]:
    """Plain path -> (its GET handler, its data function), for every route that opted in."""
    table: dict[str, tuple[BaseRouteHandler, HotData]] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            hot = handler.opt.get("hot")
            if hot is not None and "GET" in getattr(handler, "http_methods", ()):
                if "{" in route.path:
                    raise RuntimeError(f"hot route {route.path}: only plain paths can be hot")
                table[route.path] = (handler, hot)
    return table


def _valid_host(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"host":
            return _VALID_HOST.match(value) is not None
    return True


@dataclass(frozen=True)
class HotApi:
    """What differs between the APIs' hot answers."""

    # Admits the request to the handler or raises (the request then goes on to Litestar).
    check: Callable[[AsgiScope, BaseRouteHandler], Awaitable[None]]
    # The answer's body for the data.
    body: Callable[[object], bytes]
    # The answer's headers after its length.
    headers: list[tuple[bytes, bytes]]
    # Whether a request with a query string is answered (a route that reads its query is not hot then).
    with_query: bool


NANOKVM = HotApi(check_access, lambda data: go_json(_encode(ok(data))), _SECURITY, with_query=True)
# The security headers are added around the kvmd app (app/server.py), outside this layer.
# kvmd's routes read their query (``/api/info?fields=``): one with a query goes to Litestar.
KVMD = HotApi(quick_kvmd_access, lambda data: kvmd_encode(True, data), [], with_query=False)


def serve_hot(inner: ASGIApp, app: Litestar, services: Services) -> ASGIApp:
    """``inner`` (the app's ASGI handler) with NanoKVM's hot routes answered ahead of it."""
    return serve_hot_api(inner, app, services, NANOKVM, _JSON_UTF8)


def serve_kvmd_hot(inner: ASGIApp, app: Litestar, services: Services) -> ASGIApp:
    """``inner`` (the kvmd app's ASGI handler) with kvmd's hot routes answered ahead of it."""
    return serve_hot_api(inner, app, services, KVMD, b"application/json")


def serve_hot_api(inner: ASGIApp, app: Litestar, services: Services, api: HotApi, content_type: bytes) -> ASGIApp:
    table = hot_routes(app)
    forward = cast(Callable[[Scope, Receive, Send], Awaitable[None]], inner)

    async def answer(scope: Scope) -> bytes | None:
        hot = table.get(scope["path"])
        if hot is None or not services.auth.enabled or not _valid_host(scope):
            return None
        if not api.with_query and scope["query_string"]:
            return None
        handler, data = hot
        try:
            await api.check(scope, handler)  # type: ignore[arg-type]
            result = data(services)
            return api.body(await result if inspect.isawaitable(result) else result)
        except Exception:  # refused or failed: Litestar answers, as it always did
            return None

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and (body := await answer(scope)) is not None:
            length = (b"content-length", str(len(body)).encode())
            headers = [(b"content-type", content_type), length, *api.headers]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await forward(scope, receive, send)

    return cast(ASGIApp, handle)
