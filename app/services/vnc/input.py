"""One VNC client's keyboard and pointer: RFB events in, boot keyboard and absolute pointer reports out.

Keysyms go through the host's keyboard layout: a character keysym presses the key that types that
character on the host, with the Shift/AltGr that level needs held for as long as the key is down
(the client's own Shift and AltGr are set aside meanwhile, since the client already applied them
to choose the keysym). QEMU extended key events carry the physical key and are sent as they are.
What a client leaves pressed is released when it goes.
"""

from __future__ import annotations

import logging

from app.services.hid import reports
from app.services.hid.keymap import LEVEL_MODIFIERS, Keymap
from app.services.hid.service import HidService
from app.services.vnc import keys

log = logging.getLogger(__name__)

# Level modifiers that a character keysym decides itself.
LEVEL_BITS = keys.L_SHIFT | keys.R_SHIFT | keys.R_ALT

# RFB button mask bits -> touchpad report bits (RFB: 1 left, 2 middle, 4 right; HID: 1 left, 2 right, 4 middle).
_BUTTONS = ((1, 1), (2, 4), (4, 2), (128, 8))
WHEEL_UP, WHEEL_DOWN = 8, 16


class VncInput:
    def __init__(self, hid: HidService, layout: str) -> None:
        self.hid = hid
        self.keymap = Keymap.load(layout)
        self._modifiers = 0  # modifier keys the client holds
        # held keys in press order: key id -> (usage, level modifiers it forces, or None)
        self._held: dict[tuple[str, int], tuple[int, int | None]] = {}
        self._mask = 0
        self._last_pointer: bytes | None = None
        self._last_keyboard = reports.KEYBOARD_RELEASE

    def set_layout(self, layout: str) -> None:
        self.keymap = Keymap.load(layout)

    # --- keyboard --------------------------------------------------------------------------

    def keysym(self, keysym: int, down: bool) -> None:
        modifier = keys.MODIFIER_KEYSYMS.get(keysym)
        if modifier is not None:
            self._modifier(modifier, down)
            return
        key = ("k", keysym)
        if not down:
            self._release(key)
            return
        usage = keys.FUNCTION_KEYSYMS.get(keysym)
        if usage is not None:
            self._press(key, usage, None)
            return
        strokes = self._strokes(keysym)
        if not strokes:
            log.debug("keysym %#x cannot be typed in layout %s", keysym, self.keymap.name)
            return
        for modifiers, lead in strokes[:-1]:  # a dead key first: pressed and let go
            self._press(("dead", lead), lead, modifiers)
            self._release(("dead", lead))
        modifiers, usage = strokes[-1]
        self._press(key, usage, modifiers)

    def scancode(self, code: int, down: bool) -> None:
        """A QEMU extended key event's XT scancode: the physical key, whatever the layouts."""
        modifier = keys.XT_MODIFIERS.get(code)
        if modifier is not None:
            self._modifier(modifier, down)
            return
        usage = keys.XT_USAGES.get(code)
        if usage is None:
            return
        if down:
            self._press(("s", code), usage, None)
        else:
            self._release(("s", code))

    def _strokes(self, keysym: int) -> list[tuple[int, int]] | None:
        dead = keys.DEAD_KEYSYMS.get(keysym)
        if dead is not None:
            for usage, level in sorted(self.keymap.dead_positions):
                if self.keymap.levels[usage][level] in dead:
                    return [(LEVEL_MODIFIERS[level], usage)]
            return None
        char = keys.keysym_char(keysym)
        return self.keymap.strokes(char) if char else None

    def _modifier(self, bit: int, down: bool) -> None:
        self._modifiers = self._modifiers | bit if down else self._modifiers & ~bit
        self._send()

    def _press(self, key: tuple[str, int], usage: int, forced: int | None) -> None:
        self._held.pop(key, None)
        self._held[key] = (usage, forced)
        self._send()

    def _release(self, key: tuple[str, int]) -> None:
        if self._held.pop(key, None) is not None:
            self._send()

    def _send(self) -> None:
        modifiers = self._modifiers
        forced = [f for _, f in self._held.values() if f is not None]
        if forced:  # the newest character key decides Shift and AltGr
            modifiers = (modifiers & ~LEVEL_BITS) | forced[-1]
        report = reports.keyboard(modifiers, [usage for usage, _ in self._held.values()])
        if report != self._last_keyboard:
            self._last_keyboard = report
            self.hid.send_keyboard(report)

    # --- pointer ---------------------------------------------------------------------------

    def pointer(self, mask: int, x: int, y: int, width: int, height: int) -> None:
        buttons = 0
        for rfb_bit, hid_bit in _BUTTONS:
            if mask & rfb_bit:
                buttons |= hid_bit
        pressed = mask & ~self._mask
        wheel = (1 if pressed & WHEEL_UP else 0) - (1 if pressed & WHEEL_DOWN else 0)
        self._mask = mask
        ax = x * reports.ABS_MAX // max(1, width - 1)
        ay = y * reports.ABS_MAX // max(1, height - 1)
        report = reports.touchpad(buttons, ax, ay, wheel)
        if report != self._last_pointer:
            self._last_pointer = report
            self.hid.send_touchpad(report)

    # --- the end ---------------------------------------------------------------------------

    def release(self) -> None:
        """Let go of every key and button this client holds."""
        self._held.clear()
        self._modifiers = 0
        self._send()
        if reports.held(self._last_pointer):
            self._last_pointer = reports.touchpad_release(self._last_pointer)
            self.hid.send_touchpad(self._last_pointer)
