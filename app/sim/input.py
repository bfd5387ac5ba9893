"""The sim host's USB port: it reads the HID reports the KVM writes, as a PC's USB stack would.

While the PC is powered it polls the three gadget FIFOs: keyboard reports are decoded with the
host's own keyboard layout into typed text (Caps Lock toggles and is answered with the LED output
report, as a real keyboard driver does), mouse and touchpad reports move its pointer. While it is
off nobody reads, so the KVM's writes fail fast, as with a real host that is off.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from app.board.hid import HidPaths
from app.services.hid.keymap import KeyboardDecoder, Keymap
from app.services.media.hostview import HostUsbView
from app.sim.host import PowerState, SimHost

ABS_MAX = 32767
TEXT_LIMIT = 4000  # characters the console keeps


class SimInput:
    def __init__(
        self,
        host: SimHost,
        paths: HidPaths,
        layout: str = "us",
        usb_view: Callable[[], HostUsbView] | None = None,
    ) -> None:
        self.host = host
        self.paths = paths
        self._usb_view = usb_view
        self._usb_cache: tuple[float, HostUsbView | None] = (0.0, None)
        self.decoder = KeyboardDecoder(Keymap.load(layout))
        self.layout = layout
        self.text = ""
        self.pointer = (ABS_MAX // 2, ABS_MAX // 2)
        self.buttons = 0
        self.clicks = 0
        self.wheel = 0  # wheel steps turned, up positive
        self.reports = 0
        self.keyboard = bytes(8)  # the last keyboard report: what the host believes is held
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-usb", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def set_layout(self, layout: str) -> None:
        with self._lock:
            self.decoder = KeyboardDecoder(Keymap.load(layout))
            self.layout = layout

    def clear(self) -> None:
        with self._lock:
            self.text = ""

    def usb(self) -> HostUsbView | None:
        """What the PC sees plugged into its USB port (disk, network), re-read at most once a second."""
        if self._usb_view is None or self.host.state is PowerState.OFF:
            return None
        at, view = self._usb_cache
        if time.monotonic() - at > 1.0:
            view = self._usb_view()
            self._usb_cache = (time.monotonic(), view)
        return view

    def usb_lines(self) -> tuple[str, ...]:
        view = self.usb()
        if view is None or not view.bound:
            return ()
        lines = []
        if view.disk:
            kind = "USB CD-ROM" if view.disk == "cdrom" else "USB disk"
            shown = view.label if view.label is not None else (view.medium.rsplit("/", 1)[-1] or "no medium")
            lines.append(f"{kind}: {shown or 'no label'}")
        if view.network:
            lines.append(f"USB network ({view.network.upper()}): connected")
        return tuple(lines)

    def state(self) -> dict[str, object]:
        usb = self.usb()
        with self._lock:
            return {
                "power": self.host.state.value,
                "text": self.text,
                "layout": self.layout,
                "pointer": {"x": self.pointer[0], "y": self.pointer[1]},
                "buttons": self.buttons,
                "clicks": self.clicks,
                "wheel": self.wheel,
                "reports": self.reports,
                "keysHeld": any(self.keyboard),
                "leds": self.decoder.led_report(),
                "usb": msgspec.to_builtins(usb) if usb is not None else None,
            }

    # --- USB polling -----------------------------------------------------------------------

    def _polling(self) -> bool:
        return self.host.state is not PowerState.OFF

    def _nodes(self) -> dict[str, tuple[Path, int]]:
        return {
            "keyboard": (self.paths.keyboard, 8),
            "mouse": (self.paths.mouse, 4),
            "touchpad": (self.paths.touchpad, 6),
        }

    def _open(self, only: str | None = None) -> dict[int, tuple[str, int]]:
        fds: dict[int, tuple[str, int]] = {}
        for name, (path, size) in self._nodes().items():
            if only in (None, name):
                with contextlib.suppress(OSError):
                    fds[os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)] = (name, size)
        return fds

    def _run(self) -> None:
        fds: dict[int, tuple[str, int]] = {}
        pending: dict[int, bytes] = {}
        while not self._stop.is_set():
            if not self._polling():
                for fd in fds:
                    os.close(fd)
                fds, pending = {}, {}
                self._stop.wait(0.05)
                continue
            if not fds:
                fds = self._open()
                self._answer_leds()  # a booting PC sets its keyboard's LEDs
            ready, _, _ = select.select(list(fds), [], [], 0.05)
            for fd in ready:
                name, size = fds[fd]
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                if not chunk:  # the app closed the node (gadget unbind): open it afresh, or select spins
                    os.close(fd)
                    pending.pop(fd, None)
                    fds.update(self._open(only=fds.pop(fd)[0]))
                    continue
                data = pending.pop(fd, b"") + chunk
                whole = len(data) - len(data) % size
                pending[fd] = data[whole:]
                for start in range(0, whole, size):
                    self._report(name, data[start : start + size])
        for fd in fds:
            os.close(fd)

    def _report(self, name: str, report: bytes) -> None:
        with self._lock:
            self.reports += 1
            if name == "keyboard":
                self.keyboard = report
                leds = self.decoder.led_report()
                self._type(self.decoder.feed(report))
                if self.decoder.led_report() != leds:
                    self._answer_leds()
            elif name == "mouse":
                buttons, dx, dy, wheel = struct.unpack("<Bbbb", report)
                self.wheel += wheel
                x, y = self.pointer
                scale = 64  # one relative count moves about 1/500 of the screen
                self.pointer = (
                    max(0, min(ABS_MAX, x + dx * scale)),
                    max(0, min(ABS_MAX, y + dy * scale)),
                )
                self._buttons(buttons)
            else:
                buttons, x, y, wheel = struct.unpack("<BHHb", report)
                self.wheel += wheel
                self.pointer = (min(x, ABS_MAX), min(y, ABS_MAX))
                self._buttons(buttons)

    def _buttons(self, buttons: int) -> None:
        self.clicks += bin(buttons & ~self.buttons).count("1")
        self.buttons = buttons

    def _type(self, chars: str) -> None:
        for char in chars:
            if char == "\b":
                self.text = self.text[:-1]
            else:
                self.text += char
        if len(self.text) > TEXT_LIMIT:
            self.text = self.text[-TEXT_LIMIT:]

    def _answer_leds(self) -> None:
        try:
            fd = os.open(self.paths.keyboard_out, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return
        try:
            with contextlib.suppress(OSError):
                os.write(fd, bytes([self.decoder.led_report()]))
        finally:
            os.close(fd)
