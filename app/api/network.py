"""``/api/network/*`` (spec 4.7): Wake-on-LAN and its saved list, Wi-Fi, DNS.

Bad input is refused with the route's own code and nothing changes: every MAC, SSID, password and DNS
server is parsed and checked before a file is written.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, read_body
from app.api.routing import Req, delete, get, post, services
from app.errors import DomainError, Forbidden, InvalidArgument
from app.services.auth.accounts import Role
from app.services.network.dns import Dns, DnsService
from app.services.network.wifi import WifiService, valid_credentials
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


class WifiRequest(msgspec.Struct):
    ssid: str
    password: str = ""


class DnsRequest(msgspec.Struct):
    mode: str
    servers: list[str] | None = None


async def _body(request: Req, struct: type[S], code: int = -1) -> S:
    try:
        return await read_body(request, struct)
    except InvalidInput as err:
        raise InvalidArgument(f"invalid arguments: {err}", code=code) from None


def _wol(request: Req) -> WakeOnLan:
    return services(request).wol


def _wifi(request: Req) -> WifiService:
    return services(request).wifi


def _dns(request: Req) -> DnsService:
    return services(request).dns


async def _refuse_slowly(request: Req, err: DomainError) -> None:
    """NanoKVM pauses before refusing the AP page (2 s; 1 s for bad parameters): guessing is slow."""
    delay = services(request).config.security.login_failure_delay
    await asyncio.sleep(delay / 2 if err.code == -2 else delay)


def _check_ap_key(request: Req, wifi: WifiService) -> None:
    """The AP page's key, with the login's lock-out per client IP (counted before the check)."""
    lockout = services(request).auth.ap_key_lockout
    ip = request.client.host if request.client else ""
    if not lockout.reserve(ip):
        raise Forbidden("locked due to too many failed attempts, please try again later", code=-5)
    wifi.check_ap_key(request.headers.get("x-ap-key"))
    lockout.success(ip)


def _credentials(body: WifiRequest, code: int) -> WifiRequest:
    try:
        valid_credentials(body.ssid, body.password)
    except ValueError as err:
        raise InvalidArgument(f"invalid parameters: {err}", code=code) from None
    return body


class NetworkController(Controller):
    path = "/api/network"

    @get("/wifi", role=Role.ADMIN)
    async def wifi(self, request: Req) -> Envelope[Wifi]:
        return ok(services(request).settings.wifi())

    # --- Wi-Fi -----------------------------------------------------------------------------

    @post("/wifi", role=Role.PUBLIC, body=WifiRequest)
    async def wifi_from_ap(self, request: Req) -> Envelope[None]:
        """The AP-mode set-up page: no session, the AP password in ``X-AP-Key`` instead."""
        wifi = _wifi(request)
        try:
            _check_ap_key(request, wifi)
            try:
                body = _credentials(await read_body(request, WifiRequest), -2)
            except InvalidInput:
                raise InvalidArgument("invalid parameters", code=-2) from None
        except DomainError as err:
            await _refuse_slowly(request, err)
            raise
        await asyncio.to_thread(wifi.connect_from_ap, body.ssid, body.password)
        return ok()

    @post("/wifi/verify", role=Role.PUBLIC)
    async def wifi_verify(self, request: Req) -> Envelope[None]:
        try:
            _check_ap_key(request, _wifi(request))
        except DomainError as err:
            await _refuse_slowly(request, err)
            raise
        return ok()

    @post("/wifi/connect", role=Role.ADMIN, body=WifiRequest)
    async def wifi_connect(self, request: Req) -> Envelope[None]:
        try:
            body = _credentials(await read_body(request, WifiRequest), -1)
        except InvalidInput:
            raise InvalidArgument("invalid parameters") from None
        await asyncio.to_thread(_wifi(request).connect, body.ssid, body.password)
        return ok()

    @post("/wifi/disconnect", role=Role.ADMIN)
    async def wifi_disconnect(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_wifi(request).disconnect)
        return ok()

    # --- DNS -------------------------------------------------------------------------------

    @get("/dns", role=Role.ADMIN)
    async def dns(self, request: Req) -> Envelope[Dns]:
        return ok(await asyncio.to_thread(_dns(request).get))

    @post("/dns", role=Role.ADMIN, body=DnsRequest)
    async def set_dns(self, request: Req) -> Envelope[None]:
        body = await _body(request, DnsRequest)
        await asyncio.to_thread(_dns(request).set, body.mode, body.servers)
        return ok()

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
