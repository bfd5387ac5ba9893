"""``/api/atx``, ``/api/atx/power``, ``/api/atx/click``, ``/api/gpio`` (+ ``switch``, ``pulse``)."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response

from app.api.pikvm import state
from app.api.pikvm.envelope import KvmdError, answer, bad_request
from app.api.pikvm.params import flag, number, text
from app.api.routing import Req, get, post, services
from app.services.atx_actions import AtxActions, AtxError
from app.services.auth.accounts import Role
from app.services.gpio_channels import GpioChannels

# pikvm-aio sends these as power actions; kvmd has them as clicks (pikvm-clients.md §4).
CLICK_ALIASES = {"click": "power", "long": "power_long", "reset": "reset"}


def actions(request: Req) -> AtxActions:
    return services(request).kvmd.atx


def _extra(request: Req, channel: str) -> GpioChannels:
    """The configured channels, if ``channel`` is one of them (kvmd: 400 for an unknown channel)."""
    channels = services(request).kvmd.channels
    if channel not in channels.names():
        raise bad_request(f"Unknown GPIO channel {channel!r}")
    return channels


class KvmdAtxController(Controller):
    path = "/api"

    @get("/atx", role=Role.VIEWER, hot=state.atx)  # dashboards poll the power LED (app/api/hot.py)
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
        svc = services(request)
        return answer({"model": state.gpio_model(svc), "state": await asyncio.to_thread(state.gpio, svc)})

    @post("/gpio/switch", role=Role.USER)
    async def switch(self, request: Req) -> Response[bytes]:
        channel = text(request, "channel")
        on = flag(request, "state")
        wait = flag(request, "wait", False)
        if channel in state.GPIO_OUTPUTS or channel in state.GPIO_INPUTS:
            raise KvmdError(400, "GpioSwitchNotSupported", f"GPIO channel {channel!r} does not support switching")
        await _extra(request, channel).switch(channel, on, wait)
        return answer()

    @post("/gpio/pulse", role=Role.USER)
    async def pulse(self, request: Req) -> Response[bytes]:
        channel = text(request, "channel")
        button = state.GPIO_OUTPUTS.get(channel)
        if button is None:
            if channel in state.GPIO_INPUTS:
                raise KvmdError(400, "GpioPulseNotSupported", f"GPIO channel {channel!r} is an input")
            extra = _extra(request, channel)
            await extra.pulse(channel, number(request, "delay", 0, 0, 600), flag(request, "wait", False))
            return answer()
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
