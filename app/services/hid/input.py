"""One ``/api/ws`` connection's input: frames in, reports out, and what it holds pressed.

Binary frames (NanoKVM >= 2.3.2): byte 0 is the event type, the rest a raw report: 0 heartbeat,
1 keyboard (8 bytes), 2 mouse (4 bytes relative, 6 bytes absolute). Wrong lengths are ignored, as
upstream. Text frames that are JSON arrays speak the <= 2.3.1 protocol (spec 5.4). What a
connection leaves pressed is released when it goes, and switching between relative and absolute
mouse while buttons are held releases the other device first.
"""

from __future__ import annotations

import msgspec

from app.services.hid import reports
from app.services.hid.service import HidService

HEARTBEAT, KEYBOARD, MOUSE = 0, 1, 2

# Legacy mouse operations.
_UP, _DOWN, _ABSOLUTE, _RELATIVE, _SCROLL = 0, 1, 2, 3, 4


class InputSession:
    def __init__(self, hid: HidService) -> None:
        self.hid = hid
        self.keyboard: bytes | None = None
        self.mouse: bytes | None = None
        self.touchpad: bytes | None = None
        # Legacy protocol state: buttons held and the last absolute position.
        self._buttons = 0
        self._x = self._y = 0

    # --- frames ----------------------------------------------------------------------------

    def binary(self, frame: bytes) -> None:
        if not frame:
            return
        kind, report = frame[0], bytes(frame[1:])
        if kind == KEYBOARD and len(report) == reports.KEYBOARD_LEN:
            self._keyboard(report)
        elif kind == MOUSE and len(report) == reports.MOUSE_LEN:
            self._mouse(report)
        elif kind == MOUSE and len(report) == reports.TOUCHPAD_LEN:
            self._touchpad(report)

    def text(self, frame: str) -> None:
        stripped = frame.lstrip()
        if not stripped.startswith("["):
            # NanoKVM reads byte 0 of a text frame like a binary one.
            self.binary(frame.encode("latin-1", errors="ignore"))
            return
        try:
            values = msgspec.json.decode(stripped, type=list[int])
        except msgspec.DecodeError:
            return
        if len(values) >= 6 and values[0] == KEYBOARD:
            self._legacy_keyboard(values)
        elif len(values) >= 5 and values[0] == MOUSE:
            self._legacy_mouse(values)

    # --- reports ---------------------------------------------------------------------------

    def _keyboard(self, report: bytes) -> None:
        self.keyboard = report
        self.hid.send_keyboard(report)

    def _mouse(self, report: bytes) -> None:
        if reports.held(report) and reports.held(self.touchpad):
            self._touchpad(reports.touchpad_release(self.touchpad))
        self.mouse = report
        self.hid.send_mouse(report)

    def _touchpad(self, report: bytes) -> None:
        if reports.held(report) and reports.held(self.mouse):
            self._mouse(reports.MOUSE_RELEASE)
        self.touchpad = report
        self.hid.send_touchpad(report)

    def _legacy_keyboard(self, values: list[int]) -> None:
        code, modifiers = values[1], values[2] | values[3] | values[4] | values[5]
        self._keyboard(reports.keyboard(modifiers, [code]) if code else reports.KEYBOARD_RELEASE)

    def _legacy_mouse(self, values: list[int]) -> None:
        op, button, x, y = values[1], values[2], values[3], values[4]
        if op == _RELATIVE:
            self._mouse(reports.mouse(button, x, y))
            return
        if op == _DOWN:
            self._buttons |= button
        elif op == _UP:
            self._buttons &= ~button
        elif op == _ABSOLUTE:
            self._x, self._y = x, y
        wheel = (-1 if y > 0 else 1) if op == _SCROLL else 0
        self._touchpad(reports.touchpad(self._buttons, self._x, self._y, wheel))

    def release(self) -> None:
        """Let go of everything this connection holds."""
        if reports.held(self.keyboard):
            self._keyboard(reports.KEYBOARD_RELEASE)
        if reports.held(self.mouse):
            self._mouse(reports.MOUSE_RELEASE)
        if reports.held(self.touchpad):
            self._touchpad(reports.touchpad_release(self.touchpad))
        self._buttons = 0
