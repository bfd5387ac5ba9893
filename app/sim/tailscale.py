"""The sim board's Tailscale: inert files for the install and the CLI answered from the device root."""

from __future__ import annotations

import msgspec

from app.board.system import Result, SimRunner
from app.paths import DeviceRoot, atomic_write, read_text
from app.services.system.tailscale_control import SCRIPT, SCRIPT_SHIPPED, TAILSCALE, TAILSCALED

SIM_STUB = b"#!/bin/sh\n# The sim board's stand-in: never executed (the sim runner answers instead).\nexit 1\n"


def sim_installer(root: DeviceRoot) -> None:
    """Inert files where the binaries and the init script go (not executable: nothing runs them)."""
    for path in (TAILSCALE, TAILSCALED, SCRIPT_SHIPPED):
        atomic_write(root(path), SIM_STUB, 0o644)


class SimTailscale:
    """The sim board's Tailscale: the CLI and init script answered from a small state file in the root."""

    STATE = "/var/lib/tailscale/sim-state.json"
    URL = "https://login.tailscale.com/a/sim-0123456789"

    def __init__(self, root: DeviceRoot) -> None:
        self.root = root

    def attach(self, runner: SimRunner) -> None:
        runner.emulate(self.answer)

    def _state(self) -> dict[str, bool]:
        try:
            value = msgspec.json.decode(self.root(self.STATE).read_bytes())
        except (OSError, msgspec.DecodeError):
            value = {}
        return {key: bool(value.get(key)) for key in ("daemon", "loggedIn", "up")} if isinstance(value, dict) else {}

    def _save(self, **changes: bool) -> Result:
        atomic_write(self.root(self.STATE), msgspec.json.encode({**self._state(), **changes}))
        return Result(0, "")

    def answer(self, command: tuple[str, ...]) -> Result | None:
        if command[:1] == (SCRIPT,):
            if not self.root(SCRIPT).exists():
                raise FileNotFoundError(SCRIPT)
            return self._daemon(command[1:])
        if command[:1] != ("tailscale",):
            return None
        if not self.root(TAILSCALE).exists():
            raise FileNotFoundError("tailscale")
        state = self._state()
        if not state.get("daemon"):
            return Result(1, "failed to connect to local tailscaled; it doesn't appear to be running\n")
        return self._cli(command[1:], state)

    def _daemon(self, verb: tuple[str, ...]) -> Result | None:
        if verb in (("start",), ("restart",)):
            return self._save(daemon=True)
        if verb == ("stop",):
            return self._save(daemon=False)
        return None

    def _cli(self, args: tuple[str, ...], state: dict[str, bool]) -> Result | None:
        if args == ("status", "--json"):
            backend = "NeedsLogin" if not state["loggedIn"] else "Running" if state["up"] else "Stopped"
            host = read_text(self.root("/etc/hostname"), "kvm-sim")
            ips = ["100.100.7.7"] if backend == "Running" else []
            doc = {
                "BackendState": backend,
                "Self": {"HostName": host, "TailscaleIPs": ips, "UserID": 7},
                "User": {"7": {"LoginName": "sim@example.com"}} if state["loggedIn"] else {},
            }
            return Result(0, msgspec.json.encode(doc).decode())
        if args == ("up", "--accept-dns=false"):
            return self._save(up=True) if state["loggedIn"] else Result(1, "not logged in\n")
        if args == ("down",):
            return self._save(up=False)
        if args[:1] == ("login",):  # the owner "opens the URL" at once on the sim board
            self._save(loggedIn=True, up=True)
            return Result(0, f"\nTo authenticate, visit:\n\n\t{self.URL}\n\nSuccess.\n")
        if args == ("logout",):
            return self._save(loggedIn=False, up=False)
        return None
