"""Video sources behind one interface: V4L2 capture, the sim host's screen, a looped file.

A source hands out encoded JPEG frames. OpenCV and NumPy are imported only when a source is opened,
so an app nobody watches does not pay for them in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Captured:
    jpeg: bytes
    width: int
    height: int


class NoSignal(Exception):
    """No picture: the capture-status result code and message of spec 5.1."""

    def __init__(self, code: int = -1, message: str = "No image captured") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FrameSource(Protocol):
    def read(self, width: int, height: int, quality: int) -> Captured:
        """The next frame, scaled to width x height (0 x 0 = native) at the JPEG quality. Blocking."""
        ...

    def close(self) -> None: ...
