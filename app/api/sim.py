"""``/api/sim/*``: the simulated host PC's own state, on the sim board only (for demos and tests)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, read_body
from app.api.routing import Req, get, post, services
from app.errors import InvalidArgument, Unavailable
from app.services.auth.accounts import Role
from app.sim.input import SimInput
from app.validation import InvalidInput


class LayoutRequest(msgspec.Struct):
    layout: str


class ClockRequest(msgspec.Struct):
    enabled: bool


def _sim(request: Req) -> SimInput:
    """The sim PC (these routes are registered only on the sim board)."""
    sim_input = services(request).sim_input
    if sim_input is None:
        raise Unavailable("not the sim board")
    return sim_input


class SimController(Controller):
    path = "/api/sim"

    @get("/host", role=Role.VIEWER)
    async def host(self, request: Req) -> Envelope[dict[str, Any]]:
        return ok(_sim(request).state())

    @post("/host/clear", role=Role.USER)
    async def clear(self, request: Req) -> Envelope[None]:
        """Clear the host's console (a fresh page for the next test or demo)."""
        _sim(request).clear()
        return ok()

    @post("/host/clock", role=Role.ADMIN, body=ClockRequest)
    async def clock(self, request: Req) -> Envelope[None]:
        """The console's clock and frame counter on or off (off: the screen changes only when typed on)."""
        try:
            enabled = (await read_body(request, ClockRequest)).enabled
        except InvalidInput:  # no body or no boolean: the envelope's error, not a 500 (found by Schemathesis)
            raise InvalidArgument("invalid arguments") from None
        _sim(request).host.clock = enabled
        return ok()

    @post("/host/layout", role=Role.ADMIN, body=LayoutRequest)
    async def layout(self, request: Req) -> Envelope[None]:
        """The keyboard layout the host's OS uses to read keystrokes."""
        try:
            body = await read_body(request, LayoutRequest)
            _sim(request).set_layout(body.layout)
        except (InvalidInput, KeyError):
            raise InvalidArgument("invalid arguments: unknown layout") from None
        return ok()
