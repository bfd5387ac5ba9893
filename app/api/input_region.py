"""``/api/vm/input-region`` and ``/api/vm/input-resolution`` (NanoKVM >= 2.5.1; the nanokvm client 1.4.1)."""

from __future__ import annotations

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, get, post, services
from app.errors import Unavailable
from app.services.auth.accounts import Role
from app.services.system.input_region import InputRegion, InputRegions, InputRegionUpdate
from app.services.video.snapshot import take


class InputResolution(msgspec.Struct):
    width: int
    height: int


class InputRegionController(Controller):
    path = "/api/vm"

    @get("/input-region", role=Role.VIEWER)
    async def region(self, request: Req) -> Envelope[InputRegion]:
        regions: InputRegions = services(request).input_regions
        return ok(regions.get())

    @post("/input-region", role=Role.ADMIN, body=InputRegionUpdate)
    async def set_region(self, request: Req) -> Envelope[None]:
        body = await parse_body(request, InputRegionUpdate, detail=False)
        services(request).input_regions.set(body)
        return ok()

    @get("/input-resolution", role=Role.VIEWER)
    async def resolution(self, request: Req) -> Envelope[InputResolution]:
        """The size of the picture the capture source delivers now (a frame is taken if none is fresh)."""
        try:
            shot = await take(services(request).capture, wait=3.0)
        except TimeoutError:
            raise Unavailable("failed to read input resolution") from None
        return ok(InputResolution(shot.width, shot.height))
