"""The AI control subsystem as one object: control mode, MCP key, input arbiter and the MCP server.

The MCP SDK (pydantic, starlette) is imported and its session manager started only at the first
request to ``/api/mcp``: the app starts as fast without it, and runs where it is not installed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio

from app.paths import DeviceRoot
from app.services.ai.arbiter import InputArbiter
from app.services.ai.control import ControlMode
from app.services.ai.keys import McpKeys
from app.services.hid.paste import Paster
from app.services.hid.service import HidService
from app.services.media.images import ImageLibrary
from app.services.power import PowerService
from app.services.video.capture import Capture

Asgi = Callable[[Any, Any, Any], Awaitable[None]]


class McpUnavailable(Exception):
    pass


class AiControl:
    def __init__(
        self,
        root: DeviceRoot,
        hid: HidService,
        paster: Paster,
        capture: Capture,
        power: PowerService,
        images: ImageLibrary,
    ) -> None:
        self.control = ControlMode(root)
        self.keys = McpKeys(root)
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
                    raise McpUnavailable(f"the mcp package is not installed ({err.name})") from None
                hid, capture, power, images = self._devices
                server = build_server(Devices(hid, capture, power, images, self.keys, self.arbiter))
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
