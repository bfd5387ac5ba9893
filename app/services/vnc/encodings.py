"""Framebuffer rectangles: Tight JPEG passed through, and Raw and ZRLE for clients without it.

Tight's JPEG rectangle is the capture loop's JPEG with a two-to-four-byte header: the bytes the
MJPEG viewers get are sent as they are (a view into the same object, never decoded or re-encoded).
Raw and ZRLE (``zrle``) need pixels, so the JPEG is decoded once per frame for every client that
needs it (``Decoded``), and each such client is sent only the part that changed since its last update.
NumPy and OpenCV are imported on first use, as the video sources do.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from app.board.video import jpeg as jpg
from app.services.video.capture import Frame
from app.services.video.stats import JPEG_DECODE, TIGHT_JPEG, PipelineStats
from app.services.vnc import wire
from app.services.vnc.wire import PixelFormat

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]
else:
    Image = Any


def tight_head(width: int, height: int, jpeg_size: int) -> bytes:
    """A whole-screen Tight JPEG rectangle's header; the JPEG itself follows it (not copied)."""
    return wire.rect(0, 0, width, height, wire.ENC_TIGHT) + bytes([wire.TIGHT_JPEG]) + wire.compact_length(jpeg_size)


class Passthrough:
    """The newest frame as a Tight JPEG rectangle, built once for every client.

    (update header + rectangle header, rectangle header, the JPEG): the JPEG is a view into the
    capture loop's multipart part, the very bytes MJPEG viewers are sent."""

    def __init__(self, stats: PipelineStats | None = None) -> None:
        self._frame: Frame | None = None
        self._value: tuple[bytes, bytes, memoryview] = (b"", b"", memoryview(b""))
        self._stats = stats

    def get(self, frame: Frame) -> tuple[bytes, bytes, memoryview]:
        if frame is not self._frame:
            began = time.perf_counter()
            end = len(frame.part) - 2  # the part is headers, the JPEG, CRLF
            jpeg = memoryview(frame.part)[end - frame.jpeg_size : end]
            head = tight_head(frame.width, frame.height, frame.jpeg_size)
            self._frame, self._value = frame, (wire.update_header(1) + head, head, jpeg)
            if self._stats is not None:  # once per frame, for every Tight client
                self._stats.stage(TIGHT_JPEG, time.perf_counter() - began, frame.width * frame.height)
        return self._value


def decode(jpeg: bytes | memoryview, width: int, height: int) -> Image:
    """The frame as BGR pixels at the client's framebuffer size (blocking: run it in a thread)."""
    image: Image = jpg.decode(bytes(jpeg))
    if image is None:
        raise ValueError("undecodable JPEG frame")
    return jpg.fit(image, width, height)  # type: ignore[no-any-return]


def _timed_decode(jpeg: bytes | memoryview, width: int, height: int) -> tuple[Image, float]:
    began = time.perf_counter()
    image = decode(jpeg, width, height)
    return image, time.perf_counter() - began


class Decoded:
    """The newest frame's pixels, decoded once for every Raw/ZRLE client at the same size."""

    def __init__(self, stats: PipelineStats | None = None) -> None:
        self._key: tuple[int, int, int] | None = None
        self._image: Image | None = None
        self._lock = asyncio.Lock()
        self._stats = stats

    async def get(self, seq: int, jpeg: memoryview, width: int, height: int) -> Image:
        async with self._lock:
            if self._key != (seq, width, height) or self._image is None:
                image, seconds = await asyncio.to_thread(_timed_decode, jpeg, width, height)
                self._image, self._key = image, (seq, width, height)
                if self._stats is not None:
                    self._stats.stage(JPEG_DECODE, seconds, width * height)
                return image
            return self._image


def changed_box(before: Image | None, after: Image) -> tuple[int, int, int, int] | None:
    """The bounding box (x, y, w, h) of what differs between two frames; None if nothing does."""
    import numpy as np

    if before is None or before.shape != after.shape:
        return 0, 0, after.shape[1], after.shape[0]
    diff = np.any(before != after, axis=2)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return x0, y0, x1 - x0, y1 - y0


def pixels(image: Image, fmt: PixelFormat) -> Image:
    """BGR pixels in the client's pixel format: an (h, w, bytes-per-pixel) uint8 array."""
    import numpy as np

    b = image[..., 0].astype(np.uint32)
    g = image[..., 1].astype(np.uint32)
    r = image[..., 2].astype(np.uint32)
    value = (
        ((r * fmt.red_max + 127) // 255) << fmt.red_shift
        | ((g * fmt.green_max + 127) // 255) << fmt.green_shift
        | ((b * fmt.blue_max + 127) // 255) << fmt.blue_shift
    )
    size = fmt.bytes_per_pixel
    order = ">" if fmt.big_endian else "<"
    packed = value.astype(f"{order}u{size}") if size > 1 else value.astype(np.uint8)
    return packed.view(np.uint8).reshape(image.shape[0], image.shape[1], size)


def raw(image: Image, box: tuple[int, int, int, int], fmt: PixelFormat) -> list[bytes | memoryview]:
    x, y, w, h = box
    data = pixels(image[y : y + h, x : x + w], fmt)
    return [wire.rect(x, y, w, h, wire.ENC_RAW), data.tobytes()]
