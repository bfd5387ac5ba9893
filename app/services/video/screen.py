"""Screen settings (spec 6.5): ``POST /api/vm/screen {type, value}``; ours: ``GET`` reads them back.

In memory, as NanoKVM: width/height 0 (native), MJPEG quality 80, 30 fps, H.264 3000 kbps, GOP 30.
Each change is mirrored to ``/kvmapp/kvm/*`` where NanoKVM's OLED daemon reads it.
"""

from __future__ import annotations

import threading

import msgspec

from app.errors import Failed, InvalidArgument
from app.paths import DeviceRoot, atomic_write

RESOLUTIONS = {1080: 1920, 720: 1280, 600: 800, 480: 640, 0: 0}
MIN_FPS, MAX_FPS = 10, 60


class ScreenState(msgspec.Struct):
    """What the stream uses now. NanoKVM's page keeps its own copy in localStorage; ours asks."""

    type: str
    resolution: int  # the height asked for; 0 = the source's native size
    quality: int
    fps: int
    bitrate: int
    gop: int


class ScreenSettings:
    """Read by the capture thread, written by requests: small immutable-value fields under a lock."""

    def __init__(self, root: DeviceRoot) -> None:
        self._root = root
        self._lock = threading.Lock()
        self.width = 0
        self.height = 0
        self.quality = 80
        self.fps = 30
        self.bitrate = 3000
        self.gop = 30
        self.mode = "mjpeg"

    def snapshot(self) -> tuple[int, int, int, int]:
        with self._lock:
            return self.width, self.height, self.quality, self.fps

    def state(self) -> ScreenState:
        with self._lock:
            return ScreenState(self.mode, self.height, self.quality, self.fps, self.bitrate, self.gop)

    def _mirror(self, name: str, value: object) -> None:
        atomic_write(self._root(f"/kvmapp/kvm/{name}"), f"{value}".encode())

    def apply(self, kind: str, value: int) -> None:
        """Change one setting; InvalidArgument for values NanoKVM's page never sends."""
        with self._lock:
            if kind == "type":
                self.mode = "mjpeg" if value == 0 else "h264"
                self._mirror("type", self.mode)
            elif kind == "resolution":
                if value not in RESOLUTIONS:
                    raise InvalidArgument("invalid arguments: resolution must be 1080, 720, 600, 480 or 0 (native)")
                self.width, self.height = RESOLUTIONS[value], value
                self._mirror("res", value)
            elif kind == "quality":
                if value <= 0:
                    raise InvalidArgument("invalid arguments: quality must be 1..100 (MJPEG) or kbps > 100 (H.264)")
                if value <= 100:
                    self.quality = value
                else:
                    self.bitrate = value
                self._mirror("qlty", value)
            elif kind == "fps":
                self.fps = max(MIN_FPS, min(MAX_FPS, value))
                self._mirror("fps", self.fps)
            elif kind == "gop":
                self.gop = value if 1 <= value <= 100 else 30
            else:
                raise Failed("update screen failed", code=-2)
