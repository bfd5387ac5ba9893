"""The CPU cost of a recording next to streaming alone, 1080p30, in one run (``task bench``).

``.venv/bin/python bench/recording.py [--seconds S]``

The app (sim board, ``video: {source: file}``: bench/video.py's 1920x1080 MJPEG test pattern,
quality 80, passed through) at 30 fps with one MJPEG viewer reading as fast as it can. Server CPU
(utime + stime of the app's process tree) over S seconds:

1. streaming alone;
2. streaming and one ``.avi`` recording at 30 fps (the captured JPEGs passed through into the file):
   goal <= 1.3 x streaming alone;
3. streaming and one ``.mp4`` recording at 30 fps (H.264, libx264 from the board's encoder): reported.

Frames the viewer received per second are shown beside each (a busy machine captures fewer), and the
recordings' sizes. Exits 0 whatever the figures are; 1 only if the measurement failed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout
from bench._common import (
    COOKIE,
    BenchError,
    api,
    argument_parser,
    busy_note,
    cpu_seconds,
    request,
    run_bench,
    servers,
    start_app,
    stream_request,
    verdict,
)
from bench.video import test_file

FPS = 30
GOAL = 1.3


@contextlib.contextmanager
def viewer(url: str, token: str) -> Iterator[list[int]]:
    """One MJPEG viewer reading everything in a thread: [bytes received, frames received]."""
    host, port = url.removeprefix("http://").split(":")
    counts = [0, 0]
    stop = threading.Event()

    def read() -> None:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(stream_request(host, port, token))
            while not stop.is_set():
                chunk = sock.recv(1 << 20)
                if not chunk:
                    return
                counts[0] += len(chunk)
                counts[1] += chunk.count(b"--frame\r\n")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join(timeout=10)


def recording(url: str, token: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Cookie": f"{COOKIE}={token}", "Content-Type": "application/json"}
    answer = request(url, method, "/recording", payload, headers, timeout=30)
    if answer.status != 200:
        raise BenchError(f"{method} /recording: {answer.status} {answer.body[:200]!r}")
    result: dict[str, Any] = json.loads(answer.body)
    return result


def measure(pid: int, seconds: float, counts: list[int]) -> tuple[float, float]:
    """(server CPU seconds per second, frames per second the viewer received)."""
    cpu0, frames0, started = cpu_seconds(pid), counts[1], time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return (cpu_seconds(pid) - cpu0) / elapsed, (counts[1] - frames0) / elapsed


def bench(args: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp_dir:
        tmp = Path(tmp_dir)
        path = test_file(Path(tempfile.gettempdir()) / "kvm-bench-video")
        rows: list[tuple[str, float, float, str]] = []
        with servers() as started:
            server, token = start_app("app", tmp, None, video={"source": "file", "file": str(path)})
            started.append(server)
            api(server.url, token, "POST", "/api/vm/screen", {"type": "fps", "value": FPS})
            pid = server.process.pid
            with viewer(server.url, token) as counts:
                time.sleep(2.0)  # warm: the file cached, the viewer paced
                cpu, fps = measure(pid, args.seconds, counts)
                rows.append(("streaming alone", cpu, fps, ""))
                for name in ("bench.avi", "bench.mp4"):
                    recording(server.url, token, "POST", {"filename": name, "framerate": FPS})
                    time.sleep(1.0)
                    cpu, fps = measure(pid, args.seconds, counts)
                    status = recording(server.url, token, "DELETE")
                    size = f"{status['bytes'] / 1e6:.1f} MB, {status['frames']} frames"
                    rows.append((f"+ {name[-4:]} recording", cpu, fps, size))
        base = rows[0][1]
        print(f"\nServer CPU, 1920x1080 at {FPS} fps, one MJPEG viewer, {args.seconds:.0f} s each")
        print(f"{'':24}{'CPU s/s':>10}{'x alone':>10}{'viewer fps':>12}  recording")
        for name, cpu, fps, size in rows:
            print(f"{name:24}{cpu:10.3f}{cpu / max(base, 1e-6):10.2f}{fps:12.1f}  {size}")
        avi = rows[1][1] / max(base, 1e-6)
        print(f".avi (MJPEG passed through) / streaming alone: {avi:.2f} (goal <= {GOAL}: {verdict(avi <= GOAL)})")
        print(f".mp4 (H.264, libx264) / streaming alone: {rows[2][1] / max(base, 1e-6):.2f} (reported)")
        busy_note()


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    return run_bench(bench, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
