"""Key and mouse *events* (press/release by key name, buttons by name, absolute and relative moves), as
kvmd's API sends them, turned into the same HID reports NanoKVM's input produces.

One ``EventInput`` per source (kvmd's HTTP routes share one, each kvmd WebSocket has its own) keeps what
that source holds pressed, and ``release`` lets go of all of it (a WebSocket that goes leaves no key down).
"""

from __future__ import annotations

from app.services.hid import reports
from app.services.hid.service import HidService
from app.services.hid.webkeys import MODIFIERS, USAGES

BUTTONS = {"left": 0x01, "right": 0x02, "middle": 0x04, "up": 0x08, "down": 0x10}
KVMD_MIN, KVMD_MAX = -32768, 32767


class UnknownInput(ValueError):
    """A key or button name kvmd would refuse."""


def to_absolute(value: int) -> int:
    """kvmd's signed -32768..32767 pointer range onto the touchpad's 0..32767."""
    value = max(KVMD_MIN, min(KVMD_MAX, value))
    return (value - KVMD_MIN) * reports.ABS_MAX // (KVMD_MAX - KVMD_MIN)


class EventInput:
    def __init__(self, hid: HidService, absolute: bool = True) -> None:
        self.hid = hid
        self.absolute = absolute
        self._keys: list[int] = []
        self._modifiers = 0
        self._buttons = 0
        self._x = self._y = 0

    # --- keyboard --------------------------------------------------------------------------

    def key(self, name: str, pressed: bool) -> None:
        if name in MODIFIERS:
            bit = MODIFIERS[name]
            self._modifiers = self._modifiers | bit if pressed else self._modifiers & ~bit
        elif name in USAGES:
            usage = USAGES[name]
            if pressed and usage not in self._keys:
                self._keys.append(usage)
            elif not pressed and usage in self._keys:
                self._keys.remove(usage)
        else:
            raise UnknownInput(f"Unknown key {name!r}")
        self.hid.send_keyboard(reports.keyboard(self._modifiers, self._keys))

    def tap(self, names: list[str]) -> None:
        """Press the keys in order, then release them in reverse (a shortcut, or one key's click)."""
        for name in names:
            if name not in MODIFIERS and name not in USAGES:
                raise UnknownInput(f"Unknown key {name!r}")
        for name in names:
            self.key(name, True)
        for name in reversed(names):
            self.key(name, False)

    # --- mouse -----------------------------------------------------------------------------

    def button(self, name: str, pressed: bool) -> None:
        bit = BUTTONS.get(name)
        if bit is None:
            raise UnknownInput(f"Unknown mouse button {name!r}")
        self._buttons = self._buttons | bit if pressed else self._buttons & ~bit
        self._pointer()

    def move(self, x: int, y: int) -> None:
        self._x, self._y = to_absolute(x), to_absolute(y)
        if self.absolute:
            self._pointer()

    def relative(self, dx: int, dy: int) -> None:
        self.hid.send_mouse(reports.mouse(self._buttons, dx, dy))

    def wheel(self, dx: int, dy: int) -> None:
        del dx  # the boot mouse has no horizontal wheel
        step = max(-127, min(127, dy))
        if self.absolute:
            self.hid.send_touchpad(reports.touchpad(self._buttons, self._x, self._y, step))
        else:
            self.hid.send_mouse(reports.mouse(self._buttons, 0, 0, step))

    def _pointer(self) -> None:
        if self.absolute:
            self.hid.send_touchpad(reports.touchpad(self._buttons, self._x, self._y))
        else:
            self.hid.send_mouse(reports.mouse(self._buttons))

    def release(self) -> None:
        if self._keys or self._modifiers:
            self._keys, self._modifiers = [], 0
            self.hid.send_keyboard(reports.KEYBOARD_RELEASE)
        if self._buttons:
            self._buttons = 0
            self._pointer()
