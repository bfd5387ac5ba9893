"""The AI control mode (``/etc/kvm/ai-control.mode``: ``off``, ``mcp`` or ``picoclaw``).

NanoKVM defaults to ``picoclaw`` when the file is absent; PicoClaw cannot run on this firmware, so an
absent file means ``off`` here and switching to ``picoclaw`` is refused with the reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal, get_args

import msgspec

from app.paths import DeviceRoot, atomic_write, read_text
from app.timefmt import rfc3339_nano

FILE = "/etc/kvm/ai-control.mode"
Mode = Literal["off", "mcp", "picoclaw"]
MODES: tuple[str, ...] = get_args(Mode)
PICOCLAW_UNSUPPORTED = "PicoClaw cannot be installed on this firmware"


class ControlError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class ControlStatus(msgspec.Struct, omit_defaults=True):
    mode: str
    transitioning: bool
    last_error: str = ""
    changed_at: str = ""


class ControlMode:
    def __init__(self, root: DeviceRoot) -> None:
        self.path = root(FILE)
        self._lock = threading.Lock()
        self._last_error = ""
        self._listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """``listener(new_mode)`` after every change (MCP requests in flight end when it leaves ``mcp``)."""
        self._listeners.append(listener)

    def mode(self) -> str:
        mode = read_text(self.path, "off")
        return mode if mode in MODES else "off"

    def status(self) -> ControlStatus:
        try:
            changed = rfc3339_nano(self.path.stat().st_mtime_ns)
        except OSError:
            changed = ""
        return ControlStatus(self.mode(), False, self._last_error, changed or rfc3339_nano(time.time_ns()))

    def set(self, mode: str) -> ControlStatus:
        if mode not in MODES:
            raise ControlError(-1, "invalid control mode")
        if mode == "picoclaw":
            raise ControlError(-2, PICOCLAW_UNSUPPORTED)
        with self._lock:
            if mode != self.mode():
                try:
                    atomic_write(self.path, f"{mode}\n".encode(), 0o600)
                except OSError as err:
                    self._last_error = f"save AI control mode: {err}"
                    raise ControlError(-2, self._last_error) from None
                self._last_error = ""
                for listener in self._listeners:
                    listener(mode)
        return self.status()
