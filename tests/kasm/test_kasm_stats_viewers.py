"""KasmVNC's frame and bottleneck statistics for every kind of viewer, with real clients: H.264 direct
(a raw socket reading 1 MB/s against a websockets client reading all it can; one acknowledging frames
with flow control), VNC over TCP (tests/vnc's RFB client: Tight in request mode, and a 1 MB/s one
against a fast one on continuous updates), noVNC's WebSocket (the same client over a websockets
connection, Raw) and WebRTC (aiortc, its RTT from RTCP)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

from app.services.auth.transport import encrypt
from tests.api.h264 import ack, cookie, direct, screen, webrtc
from tests.conftest import RunningApp, free_port, start_app
from tests.kasm.curl import curl
from tests.vnc.rfb import CONTINUOUS, JPEG_QUALITY_8, RAW, TIGHT, RfbClient

RATE = 1_000_000  # bytes a second
H264_KBPS = 40_000  # noise at 640x360: several MB/s of H.264, however loaded the machine


class Kvm:
    def __init__(self, app: RunningApp, vnc_port: int) -> None:
        self.app = app
        self.vnc_port = vnc_port
        self.admin = app.login()

    def get(self, path: str) -> Any:
        return curl("-u", "admin:admin", f"{self.app.url}{path}").json()


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kvm]:
    """A looped MJPEG file of noisy pictures (every one differs from the last: every frame is work for
    the encoders and bytes on the wire) and the VNC server on."""
    tmp = tmp_path_factory.mktemp("kasmstats")
    rng = np.random.default_rng(18)
    frames = [cv2.imencode(".jpg", rng.integers(0, 256, (360, 640, 3), np.uint8))[1].tobytes() for _ in range(8)]
    movie = tmp / "noise.mjpeg"
    movie.write_bytes(b"".join(frames))
    port = free_port()
    config = {
        "video": {"source": "file", "file": str(movie), "width": 640, "height": 360},
        "vnc": {"enabled": True, "port": port},
        "stun": "disable",
    }
    app = start_app(tmp, config)
    try:
        yield Kvm(app, port)
    finally:
        app.stop()


def account(kvm: Kvm, name: str) -> httpx.Client:
    body = {"username": name, "password": encrypt(f"{name}-pass"), "role": "viewer"}
    answer = kvm.admin.post("/api/auth/users", json=body).json()
    assert answer["code"] == 0, answer
    return kvm.app.login(name, f"{name}-pass")


def slow_direct(kvm: Kvm, client: httpx.Client, stop: threading.Event, received: list[int]) -> None:
    """A direct H.264 viewer on a small receive buffer that reads 1 MB/s (the WebSocket upgrade by
    hand: the bytes are only counted, never parsed)."""
    host, port = kvm.app.url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /api/stream/h264/direct HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Cookie: {cookie(client)['Cookie']}\r\n\r\n"
        )
        sock.sendall(request.encode())
        started = time.monotonic()
        while not stop.is_set():
            received[0] += len(sock.recv(16 << 10))
            ahead = received[0] / RATE - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


def fast_direct(kvm: Kvm, client: httpx.Client, stop: threading.Event, received: list[int]) -> None:
    viewer = direct(kvm.app, client)
    try:
        while not stop.is_set():
            received[0] += len(viewer.socket.recv(timeout=10))
    finally:
        viewer.close()


def test_a_throttled_h264_viewer_scores_its_network_low_and_a_fast_one_high(kvm: Kvm) -> None:
    screen(kvm.admin, "quality", H264_KBPS)
    stop = threading.Event()
    slow, fast = [0], [0]
    threads = [
        threading.Thread(target=slow_direct, args=(kvm, kvm.admin, stop, slow), daemon=True),
        threading.Thread(target=fast_direct, args=(kvm, account(kvm, "vera"), stop, fast), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        measured_from, slow_from, fast_from = time.monotonic(), slow[0], fast[0]
        time.sleep(3)
        elapsed = time.monotonic() - measured_from
        slow_rate, fast_rate = (slow[0] - slow_from) / elapsed, (fast[0] - fast_from) / elapsed
        scores = kvm.get("/api/get_bottleneck_stats")
        frames = kvm.get("/api/get_frame_stats?client=all")
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    # One connection per user here, each named for its kind.
    assert set(scores) == {"admin", "vera"}, scores
    ((slow_id, slow_scores),) = scores["admin"].items()
    ((fast_id, fast_scores),) = scores["vera"].items()
    assert slow_id.endswith("::h264-direct") and fast_id.endswith("::h264-direct")
    report = (slow_scores, fast_scores, slow_rate, fast_rate)
    print("scores slow, fast; bytes/s slow, fast:", report)
    assert slow_rate < 1.3 * RATE < 2 * RATE < fast_rate, report  # the stream did outrun the slow one
    assert slow_scores[2] < 5 and slow_scores[3] < 7, report
    assert fast_scores[2] >= 8 and fast_scores[3] >= 8, report
    assert all(0 <= value <= 10 for value in slow_scores + fast_scores)

    stages = {stage["process_name"]: stage for stage in frames["server_side"]}
    assert stages["H264Encoder"]["count"] > 0 and stages["H264Encoder"]["time"] > 0
    assert stages["H264Encoder"]["area"] == 640 * 360
    assert stages["Encoding_total"]["time"] >= stages["H264Encoder"]["time"]
    clients = {entry["client"]: entry for entry in frames["client_side"]}
    assert {clients[slow_id]["user"], clients[fast_id]["user"]} == {"admin", "vera"}
    assert clients[slow_id]["kind"] == clients[fast_id]["kind"] == "h264-direct"
    assert clients[slow_id]["frames_skipped"] > clients[fast_id]["frames_skipped"]
    assert clients[slow_id]["recent"]["skipped"] > clients[slow_id]["recent"]["sent"]
    assert all(entry["ping"] is not None and entry["ping"] >= 0 for entry in clients.values())
    # Handing a frame to the slow viewer's socket waits for it; the fast one's does not.
    assert clients[slow_id]["processes"][0]["time"] > clients[fast_id]["processes"][0]["time"]


class WebSocketStream:
    """noVNC's transport for the RFB client: the socket calls it makes, over WebSocket messages."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.buffer = b""

    def sendall(self, data: bytes) -> None:
        self.socket.send(data)

    def recv(self, size: int) -> bytes:
        if not self.buffer:
            message = self.socket.recv(timeout=20)
            assert isinstance(message, bytes)
            self.buffer = message
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def close(self) -> None:
        self.socket.close()


def novnc(kvm: Kvm) -> RfbClient:
    url = kvm.app.url.replace("http", "ws") + "/api/vnc/ws"
    socket = connect(url, additional_headers=cookie(kvm.admin), subprotocols=["binary"], open_timeout=10)  # type: ignore[list-item]
    client = RfbClient.__new__(RfbClient)
    client.sock = WebSocketStream(socket)
    client.width = client.height = 0
    client.name = ""
    client.login_none()  # the browser's session is the identity
    return client


def watch(client: RfbClient, stop: threading.Event, updates: list[int]) -> None:
    """Request mode, as vncdotool and noVNC without continuous updates: ask, read, ask again."""
    client.request()
    while not stop.is_set():
        client.update()
        updates[0] += 1
        client.request(incremental=True)


def test_vnc_and_novnc_clients_are_in_the_statistics(kvm: Kvm) -> None:
    tcp = RfbClient(kvm.vnc_port)
    tcp.login_vencrypt("admin", "admin", cafile=str(kvm.app.path("/etc/kvm/server.crt")))
    tcp.init([TIGHT, JPEG_QUALITY_8])
    web = novnc(kvm)
    web.init([RAW])
    stop = threading.Event()
    counts = {"tcp": [0], "web": [0]}
    threads = [
        threading.Thread(target=watch, args=(tcp, stop, counts["tcp"]), daemon=True),
        threading.Thread(target=watch, args=(web, stop, counts["web"]), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        frames = kvm.get("/api/get_frame_stats?client=all")
        scores = kvm.get("/api/get_bottleneck_stats")
        auto = kvm.get("/api/get_frame_stats")
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        tcp.close()
        web.sock.close()
    assert counts["tcp"][0] > 0 and counts["web"][0] > 0, counts
    clients = {entry["kind"]: entry for entry in frames["client_side"]}
    print("VNC clients:", clients, "scores:", scores, "server side:", frames["server_side"])
    assert {"vnc", "websocket"} <= set(clients), frames["client_side"]
    for kind in ("vnc", "websocket"):
        entry = clients[kind]
        assert entry["user"] == "admin" and entry["client"].endswith(f"::{kind}")
        assert entry["ping"] is not None and entry["ping"] >= 0, entry
        assert entry["frames_sent"] > 0 and entry["client_time"] >= 0, entry
        assert entry["client"] in scores["admin"], scores
        assert all(0 <= value <= 10 for value in scores["admin"][entry["client"]])
    # The Raw client's rectangles were encoded (and the JPEG decoded for it); the Tight client's were not.
    assert clients["websocket"]["processes"][1]["time"] > 0, clients["websocket"]
    stages = {stage["process_name"]: stage for stage in frames["server_side"]}
    assert stages["TightJPEGEncoder"]["count"] > 0 and stages["TightJPEGEncoder"]["area"] == 640 * 360
    assert stages["RawEncoder"]["count"] > 0 and stages["RawEncoder"]["time"] > 0
    assert stages["JPEGDecode"]["count"] > 0 and stages["JPEGDecode"]["time"] > 0
    assert [entry["client"] for entry in auto["client_side"]] == [clients["vnc"]["client"]]  # the first


def vnc_reader(kvm: Kvm, rate: float | None, stop: threading.Event, received: list[int]) -> None:
    """A VNC client on continuous updates (as TigerVNC) reading ``rate`` bytes a second (None: all it
    can), on a small receive buffer when slow."""
    client = RfbClient(kvm.vnc_port, rcvbuf=32 << 10 if rate else None)
    try:
        client.login_vencrypt("admin", "admin")
        client.init([TIGHT, JPEG_QUALITY_8, CONTINUOUS])
        client.request()
        client.continuous()
        started = time.monotonic()
        while not stop.is_set():
            received[0] += sum(len(jpeg) for jpeg in client.update().jpegs)
            if rate and (ahead := received[0] / rate - (time.monotonic() - started)) > 0:
                time.sleep(ahead)
    finally:
        client.close()


def test_a_throttled_vnc_client_scores_its_network_low_and_a_fast_one_high(kvm: Kvm) -> None:
    stop = threading.Event()
    slow, fast = [0], [0]
    threads = [
        threading.Thread(target=vnc_reader, args=(kvm, RATE, stop, slow), daemon=True),
        threading.Thread(target=vnc_reader, args=(kvm, None, stop, fast), daemon=True),
    ]
    threads[0].start()
    time.sleep(0.5)  # the slow client is the older connection
    threads[1].start()
    try:
        time.sleep(4)
        scores = kvm.get("/api/get_bottleneck_stats")
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    connections = [(name, value) for name, value in scores["admin"].items() if name.endswith("::vnc")]
    assert len(connections) == 2, scores
    (_, slow_scores), (_, fast_scores) = connections
    report = (slow_scores, fast_scores, slow[0], fast[0])
    print("VNC scores slow, fast; bytes slow, fast:", report)
    assert fast[0] > 3 * slow[0], report  # the picture stream did outrun the slow client
    assert slow_scores[2] < 5 and fast_scores[2] >= 8, report
    assert slow_scores[3] < fast_scores[3], report


def test_a_vnc_client_asking_seldom_is_not_counted_as_skipping(kvm: Kvm) -> None:
    """A client in request mode wants a frame only from its request to the answer (as vncdotool taking
    a screenshot now and then): the 30 frames a second it did not ask for are not its network's loss."""
    client = RfbClient(kvm.vnc_port)
    try:
        client.login_vencrypt("admin", "admin")
        client.init([TIGHT, JPEG_QUALITY_8])
        for _ in range(4):
            client.request(incremental=True)
            client.update()
            time.sleep(0.7)
        scores = kvm.get("/api/get_bottleneck_stats")
        frames = kvm.get("/api/get_frame_stats?client=all")
    finally:
        client.close()
    ((name, values),) = [(name, value) for name, value in scores["admin"].items() if name.endswith("::vnc")]
    (entry,) = [entry for entry in frames["client_side"] if entry["client"] == name]
    assert entry["frames_sent"] == 4 and entry["frames_skipped"] == 0, entry
    assert values[2] == values[3] == 10, values


async def test_a_webrtc_viewer_is_listed_with_its_rtcp_round_trip(kvm: Kvm) -> None:
    await asyncio.to_thread(screen, kvm.admin, "quality", 1000)  # a modest stream for Python RTP
    async with webrtc(kvm.app, kvm.admin) as viewer:
        received = 0

        async def receive() -> None:
            nonlocal received
            while True:
                await viewer.track.recv()
                received += 1

        receiving = asyncio.create_task(receive())
        try:
            deadline = time.monotonic() + 20
            while True:  # aiortc's sender reports, the viewer answers: a round trip within seconds
                frames = await asyncio.to_thread(kvm.get, "/api/get_frame_stats?client=all")
                entries = [entry for entry in frames["client_side"] if entry["kind"] == "webrtc"]
                if (entries and entries[0]["ping"] is not None) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            scores = await asyncio.to_thread(kvm.get, "/api/get_bottleneck_stats")
        finally:
            receiving.cancel()
    (entry,) = entries
    print("WebRTC viewer:", entry, "scores:", scores)
    assert entry["ping"] is not None and 0 < entry["ping"] < 1000, entry
    assert entry["user"] == "admin" and entry["client"].endswith("::webrtc")
    assert entry["frames_sent"] > 0 and received > 0
    assert entry["packets_lost"] >= 0
    assert entry["client"] in scores["admin"]
    assert all(0 <= value <= 10 for value in scores["admin"][entry["client"]])


def test_a_direct_viewer_acknowledging_frames_gives_its_client_time(kvm: Kvm) -> None:
    """With flow control (``?flow=8``) the viewer acknowledges each frame: the time from a frame
    leaving to its acknowledgement, less the ping, is what the viewer took: here each frame is
    acknowledged 150 ms after it arrived."""
    screen(kvm.admin, "quality", 1000)
    viewer = direct(kvm.app, kvm.admin, "?flow=8")
    due: deque[tuple[float, int]] = deque()  # (when to acknowledge, the frame's timestamp)
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                wait = due[0][0] - time.monotonic() if due else 1.0
                frame = viewer.frame(timeout=max(0.001, wait))
                due.append((time.monotonic() + 0.15, frame.timestamp))
            while due and due[0][0] <= time.monotonic():
                viewer.socket.send(ack(due.popleft()[1]))
        frames = kvm.get("/api/get_frame_stats?client=all")
    finally:
        viewer.close()
    (entry,) = [entry for entry in frames["client_side"] if entry["kind"] == "h264-direct"]
    print("direct viewer with flow control:", entry)
    assert 90 <= entry["client_time"] <= 400, entry  # 150 ms less a ping (up to a delayed ACK)
