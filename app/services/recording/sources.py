"""Where a recording's pictures come from: this KVM's own capture loop, or another VNC server.

Both hand each new picture to a small queue (its arrival time with it, bounded in bytes) that the
recorder's writer drains and samples at its own frame rate; when the writer falls behind, the oldest
pictures are dropped. So a recording is one more consumer that skips (or repeats) pictures: it never
holds back the capture loop or the viewers, and the capture thread does no more than an append (no
wake-up of another thread per picture). A writer that only needs the JPEGs gets them without the
decoded pixels the capture may also have (a 1080p BGR picture is 6 MB, its JPEG ~0.2 MB).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from app.board.video import Captured
from app.board.video import jpeg as jpg
from app.errors import Failed
from app.services.video.capture import Capture

log = logging.getLogger(__name__)

CONNECT_SECONDS = 10.0
# Pictures waiting for the writer, at most (the newest is always kept): ~75 1080p JPEGs, two seconds
# at 30 fps for a writer that drains twice a second; two or three pictures with pixels, for a writer
# that wakes at every frame and encodes.
QUEUE_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class Picture:
    """A JPEG as captured (passed through to MJPEG recordings), or pixels (BGR or RGBA)."""

    width: int
    height: int
    jpeg: bytes = b""
    image: Any = None  # BGR
    rgba: Any = None  # from an RFB server

    def pixels(self) -> Any:
        """BGR pixels (blocking: may decode)."""
        if self.image is not None:
            return self.image
        if self.rgba is not None:
            cv2 = jpg.cv()
            return cv2.cvtColor(self.rgba, cv2.COLOR_RGBA2BGR)
        return jpg.decode(self.jpeg)

    @property
    def bytes(self) -> int:
        """What holding it costs."""
        arrays: int = sum(a.nbytes for a in (self.image, self.rgba) if a is not None)
        return len(self.jpeg) + arrays


class Source:
    """The newest picture (None until the first), replaced whole and read without a lock, and the
    pictures not yet taken by the writer, with the ``time.monotonic()`` they arrived at."""

    picture: Picture | None = None
    changes = 0  # pictures received so far
    error: str | None = None  # why the source failed
    jpegs = False  # its pictures come as JPEGs

    def __init__(self) -> None:
        self.keep_pixels = True  # False: queue the JPEG alone (the writer passes JPEGs through)
        self._queued: collections.deque[tuple[float, Picture]] = collections.deque()
        self._bytes = 0
        self._lock = threading.Lock()  # held for an append or a drain: neither side waits for long

    def _received(self, picture: Picture) -> None:
        if not self.keep_pixels and picture.jpeg and picture.image is not None:
            picture = Picture(picture.width, picture.height, picture.jpeg)
        with self._lock:
            self._queued.append((time.monotonic(), picture))
            self._bytes += picture.bytes
            while self._bytes > QUEUE_BYTES and len(self._queued) > 1:  # the writer lags: drop the oldest
                self._bytes -= self._queued.popleft()[1].bytes
        self.picture = picture
        self.changes += 1

    def take(self) -> list[tuple[float, Picture]]:
        """The queued pictures, oldest first, and the queue emptied."""
        with self._lock:
            taken, self._queued, self._bytes = list(self._queued), collections.deque(), 0
        return taken

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class ScreenSource(Source):
    """A tap on the capture loop: handed every captured picture in the capture thread."""

    needs_pictures = True
    jpegs = True

    def __init__(self, capture: Capture) -> None:
        super().__init__()
        self._capture = capture

    def offer(self, captured: Captured | None, result: int) -> None:
        if captured is not None:
            self._received(Picture(captured.width, captured.height, captured.jpeg, captured.image))

    async def open(self) -> None:
        self._capture.attach(self)

    async def close(self) -> None:
        self._capture.detach(self)


class RfbSource(Source):
    """Another VNC server, read as an RFB client (asyncvnc: None or VNC authentication, Raw/ZLib)."""

    def __init__(self, host: str, port: int, password: str | None, framerate: int) -> None:
        super().__init__()
        self.host, self.port, self._password = host, port, password
        self._interval = 1 / framerate
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect and log in; Failed with the reason when the server cannot be recorded."""
        try:
            import asyncvnc
        except ImportError:
            raise Failed("recording another VNC server needs asyncvnc (pip install 'nanokvm-py[recording]')") from None
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                self._writer = writer
                client = await asyncvnc.Client.create(reader, writer, None, self._password)
        except TimeoutError:
            await self.close()
            raise Failed(f"VNC server {where} did not answer in time") from None
        except PermissionError as err:
            await self.close()
            raise Failed(f"VNC server {where} refused the login: {err}") from None
        except (OSError, ValueError, asyncio.IncompleteReadError) as err:
            await self.close()
            raise Failed(f"cannot record VNC server {where}: {err or type(err).__name__}") from None
        self._task = asyncio.create_task(self._read(client, asyncvnc.UpdateType.VIDEO))

    async def _read(self, client: Any, video_update: Any) -> None:
        video = client.video
        loop = asyncio.get_running_loop()
        try:
            while True:
                asked = loop.time()
                video.refresh()
                await client.drain()
                while await client.read() is not video_update:
                    pass
                self._received(Picture(video.width, video.height, rgba=video.as_rgba().copy()))
                await asyncio.sleep(max(0.0, self._interval - (loop.time() - asked)))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the server went away or spoke nonsense: the recording stops
            self.error = f"VNC server {self.host}:{self.port}: {err or type(err).__name__}"
            log.warning("recording source failed: %s", self.error)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
