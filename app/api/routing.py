"""Route decorators that make every route state its role, and NanoKVM's status codes.

``get``/``post``/``put``/``delete`` require ``role=`` (a TypeError at import time otherwise) and
answer 200 like gin, where Litestar would default to 201/204. ``body=`` names the request Struct so
the OpenAPI document shows it (bodies are parsed by ``read_body``, case-insensitively, as gin does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import litestar
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import HTTPRouteHandler

from app.runtime import Services
from app.services.auth.accounts import Role

Req = Request[Any, Any, Any]
RouteDecorator = Callable[[Callable[..., Any]], HTTPRouteHandler]


def _route(
    decorator: Callable[..., Any],
    path: str | list[str],
    *,
    role: Role,
    body: type[msgspec.Struct] | None = None,
    **kwargs: Any,
) -> RouteDecorator:
    if not isinstance(role, Role):
        raise TypeError(f"route {path}: role must be a Role")
    route: RouteDecorator = decorator(path, role=role, body=body, status_code=200, **kwargs)
    return route


def get(path: str | list[str], *, role: Role, **kwargs: Any) -> RouteDecorator:
    return _route(litestar.get, path, role=role, **kwargs)


def post(path: str | list[str], *, role: Role, **kwargs: Any) -> RouteDecorator:
    return _route(litestar.post, path, role=role, **kwargs)


def put(path: str | list[str], *, role: Role, **kwargs: Any) -> RouteDecorator:
    return _route(litestar.put, path, role=role, **kwargs)


def delete(path: str | list[str], *, role: Role, **kwargs: Any) -> RouteDecorator:
    return _route(litestar.delete, path, role=role, **kwargs)


def services(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The app's Services: every controller reaches the services (and the board) through this."""
    found: Services = connection.app.state.services
    return found


def asgi(path: str, *, role: Role, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """A raw ASGI route (streams that need the connection itself), with its role like every route."""
    if not isinstance(role, Role):
        raise TypeError(f"route {path}: role must be a Role")
    route: Callable[[Callable[..., Any]], Any] = litestar.asgi(path, role=role, **kwargs)
    return route
