"""The sim host's display, as the capture pipeline sees it.

Black when off; BIOS lines while it boots; a console with a ticking clock when on; a farewell while
it shuts down. A frame is rendered and encoded only when what it shows changes (at most once a
second for the clock), so an unchanged screen hands out the very same bytes object again: cheap to
serve and trivially detected as unchanged.
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


class SimScreenSource:
    def __init__(self, host: SimHost, width: int, height: int, usb: SimInput | None = None) -> None:
        self.host = host
        self.usb = usb
        self.native = (width, height)
        self._key: tuple[Any, ...] | None = None
        self._frame: Captured | None = None

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
            return "console", self._console(), time.strftime("%H:%M:%S"), pointer
        if state is PowerState.SHUTTING_DOWN:
            return "console", tuple(SHUTDOWN), "", pointer
        return "off", (), "", None

    def read(self, width: int, height: int, quality: int) -> Captured:
        width, height = (width, height) if width and height else self.native
        content = self._content()
        key = (*content, width, height, quality)
        if key != self._key or self._frame is None:
            self._frame = Captured(jpg.encode(self._render(*content, width, height), quality), width, height)
            self._key = key
        return self._frame

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
        if clock:
            (tw, _), _ = cv2.getTextSize(clock, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            position = (width - tw - step, step)
            cv2.putText(image, clock, position, cv2.FONT_HERSHEY_SIMPLEX, scale, _AMBER, thickness, cv2.LINE_AA)
        if pointer is not None:
            x, y = pointer[0] * (width - 1) // ABS_MAX, pointer[1] * (height - 1) // ABS_MAX
            size = max(8, step // 2)
            arrow = np.array([(x, y), (x, y + size * 2), (x + size, y + size * 3 // 2)], dtype=np.int32)
            cv2.fillPoly(image, [arrow], _WHITE)
            cv2.polylines(image, [arrow], True, (0, 0, 0), 1, cv2.LINE_AA)
        return image

    def close(self) -> None:
        pass
