"""kvmd's ATX vocabulary over the power service: clicks and power actions (used by kvmd's API and Redfish).

A click is a press of the same power service NanoKVM's ``/api/vm/gpio`` uses, so one press at a time
holds across both APIs. Power actions look at the power LED first, as kvmd does: ``on`` does nothing
to a running host, ``off``/``off_hard``/``reset_hard`` nothing to a stopped one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from app.errors import Busy
from app.services.power import PowerService

log = logging.getLogger(__name__)

# kvmd's defaults (kvmd.atx.gpio: click_delay 0.1 s, long_click_delay 5.5 s).
CLICKS: dict[str, tuple[str, int]] = {
    "power": ("power", 100),
    "power_long": ("power", 5500),
    "reset": ("reset", 100),
}
ACTIONS = ("on", "off", "off_hard", "reset_hard")


class AtxError(ValueError):
    """An unknown button or action."""


class AtxActions:
    def __init__(self, power: PowerService) -> None:
        self.power = power
        self._background: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        return self.power.busy

    def leds(self) -> tuple[bool, bool]:
        return self.power.leds()

    async def click(self, button: str, wait: bool) -> None:
        if button not in CLICKS:
            raise AtxError(f"Unknown ATX button {button!r}")
        line, duration = CLICKS[button]
        await self.run(self.power.press(line, min(duration, self.power.max_press_ms)), wait)

    def needed_click(self, action: str) -> str | None:
        """The click an action needs now, given the power LED (None: nothing to do)."""
        if action not in ACTIONS:
            raise AtxError(f"Unknown ATX action {action!r}")
        on, _ = self.power.leds()
        if action == "on":
            return None if on else "power"
        if not on:
            return None
        return {"off": "power", "off_hard": "power_long", "reset_hard": "reset"}[action]

    async def action(self, action: str, wait: bool) -> None:
        button = self.needed_click(action)
        if button is not None:
            await self.click(button, wait)

    async def run(self, press: Coroutine[Any, Any, None], wait: bool) -> None:
        if wait:
            await press
            return
        if self.power.busy:  # refused now rather than failing unseen in the background
            press.close()
            raise Busy("busy: another button press is in progress", code=-4)
        task = asyncio.create_task(press)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("ATX press failed: %s", task.exception())
