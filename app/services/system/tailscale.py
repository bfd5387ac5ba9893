"""Tailscale status through its own CLI (spec 4.9); ``notInstall`` when it is absent."""

from __future__ import annotations

from typing import Any

import msgspec

from app.board.system import CommandRunner
from app.errors import Failed

STATES = {
    "NoState": "notRunning",
    "Starting": "notRunning",
    "NeedsLogin": "notLogin",
    "NeedsMachineAuth": "notLogin",
    "InUseOtherUser": "notLogin",
    "Running": "running",
    "Stopped": "stopped",
}


class TailscaleStatus(msgspec.Struct):
    state: str
    name: str = ""
    ip: str = ""
    account: str = ""


def status(runner: CommandRunner) -> TailscaleStatus:
    try:
        result = runner.run(["tailscale", "status", "--json"], timeout=10)
    except FileNotFoundError:
        return TailscaleStatus("notInstall")
    if not result.output.strip().startswith("{"):
        return TailscaleStatus("notRunning")
    try:
        doc: dict[str, Any] = msgspec.json.decode(result.output)
    except msgspec.DecodeError:
        return TailscaleStatus("notRunning")
    state = STATES.get(str(doc.get("BackendState")))
    if state is None:
        raise Failed("unknown state")
    me = doc.get("Self") or {}
    ips = me.get("TailscaleIPs") or [""]
    user = (doc.get("User") or {}).get(str(me.get("UserID")), {})
    return TailscaleStatus(state, str(me.get("HostName", "")), str(ips[0]), str(user.get("LoginName", "")))
