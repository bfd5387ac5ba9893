"""NanoKVM's loopback-only internal routes: ``POST /api/internal/usb/recover`` (spec 4.3).

Allowed only from a loopback peer that sends the device's internal token (``X-NanoKVM-Internal-Token``);
anything else is 401 ``"unauthorized"``, as a missing session would be."""

from __future__ import annotations

import ipaddress

from litestar import Controller
from litestar.exceptions import NotAuthorizedException

from app.api.envelope import Envelope, ok
from app.api.routing import Req, post, services
from app.errors import Failed
from app.services.auth.accounts import Role


def _loopback(request: Req) -> bool:
    client = request.client
    try:
        return client is not None and ipaddress.ip_address(client.host).is_loopback
    except ValueError:
        return False


class InternalController(Controller):
    path = "/api"

    # The spec's path, and the one under /api/hid the issue names (same handler).
    @post(["/internal/usb/recover", "/hid/internal/usb/recover"], role=Role.PUBLIC)
    async def usb_recover(self, request: Req) -> Envelope[None]:
        """Reopen the HID gadget nodes, as ``POST /api/hid/reset`` without the manual-control check."""
        svc = services(request)
        if not (_loopback(request) and svc.internal_token.matches(request.headers.get("x-nanokvm-internal-token"))):
            raise NotAuthorizedException()
        try:
            svc.hid.reset()
        except OSError as err:
            raise Failed(f"failed to recover usb: {err}") from None
        return ok()
