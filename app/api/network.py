"""``/api/network/*`` (spec 4.7): Wake-on-LAN and its saved list, Wi-Fi, DNS."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, read_body
from app.api.routing import Req, delete, get, post, services
from app.errors import ApiError
from app.services.auth.accounts import Role
from app.services.network.wol import WakeOnLan
from app.services.system.settings import Wifi
from app.validation import InvalidInput

S = TypeVar("S", bound=msgspec.Struct)


class MacRequest(msgspec.Struct):
    mac: str


class MacNameRequest(msgspec.Struct):
    mac: str
    name: str


class Macs(msgspec.Struct):
    macs: list[str]


async def _body(request: Req, struct: type[S], code: int = -1) -> S:
    try:
        return await read_body(request, struct)
    except InvalidInput as err:
        raise ApiError(code, f"invalid arguments: {err}") from None


def _wol(request: Req) -> WakeOnLan:
    """The app's Wake-on-LAN service, made on first use from the config and the device root."""
    state = request.app.state
    wol: WakeOnLan | None = state.get("wol")
    if wol is None:
        svc = services(request)
        wol = WakeOnLan(svc.root, svc.config.network.wol_address)
        state["wol"] = wol
    return wol


class NetworkController(Controller):
    path = "/api/network"

    @get("/wifi", role=Role.ADMIN)
    async def wifi(self, request: Req) -> Envelope[Wifi]:
        return ok(services(request).settings.wifi())

    # --- Wake-on-LAN -----------------------------------------------------------------------

    @post("/wol", role=Role.USER, body=MacRequest)
    async def wake(self, request: Req) -> Envelope[None]:
        mac = (await _body(request, MacRequest)).mac
        await asyncio.to_thread(_wol(request).wake, mac)
        return ok()

    @get("/wol/mac", role=Role.USER)
    async def macs(self, request: Req) -> Envelope[Macs]:
        return ok(Macs(await asyncio.to_thread(_wol(request).macs)))

    @delete("/wol/mac", role=Role.ADMIN, body=MacRequest)
    async def delete_mac(self, request: Req) -> Envelope[None]:
        mac = (await _body(request, MacRequest)).mac
        await asyncio.to_thread(_wol(request).delete, mac)
        return ok()

    @post("/wol/mac/name", role=Role.ADMIN, body=MacNameRequest)
    async def name_mac(self, request: Req) -> Envelope[None]:
        body = await _body(request, MacNameRequest)
        await asyncio.to_thread(_wol(request).rename, body.mac, body.name)
        return ok()
