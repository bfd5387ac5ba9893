"""``GET /api/stream/mjpeg`` against a bare granian ceiling, side by side (``task bench``).

``.venv/bin/python bench/video.py [--seconds S] [--viewers 1,10,50] [--profile]``

1. Generates a 1920x1080 MJPEG file once (a moving desktop-like test pattern, OpenCV quality 80, about
   200-270 KB a frame; cached in the temp dir) and starts the real app (``python -m app``, sim board,
   ``video: {source: file}``, loopback, a temp device root) at 60 fps (``POST /api/vm/screen``).
2. The ceiling: a bare ASGI app served by granian the way ``app/__main__.py`` serves ours (embedded
   Server, ASGI interface, uvloop, one process). It builds the same multipart parts from the same file
   at 60 fps into a shared latest frame + asyncio.Event and sends each to every viewer: no auth, no pacing.
3. For 1, 10 and 50 concurrent viewers, each server in turn: the viewers read as fast as they can in
   a separate process (one uvloop loop, buffered protocols over raw sockets, payload never copied).
   Each server is pinned to CPU 0 and the viewers to CPU 1. Reported per round: delivered frames/s
   per viewer (min, median), Mbit/s, capture-to-socket latency p50/p99 (time the part was complete at
   the viewer minus its X-Timestamp: same machine, same clock), the server's CPU time per delivered
   frame (utime + stime from /proc/<pid>/stat) and both processes' CPU use (a viewer process near
   100% means the client, not the server, was the bottleneck).
4. Staleness: one viewer with a small SO_RCVBUF reading 1 MB/s; age of the frames it gets (receive
   time minus X-Timestamp), ours (paced by TCP acks) and the ceiling (unpaced: expect seconds).
5. ``--profile``: afterwards samples our app with py-spy during a 10-viewer round and prints where
   the time goes, per delivered frame (needs ``.venv/bin/pip install py-spy``).

Exits 0 whatever the figures are; 1 only if the measurement itself failed (a server did not start,
a viewer saw a broken stream or no frame).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout, for bench._common
from bench._common import (
    STREAM,
    TICK,
    BenchError,
    Server,
    StreamViewer,
    api,
    argument_parser,
    cpu_times,
    find_py_spy,
    free_port,
    keep_log,
    percentile,
    pinned_cpus,
    print_stacks,
    run_bench,
    sample,
    serve_asgi,
    servers,
    spawn_pinned,
    stacks_file,
    start_app,
    start_server,
    stream_request,
    verdict,
)

FPS = 60
WIDTH, HEIGHT, FRAMES, QUALITY = 1920, 1080, 120, 80
SERVER_CPU, CLIENT_CPU = 0, 1
THROTTLE_RATE = 1_000_000  # bytes/s read by the slow viewer
THROTTLE_RCVBUF = 32 * 1024  # its SO_RCVBUF (the kernel doubles it)
# Goals
CPU_RATIO_GOAL = 1.1  # server CPU per delivered frame, ours / ceiling
FULL_RATE = 0.95  # "the full frame rate": at least this share of FPS for every viewer
FULL_RATE_VIEWERS = 10
P99_GOAL_MS = 5.0
STALE_GOAL_MS = 250.0
IDLE_SECONDS = 3.0  # how long the servers' CPU use with no viewer is measured
SATURATED = 0.9  # a process busier than this share of its core is the bottleneck


# --- the test file ---------------------------------------------------------------------------


def make_mjpeg(path: Path) -> None:
    """A desktop-like moving picture: gradient, a terminal with scrolling text, a moving photo, a counter."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    background = np.dstack([xx / WIDTH * 180 + 40, yy / HEIGHT * 120 + 60, np.full_like(xx, 150)]).astype(np.uint8)
    photo = cv2.resize(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_CUBIC)
    grain = cv2.resize(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (640, 480))
    photo = cv2.addWeighted(photo, 0.8, grain, 0.2, 0)
    words = ["".join(chr(97 + c) for c in rng.integers(0, 26, rng.integers(2, 9))) for _ in range(4000)]
    out = bytearray()
    for i in range(FRAMES):
        image = background.copy()
        cv2.rectangle(image, (60, 60), (1100, 660), (30, 30, 30), -1)
        for line in range(24):
            start = (line + i) * 7 % 3900
            text = " ".join(words[start : start + 9])
            cv2.putText(
                image, text, (75, 90 + line * 23), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 230, 200), 1, cv2.LINE_AA
            )
        x = 1150 + (i * 8) % (WIDTH - 1150 - 640)
        image[300:780, x : x + 640] = photo
        cv2.putText(image, f"{i:04d}", (1300, 1000), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6, cv2.LINE_AA)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            raise BenchError("OpenCV could not encode the test pattern")
        out += jpeg.tobytes()
    partial = path.with_suffix(".partial")
    partial.write_bytes(out)
    partial.replace(path)


def test_file(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"pattern-{WIDTH}x{HEIGHT}-{FRAMES}f-q{QUALITY}-v2.mjpeg"
    if not path.exists():
        started = time.monotonic()
        make_mjpeg(path)
        print(f"generated {path} in {time.monotonic() - started:.1f} s", flush=True)
    return path


def jpegs(path: Path) -> list[bytes]:
    from app.board.video.file import split_mjpeg

    return split_mjpeg(path.read_bytes())


# --- processes -------------------------------------------------------------------------------


def _cpus() -> tuple[int | None, int | None]:
    """(server CPU, viewer CPU) when this machine lets us keep them apart."""
    return pinned_cpus() or (None, None)


def run_times(pid: int) -> dict[str, int]:
    """Nanoseconds each living thread has run (schedstat): precise where ticks are not, at a few % of a core."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            found[task.name] = int((task / "schedstat").read_text().split()[0])
    return found


def run_seconds(before: dict[str, int], after: dict[str, int]) -> float:
    """CPU seconds between two ``run_times``; a thread gone in between loses what it ran since ``before``."""
    return sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9


@dataclass
class Target:
    """A started server and the session cookie its viewers send ("" for the ceiling)."""

    server: Server
    cookie: str = ""

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int:
        return self.server.process.pid


def set_fps(target: Target, fps: int) -> None:
    api(target.url, target.cookie, "POST", "/api/vm/screen", {"type": "fps", "value": fps})


# --- the ceiling -----------------------------------------------------------------------------


def serve_ceiling(port: int, path: Path, fps: int) -> None:
    """Every viewer gets the latest part, built once at ``fps``: no auth, no pacing. Served as app/__main__.py."""
    from app.services.video.capture import multipart_part

    images = jpegs(path)
    headers = [
        (b"content-type", b"multipart/x-mixed-replace; boundary=frame"),
        (b"cache-control", b"no-cache"),
        (b"connection", b"keep-alive"),
        (b"pragma", b"no-cache"),
    ]

    class Shared:
        latest = b""
        new = asyncio.Event()
        viewers = 0
        producing = False
        lock = threading.Lock()
        loop: asyncio.AbstractEventLoop | None = None

    def publish(part: bytes) -> None:
        Shared.latest = part
        event, Shared.new = Shared.new, asyncio.Event()
        event.set()

    def produce() -> None:
        """As the app's capture thread: a part every 1/fps, stamped when built, handed to the loop."""
        index, next_tick = 0, time.monotonic()
        while True:
            with Shared.lock:
                if not Shared.viewers:
                    Shared.producing = False
                    return
            part = multipart_part(images[index % len(images)], time.time())
            index += 1
            assert Shared.loop is not None
            Shared.loop.call_soon_threadsafe(publish, part)
            next_tick += 1 / fps
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_tick = time.monotonic()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != STREAM:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        Shared.loop = asyncio.get_running_loop()
        with Shared.lock:
            Shared.viewers += 1
            if not Shared.producing:
                Shared.producing = True
                threading.Thread(target=produce, name="producer", daemon=True).start()
        try:
            await Shared.new.wait()
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            while True:
                await send({"type": "http.response.body", "body": Shared.latest, "more_body": True})
                await Shared.new.wait()
        except Exception:  # noqa: S110 - the viewer went away (granian raises on send)
            pass
        finally:
            with Shared.lock:
                Shared.viewers -= 1

    serve_asgi(app, port)


# --- viewers ---------------------------------------------------------------------------------


class PartParser:
    """HTTP/1.1 response head, chunked encoding and multipart parts, fed in place; JPEG bytes are never copied.

    ``feed(n)`` parses ``buf[:n]`` (the caller receives into ``view``). Every complete part is noted as
    (time complete, its X-Timestamp, its size).
    """

    LIMIT = 4096  # longest head or line looked for
    HEAD, SIZE, DATA, CRLF, RAW = range(5)

    def __init__(self, size: int = 256 * 1024) -> None:
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.state = self.HEAD
        self.carry = bytearray()
        self.chunk_left = 0
        self.part_carry = bytearray()
        self.part_left = 0  # JPEG bytes + CRLF still to come; 0: in a part's head
        self.part_size = 0
        self.stamp = 0.0
        self.parts: list[tuple[float, float, int]] = []

    def _delimited(self, carry: bytearray, start: int, end: int, delim: bytes) -> tuple[bytes | None, int]:
        """(what precedes ``delim``, where parsing goes on), or (None, end) with the bytes kept in ``carry``."""
        window = carry + self.buf[start : min(end, start + self.LIMIT)]
        found = window.find(delim)
        if found < 0:
            if len(window) >= self.LIMIT:
                raise ValueError(f"no {delim!r} in {bytes(window[:80])!r}...")
            carry[:] = window
            return None, end
        used = found + len(delim) - len(carry)
        carry.clear()
        return bytes(window[:found]), start + used

    def feed(self, n: int) -> None:
        i = 0
        while i < n:
            if self.state == self.DATA:
                take = min(self.chunk_left, n - i)
                self._payload(i, i + take)
                i += take
                self.chunk_left -= take
                if not self.chunk_left:
                    self.state = self.CRLF
            elif self.state == self.SIZE:
                line, i = self._delimited(self.carry, i, n, b"\r\n")
                if line is None:
                    return
                self.chunk_left = int(line.split(b";")[0], 16)
                if not self.chunk_left:
                    raise ConnectionError("the stream ended")
                self.state = self.DATA
            elif self.state == self.CRLF:
                line, i = self._delimited(self.carry, i, n, b"\r\n")
                if line is None:
                    return
                if line:
                    raise ValueError(f"chunk not followed by CRLF: {line[:80]!r}")
                self.state = self.SIZE
            elif self.state == self.HEAD:
                head, i = self._delimited(self.carry, i, n, b"\r\n\r\n")
                if head is None:
                    return
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ValueError(f"answer: {head[:200]!r}")
                self.state = self.SIZE if b"transfer-encoding: chunked" in head.lower() else self.RAW
            else:
                self._payload(i, n)
                i = n

    def _payload(self, i: int, end: int) -> None:
        while i < end:
            if self.part_left:
                take = min(self.part_left, end - i)
                i += take
                self.part_left -= take
                if not self.part_left:
                    self.parts.append((time.time(), self.stamp, self.part_size))
                continue
            head, i = self._delimited(self.part_carry, i, end, b"\r\n\r\n")
            if head is None:
                return
            lines = head.split(b"\r\n")
            if lines[0] != b"--frame":
                raise ValueError(f"part does not start with the boundary: {head[:80]!r}")
            fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
            length = int(fields[b"content-length"])
            self.stamp = float(fields[b"x-timestamp"])
            self.part_left = length + 2
            self.part_size = len(head) + 4 + length + 2


class Viewer(StreamViewer):
    def __init__(self, wire: bytes) -> None:
        super().__init__(wire)
        self.parser = PartParser()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.parser.view

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self.parser.feed(nbytes)
        except (ValueError, ConnectionError, KeyError) as err:
            self.error = f"{type(err).__name__}: {err}"
            self.transport.close()


def _window(parts: list[tuple[float, float, int]], t0: float, t1: float) -> list[tuple[float, float, int]]:
    return [p for p in parts if t0 <= p[0] <= t1]


async def run_viewers(url: str, cookie: str, count: int, seconds: float, warm: float) -> dict[str, Any]:
    """``count`` viewers as fast as they can; prints START and STOP around the measured window."""
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    wire = stream_request(host, port, cookie)
    viewers: list[Viewer] = []
    for _ in range(count):
        _, viewer = await loop.create_connection(lambda: Viewer(wire), host, int(port))
        viewers.append(viewer)
    deadline = time.monotonic() + 30
    while not all(v.parser.parts for v in viewers):
        if broken := [v.error for v in viewers if v.error]:
            raise BenchError(f"a viewer failed before its first frame: {broken[0]}")
        if time.monotonic() > deadline:
            raise BenchError(f"{sum(not v.parser.parts for v in viewers)} of {count} viewers got no frame in 30 s")
        await asyncio.sleep(0.01)
    await asyncio.sleep(warm)
    times0, t0 = os.times(), time.time()
    print("START", flush=True)
    await asyncio.sleep(seconds)
    times1, t1 = os.times(), time.time()
    print("STOP", flush=True)
    errors = [v.error for v in viewers if v.error]
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()
    latencies: list[float] = []
    per_viewer = []
    for viewer in viewers:
        parts = _window(viewer.parser.parts, t0, t1)
        per_viewer.append({"frames": len(parts), "bytes": sum(p[2] for p in parts)})
        latencies.extend(round((received - stamp) * 1000, 3) for received, stamp, _ in parts)
    cpu = (times1.user + times1.system) - (times0.user + times0.system)
    return {"seconds": t1 - t0, "viewers": per_viewer, "latencies": latencies, "cpu": cpu, "errors": errors}


def run_throttled(url: str, cookie: str, seconds: float, rate: int, rcvbuf: int) -> dict[str, Any]:
    """One viewer with a small receive buffer reading ``rate`` bytes/s; the age of each frame it gets."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect((host, int(port)))
    sock.sendall(stream_request(host, port, cookie))
    parser = PartParser(64 * 1024)
    started = time.monotonic()
    got = 0
    try:
        while time.monotonic() - started < seconds:
            allowed = min(int(rate * (time.monotonic() - started)) - got, len(parser.buf))
            if allowed < 4096:
                time.sleep(0.005)
                continue
            n = sock.recv_into(parser.view[:allowed])
            if not n:
                raise BenchError("the throttled viewer's stream closed")
            got += n
            parser.feed(n)
    except (ValueError, ConnectionError, KeyError, OSError) as err:
        raise BenchError(f"the throttled viewer failed: {type(err).__name__}: {err}") from None
    finally:
        sock.close()
    ages = [(received - stamp) * 1000 for received, stamp, _ in parser.parts]
    return {"seconds": time.monotonic() - started, "bytes": got, "ages": ages, "rcvbuf": rcvbuf}


# --- rounds ----------------------------------------------------------------------------------


@dataclass
class Round:
    """One server at one viewer count, summed over its alternating sub-rounds."""

    server: str
    viewers: int
    seconds: float = 0.0
    fps: list[float] = field(default_factory=list)  # per viewer per sub-round
    latencies: list[float] = field(default_factory=list)  # ms
    frames: int = 0
    bytes: int = 0
    server_run_s: float = 0.0  # precise (schedstat); user and sys below are ticks, for the kernel's share only
    server_user: float = 0.0
    server_sys: float = 0.0
    client_cpu_s: float = 0.0
    core_busy_s: float = 0.0  # the server's core, whoever used it (the server, other processes, softirq)

    @property
    def server_cpu_s(self) -> float:
        return self.server_run_s

    @property
    def kernel_share(self) -> float:
        return self.server_sys / max(self.server_user + self.server_sys, 1e-9)

    def share(self, cpu_s: float) -> float:
        """Of one core over the measured time."""
        return cpu_s / self.seconds

    def cpu_ms_per_frame(self) -> float:
        return self.server_cpu_s / max(1, self.frames) * 1000

    @property
    def mbit(self) -> float:
        return self.bytes * 8 / self.seconds / 1e6


def _client(argv: list[str], cpu: int | None) -> tuple[subprocess.Popen[str], Path]:
    return spawn_pinned(__file__, argv, cpu, "bench-video-client-")


def _finish(process: subprocess.Popen[str], err: Path, what: str) -> dict[str, Any]:
    assert process.stdout is not None
    out = process.stdout.read()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    message = err.read_text()
    err.unlink(missing_ok=True)
    if process.returncode != 0:
        raise BenchError(f"{what}: the viewer process failed ({process.returncode}):\n{message}{out}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def core_busy(cpu: int | None) -> float:
    """Seconds the core has not been idle since boot (NaN when the server is not pinned)."""
    if cpu is None:
        return float("nan")
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name == f"cpu{cpu}":
            values = [int(t) for t in ticks[:8]]  # user nice system idle iowait irq softirq steal
            return (sum(values) - values[3] - values[4]) / TICK
    return float("nan")


def idle_cpu(started: list[Target], seconds: float) -> list[float]:
    """Each server's CPU use with no viewer (the sim board's own threads, timers), as a share of one core."""
    before = [run_times(s.pid) for s in started]
    time.sleep(seconds)
    return [run_seconds(b, run_times(s.pid)) / seconds for s, b in zip(started, before, strict=True)]


def run_round(server: Target, into: Round, seconds: float, warm: float, cpus: tuple[int | None, int | None]) -> None:
    """One sub-round: ``into.viewers`` viewers for ``seconds``; the figures are added to ``into``."""
    url = server.url
    argv = ["--client", url, "--cookie", server.cookie, "--count", str(into.viewers)]
    argv += ["--seconds", str(seconds), "--warm", str(warm)]
    process, err = _client(argv, cpus[1])
    assert process.stdout is not None
    what = f"{server.name}, {into.viewers} viewers"
    marks: dict[str, tuple[float, float, float]] = {}
    runs: dict[str, dict[str, int]] = {}
    for line in process.stdout:
        if line.strip() in ("START", "STOP"):
            runs[line.strip()] = run_times(server.pid)
            marks[line.strip()] = (*cpu_times(server.pid), core_busy(cpus[0]))
        if "STOP" in marks:
            break
    result = _finish(process, err, what)
    if len(marks) != 2:
        raise BenchError(f"{what}: the viewers never started measuring")
    if result["errors"]:
        raise BenchError(f"{what}: {len(result['errors'])} viewers broke: {result['errors'][0]}")
    elapsed: float = result["seconds"]
    frames = [v["frames"] for v in result["viewers"]]
    if not sum(frames):
        raise BenchError(f"{what}: no frame delivered in {elapsed:.1f} s")
    into.seconds += elapsed
    into.fps += [f / elapsed for f in frames]
    into.latencies += result["latencies"]
    into.frames += sum(frames)
    into.bytes += sum(v["bytes"] for v in result["viewers"])
    into.server_run_s += run_seconds(runs["START"], runs["STOP"])
    into.server_user += marks["STOP"][0] - marks["START"][0]
    into.server_sys += marks["STOP"][1] - marks["START"][1]
    into.core_busy_s += marks["STOP"][2] - marks["START"][2]
    into.client_cpu_s += result["cpu"]


@dataclass
class Staleness:
    server: str
    frames: int
    median_ms: float
    max_ms: float
    kbps: float


def run_staleness(server: Target, seconds: float, cpu: int | None) -> Staleness:
    url = server.url
    argv = ["--throttled", url, "--cookie", server.cookie, "--seconds", str(seconds)]
    process, err = _client(argv, cpu)
    result = _finish(process, err, f"{server.name}, throttled viewer")
    ages: list[float] = result["ages"]
    if not ages:
        raise BenchError(f"{server.name}: the throttled viewer got no frame in {result['seconds']:.1f} s")
    return Staleness(
        server.name, len(ages), statistics.median(ages), max(ages), result["bytes"] / result["seconds"] / 1e3
    )


# --- profile ---------------------------------------------------------------------------------


def profile(server: Target, viewers: int, seconds: float, warm: float, cpus: tuple[int | None, int | None]) -> None:
    spy = find_py_spy()
    if spy is None:
        return
    rate = 1000
    raw = stacks_file("bench-video-profile-")
    # Sample the whole sub-round (connect, warm-up, window): py-spy cannot be told when the window starts.
    duration = seconds + warm + 2
    figures = Round(server.name, viewers)

    def load() -> None:
        run_round(server, figures, seconds, warm, cpus)

    sampled = sample(spy, server.pid, round(duration), rate, raw, cpus[1], duration + 30, load)
    if sampled is None:
        return
    stacks = sampled[1]
    total = stacks.total
    frames_per_s = figures.frames / figures.seconds
    print(
        f"\nProfile of our app, {viewers} viewers: {frames_per_s:.0f} frames/s delivered, server CPU"
        f" {figures.share(figures.server_cpu_s):.0%} of a core = {figures.cpu_ms_per_frame() * 1000:.0f} us/frame"
        f" (kernel {figures.kernel_share:.0%}). py-spy --gil: {total} samples of"
        f" the GIL holder at {rate}/s over ~{duration:.0f} s; us/frame = samples / {rate} / frames delivered"
        " at that rate over the same time (Rust I/O threads without the GIL and the kernel are not sampled)"
    )

    def us(samples: int) -> str:
        return f"{samples / rate / (frames_per_s * duration) * 1e6:6.0f} us/frame"

    sections = (("thread roots", stacks.threads, 6), ("self time", stacks.own, 18), ("inclusive", stacks.inclusive, 30))
    print_stacks(total, sections, us)
    print(f"  raw stacks: {raw}")


# --- main ------------------------------------------------------------------------------------


def print_table(rounds: list[Round], stale: list[Staleness], header: str, idle: list[float], floor_ms: float) -> None:
    print(f"\n{header}")
    print(f"idle CPU with no viewer: ours {idle[0]:.1%}, ceiling {idle[1]:.1%} of a core")
    print(
        f"{'server':<22}{'viewers':>8}{'fps/viewer min':>15}{'median':>7}{'Mbit/s':>8}{'lat p50':>8}{'p99 ms':>7}"
        f"{'CPU/frame':>11}{'kernel':>7}{'server':>7}{'core':>6}{'client':>7}"
    )
    for r in rounds:
        saturated = " <- client saturated" if r.share(r.client_cpu_s) >= SATURATED else ""
        print(
            f"{r.server:<22}{r.viewers:>8}{min(r.fps):>15.1f}{statistics.median(r.fps):>7.1f}{r.mbit:>8.0f}"
            f"{percentile(r.latencies, 0.5):>8.2f}{percentile(r.latencies, 0.99):>7.2f}"
            f"{r.cpu_ms_per_frame() * 1000:>9.0f}us{r.kernel_share:>7.0%}"
            f"{r.share(r.server_cpu_s):>7.0%}{r.share(r.core_busy_s):>6.0%}{r.share(r.client_cpu_s):>7.0%}{saturated}"
        )
    print(
        "(fps/viewer: frames complete at a viewer / measured time, min and median over viewers and sub-rounds\n"
        " lat: part complete at the viewer minus its X-Timestamp, p50 and p99 over every frame\n"
        " CPU/frame: the server's CPU time (schedstat, all threads) per frame delivered to any viewer;"
        " kernel: the stime share of it\n"
        " server, core, client: busy share of one core: the server process, the server's core whoever used it,"
        " the viewer process)"
    )

    by = {(r.server, r.viewers): r for r in rounds}
    names = list(dict.fromkeys(r.server for r in rounds))
    ours_name, ceiling_name = names[0], names[1]
    counts = sorted({r.viewers for r in rounds})
    print("\nGoals (ours)")
    for n in counts:
        ours, ceiling = by[(ours_name, n)], by[(ceiling_name, n)]
        ratio = ours.cpu_ms_per_frame() / ceiling.cpu_ms_per_frame()
        net = [(r.server_cpu_s - i * r.seconds) / max(1, r.frames) for r, i in ((ours, idle[0]), (ceiling, idle[1]))]
        print(
            f"  server CPU per delivered frame ours/ceiling, {n:>2} viewers: {ratio:5.2f}"
            f" (goal <= {CPU_RATIO_GOAL}: {verdict(ratio <= CPU_RATIO_GOAL)}; without the idle CPU"
            f" {net[0] / net[1] if net[1] > 0 else float('nan'):.2f})"
        )
    if (ours_name, FULL_RATE_VIEWERS) in by:
        ours, ceiling = by[(ours_name, FULL_RATE_VIEWERS)], by[(ceiling_name, FULL_RATE_VIEWERS)]
        need = FULL_RATE * FPS
        print(
            f"  every viewer at the full rate, {FULL_RATE_VIEWERS} viewers: slowest {min(ours.fps):.1f} fps"
            f" (ceiling {min(ceiling.fps):.1f}) (goal >= {need:.0f} of {FPS}: {verdict(min(ours.fps) >= need)})"
        )
        p99, p99_ceiling = percentile(ours.latencies, 0.99), percentile(ceiling.latencies, 0.99)
        print(
            f"  p99 capture-to-socket latency, {FULL_RATE_VIEWERS} viewers: {p99:.2f} ms"
            f" (ceiling {p99_ceiling:.2f}) (goal <= {P99_GOAL_MS:g} ms: {verdict(p99 <= P99_GOAL_MS)})"
        )
    if stale:
        ours_stale = stale[0]
        print(
            f"  age of frames at a {THROTTLE_RATE / 1e6:g} MB/s viewer: median {ours_stale.median_ms:.0f} ms,"
            f" max {ours_stale.max_ms:.0f} ms (goal max <= {STALE_GOAL_MS:.0f} ms:"
            f" {verdict(ours_stale.max_ms <= STALE_GOAL_MS)})"
        )
        print(
            f"\nStaleness: one viewer reading {THROTTLE_RATE / 1e6:g} MB/s with SO_RCVBUF {THROTTLE_RCVBUF // 1024} KB"
        )
        print(f"{'server':<22}{'frames':>8}{'kB/s':>8}{'age median':>12}{'max':>9}")
        for s in stale:
            print(f"{s.server:<22}{s.frames:>8}{s.kbps:>8.0f}{s.median_ms:>9.0f} ms{s.max_ms:>6.0f} ms")
        print(
            f"(age: part complete at the viewer minus its X-Timestamp; a mean frame alone takes {floor_ms:.0f} ms"
            " to arrive at this rate, so no server gets below that)"
        )
    busy = [r for r in rounds if r.share(r.client_cpu_s) >= SATURATED]
    if busy:
        print(
            "note: the viewer process kept its core busy in "
            + ", ".join(f"{r.server} x{r.viewers}" for r in busy)
            + ": there the client, not the server, may set the frame rate; CPU per frame still compares servers"
        )
    crowded = [r for r in rounds if r.share(r.core_busy_s - r.server_cpu_s) > 0.2]
    if crowded:
        print(
            "note: other work used the server's core in "
            + ", ".join(f"{r.server} x{r.viewers} ({r.share(r.core_busy_s - r.server_cpu_s):.0%})" for r in crowded)
            + ": latency and frame rate there are noisy (rounds alternate, so both servers share the noise)"
        )


def bench(args: argparse.Namespace) -> None:
    cpus = _cpus()
    counts = [int(n) for n in args.viewers.split(",")]
    reps = max(1, args.rounds)
    video = test_file(Path(args.cache))
    sizes = [len(i) for i in jpegs(video)]
    header = (
        f"MJPEG {WIDTH}x{HEIGHT} at {FPS} fps, {len(sizes)} frames of {min(sizes) // 1024}-{max(sizes) // 1024} KB"
        f" (mean {statistics.mean(sizes) / 1024:.0f}); per server and viewer count {args.seconds:g} s measured in"
        f" {reps} sub-rounds alternating with the other server, each after {args.warm:g} s warm-up;"
    )
    header += (
        f" servers pinned to CPU {cpus[0]}, viewers to CPU {cpus[1]}"
        if cpus[0] is not None
        else " one CPU: servers and viewers share it"
    )
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp_name, servers() as started:
        tmp = Path(tmp_name)
        server, token = start_app("ours (litestar, auth)", tmp, cpus[0], video={"source": "file", "file": str(video)})
        started.append(server)
        ours = Target(server, token)
        set_fps(ours, FPS)
        port = free_port()
        argv = [sys.executable, __file__, "--serve-ceiling", str(port), "--file", str(video)]
        started.append(start_server("ceiling (bare ASGI)", argv, port, tmp / "ceiling.log", cpus[0]))
        ceiling = Target(started[-1])

        idle = idle_cpu([ours, ceiling], IDLE_SECONDS)
        rounds: list[Round] = []
        for n in counts:
            pair = [Round(ours.name, n), Round(ceiling.name, n)]
            for _ in range(reps):
                for server, into in zip((ours, ceiling), pair, strict=True):
                    run_round(server, into, args.seconds / reps, args.warm, cpus)
            for r in pair:
                print(
                    f"  {r.server} x{n}: {statistics.median(r.fps):.1f} fps/viewer,"
                    f" p99 {percentile(r.latencies, 0.99):.1f} ms, {r.cpu_ms_per_frame() * 1000:.0f} us CPU/frame",
                    flush=True,
                )
            rounds += pair
        stale = [run_staleness(server, args.seconds, cpus[1]) for server in (ours, ceiling)]
        ceiling.server.stop()
        print_table(rounds, stale, header, idle, statistics.mean(sizes) / THROTTLE_RATE * 1000)
        if args.profile:
            profile(ours, FULL_RATE_VIEWERS, args.seconds, args.warm, cpus)
        keep_log(tmp / "app.log")


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per round (8)")
    parser.add_argument("--warm", type=float, default=0.5, help="seconds after every viewer's first frame (0.5)")
    parser.add_argument("--viewers", default="1,10,50", help="viewer counts (1,10,50)")
    parser.add_argument("--profile", action="store_true", help="then sample our app with py-spy, 10 viewers")
    parser.add_argument("--rounds", type=int, default=4, help="alternating sub-rounds the seconds are split in (4)")
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "bench-video-cache"),
        help="where the generated MJPEG file is kept between runs",
    )
    # Internal: the ceiling server and the viewers run as their own pinned processes.
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--throttled", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--cookie", default="", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling, args.file, FPS)
        return 0
    if args.client or args.throttled:
        try:
            if args.client:
                import uvloop

                result = uvloop.run(run_viewers(args.client, args.cookie, args.count, args.seconds, args.warm))
            else:
                result = run_throttled(args.throttled, args.cookie, args.seconds, THROTTLE_RATE, THROTTLE_RCVBUF)
        except BenchError as err:
            print(f"measurement failed: {err}", file=sys.stderr)
            return 1
        print(json.dumps(result))
        return 0
    return run_bench(bench, args)


if __name__ == "__main__":
    sys.exit(main())
