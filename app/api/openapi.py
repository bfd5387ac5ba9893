"""The OpenAPI document at ``/api/schema/openapi.json``, with our request schemas added.

Request bodies are parsed by ``read_body`` (case-insensitive keys, JSON or form, as gin), so
Litestar does not see them; each route names its body Struct and it is added to the document here,
once, on the first request for it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from app import __version__
from app.services.auth.accounts import Role


def _add_request_bodies(app: Litestar, schema: dict[str, Any]) -> None:
    bodies: list[tuple[str, str, type[msgspec.Struct]]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            struct = handler.opt.get("body")
            if struct is not None:
                for method in getattr(handler, "http_methods", ()):
                    bodies.append((route.path, method.lower(), struct))
    _, components = msgspec.json.schema_components(
        [struct for *_, struct in bodies], ref_template="#/components/schemas/{name}"
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
    for path, method, struct in bodies:
        operation = schema.get("paths", {}).get(path, {}).get(method)
        if operation is not None:
            ref = {"$ref": f"#/components/schemas/{struct.__name__}"}
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": ref},
                    "application/x-www-form-urlencoded": {"schema": ref},
                },
            }


class _DocumentedJson(JsonRenderPlugin):
    def __init__(self) -> None:
        super().__init__()
        self._patched = False

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if not self._patched:
            _add_request_bodies(request.app, openapi_schema)
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
