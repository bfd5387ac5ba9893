"""HDMI capture from a V4L2 device through OpenCV (``CAP_V4L2``).

Size: on a receiver with DV timings (an HDMI-to-CSI bridge; vivid's HDMI input) the capture opens
at the timings the receiver detects (``VIDIOC_QUERY_DV_TIMINGS``), set with ``S_DV_TIMINGS`` first
when the driver's current ones differ. Only a device without DV timings (a USB grabber) is asked
for the configured width x height. Scaling to the screen setting's size happens per frame.

Signal: a receiver may keep delivering frames without a signal (vivid: noise), so the timings are
queried again on a second descriptor of the same node (only ioctls, no buffers) whenever the driver
queues a source-change event and at least every SIGNAL_CHECK_SECONDS: no signal raises
NoSignal(-1), out-of-range timings NoSignal(-6), other timings than the capture was opened with
NoSignal(-4). The capture loop then shows "No signal", closes this source and opens a new one.

Format: when the device delivers MJPEG the frames pass through untouched (no decode, no re-encode);
otherwise (vivid has no MJPEG) OpenCV's frames are encoded at the requested quality.

Timeout: OpenCV's V4L2 backend waits 10 s for a frame that does not come and ignores
``CAP_PROP_READ_TIMEOUT_MSEC``; it reads ``OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT`` (seconds) once, at
the process's first ``import cv2``, which ``jpeg.cv()`` sets beforehand.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.board.video import Captured, NoSignal
from app.board.video import jpeg as jpg

log = logging.getLogger(__name__)

SIGNAL_CHECK_SECONDS = 0.5


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("V") << 8) | nr


_READ, _WRITE = 2, 1
DV_TIMINGS_SIZE = 132  # struct v4l2_dv_timings (packed): u32 type + 128-byte union
EVENT_SIZE = 136  # struct v4l2_event on 64-bit
VIDIOC_G_INPUT = _ioc(_READ, 38, 4)
VIDIOC_S_DV_TIMINGS = _ioc(_READ | _WRITE, 87, DV_TIMINGS_SIZE)
VIDIOC_G_DV_TIMINGS = _ioc(_READ | _WRITE, 88, DV_TIMINGS_SIZE)
VIDIOC_DQEVENT = _ioc(_READ, 89, EVENT_SIZE)
VIDIOC_SUBSCRIBE_EVENT = _ioc(_WRITE, 90, 32)
VIDIOC_QUERY_DV_TIMINGS = _ioc(_READ, 99, DV_TIMINGS_SIZE)
V4L2_EVENT_SOURCE_CHANGE = 5

# QUERY_DV_TIMINGS errors that mean "the receiver sees no usable signal" -> capture-status code.
NO_SIGNAL_ERRNOS = {errno.ENOLINK: -1, errno.ENOLCK: -1, errno.ERANGE: -6}


@dataclass(frozen=True, slots=True)
class DvTimings:
    width: int
    height: int
    interlaced: bool
    raw: bytes  # the whole struct, to hand back to S_DV_TIMINGS

    @classmethod
    def parse(cls, raw: bytes) -> DvTimings:
        width, height, interlaced = struct.unpack_from("<III", raw, 4)
        return cls(width, height, bool(interlaced), bytes(raw))

    def same_picture(self, other: DvTimings) -> bool:
        return (self.width, self.height, self.interlaced) == (other.width, other.height, other.interlaced)


def _ioctl(fd: int, request: int, data: bytes) -> bytes:
    buf = bytearray(data)
    fcntl.ioctl(fd, request, buf)
    return bytes(buf)


def query_dv_timings(fd: int) -> DvTimings | None:
    """What the receiver detects; None when the device or input has no DV timings (a USB grabber);
    NoSignal when it sees no signal, cannot lock, or the signal is out of range."""
    try:
        return DvTimings.parse(_ioctl(fd, VIDIOC_QUERY_DV_TIMINGS, bytes(DV_TIMINGS_SIZE)))
    except OSError as err:
        if err.errno in NO_SIGNAL_ERRNOS:
            raise NoSignal(NO_SIGNAL_ERRNOS[err.errno], f"no HDMI signal ({errno.errorcode[err.errno]})") from None
        return None  # ENOTTY, ENODATA, EINVAL: not a DV-timings input


def _fourcc(value: float) -> str:
    code = int(value)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))


class V4l2Source:
    def __init__(self, device: Path, pixel_format: str, width: int = 0, height: int = 0) -> None:
        self.device = device
        self._capture: Any = None
        try:
            self._fd = os.open(device, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            raise NoSignal(-1, f"cannot open {device}: {err.strerror}") from None
        try:
            self.timings = self._prepare_timings()
            if self.timings is not None:
                width, height = self.timings.width, self.timings.height
            self._open_capture(pixel_format, width, height)
        except BaseException:
            self.close()
            raise
        self._next_check = time.monotonic() + SIGNAL_CHECK_SECONDS

    def _prepare_timings(self) -> DvTimings | None:
        """The detected DV timings, made the driver's current ones; None without DV timings."""
        timings = query_dv_timings(self._fd)
        if timings is None:
            return None
        try:
            current = DvTimings.parse(_ioctl(self._fd, VIDIOC_G_DV_TIMINGS, bytes(DV_TIMINGS_SIZE)))
            if not current.same_picture(timings):
                _ioctl(self._fd, VIDIOC_S_DV_TIMINGS, timings.raw)
        except OSError as err:  # EBUSY: another process streams; EINVAL: timings the driver cannot take
            code = -6 if err.errno == errno.EINVAL else -4
            raise NoSignal(code, f"cannot set DV timings {timings.width}x{timings.height}: {err.strerror}") from None
        try:  # source-change events tell of a new signal at once; the periodic query is the fallback
            (index,) = struct.unpack("<i", _ioctl(self._fd, VIDIOC_G_INPUT, bytes(4)))
            _ioctl(self._fd, VIDIOC_SUBSCRIBE_EVENT, struct.pack("<III20x", V4L2_EVENT_SOURCE_CHANGE, index, 0))
        except OSError:
            pass
        return timings

    def _open_capture(self, pixel_format: str, width: int, height: int) -> None:
        cv2 = jpg.cv()
        self._capture = cv2.VideoCapture(str(self.device), cv2.CAP_V4L2)
        if not self._capture.isOpened():
            raise NoSignal(-1, f"cannot open {self.device}")
        if width and height:  # without a size OpenCV asks for 640x480, and a scaling driver gives it
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if pixel_format in ("auto", "mjpeg"):
            self._capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        elif pixel_format == "yuyv":
            self._capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"YUYV"))
        self.passthrough = _fourcc(self._capture.get(cv2.CAP_PROP_FOURCC)) == "MJPG"
        if self.passthrough:
            # Hand out the device's own JPEG bytes instead of decoded pixels.
            self._capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        self.native = (
            int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )

    def _source_changed(self) -> bool:
        """Dequeue pending events (non-blocking: ENOENT when there are none); True if there were any."""
        changed = False
        while True:
            try:
                _ioctl(self._fd, VIDIOC_DQEVENT, bytes(EVENT_SIZE))
            except OSError:
                return changed
            changed = True

    def check_signal(self) -> None:
        """NoSignal if the receiver lost the signal or now sees other timings than the capture has."""
        if self.timings is None:
            return  # no DV timings: a frame that does not come (the select timeout) is the only sign
        now = time.monotonic()
        if not self._source_changed() and now < self._next_check:
            return
        self._next_check = now + SIGNAL_CHECK_SECONDS
        timings = query_dv_timings(self._fd)
        if timings is None or not timings.same_picture(self.timings):
            raise NoSignal(-4, "Changing image resolution")

    def read(self, width: int, height: int, quality: int) -> Captured:
        self.check_signal()
        ok, image = self._capture.read()
        if not ok or image is None or image.size == 0:
            raise NoSignal(-1, "No image captured")
        if self.passthrough:
            data = image.tobytes()
            native_w, native_h = self.native
            if (width and width != native_w) or (height and height != native_h):
                scaled = jpg.fit(jpg.decode(data), width, height)
                return Captured(jpg.encode(scaled, quality), width, height)
            return Captured(data, native_w, native_h)
        image = jpg.fit(image, width, height)
        # The picture too: the H.264 encoder then need not decode the JPEG just made from it.
        return Captured(jpg.encode(image, quality), image.shape[1], image.shape[0], image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
