"""One capture loop per source, off the event loop, shared by every viewer.

The loop runs in a thread while anyone watches: it reads a frame from the source, builds the
multipart part once, and publishes it as the latest frame. Viewers always take the latest frame,
so a slow viewer skips frames and never holds back the capture or the others, and every viewer
is handed the same bytes object.

Taps (the H.264 pipeline) are handed every captured picture as well, in the capture thread; a tap
takes it without blocking (its own thread encodes) and keeps the loop running while attached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.board.video import Captured, FrameSource, NoSignal
from app.board.video import jpeg as jpg
from app.paths import atomic_write
from app.services.events import EventBus
from app.services.video.screen import ScreenSettings
from app.services.video.stats import PipelineStats, changed_percent
from app.services.video.status import MESSAGES, CaptureStatus

log = logging.getLogger(__name__)

# Frame detect (spec 6.4): NanoKVM's interval; 0 = off (the default until the page enables it).
DETECT_INTERVAL = 60
# After a failed read, wait this long before reopening the source.
REOPEN_DELAY = 1.0
# The measured frame rate is written to /kvmapp/kvm/now_fps this often (for NanoKVM's OLED daemon).
FPS_REPORT_SECONDS = 3.0

CAPTURE_MESSAGES = MESSAGES


class Tap(Protocol):
    # False: the tap only needs the loop's pace (libkvm encodes from its own capture).
    needs_pictures: bool

    def offer(self, captured: Captured | None, result: int) -> None:
        """A new picture (None when not needed) and the capture's result code. Must not block."""
        ...


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    part: bytes  # the whole multipart part: boundary, headers, JPEG, CRLF
    jpeg_size: int
    captured: float  # wall-clock capture time (the X-Timestamp header)
    width: int
    height: int


def multipart_part(jpeg: bytes, captured: float) -> bytes:
    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Timestamp: %.6f\r\n\r\n" % (
        len(jpeg),
        captured,
    )
    return b"".join((head, jpeg, b"\r\n"))


class Capture:
    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        settings: ScreenSettings,
        bus: EventBus,
        now_fps: Path | None = None,
        mode: str = "mjpeg",
    ) -> None:
        self._open_source = open_source
        self._now_fps = now_fps
        self.settings = settings
        self.bus = bus
        self.status = CaptureStatus(bus)
        self.mode = mode
        self.last_result = 0
        self._taps: list[Tap] = []
        self.detect_interval = 0
        self.enabled = True
        self.idle_timeout_minutes = 0
        self.latest: Frame | None = None
        self.stats = PipelineStats()  # stage times and viewers, for KasmVNC's statistics
        self.viewers = 0
        self.signal = False
        self._source: FrameSource | None = None
        self._restart = threading.Event()
        self._running = False
        self._running_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._shutdown = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_frame = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._idle_close: asyncio.TimerHandle | None = None
        self._seq = 0

    # --- viewers (event loop) --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def viewer(self) -> AsyncIterator[Capture]:
        self._join(None)
        try:
            yield self
        finally:
            self._leave(None)

    def attach(self, tap: Tap) -> None:
        """Hand ``tap`` every captured picture until ``detach`` (the loop runs meanwhile). On the loop."""
        self._join(tap)

    def detach(self, tap: Tap) -> None:
        self._leave(tap)

    def _join(self, tap: Tap | None) -> None:
        self._loop = asyncio.get_running_loop()
        if self._idle_close is not None:
            self._idle_close.cancel()
            self._idle_close = None
        with self._running_lock:
            if tap is None:
                self.viewers += 1
            else:
                self._taps = [*self._taps, tap]
            if not self._running:  # the thread decides to stop under the same lock: no lost start
                self._running = True
                self.latest = None  # never hand a new viewer a picture from an earlier session
                self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
                self._thread.start()

    def _leave(self, tap: Tap | None) -> None:
        with self._running_lock:
            if tap is None:
                self.viewers -= 1
            else:
                self._taps = [t for t in self._taps if t is not tap]
            idle = self.viewers == 0 and not self._taps
        if idle and self.idle_timeout_minutes and self._loop is not None:
            self._idle_close = self._loop.call_later(self.idle_timeout_minutes * 60, self._close_if_idle)

    async def next_frame(self, after: int) -> Frame:
        """The newest frame with a sequence number above ``after`` (waits for one)."""
        while self.latest is None or self.latest.seq <= after:
            await self._new_frame.wait()
        return self.latest

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` on the loop at every new frame, until the returned function is called.

        For consumers that wait on more than frames (a VNC client also waits for its requests):
        one wake-up per frame, where a task awaiting ``next_frame`` to set their own event costs two."""
        self._listeners = [*self._listeners, listener]

        def remove() -> None:
            self._listeners = [f for f in self._listeners if f is not listener]

        return remove

    def _publish(self, frame: Frame) -> None:
        self.latest = frame
        event, self._new_frame = self._new_frame, asyncio.Event()
        event.set()
        for listener in self._listeners:
            listener()

    def _close_if_idle(self) -> None:
        self._idle_close = None
        if self.viewers == 0 and not self._taps:
            self.restart()  # the thread is gone; this only drops the source

    # --- control ---------------------------------------------------------------------------

    def restart(self) -> None:
        """Drop the source (HDMI reset, settings that need a reopen); the loop reopens it."""
        self._restart.set()
        with self._running_lock:
            if not self._running:
                self._close_source()

    def stop(self) -> None:
        """At shutdown: end the capture thread and release the device while the interpreter still
        stands (a thread left inside OpenCV at exit aborts the process)."""
        self._shutdown.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        self._close_source()

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except OSError:
                log.warning("closing the video source failed", exc_info=True)

    # --- the capture thread ----------------------------------------------------------------

    def _status_changed(self, result: int) -> None:
        self.signal = result >= 0
        self.last_result = result
        if self.viewers > 0 or not self._taps:  # the H.264 pipeline reports its own modes
            self.status.report(self.mode, result)

    def _read(self, width: int, height: int, quality: int) -> Captured:
        if not self.enabled:
            self._close_source()
            return jpg.no_signal(width, height, quality, "HDMI capture disabled")
        if self._restart.is_set():
            self._restart.clear()
            self._close_source()
        try:
            if self._source is None:
                self._source = self._open_source()
            captured = self._source.read(width, height, quality)
        except NoSignal as err:
            self._status_changed(err.code)
            self._close_source()
            time.sleep(REOPEN_DELAY)
            return jpg.no_signal(width, height, quality)
        self._status_changed(0)
        return captured

    def _report_fps(self, fps: float) -> None:
        if self._now_fps is not None:
            with contextlib.suppress(OSError):  # a read-only /kvmapp must not stop the picture
                atomic_write(self._now_fps, f"{fps:.0f}".encode())

    def _run(self) -> None:
        previous: bytes | None = None
        previous_image: object = None
        next_tick = time.monotonic()
        report_at, counted = next_tick + FPS_REPORT_SECONDS, 0
        while True:
            with self._running_lock:
                if (self.viewers == 0 and not self._taps) or self._shutdown.is_set():
                    self._running = False
                    self._report_fps(0)
                    return
                taps = self._taps
            if time.monotonic() >= report_at:
                self._report_fps(counted / FPS_REPORT_SECONDS)
                counted, report_at = 0, report_at + FPS_REPORT_SECONDS
            width, height, quality, fps = self.settings.snapshot()
            if self.viewers == 0 and not any(tap.needs_pictures for tap in taps):
                for tap in taps:  # only the pace is needed: the tap captures by itself
                    tap.offer(None, 0)
                counted += 1
                next_tick = self._sleep_until(next_tick + 1 / fps)
                continue
            try:
                started = time.perf_counter()
                captured = self._read(width, height, quality)
                read = time.perf_counter()
            except Exception:  # a broken driver must not kill the stream for good
                log.exception("video capture failed")
                self._status_changed(-2)
                time.sleep(REOPEN_DELAY)
                continue
            for tap in taps:
                tap.offer(captured, self.last_result)
            # Frame detect: an unchanged picture is not sent again (the sim hands out the same object).
            unchanged = captured.jpeg is previous or captured.jpeg == previous
            changed = changed_percent(previous_image, captured.image, unchanged)
            self.stats.frame(captured.width, captured.height, read - started, time.perf_counter() - read, changed, fps)
            previous_image = captured.image
            if self.viewers and not (self.detect_interval and unchanged) and self._loop is not None:
                self._seq += 1
                now = time.time()
                frame = Frame(
                    self._seq,
                    multipart_part(captured.jpeg, now),
                    len(captured.jpeg),
                    now,
                    captured.width,
                    captured.height,
                )
                self._loop.call_soon_threadsafe(self._publish, frame)
                self.stats.published(self._seq)
            previous = captured.jpeg
            counted += 1
            next_tick = self._sleep_until(next_tick + 1 / fps)

    @staticmethod
    def _sleep_until(tick: float) -> float:
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            return tick
        return time.monotonic()  # behind: do not try to catch up with a burst
