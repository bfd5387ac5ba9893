"""GPIO lines on the Linux GPIO character device (``/dev/gpiochipN``).

A line is named by a spec ``"CHIP:LINE"``:

* ``CHIP`` is either a chip *label* (``"kvm-atx"``, what the board's device tree or
  gpio-sim calls the controller) or a path such as ``"/dev/gpiochip0"``; paths are
  resolved under ``root`` so tests can point the driver at another tree;
* ``LINE`` is a line *name* (``"power_btn"``) or a decimal line offset (``"3"``).

Global sysfs GPIO numbers are never used: they are assigned dynamically by the
kernel and differ between boots, boards and kernel versions.

The line itself is driven by python-periphery's ``CdevGPIO``. Chip and line look-ups
use the two small read-only v1 ioctls (``GPIO_GET_CHIPINFO_IOCTL`` and
``GPIO_GET_LINEINFO_IOCTL``) so a chip can be found by label without claiming a line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pathlib
import struct

from periphery import CdevGPIO, GPIOError

# struct gpiochip_info { char name[32]; char label[32]; __u32 lines; }
_CHIPINFO = struct.Struct("=32s32sI")
# struct gpioline_info { __u32 line_offset; __u32 flags; char name[32]; char consumer[32]; }
_LINEINFO = struct.Struct("=II32s32s")


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (0xB4 << 8) | nr


_IOC_READ = 2
_IOC_WRITE = 1
GPIO_GET_CHIPINFO_IOCTL = _ioc(_IOC_READ, 0x01, _CHIPINFO.size)
GPIO_GET_LINEINFO_IOCTL = _ioc(_IOC_READ | _IOC_WRITE, 0x02, _LINEINFO.size)

CONSUMER = "kvm"


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class ChipInfo:
    """What the kernel says about one GPIO chip."""

    def __init__(self, path: pathlib.Path, name: str, label: str, lines: int) -> None:
        self.path = path
        self.name = name
        self.label = label
        self.lines = lines

    def __repr__(self) -> str:
        return f"ChipInfo({str(self.path)!r}, name={self.name!r}, label={self.label!r}, lines={self.lines})"


def chip_info(path: pathlib.Path) -> ChipInfo:
    """Read name, label and line count of a GPIO character device."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        buf = bytearray(_CHIPINFO.size)
        fcntl.ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, buf, True)
    finally:
        os.close(fd)
    name, label, lines = _CHIPINFO.unpack(buf)
    return ChipInfo(path, _cstr(name), _cstr(label), lines)


def line_names(path: pathlib.Path, lines: int) -> list[str]:
    """Names of the chip's lines, by offset ("" for an unnamed line)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        names = []
        for offset in range(lines):
            buf = bytearray(_LINEINFO.pack(offset, 0, b"", b""))
            fcntl.ioctl(fd, GPIO_GET_LINEINFO_IOCTL, buf, True)
            names.append(_cstr(_LINEINFO.unpack(buf)[2]))
        return names
    finally:
        os.close(fd)


def list_chips(root: pathlib.Path) -> list[ChipInfo]:
    """All GPIO character devices under ``root/dev`` that answer the chip ioctl."""
    chips = []
    for path in sorted((root / "dev").glob("gpiochip*"), key=lambda p: (len(p.name), p.name)):
        try:
            chips.append(chip_info(path))
        except OSError:
            continue  # not a GPIO chip (e.g. a plain file in a fake tree)
    return chips


def find_chip(root: pathlib.Path, chip: str) -> ChipInfo:
    """Find a chip by label, or by a ``/dev/...`` path resolved under ``root``."""
    if chip.startswith("/"):
        path = root / chip.lstrip("/")
        try:
            return chip_info(path)
        except FileNotFoundError:
            raise ValueError(f"GPIO chip {chip!r} not found ({path} does not exist)") from None
        except OSError as exc:
            raise ValueError(f"{path} is not a GPIO chip: {exc.strerror}") from None
    chips = list_chips(root)
    matches = [c for c in chips if c.label == chip]
    if not matches:
        known = ", ".join(f"{c.path.name}={c.label!r}" for c in chips) or "none"
        raise ValueError(f"no GPIO chip labelled {chip!r} under {root / 'dev'} (chips: {known})")
    if len(matches) > 1:
        paths = ", ".join(str(c.path) for c in matches)
        raise ValueError(f"GPIO chip label {chip!r} is ambiguous ({paths}); use a /dev/gpiochipN path")
    return matches[0]


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"CHIP:LINE"`` into its two non-empty parts."""
    chip, sep, line = spec.rpartition(":")
    if not sep or not chip or not line:
        raise ValueError(f"bad GPIO line spec {spec!r}: expected 'CHIP:LINE', e.g. 'kvm-atx:power_btn'")
    return chip, line


def resolve(root: pathlib.Path, spec: str) -> tuple[ChipInfo, int]:
    """Chip and line offset for a spec; ValueError if either is not there."""
    chip_part, line_part = parse_spec(spec)
    chip = find_chip(root, chip_part)
    if line_part.isdecimal():
        offset = int(line_part)
        if offset >= chip.lines:
            raise ValueError(
                f"GPIO line offset {offset} out of range for chip {chip.label!r} ({chip.path}, {chip.lines} lines)"
            )
        return chip, offset
    names = line_names(chip.path, chip.lines)
    if line_part not in names:
        shown = ", ".join(repr(n) for n in names if n) or "no named lines"
        raise ValueError(f"no GPIO line named {line_part!r} on chip {chip.label!r} ({chip.path}; {shown})")
    if names.count(line_part) > 1:
        raise ValueError(f"GPIO line name {line_part!r} is ambiguous on chip {chip.label!r}; use an offset")
    return chip, names.index(line_part)


class CdevGpioLine:
    """One GPIO line, opened through the character device.

    Values are raw electrical levels (True = 1); any active-low logic belongs to the
    caller. An output line starts at 0, i.e. released.
    """

    def __init__(self, root: pathlib.Path, spec: str, output: bool) -> None:
        self.spec = spec
        self.output = output
        chip, offset = resolve(root, spec)
        self.chip = chip
        self.offset = offset
        try:
            self._gpio = CdevGPIO(str(chip.path), offset, "low" if output else "in", label=CONSUMER)
        except GPIOError as exc:
            if exc.errno == errno.EBUSY:
                raise OSError(errno.EBUSY, f"GPIO line {spec!r} ({chip.path} line {offset}) is busy") from exc
            raise

    def read(self) -> bool:
        return bool(self._gpio.read())

    def write(self, value: bool) -> None:
        if not self.output:
            raise ValueError(f"GPIO line {self.spec!r} is an input")
        self._gpio.write(bool(value))

    def close(self) -> None:
        self._gpio.close()

    def __repr__(self) -> str:
        kind = "out" if self.output else "in"
        return f"CdevGpioLine({self.spec!r}, {kind}, {self.chip.path} line {self.offset})"
