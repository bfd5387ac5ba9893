"""``/api/sim/*``: the simulated host PC's own state, on the sim board only (for demos and tests)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, read_body
from app.api.routing import Req, get, post, services
from app.errors import ApiError
from app.services.auth.accounts import Role
from app.validation import InvalidInput


class LayoutRequest(msgspec.Struct):
    layout: str


class SimController(Controller):
    path = "/api/sim"

    @get("/host", role=Role.VIEWER)
    async def host(self, request: Req) -> Envelope[dict[str, Any]]:
        return ok(services(request).sim_input.state())

    @post("/host/clear", role=Role.USER)
    async def clear(self, request: Req) -> Envelope[None]:
        """Clear the host's console (a fresh page for the next test or demo)."""
        services(request).sim_input.clear()
        return ok()

    @post("/host/layout", role=Role.ADMIN, body=LayoutRequest)
    async def layout(self, request: Req) -> Envelope[None]:
        """The keyboard layout the host's OS uses to read keystrokes."""
        try:
            body = await read_body(request, LayoutRequest)
            services(request).sim_input.set_layout(body.layout)
        except (InvalidInput, KeyError):
            raise ApiError(-1, "invalid arguments: unknown layout") from None
        return ok()
