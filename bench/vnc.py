"""The VNC server beside MJPEG viewers of the same source, in the same run (``task bench``).

``.venv/bin/python bench/vnc.py [--seconds S] [--clients 1,10] [--repeat P] [--keys N] [--key-rounds R]``

1. Starts the real app (``python -m app``, sim board, ``video: {source: file}`` with bench/video.py's
   1080p test pattern at 60 fps, the VNC server on, a classic VNC password so no TLS is in the way:
   MJPEG goes over plain HTTP too), pinned to one CPU; the clients run in this process on the other.
2. For 1 and 10 clients, one kind at a time: MJPEG viewers reading as fast as they can, then VNC
   clients asking for Tight (JPEG), first as simple viewers do (one incremental request after each
   update), then with continuous updates (as TigerVNC does).
   Reported: frames/s per client (median, min), the server's CPU per delivered frame (schedstat of all
   its threads over the measured window), and VNC's CPU per frame over MJPEG's (goal <= 1.2: the
   JPEG is passed through, so the two should cost about the same). ``--repeat P`` makes P passes
   over the counts and takes the median of each pass's ratio (and lists them: the spread).
3. Key latency: a VNC client on a blocking socket sends QEMU key events (down and up, one at a
   time), and the time until the report is on the keyboard gadget node (the sim board's FIFO, read
   here by poll in the same thread; the sim PC stays off so nobody else reads it) is measured:
   p50, p99 (goal <= 2 ms idle), max; in rounds alternating with bench/hid.py's floor, a bare
   process doing the same hops, so what the machine itself adds is seen beside it.

Exits 0 whatever the figures are; 1 only if the measurement failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
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
    pinned_cpus,
    run_bench,
    servers,
    start_app,
    stream_request,
    verdict,
)
from bench.hid import FloorClient, Latency, NodeReader, merge, run_latency
from bench.video import Viewer, run_seconds, run_times, test_file

FPS = 60
PASSWORD = "bench123"
CPU_RATIO_GOAL = 1.2
KEY_P99_GOAL_MS = 2.0


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


def vnc_handshake(port: int, encodings: list[int]) -> tuple[socket.socket, int, int]:
    """A blocking socket past RFB 3.8's handshake (classic VNC auth), ServerInit and SetEncodings."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise BenchError("the VNC server closed the connection")
            data += chunk
        return data

    if read(12) != b"RFB 003.008\n":
        raise BenchError("not an RFB 3.8 server")
    sock.sendall(b"RFB 003.008\n")
    types = read(read(1)[0])
    if 2 not in types:
        raise BenchError(f"VNC auth not offered: {list(types)}")
    sock.sendall(b"\x02")
    sock.sendall(vnc_answer(read(16)))
    if read(4) != b"\0\0\0\0":
        raise BenchError("VNC auth failed")
    sock.sendall(b"\x01")  # shared
    width, height = struct.unpack(">HH", read(4))
    read(16)
    read(struct.unpack(">I", read(4))[0])
    sock.sendall(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))
    return sock, width, height


class VncViewer(asyncio.BufferedProtocol):
    """Reads framebuffer updates as fast as it can (Tight JPEG rectangles skipped, not copied) and, unless
    continuous, asks for the next after each, as simple viewers do; counts the updates.

    A parser in the manner of bench/video.py's MJPEG viewer: fields are collected into ``carry``,
    payloads skipped in place."""

    def __init__(self, width: int, height: int, continuous: bool) -> None:
        self.width, self.height = width, height
        self.continuous = continuous
        self.frames = 0
        self.error = ""
        self.transport: Any = None
        self.view = memoryview(bytearray(256 * 1024))
        self.carry = bytearray()
        self.need, self.step = 1, self._kind  # collect ``need`` bytes, then call ``step`` with them
        self.skip, self.after = 0, self._rect_done  # skip ``skip`` bytes, then call ``after``
        self.rects = 0
        self.size = self.shift = 0

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        self.transport = transport
        transport.write(self._request(False))
        if self.continuous:  # EnableContinuousUpdates, as TigerVNC does once the server says it can
            transport.write(struct.pack(">BBHHHH", 150, 1, 0, 0, self.width, self.height))

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = self.error or f"connection lost ({exc})"

    def _request(self, incremental: bool) -> bytes:
        return struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.width, self.height)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        i = 0
        try:
            while i < nbytes:
                if self.skip:
                    take = min(self.skip, nbytes - i)
                    i += take
                    self.skip -= take
                    if not self.skip:
                        self.after()
                    continue
                take = min(self.need - len(self.carry), nbytes - i)
                self.carry += self.view[i : i + take]
                i += take
                if len(self.carry) == self.need:
                    data = bytes(self.carry)
                    self.carry.clear()
                    self.step(data)
        except BenchError as err:
            self.error = str(err)
            self.transport.close()

    def _expect(self, need: int, step: Callable[[bytes], None]) -> None:
        self.need, self.step = need, step

    def _kind(self, data: bytes) -> None:
        if data[0] == 150:  # EndOfContinuousUpdates: the server supports them
            return
        if data[0] != 0:
            raise BenchError(f"unexpected server message {data[0]}")
        self._expect(3, self._update)

    def _update(self, data: bytes) -> None:
        (self.rects,) = struct.unpack(">xH", data)
        self._expect(12, self._rect)
        if not self.rects:
            self._frame_done()

    def _rect(self, data: bytes) -> None:
        encoding = struct.unpack(">HHHHi", data)[4]
        if encoding == 7:
            self._expect(1, self._tight_control)
        elif encoding == -258:
            self._rect_done()
        else:
            raise BenchError(f"unexpected encoding {encoding}")

    def _tight_control(self, data: bytes) -> None:
        if data[0] != 0x90:
            raise BenchError(f"not a Tight JPEG rectangle: {data[0]:#x}")
        self.size = self.shift = 0
        self._expect(1, self._tight_length)

    def _tight_length(self, data: bytes) -> None:
        byte = data[0]
        self.size |= (byte & (0x7F if self.shift < 14 else 0xFF)) << self.shift
        self.shift += 7
        if byte & 0x80 and self.shift < 21:
            return
        self.skip, self.after = self.size, self._rect_done

    def _rect_done(self) -> None:
        self.rects -= 1
        if self.rects:
            self._expect(12, self._rect)
        else:
            self._frame_done()

    def _frame_done(self) -> None:
        self.frames += 1
        self._expect(1, self._kind)
        if not self.continuous:
            self.transport.write(self._request(True))


async def vnc_round(port: int, pid: int, count: int, seconds: float, continuous: bool) -> Round:
    loop = asyncio.get_running_loop()
    encodings = [7, -24, -313] if continuous else [7, -24]  # Tight, JPEG quality 8 (, continuous updates)
    clients: list[VncViewer] = []
    try:
        for _ in range(count):
            sock, width, height = vnc_handshake(port, encodings)
            sock.setblocking(False)
            viewer = VncViewer(width, height, continuous)
            await loop.create_connection(lambda v=viewer: v, sock=sock)  # type: ignore[misc]
            clients.append(viewer)
        await _until(lambda: all(c.frames for c in clients), "a VNC client got no frame", clients)
        await asyncio.sleep(1.0)
        counts0 = [c.frames for c in clients]
        run0, times0, t0 = run_times(pid), os.times(), time.monotonic()
        await asyncio.sleep(seconds)
        run1, times1, t1 = run_times(pid), os.times(), time.monotonic()
        counts1 = [c.frames for c in clients]
        if broken := [c.error for c in clients if c.error]:
            raise BenchError(f"a VNC client failed: {broken[0]}")
    finally:
        for client in clients:
            client.transport.close()
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


# HID usage (a..z) -> the key's XT scancode (set 1), what a QEMU extended key event carries.
XT_A_TO_Z = bytes.fromhex("1e 30 2e 20 12 21 22 23 17 24 25 26 32 31 18 19 10 13 1f 14 16 2f 11 2d 15 2c")
XT_BY_USAGE = dict(zip(range(0x04, 0x1E), XT_A_TO_Z, strict=True))


class KeyClient:
    """A VNC client on a blocking socket that types QEMU extended key events, one at a time.

    It looks like bench/hid.py's WebSocket to ``run_latency``: ``send([1] + report)`` presses the
    report's key (or, for an empty report, lets go), so the same loop, node reader and checks time it,
    and the floor (a bare process doing the same hops) runs beside it."""

    def __init__(self, port: int) -> None:
        self.sock, _, _ = vnc_handshake(port, [0, -258])  # Raw, QEMU key events; no update asked for
        self.held = 0

    def send(self, frame: bytes) -> None:
        usage = frame[3]
        down = usage != 0
        code = XT_BY_USAGE[usage] if down else self.held
        self.held = code if down else 0
        self.sock.sendall(struct.pack(">BBHII", 255, 0, int(down), 0, code))

    def close(self) -> None:
        self.sock.close()


def key_latency(port: int, node: NodeReader, floor: FloorClient, events: int, rounds: int) -> list[Latency]:
    """Rounds alternating the floor and VNC (background load on a shared machine hits both alike)."""
    client = KeyClient(port)
    node.drain()
    per_round = max(1, events // rounds)
    floors: list[Latency] = []
    vncs: list[Latency] = []
    try:
        run_latency("warm-up", client, node, 0)
        run_latency("warm-up", floor, floor.node, 0)
        for _ in range(rounds):
            floors.append(run_latency("floor (no app)", floor, floor.node, per_round, 0))
            vncs.append(run_latency("VNC QEMU key", client, node, per_round, 0))
    finally:
        client.close()
    return [merge(floors), merge(vncs), *floors, *vncs]


# --- the run ---------------------------------------------------------------------------------------


async def _until(check: Any, what: str, clients: list[VncViewer] | None = None) -> None:
    deadline = time.monotonic() + 30
    while not check():
        for client in clients or ():
            if client.error:
                raise BenchError(f"{what}: {client.error}")
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
        for _ in range(args.repeat):  # passes one after the other: a busy spell hits every kind alike
            for count in counts:
                rounds.append(asyncio.run(mjpeg_round(server.url, token, pid, count, args.seconds)))
                rounds.append(asyncio.run(vnc_round(port, pid, count, args.seconds, continuous=False)))
                rounds.append(asyncio.run(vnc_round(port, pid, count, args.seconds, continuous=True)))
        node = NodeReader(tmp_path / "root" / "dev" / "hidg0")
        floor = FloorClient(tmp_path, server_cpu)
        try:
            keys = key_latency(port, node, floor, args.keys, args.key_rounds)
        finally:
            floor.close()
            node.close()
        keep_log(server.log)
    print_table(rounds, keys)


def _encrypt(password: str) -> str:
    from app.services.auth.transport import encrypt

    return encrypt(password)


def print_table(rounds: list[Round], keys: list[Latency]) -> None:
    print(f"\n{'clients':<22} {'frames/s (median, min)':>24} {'server CPU/frame':>18} {'client CPU':>11}")
    for r in rounds:
        rates = f"{statistics.median(r.fps):.1f}, {min(r.fps):.1f}"
        print(f"{r.clients:>2} x {r.kind:<17} {rates:>24} {r.cpu_per_frame_ms:>15.3f} ms {r.client_cpu:>10.0%}")
    for count in sorted({r.clients for r in rounds}):
        mjpegs = [r for r in rounds if r.clients == count and r.kind == "MJPEG"]
        for kind in ("VNC requests", "VNC continuous"):
            vncs = [r for r in rounds if r.clients == count and r.kind == kind]
            # Each pass's VNC round over the same pass's MJPEG round; the median over the passes.
            ratios = [v.cpu_per_frame_ms / m.cpu_per_frame_ms for v, m in zip(vncs, mjpegs, strict=True)]
            ratio = statistics.median(ratios)
            spread = f" (passes: {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else ""
            print(
                f"{count} client(s), {kind}: VNC CPU per frame / MJPEG's = {ratio:.2f}{spread} "
                f"(goal <= {CPU_RATIO_GOAL}: {verdict(ratio <= CPU_RATIO_GOAL)})"
            )
    floor, vnc = keys[0], keys[1]
    rounds = (len(keys) - 2) // 2
    floors, vncs = keys[2 : 2 + rounds], keys[2 + rounds :]
    print(f"\nQEMU key event -> gadget node, one at a time, {len(vnc.samples_ns)} events in {rounds} rounds")
    print(f"{'':<16}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}  p99 per round")
    for row, parts in ((floor, floors), (vnc, vncs)):
        per_round = " ".join(f"{r.p99:.2f}" for r in parts)
        print(f"{row.name:<16}{row.p50:>8.3f}{row.p99:>8.3f}{row.max:>8.2f}  {per_round}")
    print(
        "(floor: bench/hid.py's bare process writing each report to a FIFO, pinned like the app: what the"
        " machine costs without the app; VNC: a connected client asking for no picture, capture running)"
    )
    quiet = min(range(rounds), key=lambda i: floors[i].p99)
    print(f"quietest round by the floor's p99 ({floors[quiet].p99:.2f} ms): VNC p99 {vncs[quiet].p99:.2f} ms")
    print(f"VNC key p99 {vnc.p99:.3f} ms (goal <= {KEY_P99_GOAL_MS} ms idle: {verdict(vnc.p99 <= KEY_P99_GOAL_MS)})")
    busy_note()


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per round")
    parser.add_argument("--clients", default="1,10", help="client counts, comma-separated")
    parser.add_argument("--keys", type=int, default=1000, help="key events for the latency figure")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the client counts (median ratio)")
    parser.add_argument("--key-rounds", type=int, default=5, help="rounds alternating the floor and VNC")
    return run_bench(bench, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
