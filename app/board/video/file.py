"""A looped file as the video source, for demos and benchmarks.

An MJPEG file (concatenated JPEGs, as ``ffmpeg -f mjpeg`` writes) is split once and its frames are
passed through without decoding, like a capture device that delivers MJPEG. Other video files are
decoded with OpenCV and encoded at the requested quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.board.video import Captured, NoSignal
from app.board.video import jpeg as jpg

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(image: bytes) -> tuple[int, int] | None:
    """Width and height from the JPEG's start-of-frame header, without decoding the picture."""
    at = 2
    while at + 9 <= len(image) and image[at] == 0xFF:
        marker, length = image[at + 1], int.from_bytes(image[at + 2 : at + 4], "big")
        if marker in _SOF:
            return int.from_bytes(image[at + 7 : at + 9], "big"), int.from_bytes(image[at + 5 : at + 7], "big")
        at += 2 + length
    return None


def split_mjpeg(data: bytes) -> list[bytes]:
    """The JPEG images in an MJPEG byte stream (SOI ... EOI)."""
    frames = []
    start = data.find(_SOI)
    while start != -1:
        end = data.find(_EOI, start + 2)
        if end == -1:
            break
        frames.append(data[start : end + 2])
        start = data.find(_SOI, end + 2)
    return frames


class FileSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._frames: list[Captured] = []
        self._capture: Any = None
        self._index = 0
        if path.suffix.lower() in (".mjpeg", ".mjpg"):
            try:
                images = split_mjpeg(path.read_bytes())
            except OSError as err:
                raise NoSignal(-1, f"cannot read {path}: {err.strerror}") from None
            for image in images:
                size = jpeg_size(image)
                if size is not None:
                    self._frames.append(Captured(image, *size))
            if not self._frames:
                raise NoSignal(-1, f"no JPEG frames in {path}")

    def read(self, width: int, height: int, quality: int) -> Captured:
        if self._frames:
            frame = self._frames[self._index % len(self._frames)]
            self._index += 1
            if (width and width != frame.width) or (height and height != frame.height):
                image = jpg.fit(jpg.decode(frame.jpeg), width, height)
                return Captured(jpg.encode(image, quality), width, height)
            return frame
        return self._read_video(width, height, quality)

    def _read_video(self, width: int, height: int, quality: int) -> Captured:
        cv2 = jpg.cv()
        if self._capture is None:
            self._capture = cv2.VideoCapture(str(self.path))
        ok, image = self._capture.read()
        if not ok:  # end of file: loop
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
            if not ok:
                raise NoSignal(-1, f"cannot decode {self.path}")
        image = jpg.fit(image, width, height)
        return Captured(jpg.encode(image, quality), image.shape[1], image.shape[0])

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
