"""``/api/picoclaw/*``: NanoKVM's downloadable agent runtime, which cannot run on this firmware.

Every route answers in PicoClaw's shapes (success ``{code: 0, msg, data}``, errors ``{code: "<STRING>",
message}``) that it is not installed and cannot be installed, so NanoKVM's page shows that state
instead of waiting on 404s. The MCP server (``/api/mcp``) is this firmware's way to let an agent in.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response

from app.api.envelope import Envelope, ok
from app.api.routing import Req, delete, get, post, services
from app.services.auth.accounts import Role
from app.timefmt import rfc3339_nano

UNSUPPORTED = "PicoClaw cannot be installed on this firmware"
UNAVAILABLE = "RUNTIME_UNAVAILABLE"


class RuntimeStatus(msgspec.Struct):
    ready: bool
    installed: bool
    installing: bool
    model_configured: bool
    status: str
    last_error: str
    checked_at: str
    control_mode: str


class RuntimeResult(msgspec.Struct):
    installed: bool
    binary: str
    download: str
    output: str
    status: RuntimeStatus


class StartResult(msgspec.Struct):
    started: bool
    command: str
    status: RuntimeStatus


class PicoclawError(msgspec.Struct):
    code: str
    message: str
    data: Any = None


def _status(request: Req) -> RuntimeStatus:
    mode = services(request).ai.control.status().mode
    return RuntimeStatus(False, False, False, False, "not_installed", UNSUPPORTED, rfc3339_nano(), mode)


def _error(message: str, data: Any = None, status: int = 200) -> Response[PicoclawError]:
    return Response(PicoclawError(UNAVAILABLE, message, data), status_code=status)


class PicoclawController(Controller):
    path = "/api/picoclaw"

    @get("/runtime/status", role=Role.ADMIN)
    async def runtime_status(self, request: Req) -> Envelope[RuntimeStatus]:
        return ok(_status(request))

    @post("/runtime/install", role=Role.ADMIN)
    async def install(self, request: Req) -> Response[PicoclawError]:
        return _error(UNSUPPORTED, {"status": _status(request)})

    @post("/runtime/start", role=Role.ADMIN)
    async def start(self, request: Req) -> Response[PicoclawError]:
        return _error(f"picoclaw is not installed ({UNSUPPORTED})", {"status": _status(request)})

    @post("/runtime/stop", role=Role.ADMIN)
    async def stop(self, request: Req) -> Envelope[StartResult]:
        return ok(StartResult(False, "", _status(request)))

    @post("/runtime/uninstall", role=Role.ADMIN)
    async def uninstall(self, request: Req) -> Envelope[RuntimeResult]:
        return ok(RuntimeResult(False, "", "", "picoclaw is not installed", _status(request)))

    @get("/sessions", role=Role.ADMIN)
    async def sessions(self) -> Envelope[list[str]]:
        return ok([])

    @get("/sessions/{session_id:str}", role=Role.ADMIN)
    async def session(self) -> Response[PicoclawError]:
        return _error("session not found", status=404)

    @delete("/sessions/{session_id:str}", role=Role.ADMIN)
    async def delete_session(self) -> Response[PicoclawError]:
        return _error("session not found", status=404)

    @get(["/config", "/runtime/session", "/screenshot", "/gateway/ws"], role=Role.ADMIN)
    async def unavailable_get(self) -> Response[PicoclawError]:
        return _error(UNSUPPORTED)

    @post(
        ["/config", "/model/config", "/agent/profile", "/actions", "/mcp", "/load-image"],
        role=Role.ADMIN,
    )
    async def unavailable_post(self) -> Response[PicoclawError]:
        return _error(UNSUPPORTED)

    @delete("/runtime/session", role=Role.ADMIN)
    async def release_session(self) -> Response[PicoclawError]:
        return _error(UNSUPPORTED)
