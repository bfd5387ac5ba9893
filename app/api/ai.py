"""AI control and the MCP server (spec 4.10): ``/api/ai/control/*``, ``/api/mcp/config``,
``/api/mcp/key/regenerate`` (admin) and ``/api/mcp`` itself (the MCP API key, not a session).

Errors of ``/api/ai/control/*`` are keyed ``message`` (NanoKVM's quirk); ``/api/mcp`` answers
NanoKVM's ``{"error": ...}`` refusals before the SDK sees the request."""

from __future__ import annotations

import contextlib
import json
from typing import Any, cast

import anyio
import msgspec
from litestar import Controller, Response
from litestar.types import HTTPResponseStartEvent, Receive, Scope, Send

from app.api.crosssite import from_another_site
from app.api.envelope import Envelope, ok, read_body
from app.api.routing import Req, asgi, get, post, put, services
from app.services.ai.control import ControlError, ControlStatus
from app.services.ai.service import AiControl, Grant, McpUnavailable
from app.services.auth.accounts import Role
from app.services.auth.live import LiveConnections, SessionEnded
from app.validation import InvalidInput


class ModeRequest(msgspec.Struct):
    mode: str


class McpConfigRequest(msgspec.Struct):
    enabled: bool
    role: str = ""  # ours: the role the key acts with (viewer, user, admin)


class McpConfig(msgspec.Struct, rename="camel"):
    enabled: bool
    api_key: str  # only in the answer that made the key (shown once), else ""
    control_mode: str
    transitioning: bool
    role: str  # ours


class ControlError_(msgspec.Struct):
    code: int
    message: str


class ModeAnswer(msgspec.Struct):
    control: ControlStatus
    runtime: dict[str, Any]
    released: bool
    closed_sessions: int
    cleanup_warning: str


def _ai(request: Req) -> AiControl:
    ai: AiControl = services(request).ai
    return ai


def _control_error(err: ControlError) -> Response[ControlError_]:
    return Response(ControlError_(err.code, err.message), status_code=200)


def _config(ai: AiControl, key: str) -> McpConfig:
    status = ai.control.status()
    return McpConfig(status.mode == "mcp", key, status.mode, status.transitioning, ai.keys.role().wire)


NO_STORE = {"cache-control": "no-store"}


class AiController(Controller):
    path = "/api"

    @get("/ai/control/status", role=Role.ADMIN)
    async def status(self, request: Req) -> Envelope[ControlStatus]:
        return ok(_ai(request).control.status())

    @put("/ai/control/mode", role=Role.ADMIN, body=ModeRequest)
    async def set_mode(self, request: Req) -> Response[Any]:
        try:
            body = await read_body(request, ModeRequest)
        except InvalidInput:
            return _control_error(ControlError(-1, "invalid arguments"))
        try:
            status = _ai(request).control.set(body.mode)
        except ControlError as err:
            return _control_error(err)
        if status.mode == "off":  # NanoKVM's answer to "off" carries the runtime's state too
            answer = ModeAnswer(status, {"status": "not_installed", "ready": False}, True, 0, "")
            return Response(ok(answer))
        return Response(ok(status))

    @get("/mcp/config", role=Role.ADMIN, response_headers=NO_STORE)
    async def mcp_config(self, request: Req) -> Envelope[McpConfig]:
        return ok(_config(_ai(request), ""))

    @post("/mcp/config", role=Role.ADMIN, body=McpConfigRequest, response_headers=NO_STORE)
    async def set_mcp_config(self, request: Req) -> Response[Any]:
        ai = _ai(request)
        try:
            body = await read_body(request, McpConfigRequest)
            role = Role.from_wire(body.role) if body.role else None
        except InvalidInput:
            return Response(Envelope(-1, "invalid arguments", None))
        key = ""
        try:
            if role is not None:
                ai.keys.set_role(role)
            if body.enabled:
                key = ai.keys.ensure()
                ai.control.set("mcp")
            elif ai.control.mode() == "mcp":
                ai.control.set("off")
        except (ControlError, OSError) as err:
            return Response(Envelope(-2, f"operation failed: {getattr(err, 'message', err)}", None))
        return Response(ok(_config(ai, key)))

    @post("/mcp/key/regenerate", role=Role.ADMIN, response_headers=NO_STORE)
    async def regenerate(self, request: Req) -> Response[Any]:
        ai = _ai(request)
        try:
            key = ai.keys.regenerate()
        except OSError:
            return Response(Envelope(-1, "operation failed", None))
        return Response(ok(_config(ai, key)))


async def _refuse(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    headers: list[tuple[bytes, bytes]] = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    start = {"type": "http.response.start", "status": status, "headers": headers}
    await send(cast(HTTPResponseStartEvent, start))
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _held(scope: Scope, ai: AiControl, bearer: str, grant: Grant) -> contextlib.AbstractAsyncContextManager[None]:
    """An API token's request lives inside its session (revoking the token ends it within a second,
    as its streams); the MCP key's requests end through ``AiControl.revoke`` instead."""
    session = grant.token
    if session is None:
        return contextlib.nullcontext()
    live: LiveConnections = scope["app"].state.services.live
    return live.hold(session.username, session.expires, lambda: ai.grant(bearer) is not None, session.sid)


def _cross_origin(scope: Scope) -> str | None:
    """Go's http.CrossOriginProtection in its own words, decided by the rule every route shares
    (``crosssite``; the global guard leaves this path to this check for the message)."""
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    if not from_another_site(headers, scope.get("scheme", "http")):
        return None
    source = "Sec-Fetch-Site" if "sec-fetch-site" in headers else "Origin"
    return f"cross-origin request detected from {source} header"


@asgi("/api/mcp", role=Role.PUBLIC)
async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """The MCP server: only in ``mcp`` mode, with ``Authorization: Bearer <apiKey>``, same origin."""
    ai: AiControl = scope["app"].state.services.ai
    if ai.control.mode() != "mcp":
        await _refuse(send, 403, _error("MCP service is disabled"))
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    scheme, _, token = headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme == "Bearer" else ""
    grant = ai.grant(bearer)
    if grant is None:
        await _refuse(send, 401, _error("invalid MCP API key"))
        return
    refused = _cross_origin(scope)
    if refused is not None:
        await _refuse(send, 403, (refused + "\n").encode(), b"text/plain; charset=utf-8")
        return
    started = False

    async def tracked(message: Any) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        app = await ai.asgi()
    except McpUnavailable as err:
        # A firmware built without the SDK: a clear answer, and everything else keeps running.
        await _refuse(send, 503, _error(f"MCP server unavailable: {err}"))
        return
    revocable: anyio.CancelScope | None = None
    ended = False
    try:
        async with _held(scope, ai, bearer, grant):
            with ai.request() as revocable:
                await app(scope, receive, tracked)
    except SessionEnded:
        ended = True  # the API token was revoked, expired or its owner demoted below its scope
    if (ended or (revocable is not None and revocable.cancelled_caught)) and not started:
        # Revoked meanwhile (new key, role change, MCP switched off): the request ends within the second.
        disabled = ai.control.mode() != "mcp"
        await _refuse(
            send, 403 if disabled else 401, _error("MCP service is disabled" if disabled else "invalid MCP API key")
        )
