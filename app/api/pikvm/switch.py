"""``/api/switch``: kvmd's PiKVM Switch (a multi-host video/USB switch) API, with no switch attached.

The state is kvmd's when its chain has no units (no ports, no active port, nothing linked), plus the
``active``/``ports`` keys aiopikvm's model requires (pikvm-clients.md §2). Every operation answers 503:
there is no switch here to act on (kvmd queues such commands to a device that is not there and
answers ok; a clear refusal tells a script the truth).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response

from app.api.pikvm.envelope import KvmdError, answer
from app.api.routing import Req, get, post
from app.services.auth.accounts import Role

# kvmd's default click lengths for a switch port's ATX (its limits are 0..10 s).
CLICK_DELAYS = {"power": 0.5, "power_long": 5.5, "reset": 0.5}


def no_switch() -> dict[str, Any]:
    return {
        "model": {
            "firmware": {"version": 0},
            "units": [],
            "ports": [],
            "limits": {
                "atx": {
                    "click_delays": {
                        name: {"default": delay, "min": 0, "max": 10} for name, delay in CLICK_DELAYS.items()
                    }
                }
            },
        },
        "summary": {"active_port": -1, "active_id": "", "synced": True},
        "edids": {"all": {}, "used": []},
        "video": {"links": []},
        "usb": {"links": []},
        "beacons": {"uplinks": [], "downlinks": [], "ports": []},
        "atx": {"busy": [], "leds": {"power": [], "hdd": []}},
        "active": "",  # aiopikvm's SwitchState
        "ports": {},
    }


def _absent() -> KvmdError:
    return KvmdError(503, "UnavailableError", "No PiKVM Switch is connected")


class KvmdSwitchController(Controller):
    path = "/api/switch"

    @get(["", "/"], role=Role.VIEWER)
    async def state(self) -> Response[bytes]:
        return answer(no_switch())

    @get("/edids", role=Role.VIEWER)
    async def edids(self) -> Response[bytes]:
        """aiopikvm's ``get_edids`` (kvmd lists them in the state's ``edids``)."""
        return answer({"edids": []})

    @post(
        ["/set_active", "/set_active_prev", "/set_active_next", "/set_beacon", "/atx/power", "/atx/click"],
        role=Role.USER,
    )
    async def operate(self, request: Req) -> Response[bytes]:
        del request
        raise _absent()

    @post(
        ["/set_port_params", "/set_colors", "/reset", "/edids/create", "/edids/change", "/edids/remove"],
        role=Role.ADMIN,
    )
    async def configure(self, request: Req) -> Response[bytes]:
        del request
        raise _absent()
