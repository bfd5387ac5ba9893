"""``/api/extensions/tailscale/*`` (spec 4.9): status and controls, all admin, POST bodies empty."""

from __future__ import annotations

import asyncio

from litestar import Controller

from app.api.envelope import Envelope, ok
from app.api.routing import Req, get, post, services
from app.services.auth.accounts import Role
from app.services.system.tailscale import TailscaleStatus, status
from app.services.system.tailscale_control import Login, TailscaleControl


def _control(request: Req) -> TailscaleControl:
    return services(request).tailscale


class TailscaleController(Controller):
    path = "/api/extensions/tailscale"

    @get("/status", role=Role.ADMIN)
    async def status(self, request: Req) -> Envelope[TailscaleStatus]:
        return ok(await asyncio.to_thread(status, _control(request).runner))

    @post("/install", role=Role.ADMIN)
    async def install(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).install)
        return ok()

    @post("/uninstall", role=Role.ADMIN)
    async def uninstall(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).uninstall)
        return ok()

    @post("/up", role=Role.ADMIN)
    async def up(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).up)
        return ok()

    @post("/down", role=Role.ADMIN)
    async def down(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).down)
        return ok()

    @post("/login", role=Role.ADMIN)
    async def login(self, request: Req) -> Envelope[Login]:
        return ok(await asyncio.to_thread(_control(request).login))

    @post("/logout", role=Role.ADMIN)
    async def logout(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).logout)
        return ok()

    @post("/start", role=Role.ADMIN)
    async def start(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).start)
        return ok()

    @post("/stop", role=Role.ADMIN)
    async def stop(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).stop)
        return ok()

    @post("/restart", role=Role.ADMIN)
    async def restart(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_control(request).restart)
        return ok()
