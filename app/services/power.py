"""Power and reset presses (spec 4.2 ``/api/vm/gpio``).

A press holds the line for the requested time in a worker thread. It runs to the end even if the
HTTP client goes away (a half-pressed power button is worse than a finished one), and a second press
while one runs is answered "busy" at once instead of interleaving on the wire.
"""

from __future__ import annotations

import asyncio
import threading
import time

from app.board.atx import Atx
from app.errors import Busy, Failed, InvalidArgument

DEFAULT_PRESS_MS = 800


class PowerService:
    def __init__(self, atx: Atx, max_press_ms: int) -> None:
        self.atx = atx
        self.max_press_ms = max_press_ms
        self._busy = threading.Lock()

    @property
    def busy(self) -> bool:
        """A press is being held (kvmd's ``atx.busy``)."""
        return self._busy.locked()

    def _hold(self, button: str, seconds: float) -> None:
        try:
            self.atx.set_button(button, True)
            time.sleep(seconds)
        finally:
            try:
                self.atx.set_button(button, False)
            finally:
                self._busy.release()

    async def press(self, button: str, duration_ms: int) -> None:
        if button not in ("power", "reset"):
            raise InvalidArgument(f"invalid power event: {button}", code=-2)
        duration_ms = duration_ms or DEFAULT_PRESS_MS
        if not 0 < duration_ms <= self.max_press_ms:
            raise InvalidArgument(f"invalid arguments: duration must be 1..{self.max_press_ms} ms")
        if not self._busy.acquire(blocking=False):
            raise Busy("busy: another button press is in progress", code=-4)
        try:
            work = asyncio.ensure_future(asyncio.to_thread(self._hold, button, duration_ms / 1000))
        except BaseException:
            self._busy.release()
            raise
        try:
            # Shielded: a client that disconnects cancels only its wait, never the press.
            await asyncio.shield(work)
        except OSError as err:
            raise Failed(f"operation failed: {err}", code=-3) from None

    def leds(self) -> tuple[bool, bool]:
        try:
            return self.atx.power_led(), self.atx.hdd_led()
        except OSError as err:
            raise Failed(f"failed to read power led: {err}", code=-2) from None
