"""The CPU cost of a recording next to streaming alone, 1080p30, in one run (``task bench``).

``.venv/bin/python bench/recording.py [--seconds S] [--rounds N] [--no-mp4]``

The app (sim board, ``video: {source: file}``: bench/video.py's 1920x1080 MJPEG test pattern,
quality 80, passed through) at 30 fps with one MJPEG viewer reading as fast as it can. The app is
pinned to one CPU, this process (the viewer) to another, when the machine has two. Server CPU (the
run time of every thread of the app's process tree, from schedstat) over S seconds (10), in
``--rounds`` (3) rounds, each:

1. streaming alone;
2. streaming and one ``.avi`` recording at 30 fps (the captured JPEGs passed through into the file),
   started a second before its measurement and stopped after it.

The two alternate so that a change in the rest of the machine's load falls on both alike; the
figures are the medians of the rounds: ``.avi`` / streaming alone, goal <= 1.3. Then once:

3. streaming and one ``.mp4`` recording at 30 fps (H.264, libx264 from the board's encoder): reported.

Frames the viewer received per second are shown beside each (a busy machine captures fewer), and the
recordings' sizes. Exits 0 whatever the figures are; 1 only if the measurement failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    pinned_cpus,
    process_tree,
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


def run_times(pid: int) -> dict[int, int]:
    """Nanoseconds each living thread of the process tree has run (schedstat: exact, where the
    utime/stime ticks are 10 ms)."""
    found = {}
    for current in process_tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    found[int(task.name)] = int((task / "schedstat").read_text().split()[0])
    return found


def measure(pid: int, seconds: float, counts: list[int]) -> tuple[float, float]:
    """(server CPU seconds per second, frames per second the viewer received)."""
    ticks0, run0, frames0, started = cpu_seconds(pid), run_times(pid), counts[1], time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    ticks, run = cpu_seconds(pid) - ticks0, run_times(pid)
    # A thread that ended meanwhile has its time only in the ticks.
    cpu = sum(ns - run0.get(tid, 0) for tid, ns in run.items()) / 1e9 if run0.keys() <= run.keys() else ticks
    return cpu / elapsed, (counts[1] - frames0) / elapsed


@dataclass
class Row:
    name: str
    cpu: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    note: str = ""


def recorded(url: str, token: str, name: str, pid: int, seconds: float, counts: list[int], row: Row) -> None:
    """One measurement of ``row`` while recording into ``name``."""
    recording(url, token, "POST", {"filename": name, "framerate": FPS})
    time.sleep(1.0)
    cpu, fps = measure(pid, seconds, counts)
    status = recording(url, token, "DELETE")
    row.cpu.append(cpu)
    row.fps.append(fps)
    row.note = f"{status['bytes'] / 1e6:.1f} MB, {status['frames']} frames"
    if status["stopped"] != "stopped":
        raise BenchError(f"the recording {name} stopped by itself: {status['stopped']}")


def bench(args: Any) -> None:
    server_cpu, load_cpu = pinned_cpus() or (None, None)
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})  # this process: the viewer
    alone, avi, mp4 = Row("streaming alone"), Row("+ .avi recording"), Row("+ .mp4 recording")
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp_dir:
        tmp = Path(tmp_dir)
        path = test_file(Path(tempfile.gettempdir()) / "kvm-bench-video")
        with servers() as started:
            server, token = start_app("app", tmp, server_cpu, video={"source": "file", "file": str(path)})
            started.append(server)
            api(server.url, token, "POST", "/api/vm/screen", {"type": "fps", "value": FPS})
            pid = server.process.pid
            with viewer(server.url, token) as counts:
                time.sleep(2.0)  # warm: the file cached, the viewer paced
                for round_ in range(args.rounds):
                    cpu, fps = measure(pid, args.seconds, counts)
                    alone.cpu.append(cpu)
                    alone.fps.append(fps)
                    recorded(server.url, token, f"bench-{round_}.avi", pid, args.seconds, counts, avi)
                    ratio = avi.cpu[-1] / max(cpu, 1e-6)
                    line = f"round {round_ + 1}: alone {cpu:.4f}, + .avi {avi.cpu[-1]:.4f} CPU s/s ({ratio:.2f} x)"
                    print(line, flush=True)
                if args.mp4:
                    recorded(server.url, token, "bench.mp4", pid, args.seconds, counts, mp4)
    report(args, [row for row in (alone, avi, mp4) if row.cpu], server_cpu, load_cpu)


def report(args: Any, rows: list[Row], server_cpu: int | None, load_cpu: int | None) -> None:
    base = statistics.median(rows[0].cpu)
    where = f"app on CPU {server_cpu}, viewer on CPU {load_cpu}" if server_cpu is not None else "not pinned"
    print(f"\nServer CPU, 1920x1080 at {FPS} fps, one MJPEG viewer, {args.seconds:.0f} s each ({where})")
    print(f"{'':20}{'CPU s/s':>9}{'x alone':>9}{'viewer fps':>12}  rounds (CPU s/s); recording")
    for row in rows:
        cpu = statistics.median(row.cpu)
        each = " ".join(f"{value:.4f}" for value in row.cpu)
        print(
            f"{row.name:20}{cpu:9.4f}{cpu / max(base, 1e-6):9.2f}{statistics.median(row.fps):12.1f}  {each}; {row.note}"
        )
    ratio = statistics.median(rows[1].cpu) / max(base, 1e-6)
    cost = (statistics.median(rows[1].cpu) - base) * 1000
    print(f".avi (MJPEG passed through) / streaming alone: {ratio:.2f} (the recording: {cost:.1f} ms CPU per s)")
    print(f"  goal <= {GOAL}: {verdict(ratio <= GOAL)} (medians of {len(rows[0].cpu)} rounds)")
    if len(rows) > 2:
        h264 = statistics.median(rows[2].cpu) / max(base, 1e-6)
        print(f".mp4 (H.264, libx264) / streaming alone: {h264:.2f} (reported)")
    busy_note()


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="each measurement (10)")
    parser.add_argument("--rounds", type=int, default=3, help="streaming alone / + .avi rounds (3)")
    parser.add_argument("--no-mp4", dest="mp4", action="store_false", help="skip the .mp4 (H.264) figure")
    return run_bench(bench, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
