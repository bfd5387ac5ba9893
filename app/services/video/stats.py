"""Measurements of the capture pipeline and of every viewer, for KasmVNC's ``get_frame_stats`` and
``get_bottleneck_stats``.

The capture thread reports each frame's stage times (the source's read, which includes its JPEG
encode where the source encodes; the analysis: frame detect and the changed area) and each MJPEG
viewer reports what it sent and what it skipped: a viewer whose connection cannot keep up is handed
only the newest frame (``app.api.stream``), so the frames published meanwhile are the ones its
network cost it. The round trip is the kernel's own estimate for the viewer's TCP connection.

Scores are KasmVNC's 0-10 (10: no constraint): CPU = the frame budget (1/fps) over the server's time
per frame for that viewer (capture + analysis + its send), network = the share of published frames
the viewer got. "Now" covers the last few seconds, the average the connection's life.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 3.0
LONG_FRAMES = 1800  # the long-run average: the last minute at 30 fps
SAMPLE_STEP = 8  # the changed area is estimated on every 8th pixel of every 8th row


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


@dataclass
class _Frame:
    at: float
    capture: float
    analysis: float


@dataclass
class ViewerStats:
    """One viewer's connection. Updated on the event loop; read by the API on the same loop."""

    id: str  # KasmVNC's form: "<address>_<unix time>::<kind>"
    username: str
    started: float
    rtt: Callable[[], float | None] = lambda: None  # seconds, the TCP connection's smoothed RTT
    sent: int = 0
    skipped: int = 0
    bytes: int = 0
    send_seconds: float = 0.0
    last_seq: int = 0
    _recent: deque[tuple[float, int, int, float]] = field(default_factory=deque)  # (at, sent, skipped, send)

    def delivered(self, seq: int, size: int, send_seconds: float) -> None:
        """A frame went out: ``seq`` is its number, the ones between the last and it were skipped."""
        skipped = max(0, seq - self.last_seq - 1) if self.last_seq else 0
        self.last_seq = seq
        self.sent += 1
        self.skipped += skipped
        self.bytes += size
        self.send_seconds += send_seconds
        now = time.monotonic()
        self._recent.append((now, 1, skipped, send_seconds))
        while self._recent and now - self._recent[0][0] > WINDOW_SECONDS:
            self._recent.popleft()

    def recent(self, latest_seq: int) -> tuple[int, int, float]:
        """(sent, skipped, mean send seconds) over the window; frames published since the last one
        sent count as skipped when they are older than the window allows to wait."""
        now = time.monotonic()
        entries = [entry for entry in self._recent if now - entry[0] <= WINDOW_SECONDS]
        sent = sum(entry[1] for entry in entries)
        skipped = sum(entry[2] for entry in entries)
        waiting = max(0, latest_seq - self.last_seq - 1)
        if not entries or now - entries[-1][0] > 1.0:
            skipped += waiting  # stuck: nothing delivered lately while frames kept coming
        send = sum(entry[3] for entry in entries) / sent if sent else 0.0
        return sent, skipped, send


class PipelineStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: deque[_Frame] = deque(maxlen=256)
        self.width = 0
        self.height = 0
        self.changed = 0.0
        self.latest_seq = 0
        self.fps = 30
        self.viewers: dict[str, ViewerStats] = {}
        self._long: deque[tuple[float, float]] = deque(maxlen=LONG_FRAMES)  # (capture, analysis)

    # --- the capture thread ----------------------------------------------------------------

    def frame(self, width: int, height: int, capture: float, analysis: float, changed: float, fps: int) -> None:
        with self._lock:
            self._frames.append(_Frame(time.monotonic(), capture, analysis))
            self._long.append((capture, analysis))
            self.width, self.height, self.changed, self.fps = width, height, changed, fps

    def published(self, seq: int) -> None:
        self.latest_seq = seq

    # --- viewers (event loop) --------------------------------------------------------------

    def add_viewer(self, kind: str, username: str, address: str, rtt: Callable[[], float | None]) -> ViewerStats:
        started = time.time()
        viewer_id = f"{address}_{started:.6f}::{kind}"
        viewer = ViewerStats(viewer_id, username, started, rtt)
        self.viewers[viewer_id] = viewer
        return viewer

    def remove_viewer(self, viewer: ViewerStats) -> None:
        self.viewers.pop(viewer.id, None)

    # --- reading -----------------------------------------------------------------------------

    def stages(self) -> tuple[float, float, int]:
        """Mean capture and analysis seconds per frame over the window, and the frames in it."""
        now = time.monotonic()
        with self._lock:
            recent = [f for f in self._frames if now - f.at <= WINDOW_SECONDS]
        if not recent:
            return 0.0, 0.0, 0
        return (
            sum(f.capture for f in recent) / len(recent),
            sum(f.analysis for f in recent) / len(recent),
            len(recent),
        )

    def scores(self, viewer: ViewerStats) -> list[float]:
        """KasmVNC's [CPU, CPU average, network, network average] for one connection."""
        capture, analysis, _ = self.stages()
        with self._lock:
            long = list(self._long)
        slow_capture = sum(c for c, _ in long) / len(long) if long else capture
        slow_analysis = sum(a for _, a in long) / len(long) if long else analysis
        budget = 1.0 / max(1, self.fps)
        sent, skipped, send = viewer.recent(self.latest_seq)
        mean_send = viewer.send_seconds / viewer.sent if viewer.sent else 0.0
        network_now = 10.0 * sent / (sent + skipped) if sent + skipped else 10.0
        total = viewer.sent + viewer.skipped
        network_avg = 10.0 * viewer.sent / total if total else 10.0
        return [
            score(budget, capture + analysis + send),
            score(budget, slow_capture + slow_analysis + mean_send),
            round(network_now, 1),
            round(network_avg, 1),
        ]
