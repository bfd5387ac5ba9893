"""The VNC server beside MJPEG viewers of the same source, in the same run (``task bench``).

``.venv/bin/python bench/vnc.py [--seconds S] [--clients 1,10] [--keys N]``

1. Starts the real app (``python -m app``, sim board, ``video: {source: file}`` with bench/video.py's
   1080p test pattern at 60 fps, the VNC server on, a classic VNC password so no TLS is in the way:
   MJPEG goes over plain HTTP too), pinned to one CPU; the clients run in this process on the other.
2. For 1 and 10 clients, one kind at a time: MJPEG viewers reading as fast as they can, then VNC
   clients asking for Tight (JPEG), first as simple viewers do (one incremental request after each
   update), then with continuous updates (as TigerVNC does).
   Reported: frames/s per client (median, min), the server's CPU per delivered frame (schedstat of all
   its threads over the measured window), and VNC's CPU per frame over MJPEG's (goal <= 1.2: the
   JPEG is passed through, so the two should cost about the same).
3. Key latency: a VNC client sends QEMU key events (down and up, one at a time), and the time until
   the report is on the keyboard gadget node (the sim board's FIFO, read here; the sim PC stays off
   so nobody else reads it) is measured: p50, p99 (goal <= 2 ms idle), max.

Exits 0 whatever the figures are; 1 only if the measurement failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout
from Crypto.Cipher import DES

from bench._common import (
    BenchError,
    api,
    argument_parser,
    busy_note,
    free_port,
    keep_log,
    percentile,
    pinned_cpus,
    run_bench,
    servers,
    start_app,
    stream_request,
    verdict,
)
from bench.hid import NodeReader
from bench.video import Viewer, run_seconds, run_times, test_file

FPS = 60
PASSWORD = "bench123"
CPU_RATIO_GOAL = 1.2
KEY_P99_GOAL_MS = 2.0
KEY_SCANCODES = (0x1E, 0x30, 0x2E, 0x20)  # a, b, c, d


@dataclass
class Round:
    kind: str
    clients: int
    fps: list[float]
    cpu_per_frame_ms: float
    client_cpu: float


# --- MJPEG viewers ---------------------------------------------------------------------------------


async def mjpeg_round(url: str, cookie: str, pid: int, count: int, seconds: float) -> Round:
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    wire = stream_request(host, port, cookie)
    viewers: list[Viewer] = []
    for _ in range(count):
        _, viewer = await loop.create_connection(lambda: Viewer(wire), host, int(port))
        viewers.append(viewer)
    await _until(lambda: all(v.parser.parts for v in viewers), "an MJPEG viewer got no frame")
    await asyncio.sleep(1.0)
    counts0 = [len(v.parser.parts) for v in viewers]
    run0, times0, t0 = run_times(pid), os.times(), time.monotonic()
    await asyncio.sleep(seconds)
    run1, times1, t1 = run_times(pid), os.times(), time.monotonic()
    counts1 = [len(v.parser.parts) for v in viewers]
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()
    frames = [b - a for a, b in zip(counts0, counts1, strict=True)]
    return _round("MJPEG", count, frames, t1 - t0, run_seconds(run0, run1), times0, times1)


# --- VNC clients -----------------------------------------------------------------------------------


def vnc_answer(challenge: bytes) -> bytes:
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in PASSWORD.encode()[:8].ljust(8, b"\0"))
    return bytes(DES.new(key, DES.MODE_ECB).encrypt(challenge))  # noqa: S304 - RFC 6143's VNC auth


class VncClient:
    def __init__(self) -> None:
        self.frames = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.width = self.height = 0

    async def connect(self, port: int, encodings: list[int]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.reader, self.writer = reader, writer
        assert await reader.readexactly(12) == b"RFB 003.008\n"
        writer.write(b"RFB 003.008\n")
        types = await reader.readexactly((await reader.readexactly(1))[0])
        if 2 not in types:
            raise BenchError(f"VNC auth not offered: {list(types)}")
        writer.write(b"\x02")
        writer.write(vnc_answer(await reader.readexactly(16)))
        if await reader.readexactly(4) != b"\0\0\0\0":
            raise BenchError("VNC auth failed")
        writer.write(b"\x01")
        self.width, self.height = struct.unpack(">HH", await reader.readexactly(4))
        await reader.readexactly(16)
        await reader.readexactly(struct.unpack(">I", await reader.readexactly(4))[0])
        writer.write(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))

    def continuous(self) -> None:
        """EnableContinuousUpdates, as TigerVNC does once the server says it can."""
        assert self.writer is not None
        self.writer.write(struct.pack(">BBHHHH", 150, 1, 0, 0, self.width, self.height))

    def request(self, incremental: bool) -> None:
        assert self.writer is not None
        self.writer.write(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.width, self.height))

    async def watch(self, continuous: bool) -> None:
        """Read updates, asking for the next after each (or not: continuous updates), until cancelled."""
        assert self.reader is not None
        read = self.reader.readexactly
        self.request(False)
        if continuous:
            self.continuous()
        while True:
            kind = (await read(1))[0]
            if kind == 150:  # EndOfContinuousUpdates: the server supports them
                continue
            if kind != 0:
                raise BenchError(f"unexpected server message {kind}")
            (count,) = struct.unpack(">xH", await read(3))
            for _ in range(count):
                _, _, _, _, encoding = struct.unpack(">HHHHi", await read(12))
                if encoding == 7:
                    await read(1)
                    size, shift = 0, 0
                    for i in range(3):
                        byte = (await read(1))[0]
                        size |= (byte & (0x7F if i < 2 else 0xFF)) << shift
                        shift += 7
                        if not byte & 0x80:
                            break
                    await read(size)
                elif encoding == -258:
                    pass
                else:
                    raise BenchError(f"unexpected encoding {encoding}")
            self.frames += 1
            if not continuous:
                self.request(True)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def vnc_round(port: int, pid: int, count: int, seconds: float, continuous: bool) -> Round:
    clients = [VncClient() for _ in range(count)]
    for client in clients:
        await client.connect(port, [7, -24, -313] if continuous else [7, -24])  # Tight, JPEG quality 8
    tasks = [asyncio.create_task(c.watch(continuous)) for c in clients]
    try:
        await _until(lambda: all(c.frames for c in clients), "a VNC client got no frame", tasks)
        await asyncio.sleep(1.0)
        counts0 = [c.frames for c in clients]
        run0, times0, t0 = run_times(pid), os.times(), time.monotonic()
        await asyncio.sleep(seconds)
        run1, times1, t1 = run_times(pid), os.times(), time.monotonic()
        counts1 = [c.frames for c in clients]
    finally:
        for task in tasks:
            task.cancel()
        for client in clients:
            client.close()
    frames = [b - a for a, b in zip(counts0, counts1, strict=True)]
    return _round(
        "VNC continuous" if continuous else "VNC requests",
        count,
        frames,
        t1 - t0,
        run_seconds(run0, run1),
        times0,
        times1,
    )


async def key_latency(port: int, node: NodeReader, events: int) -> list[float]:
    client = VncClient()
    await client.connect(port, [0, -258])
    assert client.writer is not None
    node.drain()
    samples: list[float] = []
    try:
        for i in range(events):
            code = KEY_SCANCODES[(i // 2) % len(KEY_SCANCODES)]
            down = i % 2 == 0
            t0 = time.perf_counter_ns()
            client.writer.write(struct.pack(">BBHII", 255, 0, int(down), 0, code))
            report = await asyncio.to_thread(node.report, 2.0)
            t1 = time.perf_counter_ns()
            if report is None:
                raise BenchError(f"key event {i} did not reach the gadget node in 2 s")
            if i >= 20:  # warm-up
                samples.append((t1 - t0) / 1e6)
    finally:
        client.close()
    return samples


# --- the run ---------------------------------------------------------------------------------------


async def _until(check: Any, what: str, tasks: list[asyncio.Task[None]] | None = None) -> None:
    deadline = time.monotonic() + 30
    while not check():
        for task in tasks or ():
            if task.done() and task.exception() is not None:
                raise BenchError(f"{what}: {task.exception()}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what} in 30 s")
        await asyncio.sleep(0.01)


def _round(kind: str, count: int, frames: list[int], seconds: float, cpu: float, t0: Any, t1: Any) -> Round:
    total = sum(frames)
    if not total:
        raise BenchError(f"{kind}: no frame in the measured window")
    client_cpu = ((t1.user + t1.system) - (t0.user + t0.system)) / seconds
    return Round(kind, count, [f / seconds for f in frames], cpu / total * 1000, client_cpu)


def bench(args: argparse.Namespace) -> None:
    cpus = pinned_cpus()
    server_cpu, client_cpu = cpus if cpus else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp, servers() as started:
        tmp_path = Path(tmp)
        video = test_file(Path(tempfile.gettempdir()) / "kvm-bench-video")
        port = free_port()
        server, token = start_app(
            "app",
            tmp_path,
            server_cpu,
            video={"source": "file", "file": str(video)},
            vnc={"enabled": True, "port": port},
        )
        started.append(server)
        api(server.url, token, "POST", "/api/vm/screen", {"type": "fps", "value": FPS})
        api(server.url, token, "POST", "/api/vnc/settings", {"password": _encrypt(PASSWORD)})
        pid = server.process.pid
        rounds: list[Round] = []
        for count in counts:
            rounds.append(asyncio.run(mjpeg_round(server.url, token, pid, count, args.seconds)))
            rounds.append(asyncio.run(vnc_round(port, pid, count, args.seconds, continuous=False)))
            rounds.append(asyncio.run(vnc_round(port, pid, count, args.seconds, continuous=True)))
        node = NodeReader(tmp_path / "root" / "dev" / "hidg0")
        try:
            keys = asyncio.run(key_latency(port, node, args.keys))
        finally:
            node.close()
        keep_log(server.log)
    print_table(rounds, keys)


def _encrypt(password: str) -> str:
    from app.services.auth.transport import encrypt

    return encrypt(password)


def print_table(rounds: list[Round], keys: list[float]) -> None:
    print(f"\n{'clients':<22} {'frames/s (median, min)':>24} {'server CPU/frame':>18} {'client CPU':>11}")
    for r in rounds:
        rates = f"{statistics.median(r.fps):.1f}, {min(r.fps):.1f}"
        print(f"{r.clients:>2} x {r.kind:<17} {rates:>24} {r.cpu_per_frame_ms:>15.3f} ms {r.client_cpu:>10.0%}")
    for count in sorted({r.clients for r in rounds}):
        mjpeg = next(r for r in rounds if r.clients == count and r.kind == "MJPEG")
        for vnc in (r for r in rounds if r.clients == count and r.kind != "MJPEG"):
            ratio = vnc.cpu_per_frame_ms / mjpeg.cpu_per_frame_ms
            print(
                f"{count} client(s), {vnc.kind}: VNC CPU per frame / MJPEG's = {ratio:.2f} "
                f"(goal <= {CPU_RATIO_GOAL}: {verdict(ratio <= CPU_RATIO_GOAL)})"
            )
    p99 = percentile(keys, 0.99)
    print(
        f"\nQEMU key event -> gadget node, {len(keys)} events: p50 {percentile(keys, 0.5):.3f} ms, "
        f"p99 {p99:.3f} ms, max {max(keys):.3f} ms (goal p99 <= {KEY_P99_GOAL_MS} ms idle: "
        f"{verdict(p99 <= KEY_P99_GOAL_MS)})"
    )
    busy_note()


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per round")
    parser.add_argument("--clients", default="1,10", help="client counts, comma-separated")
    parser.add_argument("--keys", type=int, default=1000, help="key events for the latency figure")
    return run_bench(bench, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
