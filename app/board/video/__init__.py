"""Video sources behind one interface: V4L2 capture, the sim host's screen, a looped file.

A source hands out encoded JPEG frames. OpenCV and NumPy are imported only when a source is opened,
so an app nobody watches does not pay for them in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Captured:
    jpeg: bytes
    width: int
    height: int
    # The decoded picture (BGR, numpy) when the source had it anyway (the sim screen, a converted
    # V4L2 frame): the H.264 encoder then need not decode the JPEG again. Not compared or hashed.
    image: Any = field(default=None, compare=False, hash=False)


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
