"""``/api/vm/screen`` and ``/api/vm/hdmi*`` (spec 4.2, 6.5)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, get, post, services
from app.api.schemas import Required
from app.errors import Failed
from app.services.auth.accounts import Role
from app.services.video.hdmi import HdmiState
from app.services.video.screen import ScreenState


class ScreenRequest(msgspec.Struct):
    type: Required
    value: int


class TimeoutRequest(msgspec.Struct):
    minutes: int


class ScreenController(Controller):
    path = "/api/vm"

    @get("/screen", role=Role.VIEWER)
    async def screen_state(self, request: Req) -> Envelope[ScreenState]:
        """Ours (NanoKVM has only the POST): the settings page shows what is in use, not a guess."""
        return ok(services(request).screen.state())

    @post("/screen", role=Role.USER, body=ScreenRequest)
    async def screen(self, request: Req) -> Envelope[None]:
        body = await parse_body(request, ScreenRequest, detail=False)
        try:
            await asyncio.to_thread(services(request).screen.apply, body.type, body.value)  # writes files
        except OSError:
            raise Failed("update screen failed", code=-2) from None
        return ok()

    @get("/hdmi", role=Role.VIEWER)
    async def hdmi(self, request: Req) -> Envelope[HdmiState]:
        return ok(services(request).hdmi.state())

    @post("/hdmi/reset", role=Role.USER)
    async def hdmi_reset(self, request: Req) -> Envelope[None]:
        await services(request).hdmi.reset()
        return ok()

    @post("/hdmi/enable", role=Role.ADMIN)
    async def hdmi_enable(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(services(request).hdmi.enable)
        return ok()

    @post("/hdmi/disable", role=Role.ADMIN)
    async def hdmi_disable(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(services(request).hdmi.disable)  # writes the flag file
        return ok()

    @post("/hdmi/timeout", role=Role.ADMIN, body=TimeoutRequest)
    async def hdmi_timeout(self, request: Req) -> Envelope[None]:
        body = await parse_body(request, TimeoutRequest, detail=False)
        await asyncio.to_thread(services(request).hdmi.set_idle_timeout, body.minutes)  # writes a file
        return ok()
