"""HID: the three gadget writers, keyboard LEDs, releases that never let a key stick, HID reset."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import msgspec

from app.board.hid import HidPaths, HidWriter, LedReader
from app.services.events import EventBus
from app.services.hid import reports
from app.timefmt import GO_ZERO_TIME, rfc3339_nano


class LedState(msgspec.Struct, rename="camel"):
    num_lock: bool
    caps_lock: bool
    scroll_lock: bool
    known: bool
    updated_at: str


class HidService:
    def __init__(self, paths: HidPaths, bus: EventBus) -> None:
        self.paths = paths
        self.bus = bus
        self.keyboard = HidWriter(paths.keyboard)
        self.mouse = HidWriter(paths.mouse)
        self.touchpad = HidWriter(paths.touchpad)
        self._led_reader = LedReader(paths.keyboard_out, self._on_leds)
        self._lock = threading.Lock()
        self._leds: int | None = None
        self._leds_at: int | None = None
        self.last_input = time.monotonic()  # the mouse jiggler waits for 15 s without input
        self.manual_listeners: list[Callable[[], None]] = []

    @property
    def writers(self) -> tuple[HidWriter, HidWriter, HidWriter]:
        return self.keyboard, self.mouse, self.touchpad

    def start(self) -> None:
        for writer in self.writers:
            writer.start()
        self._led_reader.start()

    def stop(self) -> None:
        self._led_reader.stop()
        for writer in self.writers:
            writer.stop()

    # --- input -----------------------------------------------------------------------------

    def note_manual(self) -> None:
        """A person's input (not the MCP server's): listeners (the AI input arbiter) hear of it."""
        for listener in self.manual_listeners:
            listener()

    def send_keyboard(self, report: bytes, manual: bool = True) -> None:
        self.last_input = time.monotonic()
        if manual:
            self.note_manual()
        self.keyboard.submit(report, critical=not reports.held(report))

    def send_mouse(self, report: bytes, manual: bool = True) -> None:
        self.last_input = time.monotonic()
        if manual:
            self.note_manual()
        self.mouse.submit(report, critical=not reports.held(report))

    def send_touchpad(self, report: bytes, manual: bool = True) -> None:
        self.last_input = time.monotonic()
        if manual:
            self.note_manual()
        self.touchpad.submit(report, critical=not reports.held(report))

    def reset(self) -> None:
        """Close every node; the next report reopens it (``POST /api/hid/reset``)."""
        for writer in self.writers:
            writer.reopen()
        self._led_reader.reopen()

    @contextlib.contextmanager
    def detached(self) -> Iterator[None]:
        """Every node closed while the gadget is unbound or rebuilt, opened again after.

        Closing before the unbind matters: Linux's f_hid breaks on a node closed after a rebind."""
        for writer in self.writers:
            writer.hold()
        self._led_reader.hold()
        try:
            yield
        finally:
            for writer in self.writers:
                writer.release()
            self._led_reader.release()

    # --- keyboard LEDs ---------------------------------------------------------------------

    def _on_leds(self, value: int) -> None:
        with self._lock:
            changed = value != self._leds
            self._leds, self._leds_at = value, time.time_ns()
        if changed:
            self.bus.publish("hid-led-status", self.led_event())

    def leds(self) -> LedState:
        """As ``GET /api/hid/leds``: updatedAt is RFC3339Nano UTC, or "" before the host said anything."""
        with self._lock:
            value, at = self._leds, self._leds_at
        updated = rfc3339_nano(at) if at is not None else ""
        bits = value or 0
        return LedState(bool(bits & 1), bool(bits & 2), bool(bits & 4), value is not None, updated)

    def led_event(self) -> dict[str, object]:
        """As the ``hid-led-status`` WebSocket message: a Go time, zero before the first report."""
        state = self.leds()
        return {
            "numLock": state.num_lock,
            "capsLock": state.caps_lock,
            "scrollLock": state.scroll_lock,
            "known": state.known,
            "updatedAt": state.updated_at or GO_ZERO_TIME,
        }
