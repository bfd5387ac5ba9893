"""Device settings: hostname, web title, SSH, mDNS, OLED, reboot (spec 4.2); Wi-Fi state (4.7);
Tailscale status (4.9)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, get, post, services
from app.services.auth.accounts import Role
from app.services.system.settings import Enabled, Oled

REBOOT_DELAY = 0.5  # answer first, then reboot


class Hostname(msgspec.Struct):
    hostname: str


class Title(msgspec.Struct):
    title: str


class OledSleep(msgspec.Struct):
    sleep: int


class SystemController(Controller):
    path = "/api/vm"

    @get("/hostname", role=Role.VIEWER)
    async def hostname(self, request: Req) -> Envelope[Hostname]:
        return ok(Hostname(services(request).settings.hostname()))

    @post("/hostname", role=Role.ADMIN, body=Hostname)
    async def set_hostname(self, request: Req) -> Envelope[None]:
        hostname = (await parse_body(request, Hostname)).hostname
        await asyncio.to_thread(services(request).settings.set_hostname, hostname)
        return ok()

    @get("/web-title", role=Role.VIEWER)
    async def web_title(self, request: Req) -> Envelope[Title]:
        return ok(Title(services(request).settings.web_title()))

    @post("/web-title", role=Role.ADMIN, body=Title)
    async def set_web_title(self, request: Req) -> Envelope[None]:
        title = (await parse_body(request, Title)).title
        await asyncio.to_thread(services(request).settings.set_web_title, title)
        return ok()

    @get("/ssh", role=Role.ADMIN)
    async def ssh(self, request: Req) -> Envelope[Enabled]:
        return ok(services(request).settings.ssh())

    @post("/ssh/enable", role=Role.ADMIN)
    async def ssh_enable(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(services(request).settings.set_ssh, True)
        return ok()

    @post("/ssh/disable", role=Role.ADMIN)
    async def ssh_disable(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(services(request).settings.set_ssh, False)
        return ok()

    @get("/mdns", role=Role.ADMIN)
    async def mdns(self, request: Req) -> Envelope[Enabled]:
        return ok(services(request).settings.mdns())

    @post("/mdns/enable", role=Role.ADMIN)
    async def mdns_enable(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(services(request).settings.set_mdns, True)
        return ok()

    @post("/mdns/disable", role=Role.ADMIN)
    async def mdns_disable(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(services(request).settings.set_mdns, False)
        return ok()

    @get("/oled", role=Role.ADMIN)
    async def oled(self, request: Req) -> Envelope[Oled]:
        return ok(services(request).settings.oled())

    @post("/oled", role=Role.ADMIN, body=OledSleep)
    async def set_oled(self, request: Req) -> Envelope[None]:
        sleep = (await parse_body(request, OledSleep)).sleep
        await asyncio.to_thread(services(request).settings.set_oled_sleep, sleep)
        return ok()

    @post("/system/reboot", role=Role.ADMIN)
    async def reboot(self, request: Req) -> Envelope[None]:
        runner = services(request).runner
        asyncio.get_running_loop().call_later(
            REBOOT_DELAY, lambda: asyncio.ensure_future(asyncio.to_thread(runner.run, ["reboot"]))
        )
        return ok()
