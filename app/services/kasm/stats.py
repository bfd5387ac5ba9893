"""KasmVNC's ``get_frame_stats`` and ``get_bottleneck_stats`` from the capture pipeline's own
measurements (``app.services.video.stats``). Times are milliseconds, as KasmVNC's.

Server side: ``Screenshot`` is the source's read (for the sim and for V4L2 sources that deliver raw
pictures it includes the JPEG encode, done once for every viewer), ``Analysis`` frame detect and the
changed-area estimate, ``Send`` a viewer's hand-over of one frame to the server's socket layer.
Client side, per viewer: ``ping`` is the TCP connection's smoothed round trip (the kernel's, from
the viewer's acknowledgements), ``client_time`` 0 (an MJPEG viewer reports nothing back), plus
frames sent and skipped.
"""

from __future__ import annotations

from app.services.video.stats import PipelineStats, ViewerStats


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def _client(stats: PipelineStats, viewer: ViewerStats) -> dict[str, object]:
    sent, skipped, send = viewer.recent(stats.latest_seq)
    rtt = viewer.rtt()
    return {
        "client": viewer.id,
        "client_time": 0,
        "ping": None if rtt is None else _ms(rtt),
        "processes": [{"process_name": "Send", "time": _ms(send)}],
        "frames_sent": viewer.sent,
        "frames_skipped": viewer.skipped,
        "recent": {"sent": sent, "skipped": skipped},
        "bytes": viewer.bytes,
        "user": viewer.username,
    }


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


def frame_stats(stats: PipelineStats, caller: str, client: str) -> dict[str, object]:
    capture, analysis, count = stats.stages()
    viewers = chosen(stats, caller, client)
    sends = [viewer.recent(stats.latest_seq)[2] for viewer in stats.viewers.values()]
    send = sum(sends) / len(sends) if sends else 0.0
    area = stats.width * stats.height
    return {
        "frame": {
            "resx": stats.width,
            "resy": stats.height,
            "changed": round(stats.changed, 1),
            "server_time": round(_ms(capture + analysis + send)),
        },
        "server_side": [
            {"process_name": "Analysis", "time": _ms(analysis), "count": count},
            {"process_name": "Screenshot", "time": _ms(capture), "count": count, "area": area},
            {"process_name": "Send", "time": _ms(send), "count": len(sends)},
        ],
        "client_side": [_client(stats, viewer) for viewer in viewers],
    }


def bottleneck_stats(stats: PipelineStats) -> dict[str, dict[str, list[float]]]:
    """Per user, per connection: [CPU, CPU average, network, network average], 0-10."""
    answer: dict[str, dict[str, list[float]]] = {}
    for viewer in sorted(stats.viewers.values(), key=lambda v: v.started):
        answer.setdefault(viewer.username, {})[viewer.id] = stats.scores(viewer)
    return answer
