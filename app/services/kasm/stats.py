"""KasmVNC's ``get_frame_stats`` and ``get_bottleneck_stats`` from the capture pipeline's own
measurements (``app.services.video.stats``), for every kind of viewer. Times are milliseconds.

Server side: ``Screenshot`` is the source's read (for the sim and for V4L2 sources that deliver raw
pictures it includes the JPEG encode, done once for every viewer), ``Analysis`` frame detect and the
changed-area estimate, ``H264Encoder`` one shared H.264 encode, ``TightJPEGEncoder`` a VNC update
built around the capture's own JPEG, ``ZRLEEncoder``/``RawEncoder`` a VNC client's rectangle
(``area``: its mean pixels), ``JPEGDecode`` the JPEG decoded once for those, ``Encoding_total`` the
encoders together, ``Send`` a viewer's hand-over of one frame to the socket layer (wall clock: for a
slow viewer mostly waiting for its socket, so not in ``server_time``, the frame's processing).

Client side, per viewer: ``ping`` its measured round trip (``app.services.video.stats``),
``client_time`` what the viewer takes between a frame and its answer, less the ping: a VNC client in
request mode until its next request, a direct H.264 viewer with flow control until its
acknowledgement (0 where the viewer answers nothing); its kind and user, frames sent and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib

from app.services.video.stats import (
    ANALYSIS,
    ENCODERS,
    SCREENSHOT,
    PipelineStats,
    StageSummary,
    ViewerStats,
)

REFRESH_SECONDS = 1.0


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


async def refresh(stats: PipelineStats) -> None:
    """Take the measurements only read on demand (WebRTC's RTCP figures), each bounded in time."""
    hooks = [viewer.refresh() for viewer in list(stats.viewers.values()) if viewer.refresh is not None]
    if hooks:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REFRESH_SECONDS):
                await asyncio.gather(*hooks, return_exceptions=True)


def _client(stats: PipelineStats, viewer: ViewerStats) -> dict[str, object]:
    sent, skipped, send, encode = viewer.recent(stats.latest_seq)
    ping = viewer.ping()
    client_time = 0.0
    if viewer.client_seconds is not None:
        client_time = max(0.0, viewer.client_seconds - (ping or 0.0))
    processes = [{"process_name": "Send", "time": _ms(send)}]
    if viewer.kind in ("vnc", "websocket"):
        processes.append({"process_name": "Encode", "time": _ms(encode)})
    entry: dict[str, object] = {
        "client": viewer.id,
        "kind": viewer.kind,
        "user": viewer.username,
        "client_time": _ms(client_time),
        "ping": None if ping is None else _ms(ping),
        "processes": processes,
        "frames_sent": viewer.sent,
        "frames_skipped": viewer.skipped,
        "recent": {"sent": sent, "skipped": skipped},
        "bytes": viewer.bytes,
    }
    if viewer.kind == "webrtc":
        entry["packets_lost"] = viewer.lost_packets
    return entry


def chosen(stats: PipelineStats, caller: str, client: str) -> list[ViewerStats]:
    """``auto``: the caller's first connection; ``all``; ``none``; or one connection by its id."""
    viewers = sorted(stats.viewers.values(), key=lambda v: v.started)
    if client == "all":
        return viewers
    if client == "none":
        return []
    if client == "auto":
        return [v for v in viewers if v.username == caller][:1]
    return [v for v in viewers if v.id == client]


def _stage(name: str, summary: StageSummary, area: bool = True) -> dict[str, object]:
    entry: dict[str, object] = {"process_name": name, "time": _ms(summary.seconds), "count": summary.count}
    if area:
        entry["area"] = summary.area
    return entry


def frame_stats(stats: PipelineStats, caller: str, client: str) -> dict[str, object]:
    capture, analysis = stats.summary(SCREENSHOT), stats.summary(ANALYSIS)
    encoders = {name: stats.summary(name) for name in ENCODERS}
    encoding = sum(summary.seconds for summary in encoders.values())
    sends = [viewer.recent(stats.latest_seq)[2] for viewer in stats.viewers.values()]
    send = sum(sends) / len(sends) if sends else 0.0
    return {
        "frame": {
            "resx": stats.width,
            "resy": stats.height,
            "changed": round(stats.changed, 1),
            "server_time": round(_ms(capture.seconds + analysis.seconds + encoding)),
        },
        "server_side": [
            _stage(ANALYSIS, analysis, area=False),
            _stage(SCREENSHOT, capture),
            {"process_name": "Encoding_total", "time": _ms(encoding), "videoscaling": 0},
            *(_stage(name, summary) for name, summary in encoders.items()),
            {"process_name": "Send", "time": _ms(send), "count": len(sends)},
        ],
        "client_side": [_client(stats, viewer) for viewer in chosen(stats, caller, client)],
    }


def bottleneck_stats(stats: PipelineStats) -> dict[str, dict[str, list[float]]]:
    """Per user, per connection (its id ends with its kind): [CPU, CPU average, network, network
    average], 0-10."""
    answer: dict[str, dict[str, list[float]]] = {}
    for viewer in sorted(stats.viewers.values(), key=lambda v: v.started):
        answer.setdefault(viewer.username, {})[viewer.id] = stats.scores(viewer)
    return answer
