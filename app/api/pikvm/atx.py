"""``/api/atx``, ``/api/atx/power``, ``/api/atx/click``, ``/api/gpio`` (+ ``switch``, ``pulse``)."""

from __future__ import annotations

from litestar import Controller, Response

from app.api.pikvm import state
from app.api.pikvm.envelope import KvmdError, answer, bad_request
from app.api.pikvm.params import flag, number, text
from app.api.routing import Req, get, post, services
from app.services.atx_actions import AtxActions, AtxError
from app.services.auth.accounts import Role

# pikvm-aio sends these as power actions; kvmd has them as clicks (pikvm-clients.md §4).
CLICK_ALIASES = {"click": "power", "long": "power_long", "reset": "reset"}


def actions(request: Req) -> AtxActions:
    return services(request).kvmd.atx


class KvmdAtxController(Controller):
    path = "/api"

    @get("/atx", role=Role.VIEWER)
    async def atx(self, request: Req) -> Response[bytes]:
        return answer(state.atx(services(request)))

    @post("/atx/power", role=Role.USER)
    async def power(self, request: Req) -> Response[bytes]:
        action = text(request, "action")
        wait = flag(request, "wait", False)
        try:
            if action in CLICK_ALIASES:
                await actions(request).click(CLICK_ALIASES[action], wait)
            else:
                await actions(request).action(action, wait)
        except AtxError as err:
            raise bad_request(str(err)) from None
        return answer()

    @post("/atx/click", role=Role.USER)
    async def click(self, request: Req) -> Response[bytes]:
        try:
            await actions(request).click(text(request, "button"), flag(request, "wait", False))
        except AtxError as err:
            raise bad_request(str(err)) from None
        return answer()

    @get("/gpio", role=Role.VIEWER)
    async def gpio(self, request: Req) -> Response[bytes]:
        return answer({"model": state.gpio_model(), "state": state.gpio(services(request))})

    @post("/gpio/switch", role=Role.USER)
    async def switch(self, request: Req) -> Response[bytes]:
        channel = text(request, "channel")
        flag(request, "state")
        if channel not in state.GPIO_OUTPUTS and channel not in state.GPIO_INPUTS:
            raise bad_request(f"Unknown GPIO channel {channel!r}")
        raise KvmdError(400, "GpioSwitchNotSupported", f"GPIO channel {channel!r} does not support switching")

    @post("/gpio/pulse", role=Role.USER)
    async def pulse(self, request: Req) -> Response[bytes]:
        channel = text(request, "channel")
        button = state.GPIO_OUTPUTS.get(channel)
        if button is None:
            if channel in state.GPIO_INPUTS:
                raise KvmdError(400, "GpioPulseNotSupported", f"GPIO channel {channel!r} is an input")
            raise bad_request(f"Unknown GPIO channel {channel!r}")
        svc = services(request)
        delay = number(request, "delay", 0, 0, svc.power.max_press_ms / 1000)
        wait = flag(request, "wait", False)
        duration = round((delay or 0.1) * 1000)
        press = svc.power.press(button, duration)
        if wait:
            await press
        else:
            await actions(request).run(press, wait=False)
        return answer()
