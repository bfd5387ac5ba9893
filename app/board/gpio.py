"""GPIO lines for the ATX buttons and LEDs: one interface, a sysfs driver and (gpio_cdev) a cdev one.

The sysfs driver works on ``<root>/sys/class/gpio`` so the sim board and tests run it on plain
files. Lines are named by a spec: a global sysfs number (``"503"``, as NanoKVM's init scripts
export them) or ``"CHIP:OFFSET"`` with CHIP a chip label, resolved through the chip's sysfs base so
no global number is hard-coded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from app.paths import DeviceRoot, read_text


class GpioLine(Protocol):
    def read(self) -> bool:
        """The electrical level, True = 1."""
        ...

    def write(self, value: bool) -> None: ...

    def close(self) -> None: ...


def sysfs_number(root: DeviceRoot, spec: str) -> int:
    """The global sysfs number of ``spec`` (``"503"`` or ``"chip-label:offset"``)."""
    if spec.isdigit():
        return int(spec)
    label, sep, offset = spec.rpartition(":")
    if not sep or not offset.isdigit():
        raise ValueError(f"GPIO line {spec!r}: expected a number or CHIP_LABEL:OFFSET")
    for chip in sorted(root("/sys/class/gpio").glob("gpiochip*")):
        if read_text(chip / "label") == label:
            base, count = int(read_text(chip / "base", "0")), int(read_text(chip / "ngpio", "0"))
            if int(offset) >= count:
                raise ValueError(f"GPIO line {spec!r}: chip {label!r} has {count} lines")
            return base + int(offset)
    raise ValueError(f"GPIO line {spec!r}: no chip labelled {label!r}")


class SysfsGpioLine:
    """A legacy sysfs GPIO line (``/sys/class/gpio/gpioN``), exported on demand."""

    def __init__(self, root: DeviceRoot, spec: str, output: bool) -> None:
        self.number = sysfs_number(root, spec)
        self.dir = root(f"/sys/class/gpio/gpio{self.number}")
        if not self.dir.exists():
            root("/sys/class/gpio/export").write_text(str(self.number))
            self._wait_for(self.dir / "direction")
            # "low" makes it an output already driven to 0: a button is never glitched to pressed.
            (self.dir / "direction").write_text("low" if output else "in")
        self._value: Path = self.dir / "value"

    @staticmethod
    def _wait_for(path: Path, timeout: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise OSError(f"{path} did not appear after export")
            time.sleep(0.01)

    def read(self) -> bool:
        return self._value.read_text().strip() == "1"

    def write(self, value: bool) -> None:
        self._value.write_text("1" if value else "0")

    def close(self) -> None:
        pass


def open_line(driver: str, root: DeviceRoot, spec: str, output: bool) -> GpioLine:
    if driver == "cdev":
        from app.board.gpio_cdev import CdevGpioLine  # periphery is only needed on boards

        return CdevGpioLine(root.root, spec, output)
    return SysfsGpioLine(root, spec, output)
