"""The sim host's display, as the capture pipeline sees it.

Black when off; BIOS lines while it boots; a farewell while it shuts down; when on, a console whose
corner shows a millisecond clock and a frame counter, both also painted as two rows of 32 black or
white squares (bit 31 first) along the bottom edge: the wall clock in ms modulo 2^32 and the frame
number. A browser reads them back from a decoded frame to measure glass-to-glass latency and lost
frames (``frontend/src/lib/stamp.ts``). Off, booting and shutting down, a frame is rendered and encoded
only when what it shows changes, so an unchanged screen hands out the very same bytes object again:
cheap to serve and trivially detected as unchanged.
"""

from __future__ import annotations

import time
from typing import Any

from app.board.video import Captured
from app.board.video import jpeg as jpg
from app.sim import host as sim_host
from app.sim.host import PowerState, SimHost
from app.sim.input import ABS_MAX, SimInput

BIOS = [
    "KVM-SIM BIOS 1.0  (simulated PC behind the KVM)",
    "CPU: Simulated x86-64 @ 3.00 GHz, 4 cores",
    "Memory test: 16384 MB OK",
    "USB: keyboard, mouse, touchpad, mass storage",
    "Booting from disk ...",
]
CONSOLE = ["Sim Linux 6.1 kvm-sim tty1", "", "kvm-sim login:"]
SHUTDOWN = ["Stopping services ...", "Reached target Power-Off."]

_GREY, _WHITE, _AMBER = (170, 170, 170), (235, 235, 235), (40, 190, 250)


MAX_LINES = 18  # console lines that fit at any supported size
STAMP_BITS = 32


def stamp_cell(height: int) -> int:
    """The side of one bit's square: about 1/60 of the height, at least 8 px."""
    return max(8, height // 60)


def paint_bits(image: Any, row: int, value: int) -> None:
    """Bit 31 first, left to right, in row ``row`` (0 = the bottom row) of squares."""
    height = image.shape[0]
    cell = stamp_cell(height)
    top = height - (row + 1) * cell
    for bit in range(STAMP_BITS):
        on = (value >> (STAMP_BITS - 1 - bit)) & 1
        image[top : top + cell, bit * cell : (bit + 1) * cell] = 255 if on else 0


class SimScreenSource:
    def __init__(self, host: SimHost, width: int, height: int, usb: SimInput | None = None) -> None:
        self.host = host
        self.usb = usb
        self.native = (width, height)
        self._key: tuple[Any, ...] | None = None
        self._frame: Captured | None = None
        self._base: Any = None
        self.frames = 0  # live frames painted so far (the counter on the screen)

    def _console(self) -> tuple[str, ...]:
        """The login prompt with what was typed after it (newlines start new lines)."""
        typed = self.usb.text if self.usb is not None else ""
        devices = self.usb.usb_lines() if self.usb is not None else ()
        lines = [*CONSOLE[:1], *devices, *CONSOLE[1:-1], CONSOLE[-1] + " " + typed.replace("\t", "    ")]
        lines = "\n".join(lines).split("\n")
        return tuple(lines[-MAX_LINES:])

    def _content(self) -> tuple[str, tuple[str, ...], str, tuple[int, int] | None]:
        state, elapsed = self.host.snapshot()
        pointer = self.usb.pointer if self.usb is not None and state is not PowerState.OFF else None
        if state is PowerState.BOOTING:
            shown = 1 + int(elapsed / (sim_host.BOOT_SECONDS / len(BIOS)))
            return "bios", tuple(BIOS[:shown]), "", pointer
        if state is PowerState.ON:
            return "console", self._console(), "live" if self.host.clock else "", pointer
        if state is PowerState.SHUTTING_DOWN:
            return "console", tuple(SHUTDOWN), "", pointer
        return "off", (), "", None

    def read(self, width: int, height: int, quality: int) -> Captured:
        width, height = (width, height) if width and height else self.native
        content = self._content()
        key = (*content, width, height, quality)
        if key != self._key or self._base is None:
            self._base = self._render(*content, width, height)
            self._frame = None
            self._key = key
        if content[2] == "live":
            return self._live(width, height, quality)
        if self._frame is None:
            self._frame = Captured(jpg.encode(self._base, quality), width, height, self._base)
        return self._frame

    def _live(self, width: int, height: int, quality: int) -> Captured:
        """The console with this frame's clock and counter painted on a copy."""
        cv2 = jpg.cv()
        self.frames += 1
        now = time.time()
        image = self._base.copy()
        scale = height / 1080 * 1.4
        step = int(48 * height / 1080)
        thickness = max(1, int(2 * height / 1080))
        text = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}  #{self.frames}"
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        cv2.putText(image, text, (width - tw - step, step), cv2.FONT_HERSHEY_SIMPLEX, scale, _AMBER, thickness)
        paint_bits(image, 1, int(now * 1000) % (1 << STAMP_BITS))
        paint_bits(image, 0, self.frames % (1 << STAMP_BITS))
        return Captured(jpg.encode(image, quality), width, height, image)

    def _render(
        self,
        kind: str,
        lines: tuple[str, ...],
        clock: str,
        pointer: tuple[int, int] | None,
        width: int,
        height: int,
    ) -> Any:
        import numpy as np

        cv2 = jpg.cv()
        image = np.zeros((height, width, 3), dtype=np.uint8)
        if kind == "off":
            return image
        scale = height / 1080 * 1.4
        step = int(48 * height / 1080)
        thickness = max(1, int(2 * height / 1080))
        colour = _GREY if kind == "bios" else _WHITE
        for row, text in enumerate(lines):
            y = step * (row + 2)
            cv2.putText(image, text, (step, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
        if pointer is not None:
            x, y = pointer[0] * (width - 1) // ABS_MAX, pointer[1] * (height - 1) // ABS_MAX
            size = max(8, step // 2)
            arrow = np.array([(x, y), (x, y + size * 2), (x + size, y + size * 3 // 2)], dtype=np.int32)
            cv2.fillPoly(image, [arrow], _WHITE)
            cv2.polylines(image, [arrow], True, (0, 0, 0), 1, cv2.LINE_AA)
        return image

    def close(self) -> None:
        pass
