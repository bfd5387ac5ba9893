"""Viewers for the H.264 tests: a direct-stream client (websockets) and a WebRTC client (aiortc),
frames decoded with PyAV."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from websockets.sync.client import ClientConnection, connect

from tests.conftest import RunningApp

PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"


def cookie(client: httpx.Client) -> dict[str, str]:
    return {"Cookie": f"nano-kvm-token={client.cookies.get('nano-kvm-token')}"}


@dataclass
class Frame:
    key: bool
    timestamp: int
    data: bytes


def parse(message: bytes) -> Frame:
    key, timestamp = struct.unpack_from("<BQ", message)
    assert key in (0, 1), key
    return Frame(key == 1, timestamp, message[9:])


def ack(timestamp: int) -> bytes:
    return bytes([2]) + struct.pack("<Q", timestamp)


RESYNC = bytes([3])


@dataclass
class DirectViewer:
    socket: ClientConnection
    decoder: Any = field(default_factory=lambda: av.CodecContext.create("h264", "r"))

    def frame(self, timeout: float = 10.0) -> Frame:
        message = self.socket.recv(timeout=timeout)
        assert isinstance(message, bytes)
        return parse(message)

    def decode(self, frame: Frame) -> list[Any]:
        return list(self.decoder.decode(av.Packet(frame.data)))

    def close(self) -> None:
        self.socket.close()


def direct(kvm: RunningApp, client: httpx.Client, query: str = "", **headers: str) -> DirectViewer:
    url = kvm.url.replace("http", "ws") + "/api/stream/h264/direct" + query
    # An unbounded client queue: a viewer not read for a while would otherwise stop reading the
    # socket, and its close would wait out the close timeout behind unread frames.
    socket = connect(url, additional_headers={**cookie(client), **headers}, open_timeout=10, max_queue=None)
    return DirectViewer(socket)


def power_on(client: httpx.Client) -> None:
    """The sim PC on: its console paints a new clock and counter into every frame."""
    assert client.post("/api/vm/gpio", json={"type": "power", "duration": 50}).json()["code"] == 0
    deadline = time.monotonic() + 20
    while client.get("/api/sim/host").json()["data"]["power"] != "on":
        assert time.monotonic() < deadline, "the sim PC did not come on"
        time.sleep(0.1)


def screen(client: httpx.Client, kind: str, value: int) -> None:
    assert client.post("/api/vm/screen", json={"type": kind, "value": value}).json()["code"] == 0


def offer_playout_delay() -> None:
    """Make this process's aiortc offer the playout-delay extension, as browsers do."""
    from aiortc import codecs
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

    video = codecs.HEADER_EXTENSIONS["video"]
    if all(ext.uri != PLAYOUT_DELAY_URI for ext in video):
        video.append(RTCRtpHeaderExtensionParameters(id=7, uri=PLAYOUT_DELAY_URI))


@dataclass
class WebRtcViewer:
    socket: Any
    pc: RTCPeerConnection
    track: Any
    first: dict[str, str]
    answer_sdp: str


@asynccontextmanager
async def webrtc(kvm: RunningApp, client: httpx.Client) -> AsyncIterator[WebRtcViewer]:
    """Signalling as NanoKVM's page does it: wait for ice-servers, offer one recvonly video
    transceiver, take the answer."""
    url = kvm.url.replace("http", "ws") + "/api/stream/h264"
    async with websockets.connect(url, additional_headers=cookie(client), open_timeout=10) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), 10))
        servers = json.loads(first["data"])
        assert isinstance(servers, list)
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        track: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pc.on("track", lambda t: track.done() or track.set_result(t))
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        await socket.send(json.dumps({"event": "video-offer", "data": json.dumps(offer)}))
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 20))
            if message["event"] == "video-answer":
                answer = json.loads(message["data"])
                break
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        try:
            yield WebRtcViewer(socket, pc, await asyncio.wait_for(track, 20), first, answer["sdp"])
        finally:
            await pc.close()
