"""HDMI capture from a V4L2 device through OpenCV (``CAP_V4L2``).

When the device delivers MJPEG the frames pass through untouched (no decode, no re-encode);
otherwise OpenCV's frames are encoded at the requested quality. A read that fails (no signal, the
device gone, a resolution change mid-frame) raises NoSignal; the capture loop shows a "No signal"
picture and reopens the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.board.video import Captured, NoSignal
from app.board.video import jpeg as jpg

READ_TIMEOUT_MS = 1000


def _fourcc(value: float) -> str:
    code = int(value)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))


class V4l2Source:
    def __init__(self, device: Path, pixel_format: str, width: int = 0, height: int = 0) -> None:
        cv2 = jpg.cv()
        self.device = device
        self._capture: Any = cv2.VideoCapture(str(device), cv2.CAP_V4L2)
        if not self._capture.isOpened():
            raise NoSignal(-1, f"cannot open {device}")
        if hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC"):
            self._capture.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS)
        if width and height:
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

    def read(self, width: int, height: int, quality: int) -> Captured:
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
        return Captured(jpg.encode(image, quality), image.shape[1], image.shape[0])

    def close(self) -> None:
        self._capture.release()
