"""Redfish (DMTF DSP0266) at ``/redfish/v1`` and ``/api/redfish/v1``: the service root, one system
(``Systems/0``) with its ``PowerState``, and ``ComputerSystem.Reset`` mapped onto kvmd's ATX actions.

Plain Redfish JSON, no kvmd envelope (errors are Redfish's ``{"error": {...}}``); credentials as the rest
of kvmd's API, HTTP Basic being what Redfish tools send.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response

from app.api.pikvm.atx import actions
from app.api.routing import Req, get, post, services
from app.errors import DomainError
from app.services.atx_actions import AtxError
from app.services.auth.accounts import Role

JSON = "application/json"
BASES = ("/redfish/v1", "/api/redfish/v1")
ODATA = {"OData-Version": "4.0"}

# Redfish reset types -> kvmd ATX actions (None: a click regardless of state).
RESETS: dict[str, tuple[str, str]] = {
    "On": ("action", "on"),
    "ForceOn": ("action", "on"),
    "GracefulShutdown": ("action", "off"),
    "ForceOff": ("action", "off_hard"),
    "ForceRestart": ("action", "reset_hard"),
    "GracefulRestart": ("action", "reset_hard"),
    "PushPowerButton": ("click", "power"),
}


def _json(value: Any, status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(value), status_code=status, media_type=JSON, headers=ODATA)


def _error(status: int, message: str, code: str = "Base.1.0.GeneralError") -> Response[bytes]:
    return _json({"error": {"code": code, "message": message}}, status)


def _base(request: Req) -> str:
    return "/api/redfish/v1" if request.url.path.startswith("/api/") else "/redfish/v1"


class RedfishController(Controller):
    path = "/"

    @get(["/redfish", "/api/redfish"], role=Role.PUBLIC)
    async def versions(self, request: Req) -> Response[bytes]:
        return _json({"v1": f"{_base(request)}/"})

    # The service root is open, as Redfish requires (tools read it before they log in).
    @get(["/redfish/v1", "/api/redfish/v1"], role=Role.PUBLIC)
    async def root(self, request: Req) -> Response[bytes]:
        base = _base(request)
        return _json(
            {
                "@odata.id": f"{base}/",
                "@odata.type": "#ServiceRoot.v1_6_0.ServiceRoot",
                "Id": "RootService",
                "Name": "Root Service",
                "RedfishVersion": "1.6.0",
                "Systems": {"@odata.id": f"{base}/Systems"},
            }
        )

    @get(["/redfish/v1/Systems", "/api/redfish/v1/Systems"], role=Role.VIEWER)
    async def systems(self, request: Req) -> Response[bytes]:
        base = _base(request)
        return _json(
            {
                "@odata.id": f"{base}/Systems",
                "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
                "Name": "Computer System Collection",
                "Members@odata.count": 1,
                "Members": [{"@odata.id": f"{base}/Systems/0"}],
            }
        )

    @get(["/redfish/v1/Systems/0", "/api/redfish/v1/Systems/0"], role=Role.VIEWER)
    async def system(self, request: Req) -> Response[bytes]:
        base = _base(request)
        svc = services(request)
        on, _ = svc.power.leds()
        host = svc.root("/etc/hostname")
        return _json(
            {
                "@odata.id": f"{base}/Systems/0",
                "@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem",
                "Id": "0",
                "Name": "Host PC",
                "HostName": host.read_text().strip() if host.exists() else "",
                "PowerState": "On" if on else "Off",
                "Actions": {
                    "#ComputerSystem.Reset": {
                        "target": f"{base}/Systems/0/Actions/ComputerSystem.Reset",
                        "ResetType@Redfish.AllowableValues": list(RESETS),
                    }
                },
            }
        )

    @post([f"{base}/Systems/0/Actions/ComputerSystem.Reset" for base in BASES], role=Role.USER)
    async def reset(self, request: Req) -> Response[bytes]:
        try:
            body = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return _error(400, "The body is not JSON", "Base.1.0.MalformedJSON")
        kind = body.get("ResetType") if isinstance(body, dict) else None
        if kind not in RESETS:
            return _error(400, f"Unsupported ResetType {kind!r}", "Base.1.0.ActionParameterValueNotInList")
        how, name = RESETS[kind]
        try:
            if how == "click":
                await actions(request).click(name, wait=False)
            else:
                await actions(request).action(name, wait=False)
        except (AtxError, DomainError) as err:
            return _error(409 if "busy" in str(err) else 400, str(err))
        return Response(b"", status_code=204, headers=ODATA)
