"""The direct H.264 stream's per-viewer queue (spec 6.3).

Each frame goes out as one binary WebSocket message: byte 0 is 1 for a key frame else 0, bytes 1-8
the little-endian uint64 timestamp in microseconds since the pipeline started, then the Annex-B
access unit. A viewer starts at a key frame. Without flow control at most 8 frames / 2 MiB wait;
with ``flow=N`` (1..8) at most N frames are queued or sent and not yet acknowledged (``[2, ts]``
acknowledges every frame up to ts). Overflow drops the queue and waits for the next key frame (and
asks the pipeline for one, rate-limited); ``[3]`` asks for a resync: drop, wait for a key frame (also
asked for, rate-limited).
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import deque
from collections.abc import Callable

from app.board.video.h264 import AccessUnit
from app.services.video.stats import ViewerStats

ACK, RESYNC = 2, 3
QUEUE_FRAMES = 8
QUEUE_BYTES = 2 * 1024 * 1024
MAX_WINDOW = 8
_HEADER = struct.Struct("<BQ")


_last: tuple[AccessUnit, bytes] | None = None


def framed(unit: AccessUnit) -> bytes:
    """The message for ``unit``, built once for every viewer it is handed to (in turn, on the loop):
    ten viewers share one copy of a frame, not ten."""
    global _last
    if _last is not None and _last[0] is unit:
        return _last[1]
    message = _HEADER.pack(1 if unit.key else 0, unit.timestamp) + unit.data
    _last = (unit, message)
    return message


def flow_window(query: str | None) -> int | None:
    """``?flow=N``: None (no flow control) unless N is a positive integer; clamped to 1..8."""
    try:
        window = int(query or "")
    except ValueError:
        return None
    return min(window, MAX_WINDOW) if window > 0 else None


class DirectQueue:
    def __init__(
        self, window: int | None, request_key: Callable[[bool], None], stats: ViewerStats | None = None
    ) -> None:
        self.window = window
        self._request_key = request_key
        self._stats = stats
        self._started = False  # units before the viewer's first key frame are not its loss
        self._frames: deque[tuple[int, bytes]] = deque()  # (timestamp, message)
        self._bytes = 0
        self._in_flight: deque[tuple[int, float]] = deque()  # (timestamp, when it was handed out)
        self.waiting_for_key = True
        self.dropped = 0
        self.sent_bytes = 0  # handed to the socket so far (for the read deadline)
        self.wake = asyncio.Event()

    def _used(self) -> int:
        return len(self._frames) + len(self._in_flight)

    def can_advance(self) -> bool:
        """Would a frame be taken now? (The pipeline pauses when no viewer's would.)"""
        if self.window is None:
            return True
        if self.waiting_for_key:
            return len(self._in_flight) < self.window
        return self._used() < self.window

    def _skip(self, count: int) -> None:
        if self._stats is not None and self._started:
            self._stats.units_skipped(count)

    def _drop(self) -> None:
        self._skip(len(self._frames))
        self.dropped += len(self._frames)
        self._frames.clear()
        self._bytes = 0

    def _overflow(self) -> None:
        self._drop()
        self.waiting_for_key = True
        self._request_key(True)

    def _full(self, unit: AccessUnit) -> bool:
        if self.window is not None:
            return self._used() >= self.window
        return len(self._frames) >= QUEUE_FRAMES or self._bytes + len(unit.data) > QUEUE_BYTES

    def offer(self, unit: AccessUnit) -> None:
        if unit.key:
            self._drop()
            if self.window is not None and len(self._in_flight) >= self.window:
                self.waiting_for_key = True
                self._skip(1)
                return
            self.waiting_for_key = False
            self._started = True
        elif self.waiting_for_key:
            self._skip(1)
            return
        elif self._full(unit):
            self._overflow()
            self._skip(1)
            return
        message = framed(unit)
        self._frames.append((unit.timestamp, message))
        self._bytes += len(unit.data)
        self.wake.set()

    def pop(self) -> bytes | None:
        if not self._frames:
            self.wake.clear()
            return None
        timestamp, message = self._frames.popleft()
        self._bytes -= len(message) - _HEADER.size
        if self.window is not None:
            self._in_flight.append((timestamp, time.perf_counter()))
        self.sent_bytes += len(message)
        return message

    def control(self, data: bytes) -> None:
        """A client message: ``[2, ts(8, LE)]`` or ``[3]``; anything else is ignored."""
        if len(data) == 9 and data[0] == ACK:
            (timestamp,) = struct.unpack_from("<Q", data, 1)
            handed_at = None
            while self._in_flight and self._in_flight[0][0] <= timestamp:
                handed_at = self._in_flight.popleft()[1]
            if handed_at is not None and self._stats is not None:
                # The viewer's round trip for its newest frame: received, decoded, acknowledged.
                self._stats.client_round_trip(time.perf_counter() - handed_at)
        elif data == bytes([RESYNC]):
            self._drop()
            self._in_flight.clear()
            self.waiting_for_key = True
            # Rate-limited like an overflow: a client whose decoder keeps failing (NanoKVM's page asks
            # for a hardware decoder, which a browser without one refuses) resyncs at every frame, and
            # must not turn every viewer's stream into key frames only.
            self._request_key(True)
