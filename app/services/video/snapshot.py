"""One JPEG of the screen from the shared capture loop (kvmd's snapshot), and scaled previews of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.board.video import jpeg as jpg
from app.services.video.capture import Capture, Frame

WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    width: int
    height: int
    online: bool  # the source had a signal (not the "No signal" picture)
    captured: float


def jpeg_of(frame: Frame) -> bytes:
    start = frame.part.index(b"\r\n\r\n") + 4
    return frame.part[start : start + frame.jpeg_size]


async def take(capture: Capture, wait: float = WAIT_SECONDS) -> Snapshot:
    """The newest frame; starts the capture loop for it if nobody is watching. TimeoutError if none comes."""
    frame = capture.latest
    if frame is None or not capture.viewers:  # with viewers, the latest frame is what they all see now
        async with capture.viewer():
            async with asyncio.timeout(wait):
                frame = await capture.next_frame(0)
    return Snapshot(jpeg_of(frame), frame.width, frame.height, bool(capture.signal), frame.captured)


def preview(jpeg: bytes, max_width: int, max_height: int, quality: int) -> bytes:
    """Scaled to fit within max_width x max_height (0 = no limit on that side), aspect kept; blocking."""
    image = jpg.decode(jpeg)
    height, width = image.shape[:2]
    scale = min(
        max_width / width if max_width else 1.0,
        max_height / height if max_height else 1.0,
        1.0,
    )
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target != (width, height):
        image = jpg.cv().resize(image, target, interpolation=jpg.cv().INTER_AREA)
    return jpg.encode(image, quality)
