"""Swap, memory limit and HTTPS (spec 4.2), administrators only as upstream."""

from __future__ import annotations

import asyncio
import contextlib

from litestar import Controller

from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, get, post, services
from app.services.auth.accounts import Role
from app.services.system.settings import Enabled
from app.services.system.swap import MemoryLimit, SwapSize

RESTART_DELAY = 0.5  # answer first, then restart
RESTART = ("/etc/init.d/S95nanokvm", "restart")
SIM_RESTART_NOTE = "success: restart the app to apply (the sim board does not restart itself)"


class BoardSettingsController(Controller):
    path = "/api/vm"

    @get("/swap", role=Role.ADMIN)
    async def swap(self, request: Req) -> Envelope[SwapSize]:
        return ok(SwapSize(services(request).swap.size()))

    @post("/swap", role=Role.ADMIN, body=SwapSize)
    async def set_swap(self, request: Req) -> Envelope[None]:
        size = (await parse_body(request, SwapSize)).size
        await asyncio.to_thread(services(request).swap.set_size, size)
        return ok()

    @get("/memory/limit", role=Role.ADMIN)
    async def memory_limit(self, request: Req) -> Envelope[MemoryLimit]:
        return ok(services(request).swap.memory_limit())

    @post("/memory/limit", role=Role.ADMIN, body=MemoryLimit)
    async def set_memory_limit(self, request: Req) -> Envelope[None]:
        limit = await parse_body(request, MemoryLimit)
        await asyncio.to_thread(services(request).swap.set_memory_limit, limit)
        return ok()

    @post("/tls", role=Role.ADMIN, body=Enabled)
    async def tls(self, request: Req) -> Envelope[None]:
        enabled = (await parse_body(request, Enabled)).enabled
        app = services(request)
        await asyncio.to_thread(app.tls.set, enabled)
        # The new scheme applies at the next start. NanoKVM restarts itself at once (often before the
        # answer leaves); we answer first. On the sim board the runner records the restart and does
        # nothing, so the answer says what to do.
        runner = app.runner

        def restart() -> None:
            with contextlib.suppress(OSError):
                runner.spawn(list(RESTART))

        asyncio.get_running_loop().call_later(RESTART_DELAY, restart)
        if not app.board.restarts_itself:
            return Envelope(0, SIM_RESTART_NOTE, None)
        return ok()
