"""``/api/vm/device/virtual``: the virtual network card and disk (spec 4.2, 7.4). Admin."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok
from app.api.routing import Req, get, post, services
from app.api.storage import body_or_error
from app.services.auth.accounts import Role
from app.services.media.virtual import VirtualState


class VirtualRequest(msgspec.Struct):
    device: str = ""


class VirtualOn(msgspec.Struct):
    on: bool


class VirtualController(Controller):
    path = "/api/vm/device/virtual"

    @get("", role=Role.ADMIN)
    async def state(self, request: Req) -> Envelope[VirtualState]:
        return ok(services(request).virtual.state())

    @post("", role=Role.ADMIN, body=VirtualRequest)
    async def toggle(self, request: Req) -> Envelope[VirtualOn]:
        body = await body_or_error(request, VirtualRequest, message="invalid argument")
        on = await asyncio.to_thread(services(request).virtual.toggle, body.device)
        return ok(VirtualOn(on))
