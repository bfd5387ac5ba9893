"""NanoKVM's vendor capture library, ``libkvm.so``, loaded with ctypes (spec 6.1).

The library reads the HDMI input and encodes it in the SoC's hardware, both MJPEG and H.264:

    int kvmv_read_img(uint16_t width, uint16_t height, uint8_t type, uint16_t quality_or_kbps,
                      uint8_t **data, uint32_t *size);   /* then free_kvmv_data(&data) */

type 0 = MJPEG (quality 50-100), 1 = H.264 (kbps 500-10000); width x height 0 x 0 = the input's
size. Results: 0 MJPEG frame, 3 H.264 I frame, 4 H.264 P frame, 5 image unchanged, 1/2 a lone
SPS/PPS (deprecated: kept and put in front of the next frame), negative = the capture-status
codes of spec 5.1 (-1 no image, -2 encoder error, -3 buffer full, -4 resolution changing,
-5 retrieving, -6 unsupported resolution, -7 input resolution error).

Reads may run from two threads at once (the MJPEG capture loop and the H.264 pipeline), as
NanoKVM's own server does; only unloading waits for them.

Key frames on demand: the library has no "next frame is an IDR" call; ``set_h264_gop(1)`` makes
the next frame a key frame and the configured GOP is put back once it came (inferred from spec 6.5,
"GOP applied directly to the encoder"; not verified on a device).
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Any

from app.board.video import Captured, NoSignal
from app.board.video.file import jpeg_size
from app.board.video.h264 import AccessUnit, EncoderSettings

MJPEG, H264 = 0, 1
RESULT_MJPEG, RESULT_SPS, RESULT_PPS, RESULT_I, RESULT_P, RESULT_UNCHANGED = 0, 1, 2, 3, 4, 5

MESSAGES = {
    -1: "No image captured",
    -2: "Encoder error",
    -3: "Image buffer full",
    -4: "Changing image resolution",
    -5: "Retrieving image",
    -6: "Unsupported HDMI resolution",
    -7: "HDMI input resolution error",
}
MJPEG_QUALITY = (50, 100)
H264_KBPS = (500, 10000)

_U8P = ctypes.POINTER(ctypes.c_uint8)


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


class LibKvm:
    """The loaded library; one per path and process (``load``)."""

    _loaded: dict[Path, LibKvm] = {}
    _loading = threading.Lock()

    def __init__(self, path: Path) -> None:
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as err:
            raise NoSignal(-1, f"cannot load {path}: {err}") from None
        self.path = path
        self._lib = lib
        self._declare(lib)
        self._readers = 0
        self._idle = threading.Condition()
        self._closed = False
        lib.kvmv_init(0)
        lib.set_frame_detact(0)  # the capture loop does frame detect itself

    @classmethod
    def load(cls, path: Path) -> LibKvm:
        with cls._loading:
            loaded = cls._loaded.get(path)
            if loaded is None or loaded._closed:
                loaded = cls._loaded[path] = cls(path)
            return loaded

    @staticmethod
    def _declare(lib: Any) -> None:
        lib.kvmv_init.argtypes, lib.kvmv_init.restype = [ctypes.c_uint8], None
        lib.kvmv_read_img.argtypes = [
            ctypes.c_uint16,
            ctypes.c_uint16,
            ctypes.c_uint8,
            ctypes.c_uint16,
            ctypes.POINTER(_U8P),
            ctypes.POINTER(ctypes.c_uint32),
        ]
        lib.kvmv_read_img.restype = ctypes.c_int
        lib.free_kvmv_data.argtypes, lib.free_kvmv_data.restype = [ctypes.POINTER(_U8P)], ctypes.c_int
        lib.set_h264_gop.argtypes, lib.set_h264_gop.restype = [ctypes.c_uint8], None
        lib.set_frame_detact.argtypes, lib.set_frame_detact.restype = [ctypes.c_uint8], None
        lib.kvmv_hdmi_control.argtypes, lib.kvmv_hdmi_control.restype = [ctypes.c_uint8], ctypes.c_uint8
        lib.kvmv_hdmi_signal_active.argtypes, lib.kvmv_hdmi_signal_active.restype = [], ctypes.c_uint8
        lib.kvmv_deinit.argtypes, lib.kvmv_deinit.restype = [], None

    def read(self, width: int, height: int, kind: int, quality: int) -> tuple[int, bytes]:
        """(result, data): data is empty unless the result is a frame (0..4). Blocking, in the caller's thread."""
        with self._idle:
            if self._closed:
                return -1, b""
            self._readers += 1
        data, size = _U8P(), ctypes.c_uint32(0)
        try:
            result = int(self._lib.kvmv_read_img(width, height, kind, quality, ctypes.byref(data), ctypes.byref(size)))
            if result < 0 or not data:
                return result, b""
            try:
                return result, ctypes.string_at(data, size.value)
            finally:
                self._lib.free_kvmv_data(ctypes.byref(data))
        finally:
            with self._idle:
                self._readers -= 1
                self._idle.notify_all()

    def set_gop(self, gop: int) -> None:
        self._lib.set_h264_gop(max(1, min(255, gop)))

    def hdmi_signal(self) -> bool:
        return bool(self._lib.kvmv_hdmi_signal_active())

    def close(self) -> None:
        """Unload once no read is running (at shutdown)."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._readers == 0, timeout=5)
            self._lib.kvmv_deinit()


def no_signal(result: int) -> NoSignal:
    return NoSignal(result, MESSAGES.get(result, "Capture failed"))


class LibKvmSource:
    """The MJPEG side: a FrameSource for the capture loop. "Unchanged" hands out the previous
    frame again (the very same object, so frame detect sees it as unchanged)."""

    def __init__(self, path: Path) -> None:
        self.lib = LibKvm.load(path)
        self._last: Captured | None = None

    def read(self, width: int, height: int, quality: int) -> Captured:
        result, data = self.lib.read(width, height, MJPEG, _clamp(quality, MJPEG_QUALITY))
        if result == RESULT_UNCHANGED and self._last is not None:
            return self._last
        if result < 0:
            raise no_signal(result)
        if result != RESULT_MJPEG or not data:
            raise NoSignal(-1, f"libkvm: unexpected result {result} for an MJPEG read")
        size = jpeg_size(data)
        if size is None:
            raise NoSignal(-2, "libkvm: not a JPEG frame")
        self._last = Captured(data, *size)
        return self._last

    def close(self) -> None:
        self._last = None  # the library stays loaded: the H.264 side may be reading


class LibKvmH264:
    """The H.264 side: the library captures and encodes; the pipeline calls ``encode(None, ...)``
    at the capture loop's pace. "Unchanged" yields no access unit."""

    needs_pictures = False

    def __init__(self, lib: LibKvm, settings: EncoderSettings) -> None:
        self.lib = lib
        self.settings = settings
        self._headers = b""  # a lone SPS/PPS (results 1, 2), for the next frame
        self._forcing = False
        lib.set_gop(settings.gop)

    def encode(self, image: Any, timestamp: int, key: bool) -> list[AccessUnit]:
        if key and not self._forcing:
            self.lib.set_gop(1)
            self._forcing = True
        s = self.settings
        result, data = self.lib.read(s.width, s.height, H264, _clamp(s.bitrate_kbps, H264_KBPS))
        if result < 0:
            raise no_signal(result)
        if result in (RESULT_SPS, RESULT_PPS):
            self._headers += data
            return []
        if result not in (RESULT_I, RESULT_P) or not data:
            return []  # unchanged, or an MJPEG frame where none was asked for
        is_key = result == RESULT_I
        if is_key and self._forcing:
            self.lib.set_gop(s.gop)
            self._forcing = False
        data, self._headers = self._headers + data, b""
        return [AccessUnit(data, is_key, timestamp, s.width, s.height)]

    def close(self) -> None:
        if self._forcing:
            self.lib.set_gop(self.settings.gop)
            self._forcing = False
