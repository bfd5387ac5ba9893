"""Paste: type text on the host, character by character, in the host's keyboard layout (spec 7.3.4).

Each character becomes its key strokes (a press report, then a release), written through the
keyboard node's queue from a worker thread that waits for room instead of dropping: a pasted
character is never lost to a full queue, and every report waits for the host to poll it. The
request lasts the paste, as upstream; another paste meanwhile is answered "busy".
"""

from __future__ import annotations

import asyncio
import time

from app.errors import Busy, Failed, InvalidArgument
from app.services.hid import reports
from app.services.hid.keymap import LAYOUTS, Keymap
from app.services.hid.service import HidService

MAX_RUNES = 833  # NanoKVM's limit (25 s at its 30 ms per character)
# How long one report may wait for the host to poll it before the paste gives up on it.
REPORT_PATIENCE = 1.0


class Paster:
    def __init__(self, hid: HidService, delay_ms: int) -> None:
        self.hid = hid
        self.delay = delay_ms / 1000
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def paste(self, content: str, langue: str) -> None:
        if len(content) > MAX_RUNES:
            raise InvalidArgument("content too long", code=-2)
        layout = LAYOUTS.get(langue)
        if layout is None:
            raise InvalidArgument(f"invalid arguments: unsupported layout {langue!r}")
        keymap = Keymap.load(layout)
        if self._lock.locked():
            raise Busy("HID control is busy", code=-3)
        async with self._lock:
            # Shielded: a client that goes away must not leave a key half-typed.
            typed = await asyncio.shield(asyncio.to_thread(self._type, content.replace("\r\n", "\n"), keymap))
        if not typed:
            raise Failed("HID paste failed: the host is not reading the keyboard", code=-3)

    def _type(self, content: str, keymap: Keymap) -> bool:
        """Type ``content``; False (and stop at once) as soon as the host lets a report drop."""
        writer = self.hid.keyboard
        dropped = writer.dropped
        self.hid.last_input = time.monotonic()
        for char in content:
            for modifiers, usage in keymap.strokes(char) or ():  # untypeable characters are skipped
                writer.put(reports.keyboard(modifiers, [usage]), REPORT_PATIENCE)
                writer.put(reports.KEYBOARD_RELEASE, REPORT_PATIENCE)
            if writer.dropped != dropped:
                break
            if self.delay:
                time.sleep(self.delay)
        writer.wait_written()
        if writer.dropped == dropped:
            return True
        writer.submit(reports.KEYBOARD_RELEASE, critical=True)  # never leave a key held
        return False
