"""The mouse jiggler (spec 7.3.3): keeps the host awake by nudging the pointer when idle."""

from __future__ import annotations

import asyncio
import time

from app.errors import Failed, InvalidArgument
from app.paths import DeviceRoot, atomic_write, read_text
from app.services.hid.service import HidService

INTERVAL = 15.0
MODES = ("relative", "absolute")
NUDGES = {
    "relative": (bytes([0x00, 0x0A, 0x0A, 0x00]), bytes([0x00, 0xF6, 0xF6, 0x00])),
    "absolute": (bytes([0x00, 0x00, 0x3F, 0x00, 0x3F, 0x00]), bytes([0x00, 0xFF, 0x3F, 0xFF, 0x3F, 0x00])),
}


class Jiggler:
    def __init__(self, root: DeviceRoot, hid: HidService) -> None:
        self._file = root("/etc/kvm/mouse-jiggler")
        self.hid = hid

    def state(self) -> tuple[bool, str]:
        mode = read_text(self._file)
        if not self._file.exists():
            return False, "absolute"
        return True, mode if mode in MODES else "absolute"

    def set(self, enabled: bool, mode: str) -> None:
        if mode not in MODES:
            raise InvalidArgument("invalid arguments")
        if enabled:
            atomic_write(self._file, mode.encode())
        elif self._file.exists():
            self._file.unlink()
        else:
            raise Failed("operation failed", code=-2)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            enabled, mode = self.state()
            if not enabled or time.monotonic() - self.hid.last_input < INTERVAL:
                continue
            there, back = NUDGES[mode]
            send = self.hid.mouse.submit if mode == "relative" else self.hid.touchpad.submit
            send(there)
            await asyncio.sleep(0.1)
            send(back)
