"""``capture-status`` per stream mode (spec 5.1): published on ``/api/ws`` when a mode's (ok, result) changes.

Modes: ``mjpeg`` (the MJPEG stream), ``h264`` (WebRTC viewers), ``direct`` (the direct H.264 stream).
A mode appears once it has streamed since the start; thread-safe (capture and encoder threads report).
"""

from __future__ import annotations

import threading

from app.services.events import EventBus
from app.timefmt import rfc3339_nano

MESSAGES = {
    -1: "No image captured",
    -2: "Encoder error",
    -3: "Image buffer full",
    -4: "Changing image resolution",
    -5: "Retrieving image",
    -6: "Unsupported HDMI resolution",
    -7: "HDMI input resolution error",
}


class CaptureStatus:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._lock = threading.Lock()
        self._last: dict[str, tuple[bool, int]] = {}

    def report(self, mode: str, result: int) -> None:
        ok = result >= 0
        with self._lock:
            if self._last.get(mode) == (ok, result):
                return
            self._last[mode] = (ok, result)
        message = "" if ok else MESSAGES.get(result, "Capture failed")
        severity = "" if ok else ("warning" if result in (-4, -5) else "error")
        self._bus.publish(
            "capture-status",
            {
                "ok": ok,
                "result": result,
                "message": message,
                "mode": mode,
                "severity": severity,
                "updatedAt": rfc3339_nano(),
            },
            key=f"capture-status:{mode}",
        )
