"""The OpenAPI document at ``/api/schema/openapi.json``, with our request schemas and roles added.

Request bodies are parsed by ``read_body`` (case-insensitive keys, JSON or form, as gin), so
Litestar does not see them; each route names its body Struct and it is added to the document here,
with the route's minimum role, once, on the first request for it.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import msgspec
from litestar import Litestar, Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import ASGIRoute, WebSocketRoute

from app import __version__
from app.api.access import COOKIE
from app.api.openapi_errors import document_error_answers
from app.api.openapi_sockets import OPERATIONS, SECURITY_SCHEMES
from app.services.auth.accounts import Role


def _annotate(app: Litestar, schema: dict[str, Any]) -> None:
    """Add each operation's request body Struct, its minimum role and the cookie it needs."""
    operations: list[tuple[dict[str, Any], Role, type[msgspec.Struct] | None]] = []
    for route in app.routes:
        if isinstance(route, ASGIRoute | WebSocketRoute):  # no HTTP handler: described in openapi_sockets
            operations += _socket_operations(schema, route.path, route.route_handler.opt.get("role"))
            continue
        for handler in getattr(route, "route_handlers", ()):
            role = handler.opt.get("role")
            for method in getattr(handler, "http_methods", ()):
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # /users/{username:str} -> {username}
                operation = schema.get("paths", {}).get(path, {}).get(method.lower())
                if operation is not None and isinstance(role, Role):
                    operations.append((operation, role, handler.opt.get("body")))
    bodies = [body for *_, body in operations if body is not None]
    _, components = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    extra = schema.setdefault("components", {})
    extra.setdefault("schemas", {}).update(components)
    extra.setdefault("securitySchemes", {})["session"] = {"type": "apiKey", "in": "cookie", "name": COOKIE}
    extra["securitySchemes"].update(SECURITY_SCHEMES)
    for operation, role, body in operations:
        operation["x-minimum-role"] = role.wire
        if role is not Role.PUBLIC and "security" not in operation:
            operation["security"] = [{"session": []}]
        if body is not None:
            ref = {"$ref": f"#/components/schemas/{body.__name__}"}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref}, "application/x-www-form-urlencoded": {"schema": ref}},
            }


def _socket_operations(schema: dict[str, Any], path: str, role: object) -> list[tuple[dict[str, Any], Role, None]]:
    """A stream's or WebSocket's operations (openapi_sockets), added to the document's paths."""
    if not isinstance(role, Role) or path not in OPERATIONS:
        return []
    item = schema.setdefault("paths", {}).setdefault(path, {})
    added = []
    for method, operation in OPERATIONS[path].items():
        item[method] = copy.deepcopy(operation)
        added.append((item[method], role, None))
    return added


class _DocumentedJson(JsonRenderPlugin):
    def __init__(self) -> None:
        super().__init__()
        self._patched = False

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if not self._patched:
            _annotate(request.app, openapi_schema)
            document_error_answers(openapi_schema)
            self._patched = True
        return super().render(request, openapi_schema)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="NanoKVM-compatible KVM API",
        version=__version__,
        description=(
            "Wire-compatible with Sipeed NanoKVM: answers are HTTP 200 {code, msg, data} with code 0 on "
            'success; 401 "unauthorized" without a valid nano-kvm-token cookie; 403 "forbidden" below '
            "the route's role (viewer < user < admin)."
        ),
        render_plugins=[_DocumentedJson()],
        openapi_router=Router("/api/schema", route_handlers=[], opt={"role": Role.PUBLIC}, include_in_schema=False),
    )
