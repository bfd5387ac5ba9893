"""HID report encoders for NanoKVM's three gadget functions (spec 7.3.1), byte for byte.

keyboard (``/dev/hidg0``, 8 bytes): modifiers, reserved, six key usages.
relative mouse (``/dev/hidg1``, 4 bytes): buttons, dx, dy, wheel, all int8.
absolute touchpad (``/dev/hidg2``, 6 bytes): buttons, x LE uint16, y LE uint16 (0..32767), wheel int8.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

KEYBOARD_LEN, MOUSE_LEN, TOUCHPAD_LEN = 8, 4, 6
ABS_MAX = 32767
# The hid-only gadget (S03usbhid) declares keyboard usages up to 0x65 and a 3-button pointer.
HID_ONLY_MAX_USAGE = 0x65
HID_ONLY_BUTTONS = 0x07

KEYBOARD_RELEASE = bytes(KEYBOARD_LEN)
MOUSE_RELEASE = bytes(MOUSE_LEN)

_TOUCHPAD = struct.Struct("<BHHb")
_MOUSE = struct.Struct("<Bbbb")


def _int8(value: int) -> int:
    return max(-127, min(127, value))


def keyboard(modifiers: int = 0, keys: Sequence[int] = (), hid_only: bool = False) -> bytes:
    """Modifier bitmap plus at most six usages (more are a phantom state: report none, as USB does)."""
    limit = HID_ONLY_MAX_USAGE if hid_only else 0xE7
    usages = [k for k in keys if 0 < k <= limit]
    if len(usages) > 6:
        usages = [0x01] * 6  # ErrorRollOver
    return bytes([modifiers & 0xFF, 0, *usages, *([0] * (6 - len(usages)))])


def mouse(buttons: int = 0, dx: int = 0, dy: int = 0, wheel: int = 0) -> bytes:
    return _MOUSE.pack(buttons & 0x07, _int8(dx), _int8(dy), _int8(wheel))


def touchpad(buttons: int = 0, x: int = 0, y: int = 0, wheel: int = 0, hid_only: bool = False) -> bytes:
    mask = HID_ONLY_BUTTONS if hid_only else 0x1F
    return _TOUCHPAD.pack(buttons & mask, max(0, min(ABS_MAX, x)), max(0, min(ABS_MAX, y)), _int8(wheel))


def touchpad_release(last: bytes | None) -> bytes:
    """Buttons up, pointer where it was (spec 7.3.1)."""
    if last is None or len(last) != TOUCHPAD_LEN:
        return bytes(TOUCHPAD_LEN)
    return bytes([0, *last[1:5], 0])


def held(report: bytes | None) -> bool:
    """True if a report leaves anything pressed (a key, a modifier, a button)."""
    if not report:
        return False
    if len(report) == KEYBOARD_LEN:
        return any(report)
    return report[0] != 0
