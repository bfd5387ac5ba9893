"""JPEG encoding, scaling and the "No signal" picture (OpenCV, imported on first use)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from app.board.video import Captured

# OpenCV's V4L2 backend otherwise waits 10 s for a frame that never comes (a receiver that stopped);
# it reads this once, at the first import of cv2, which is here.
V4L_SELECT_TIMEOUT_SECONDS = 2


def cv() -> Any:
    os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", str(V4L_SELECT_TIMEOUT_SECONDS))
    import cv2

    return cv2


def encode(image: Any, quality: int) -> bytes:
    ok, buffer = cv().imencode(".jpg", image, [cv().IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buffer)


def fit(image: Any, width: int, height: int) -> Any:
    """Scale to width x height; 0 x 0 keeps the native size."""
    if not width or not height or (image.shape[1], image.shape[0]) == (width, height):
        return image
    return cv().resize(image, (width, height), interpolation=cv().INTER_AREA)


def decode(jpeg: bytes) -> Any:
    import numpy as np

    return cv().imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv().IMREAD_COLOR)


@lru_cache(maxsize=8)
def no_signal(width: int, height: int, quality: int, text: str = "No signal") -> Captured:
    """A plain picture that says what is wrong, at the size the viewer expects."""
    import numpy as np

    cv2 = cv()
    width, height = width or 1280, height or 720
    image = np.full((height, width, 3), (48, 32, 24), dtype=np.uint8)
    scale = max(1.0, width / 640)
    thickness = max(2, int(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.putText(
        image,
        text,
        ((width - tw) // 2, (height + th) // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (220, 220, 220),
        thickness,
        cv2.LINE_AA,
    )
    return Captured(encode(image, quality), width, height)
