"""The AI control subsystem as one object: control mode, MCP key, input arbiter and the MCP server.

The MCP SDK (pydantic, starlette) is imported and its session manager started only at the first
request to ``/api/mcp``: the app starts as fast without it, and runs where it is not installed.

Who may use the MCP server: the bearer of the MCP API key (with the role set beside it), or of one of
our API tokens (``nkt_...``, ``/api/security/tokens``) with that token's scope. A token is the way to
give several agents different rights, and to take one agent's away without changing the others' key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio

from app.paths import DeviceRoot
from app.services.ai.arbiter import InputArbiter
from app.services.ai.control import ControlMode
from app.services.ai.keys import McpKeys
from app.services.auth.accounts import Role
from app.services.auth.sessions import Session
from app.services.hid.paste import Paster
from app.services.hid.service import HidService
from app.services.media.images import ImageLibrary
from app.services.power import PowerService
from app.services.video.capture import Capture

Asgi = Callable[[Any, Any, Any], Awaitable[None]]


class McpUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Grant:
    """What an MCP bearer may do: the role its tools are checked against; ``token``: the API token's
    session when the bearer is a token (its revocation or expiry ends the request), else None."""

    role: Role
    token: Session | None = None


TokenCheck = Callable[[str], Session | None]


class AiControl:
    def __init__(
        self,
        root: DeviceRoot,
        hid: HidService,
        paster: Paster,
        capture: Capture,
        power: PowerService,
        images: ImageLibrary,
        tokens: TokenCheck | None = None,
    ) -> None:
        self.control = ControlMode(root)
        self.keys = McpKeys(root)
        self._tokens = tokens
        self.arbiter = InputArbiter(busy=lambda: paster.busy)
        hid.manual_listeners.append(self.arbiter.manual)
        self._devices = (hid, capture, power, images)
        self._asgi: Asgi | None = None
        self._starting = asyncio.Lock()
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._requests: set[anyio.CancelScope] = set()
        # A new key, a role change or leaving mcp mode ends every MCP request in flight.
        self.keys.on_revoke(self.revoke)
        self.control.on_change(lambda _mode: self.revoke())

    def grant(self, bearer: str) -> Grant | None:
        """The MCP key's role, else an API token's scope; None for anything else (a login's token
        included: MCP is for agents, which get a token of their own)."""
        role = self.keys.check(bearer)
        if role is not None:
            return Grant(role)
        session = self._tokens(bearer) if self._tokens is not None and bearer.startswith("nkt_") else None
        if session is None or session.kind != "token":
            return None
        return Grant(session.role, session)

    def role_of(self, bearer: str) -> Role | None:
        grant = self.grant(bearer)
        return grant.role if grant is not None else None

    def revoke(self) -> None:
        for scope in list(self._requests):
            scope.cancel()

    @contextlib.contextmanager
    def request(self) -> Iterator[anyio.CancelScope]:
        """A scope for one MCP request: cancelled by ``revoke``."""
        with anyio.CancelScope() as scope:
            self._requests.add(scope)
            try:
                yield scope
            finally:
                self._requests.discard(scope)

    async def asgi(self) -> Asgi:
        """The SDK's streamable-HTTP app for ``/api/mcp`` (stateless, JSON answers, as NanoKVM's)."""
        async with self._starting:
            if self._asgi is None:
                try:
                    from app.services.ai.tools import Devices, build_server
                except ImportError as err:
                    missing = err.name or "mcp"
                    raise McpUnavailable(f"the Python package {missing} is not installed on this firmware") from None
                hid, capture, power, images = self._devices
                server = build_server(Devices(hid, capture, power, images, self.role_of, self.arbiter))
                app = server.streamable_http_app(
                    streamable_http_path="/api/mcp",
                    stateless_http=True,
                    json_response=True,
                    max_request_body_size=1 << 20,
                )
                started = asyncio.Event()
                self._runner = asyncio.create_task(self._run(server.session_manager.run, started))
                await started.wait()
                self._asgi = app
            return self._asgi

    async def _run(
        self, run: Callable[[], contextlib.AbstractAsyncContextManager[None]], started: asyncio.Event
    ) -> None:
        async with run():
            started.set()
            await self._stop.wait()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self._stop.set()
            if self._runner is not None:
                await self._runner
