"""``/api/vm/*``: device identity and the ATX power/reset buttons (spec 4.2)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller

from app.api.audit import audit_note
from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, get, post, services
from app.api.schemas import Required
from app.runtime import Services
from app.services.auth.accounts import Role
from app.services.device import DeviceInfo, Hardware


class GpioRequest(msgspec.Struct):
    type: Required
    # Milliseconds; 0 or absent = 800. The upper bound is gpio.maxPressMs in server.yaml (20 s).
    duration: Annotated[int, msgspec.Meta(ge=0)] = 0


class GpioState(msgspec.Struct):
    pwr: bool
    hdd: bool


# What clients poll, answered by app/api/hot.py ahead of Litestar (the handlers serve the rest).
def device_info(services: Services) -> DeviceInfo:
    return services.device.info()


def hardware(services: Services) -> Hardware:
    return services.device.hardware_info()


def gpio_state(services: Services) -> GpioState:
    pwr, hdd = services.power.leds()
    return GpioState(pwr, hdd)


class VmController(Controller):
    path = "/api/vm"

    @get("/info", role=Role.VIEWER, before_password_change=True, hot=device_info)  # clients read it to log in
    async def info(self, request: Req) -> Envelope[DeviceInfo]:
        return ok(device_info(services(request)))

    @get("/hardware", role=Role.VIEWER, before_password_change=True, hot=hardware)
    async def hardware(self, request: Req) -> Envelope[Hardware]:
        return ok(hardware(services(request)))

    # /vm/gpio/led is not NanoKVM's; the nanokvm-mcp client calls it, so it answers the same.
    @get(["/gpio", "/gpio/led"], role=Role.VIEWER, hot=gpio_state)
    async def gpio_state(self, request: Req) -> Envelope[GpioState]:
        return ok(gpio_state(services(request)))

    @post("/gpio", role=Role.USER, body=GpioRequest)
    async def press(self, request: Req) -> Envelope[None]:
        body = await parse_body(request, GpioRequest)
        audit_note(request, type=body.type, duration=body.duration)
        await services(request).power.press(body.type, body.duration)
        return ok()
