"""KasmVNC's frame and bottleneck statistics from real measurements: an MJPEG viewer reading at
1 MB/s scores its network below 5, a fast one near 10; the pipeline's stage times are there."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from tests.conftest import RunningApp
from tests.kasm.curl import curl

RATE = 1_000_000  # bytes a second


@pytest.fixture
def kvm(app_factory: Callable[..., RunningApp], tmp_path: Path) -> RunningApp:
    """A looped MJPEG file of noisy pictures as the source: passed through (no CPU spent on them), each
    ~250 KB, 30 a second: a stream of several MB/s on any machine, however loaded."""
    rng = np.random.default_rng(18)
    frames = [cv2.imencode(".jpg", rng.integers(0, 256, (360, 640, 3), np.uint8))[1].tobytes() for _ in range(8)]
    movie = tmp_path / "noise.mjpeg"
    movie.write_bytes(b"".join(frames))
    return app_factory({"video": {"source": "file", "file": str(movie), "width": 640, "height": 360}})


def slow_reader(kvm: RunningApp, cookie: str, stop: threading.Event, received: list[int]) -> None:
    """An MJPEG viewer on a small receive buffer that reads 1 MB/s."""
    host, port = kvm.url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        sock.connect((host, int(port)))
        request = f"GET /api/stream/mjpeg HTTP/1.1\r\nHost: {host}\r\nCookie: nano-kvm-token={cookie}\r\n\r\n"
        sock.sendall(request.encode())
        started = time.monotonic()
        while not stop.is_set():
            received[0] += len(sock.recv(16 << 10))
            ahead = received[0] / RATE - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


def fast_reader(kvm: RunningApp, client: httpx.Client, stop: threading.Event, received: list[int]) -> None:
    with client.stream("GET", "/api/stream/mjpeg") as stream:
        for chunk in stream.iter_raw(256 << 10):
            received[0] += len(chunk)
            if stop.is_set():
                return


def test_a_throttled_viewer_scores_its_network_low_and_a_fast_one_high(kvm: RunningApp) -> None:
    admin = kvm.login()
    stop = threading.Event()
    slow, fast = [0], [0]
    threads = [
        threading.Thread(target=slow_reader, args=(kvm, admin.cookies["nano-kvm-token"], stop, slow), daemon=True),
        threading.Thread(target=fast_reader, args=(kvm, kvm.login(), stop, fast), daemon=True),
    ]
    threads[0].start()
    time.sleep(0.5)  # the slow viewer is the older connection
    threads[1].start()
    try:
        time.sleep(3)
        measured_from, slow_from, fast_from = time.monotonic(), slow[0], fast[0]
        time.sleep(3)
        elapsed = time.monotonic() - measured_from
        slow_rate, fast_rate = (slow[0] - slow_from) / elapsed, (fast[0] - fast_from) / elapsed
        scores = curl("-u", "admin:admin", f"{kvm.url}/api/get_bottleneck_stats").json()
        frames = curl("-u", "admin:admin", f"{kvm.url}/api/get_frame_stats?client=all").json()
        auto = curl("-u", "admin:admin", f"{kvm.url}/api/get_frame_stats?client=auto").json()
        none = curl("-u", "admin:admin", f"{kvm.url}/api/get_frame_stats?client=none").json()
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert list(scores) == ["admin"]
    connections = list(scores["admin"].items())
    assert len(connections) == 2 and all(name.endswith("::mjpeg") for name, _ in connections)
    (slow_id, slow_scores), (fast_id, fast_scores) = connections
    # The slow viewer got about the share of the stream its 1 MB/s carries (frames are of a size).
    share = 10 * slow_rate / fast_rate
    report = (slow_scores, fast_scores, slow_rate, fast_rate)
    print("scores slow, fast; bytes/s slow, fast:", report)
    assert abs(slow_scores[2] - share) <= 2.5, report
    assert slow_scores[2] < 5, report
    assert fast_scores[2] >= 7 and fast_scores[3] >= 7, report
    assert slow_scores[3] < fast_scores[3] and slow_scores[2] < fast_scores[2] - 2, report
    assert all(0 <= value <= 10 for value in slow_scores + fast_scores)

    assert frames["frame"]["resx"] == 640 and frames["frame"]["resy"] == 360
    assert frames["frame"]["changed"] == 100  # every picture of the file differs from the one before
    stages = {stage["process_name"]: stage for stage in frames["server_side"]}
    assert stages["Screenshot"]["time"] > 0 and stages["Screenshot"]["count"] > 0
    assert "Analysis" in stages and "Send" in stages
    clients = {entry["client"]: entry for entry in frames["client_side"]}
    assert set(clients) == {slow_id, fast_id}
    assert clients[slow_id]["frames_skipped"] > clients[fast_id]["frames_skipped"]
    assert all(entry["ping"] is not None and entry["ping"] >= 0 for entry in clients.values())
    assert [entry["client"] for entry in auto["client_side"]] == [slow_id]  # the caller's first
    assert none["client_side"] == []
    # The slow viewer really was held to about 1 MB/s.
    assert slow_rate < 1.3 * RATE, report
