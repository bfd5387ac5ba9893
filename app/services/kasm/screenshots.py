"""``get_screenshot``: a JPEG of the screen from the shared capture loop, scaled and deduplicated.

KasmVNC scales to the requested width and derives the height from the screen's aspect ratio (a
height alone sets the width the same way); its quality is its 0-9 JPEG level. With ``deduplicate``
a client that already has the current picture gets nothing: the comparison is with the last picture
*this client* was given (by credentials and address), so two scripts polling do not hide changes
from each other.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from app.board.video import jpeg as jpg
from app.errors import InvalidArgument
from app.services.video import snapshot
from app.services.video.capture import Capture

# KasmVNC's (TigerVNC's) JPEG quality per level 0-9.
QUALITY_LEVELS = (15, 29, 41, 42, 62, 77, 79, 86, 92, 100)
DEFAULT_LEVEL = 7
MAX_SIDE = 8192
# Clients remembered for deduplication (least recently asking forgotten first).
MAX_CLIENTS = 256


@dataclass(frozen=True, slots=True)
class ScreenshotRequest:
    width: int = 0  # 0: the screen's
    height: int = 0
    quality: int = DEFAULT_LEVEL
    deduplicate: bool = False


def target_size(native: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """The requested width wins, the height follows the aspect ratio; a height alone sets the width."""
    native_w, native_h = native
    if width:
        return width, max(1, round(width * native_h / native_w))
    if height:
        return max(1, round(height * native_w / native_h)), height
    return native_w, native_h


def validate(request: ScreenshotRequest) -> None:
    if not 0 <= request.width <= MAX_SIDE or not 0 <= request.height <= MAX_SIDE:
        raise InvalidArgument(f"width and height must be 1..{MAX_SIDE}")
    if not 0 <= request.quality < len(QUALITY_LEVELS):
        raise InvalidArgument("quality must be 0..9")


def render(source: bytes, request: ScreenshotRequest) -> bytes:
    """Scaled and re-encoded at the requested quality (blocking: decode, resize, encode)."""
    image = jpg.decode(source)
    height, width = image.shape[:2]
    size = target_size((width, height), request.width, request.height)
    if size != (width, height):
        cv2 = jpg.cv()
        shrinking = size[0] < width
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return jpg.encode(image, QUALITY_LEVELS[request.quality])


class Screenshots:
    def __init__(self, capture: Capture) -> None:
        self._capture = capture
        self._seen: OrderedDict[str, bytes] = OrderedDict()  # client -> digest of its last picture

    async def take(self, client: str, request: ScreenshotRequest) -> bytes | None:
        """The JPEG, or None with ``deduplicate`` when ``client`` already has this picture.
        InvalidArgument for bad sizes or quality; TimeoutError if no frame comes."""
        validate(request)
        shot = await snapshot.take(self._capture)
        digest = hashlib.blake2b(shot.jpeg, digest_size=16).digest()
        previous = self._seen.pop(client, None)
        self._seen[client] = digest
        while len(self._seen) > MAX_CLIENTS:
            self._seen.popitem(last=False)
        if request.deduplicate and previous == digest:
            return None
        return await asyncio.to_thread(render, shot.jpeg, request)
