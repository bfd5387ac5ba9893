"""Where a recording's pictures come from: this KVM's own capture loop, or another VNC server.

Both hand each new picture to a small bounded queue (its arrival time with it) that the recorder's
writer drains a few times a second and samples at its own frame rate; when the writer falls behind,
the oldest pictures are dropped. So a recording is one more consumer that skips (or repeats)
pictures: it never holds back the capture loop or the viewers, and the capture thread does no more
than an append (no wake-up of another thread per picture).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from app.board.video import Captured
from app.board.video import jpeg as jpg
from app.errors import Failed
from app.services.video.capture import Capture

log = logging.getLogger(__name__)

CONNECT_SECONDS = 10.0
# Pictures waiting for the writer: a second at 60 fps, two at 30, while the writer drains every
# half second; at 1080p that is at most ~13 MB of JPEGs the capture made anyway.
QUEUED = 60


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


class Source:
    """The newest picture (None until the first), replaced whole and read without a lock, and the
    pictures not yet taken by the writer, with the ``time.monotonic()`` they arrived at."""

    picture: Picture | None = None
    changes = 0  # pictures received so far
    error: str | None = None  # why the source failed

    def __init__(self) -> None:
        # deque: append (the source's thread) and popleft (the writer's) are atomic, and a full one
        # drops its oldest, so neither side ever waits for the other.
        self._queued: collections.deque[tuple[float, Picture]] = collections.deque(maxlen=QUEUED)

    def _received(self, picture: Picture) -> None:
        self._queued.append((time.monotonic(), picture))
        self.picture = picture
        self.changes += 1

    def take(self) -> list[tuple[float, Picture]]:
        """The queued pictures, oldest first, and the queue emptied."""
        taken = []
        with contextlib.suppress(IndexError):
            while True:
                taken.append(self._queued.popleft())
        return taken

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class ScreenSource(Source):
    """A tap on the capture loop: handed every captured picture in the capture thread."""

    needs_pictures = True

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
