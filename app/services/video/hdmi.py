"""HDMI capture control (spec 4.2 ``/api/vm/hdmi*``): the disable flag and the idle timeout."""

from __future__ import annotations

import asyncio

import msgspec

from app.errors import InvalidArgument
from app.paths import DeviceRoot, atomic_write, read_text
from app.services.video.capture import Capture

MAX_IDLE_MINUTES = 10_080  # a week


class HdmiState(msgspec.Struct, rename="camel"):
    enabled: bool
    signal: bool
    idle_timeout: int


class Hdmi:
    def __init__(self, root: DeviceRoot, capture: Capture) -> None:
        self._flag = root("/etc/kvm/hdmi_disable")
        self._timeout_file = root("/etc/kvm/hdmi_idle_timeout")
        self.capture = capture
        capture.enabled = not self._flag.exists()
        minutes = read_text(self._timeout_file, "0")
        capture.idle_timeout_minutes = int(minutes) if minutes.isdigit() else 0

    def state(self) -> HdmiState:
        enabled = self.capture.enabled
        return HdmiState(enabled, enabled and self.capture.signal, self.capture.idle_timeout_minutes)

    def enable(self) -> None:
        self._flag.unlink(missing_ok=True)
        self.capture.enabled = True

    def disable(self) -> None:
        atomic_write(self._flag, b"")
        self.capture.enabled = False

    async def reset(self) -> None:
        """Capture off, a second's pause, on again (a stuck HDMI receiver usually recovers)."""
        await asyncio.to_thread(self._flag.unlink, missing_ok=True)
        self.capture.enabled = False
        self.capture.restart()
        await asyncio.sleep(1)
        self.capture.enabled = True

    def set_idle_timeout(self, minutes: int) -> None:
        if not 0 <= minutes <= MAX_IDLE_MINUTES:
            raise InvalidArgument("invalid arguments")
        atomic_write(self._timeout_file, f"{minutes}".encode())
        self.capture.idle_timeout_minutes = minutes
