"""Measurements of the capture pipeline and of every viewer, for KasmVNC's ``get_frame_stats`` and
``get_bottleneck_stats``.

Each stage reports its own time where its work happens: the capture thread its read (which includes
the JPEG encode where the source encodes) and its analysis (frame detect, the changed area); the
H.264 encoder thread each encode; a VNC connection its Tight/ZRLE/Raw rectangles and the shared JPEG
decode. Every viewer, of whatever kind (MJPEG, H.264 direct, WebRTC, VNC, noVNC), reports what it
sent and what it skipped because its connection could not keep up:

- MJPEG and VNC viewers are handed only the newest frame when they are ready again (``pacing``), so
  the frames published meanwhile, while the viewer wanted one, are what its network cost it. A VNC
  client in request mode wants frames only between its request and the answer.
- H.264 viewers (direct, WebRTC) drop the access units their queue has no room for and wait for
  the next key frame; those units are the skipped ones.

Pings are measured round trips: the kernel's smoothed RTT of the viewer's TCP connection (its
acknowledgements of our stream: MJPEG, the direct WebSocket, VNC, noVNC), or for WebRTC the RTT
aiortc computes from the peer's RTCP receiver reports. A VNC client in request mode also gives the
time from an update to its next request, a direct H.264 viewer with flow control from a frame to its
acknowledgement (``client_time``: that less the ping).

Scores are KasmVNC's 0-10 (10: no constraint): CPU = the frame budget (1/fps) over the server's work
per frame for that viewer (capture + analysis + its encode: the shared H.264 encode, or a VNC
client's own rectangles), network = the share of the frames it wanted that it got (less the packets
lost, for WebRTC). The send is not CPU: a send to a slow viewer is mostly waiting for its socket,
which the network score already tells. "Now" covers the last few seconds, the average the
connection's life (CPU: the stages' running means).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 3.0
LONG_FRAMES = 1800  # the long-run means weigh about the last minute at 30 fps
SAMPLE_STEP = 8  # the changed area is estimated on every 8th pixel of every 8th row
STUCK_SECONDS = 1.0  # a viewer that wants frames and got none for this long is skipping them

# Stage names, KasmVNC's where it has one.
SCREENSHOT, ANALYSIS = "Screenshot", "Analysis"
H264_ENCODER = "H264Encoder"
TIGHT_JPEG, ZRLE, RAW, JPEG_DECODE = "TightJPEGEncoder", "ZRLEEncoder", "RawEncoder", "JPEGDecode"
ENCODERS = (H264_ENCODER, TIGHT_JPEG, ZRLE, RAW, JPEG_DECODE)


def changed_percent(before: Any, after: Any, same_bytes: bool) -> float:
    """Percent of the picture that changed (sampled); 0/100 when only the JPEGs can be compared."""
    if same_bytes:
        return 0.0
    if before is None or after is None or before.shape != after.shape:
        return 100.0
    a, b = before[::SAMPLE_STEP, ::SAMPLE_STEP], after[::SAMPLE_STEP, ::SAMPLE_STEP]
    return float((a != b).any(axis=2).mean() * 100.0)


def score(budget: float, spent: float) -> float:
    """10 when ``spent`` fits the budget, proportionally less when it does not."""
    if spent <= budget or spent <= 0:
        return 10.0
    return round(10.0 * budget / spent, 1)


class _Stage:
    """One stage's recent runs (at, seconds, area) and its running mean."""

    __slots__ = ("count", "mean", "recent")

    def __init__(self) -> None:
        self.recent: deque[tuple[float, float, int]] = deque(maxlen=512)
        self.count = 0
        self.mean = 0.0

    def add(self, at: float, seconds: float, area: int) -> None:
        self.recent.append((at, seconds, area))
        self.count += 1
        self.mean += (seconds - self.mean) / min(self.count, LONG_FRAMES)


@dataclass(frozen=True, slots=True)
class StageSummary:
    seconds: float  # mean per run over the window
    count: int  # runs in the window
    area: int  # mean pixels per run over the window
    mean: float  # the long-run mean per run


def no_rtt() -> float | None:
    return None


@dataclass
class ViewerStats:
    """One viewer's connection. Updated on the event loop; read by the API on the same loop."""

    id: str  # KasmVNC's form: "<address>_<unix time>::<kind>"
    username: str
    kind: str
    started: float
    rtt: Callable[[], float | None] = no_rtt  # seconds
    by_seq: bool = True  # frames numbered by the capture loop (MJPEG, VNC); else H.264 access units
    continuous: bool = True  # wants every frame (False: a VNC client in request mode)
    encoder: str | None = None  # the shared stage that encodes its frames (H.264)
    refresh: Callable[[], Awaitable[None]] | None = None  # measurements taken when asked (WebRTC)
    sent: int = 0
    skipped: int = 0
    bytes: int = 0
    send_seconds: float = 0.0
    encode_seconds: float = 0.0  # its own encodes (VNC's ZRLE, Raw)
    last_seq: int = 0
    wanted_from: int | None = None  # the first frame it wants and has not got (None: wants none)
    client_seconds: float | None = None  # smoothed, a frame leaving to the viewer's answer
    loss: float = 0.0  # share of packets lost (WebRTC's receiver reports)
    lost_packets: int = 0
    _recent: deque[tuple[float, int, int, float, float]] = field(default_factory=deque)

    def _record(self, sent: int, skipped: int, send: float, encode: float) -> None:
        now = time.monotonic()
        self._recent.append((now, sent, skipped, send, encode))
        while now - self._recent[0][0] > WINDOW_SECONDS:
            self._recent.popleft()

    # --- frames numbered by the capture loop -----------------------------------------------

    def want(self, latest_seq: int) -> None:
        """A VNC update request: from now on the newest frame is wanted until one goes out."""
        if self.wanted_from is None:
            self.wanted_from = latest_seq if latest_seq > self.last_seq else self.last_seq + 1

    def delivered(self, seq: int, size: int, send_seconds: float, encode_seconds: float = 0.0) -> None:
        """Frame ``seq`` went out; the wanted frames before it were skipped."""
        skipped = max(0, seq - self.wanted_from) if self.wanted_from is not None else 0
        self.last_seq = seq
        self.wanted_from = seq + 1 if self.continuous else None
        self._count(size, skipped, send_seconds, encode_seconds)

    # --- H.264 access units ----------------------------------------------------------------

    def unit_sent(self, size: int, send_seconds: float) -> None:
        self._count(size, 0, send_seconds, 0.0)

    def units_skipped(self, count: int) -> None:
        if count > 0:
            self.skipped += count
            self._record(0, count, 0.0, 0.0)

    def _count(self, size: int, skipped: int, send: float, encode: float) -> None:
        self.sent += 1
        self.skipped += skipped
        self.bytes += size
        self.send_seconds += send
        self.encode_seconds += encode
        self._record(1, skipped, send, encode)

    def client_round_trip(self, seconds: float) -> None:
        """From a frame leaving to the viewer's answer (smoothed as TCP's RTT is)."""
        previous = self.client_seconds
        self.client_seconds = seconds if previous is None else previous + (seconds - previous) / 8

    def recent(self, latest_seq: int) -> tuple[int, int, float, float]:
        """(sent, skipped, mean send seconds, mean encode seconds) over the window. A viewer that wants
        frames and got none lately is stuck: the frames published since count as skipped."""
        now = time.monotonic()
        entries = [entry for entry in self._recent if now - entry[0] <= WINDOW_SECONDS]
        sent = sum(entry[1] for entry in entries)
        skipped = sum(entry[2] for entry in entries)
        if self.by_seq and self.wanted_from is not None:
            last_sent = max((entry[0] for entry in entries if entry[1]), default=None)
            if last_sent is None or now - last_sent > STUCK_SECONDS:
                skipped += max(0, latest_seq - self.wanted_from)
        send = sum(entry[3] for entry in entries) / sent if sent else 0.0
        encode = sum(entry[4] for entry in entries) / sent if sent else 0.0
        return sent, skipped, send, encode

    def ping(self) -> float | None:
        try:
            return self.rtt()
        except OSError:
            return None


class PipelineStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stages: dict[str, _Stage] = {name: _Stage() for name in (SCREENSHOT, ANALYSIS, *ENCODERS)}
        self.width = 0
        self.height = 0
        self.changed = 0.0
        self.latest_seq = 0
        self.fps = 30
        self.viewers: dict[str, ViewerStats] = {}

    # --- the capture and encoder threads ---------------------------------------------------

    def frame(self, width: int, height: int, capture: float, analysis: float, changed: float, fps: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._stages[SCREENSHOT].add(now, capture, width * height)
            self._stages[ANALYSIS].add(now, analysis, width * height)
            self.width, self.height, self.changed, self.fps = width, height, changed, fps

    def published(self, seq: int) -> None:
        self.latest_seq = seq

    def stage(self, name: str, seconds: float, area: int) -> None:
        """An encoder's (or decoder's) run: ``area`` pixels in ``seconds``. From any thread."""
        now = time.monotonic()
        with self._lock:
            self._stages[name].add(now, seconds, area)

    # --- viewers (event loop) --------------------------------------------------------------

    def add_viewer(
        self,
        kind: str,
        username: str,
        address: str,
        rtt: Callable[[], float | None] = no_rtt,
        *,
        by_seq: bool = True,
        continuous: bool = True,
        encoder: str | None = None,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> ViewerStats:
        """A new connection (see ViewerStats for the options)."""
        started = time.time()
        viewer_id = f"{address}_{started:.6f}::{kind}"
        viewer = ViewerStats(viewer_id, username, kind, started, rtt, by_seq, continuous, encoder, refresh)
        self.viewers[viewer_id] = viewer
        return viewer

    def remove_viewer(self, viewer: ViewerStats) -> None:
        self.viewers.pop(viewer.id, None)

    # --- reading -----------------------------------------------------------------------------

    def summary(self, name: str) -> StageSummary:
        now = time.monotonic()
        with self._lock:
            stage = self._stages[name]
            recent = [run for run in stage.recent if now - run[0] <= WINDOW_SECONDS]
            mean = stage.mean
        if not recent:
            return StageSummary(0.0, 0, 0, mean)
        count = len(recent)
        return StageSummary(sum(r[1] for r in recent) / count, count, sum(r[2] for r in recent) // count, mean)

    def scores(self, viewer: ViewerStats) -> list[float]:
        """KasmVNC's [CPU, CPU average, network, network average] for one connection."""
        capture, analysis = self.summary(SCREENSHOT), self.summary(ANALYSIS)
        encoder = self.summary(viewer.encoder) if viewer.encoder else StageSummary(0.0, 0, 0, 0.0)
        budget = 1.0 / max(1, self.fps)
        sent, skipped, _, encode = viewer.recent(self.latest_seq)
        own = viewer.encode_seconds / viewer.sent if viewer.sent else 0.0
        network_now = 10.0 * sent / (sent + skipped) if sent + skipped else 10.0
        total = viewer.sent + viewer.skipped
        network_avg = 10.0 * viewer.sent / total if total else 10.0
        return [
            score(budget, capture.seconds + analysis.seconds + encoder.seconds + encode),
            score(budget, capture.mean + analysis.mean + encoder.mean + own),
            round(network_now * (1.0 - viewer.loss), 1),
            round(network_avg, 1),
        ]
