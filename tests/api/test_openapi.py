"""The API is documented: the OpenAPI document lists every route with its role and request schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from litestar.routes import HTTPRoute

from app.config import load_config
from app.server import create_app
from tests.conftest import RunningApp, start_app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the document's tests (they only read)."""
    app = start_app(tmp_path_factory.mktemp("openapi"))
    yield app
    app.stop()


def test_openapi_document(served: RunningApp) -> None:
    kvm = served
    answer = kvm.client().get("/api/schema/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    press = doc["paths"]["/api/vm/gpio"]["post"]
    assert press["x-minimum-role"] == "user" and press["security"] == [{"session": []}]
    body = doc["components"]["schemas"]["GpioRequest"]
    assert body["required"] == ["type"] and set(body["properties"]) == {"type", "duration"}
    login = doc["paths"]["/api/auth/login"]["post"]
    assert login["x-minimum-role"] == "public" and "security" not in login
    assert doc["components"]["securitySchemes"]["session"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "nano-kvm-token",
    }
    # Every route in the document states its role.
    roles = {op["x-minimum-role"] for path in doc["paths"].values() for op in path.values()}
    assert roles <= {"public", "viewer", "user", "admin"}


SOCKETS = {
    "/api/ws": "viewer",
    "/api/vm/terminal": "admin",
    "/api/stream/h264": "viewer",
    "/api/stream/h264/direct": "viewer",
    "/api/vnc/ws": "viewer",
}


def served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(path, method) for every route the app serves, from its route table (not from the document)."""
    config_path = tmp_path / "server.yaml"
    config_path.write_text(yaml.safe_dump({"board": "sim", "host": "127.0.0.1"}))
    app = create_app(load_config(config_path), tmp_path / "root", config_path=config_path)
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        if not path.startswith("/api/") or path.startswith("/api/schema"):
            continue
        if isinstance(route, HTTPRoute):
            routes |= {(path, method.lower()) for method in route.methods if method not in ("HEAD", "OPTIONS")}
        else:  # a WebSocket's upgrade, a raw stream's request
            routes.add((path, "post" if path == "/api/mcp" else "get"))
    return routes


def test_every_route_is_documented(served: RunningApp, tmp_path: Path) -> None:
    kvm = served
    doc = kvm.client().get("/api/schema/openapi.json").json()
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert served_routes(tmp_path) - documented == set()
    assert len(documented) > 100


def test_streams_and_sockets_are_described(served: RunningApp) -> None:
    kvm = served
    doc = kvm.client().get("/api/schema/openapi.json").json()
    mjpeg = doc["paths"]["/api/stream/mjpeg"]["get"]
    assert mjpeg["x-minimum-role"] == "viewer" and mjpeg["security"] == [{"session": []}]
    assert "--frame" in mjpeg["description"]
    # The content type the document names is the one the stream sends.
    with kvm.login().stream("GET", "/api/stream/mjpeg") as stream:
        assert stream.status_code == 200
        assert list(mjpeg["responses"]["200"]["content"]) == [stream.headers["content-type"]]
    anonymous = kvm.client()
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    for path, role in SOCKETS.items():
        operation = doc["paths"][path]["get"]
        assert operation["x-protocol"] == "websocket" and operation["x-minimum-role"] == role
        assert set(operation["responses"]) == {"101", "401", "403"}
        assert {
            "in": "header",
            "name": "Upgrade",
            "required": True,
            "schema": {"type": "string", "const": "websocket"},
        } in (operation["parameters"])
        # What the document says of a request without a session is what the server answers.
        refused = anonymous.get(path, headers=upgrade)
        assert (refused.status_code, refused.json()) == (401, "unauthorized"), path
    assert doc["paths"]["/api/ws"]["get"]["x-max-message-bytes"] == 4096
    assert doc["paths"]["/api/vm/terminal"]["get"]["x-max-message-bytes"] == 65536
    mcp = doc["paths"]["/api/mcp"]["post"]
    assert mcp["security"] == [{"mcpKey": []}] and mcp["x-minimum-role"] == "public"
    assert doc["components"]["securitySchemes"]["mcpKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The MCP API key",
    }
