"""The sim board's extra GPIO channels (``gpio.channels``): plain sysfs-like files, as its ATX lines.

Only global numbers (``"600"``) are laid out; a ``CHIP:OFFSET`` spec names a chip the sim root does
not have, so that channel stays offline, as it would on a board without that chip.
"""

from __future__ import annotations

from app.config import GpioChannel
from app.paths import DeviceRoot, atomic_write


def prepare_channels(root: DeviceRoot, channels: list[GpioChannel]) -> None:
    for channel in channels:
        if not channel.line.isdigit():
            continue
        line = root(f"/sys/class/gpio/gpio{channel.line}")
        for name, content in (("direction", "out" if channel.mode == "output" else "in"), ("value", "0")):
            if not (line / name).exists():
                atomic_write(line / name, f"{content}\n".encode(), 0o644)
