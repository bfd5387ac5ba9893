"""End to end: vivid's HDMI input -> the app's software H.264 encoder (x264) -> a direct viewer and a
WebRTC viewer, on a real kernel.

The app runs once for the module with ``board: nanokvm``, ``video: {source: v4l2, encoder: x264}`` on
vivid's node and no STUN server. Two viewers watch for the whole module, each in its own thread:

* direct (``/api/stream/h264/direct``, a ``websockets`` client), access units decoded with PyAV;
* WebRTC (``/api/stream/h264``, an ``aiortc`` peer signalling as NanoKVM's page does), frames decoded
  by aiortc. The guest has no network card (``-nic none``) and ICE never offers loopback, so the
  module adds a ``dummy`` interface for the host candidates of both ends.

Each decoded picture is classed from a coarse grid of its luma: vivid's colour bars (the columns'
means spread widely), the app's dark "No signal" picture (low median) or other (vivid's noise).
The tests then drive the source: frames of the native size (1280x720) first; "no signal" turns into
the No-signal picture in both streams and the bars return with the signal; other DV timings
(1024x768) reach both decoders at the new size, and back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kt_usb
import kt_v4l2
import pytest
from kt_app import App

PORT = 8093
FIRST_FRAME_TIMEOUT = 150.0  # the first viewer makes the app import PyAV/cv2 and open the device
CHANGE_TIMEOUT = 60.0
FLOW = 4
DUMMY_IF, DUMMY_ADDR = "kth264", "10.213.0.1/24"

CONFIG = """\
stun: disable
video:
  source: v4l2
  device: {device}
  encoder: x264
"""


@dataclass(frozen=True)
class Seen:
    at: float  # monotonic
    size: tuple[int, int]
    kind: str  # "bars", "no-signal", "other"
    median: float
    spread: float  # of the column means

    def __repr__(self) -> str:
        return f"{self.size[0]}x{self.size[1]} {self.kind} (median {self.median:.0f}, spread {self.spread:.0f})"


def classify(frame: Any) -> tuple[str, float, float, Any]:
    """From the luma on a 1/8 grid (numpy only; Python is ~20x slower under TCG)."""
    import numpy as np

    gray = frame.to_ndarray(format="gray")[::8, ::8]
    grid = gray.astype(np.float32)
    median, spread = float(np.median(grid)), float(grid.mean(axis=0).std())
    if median < 60:
        return "no-signal", median, spread, gray  # the app's picture: (48, 32, 24) BGR with grey text
    return ("bars" if spread > 40 else "other"), median, spread, gray


class Viewer:
    """What one viewer decoded so far; ``wait(...)`` polls it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[Seen] = []
        self.decoded = 0
        self.last: Any = None  # the luma grid of the last picture looked at
        self.first_key: bool | None = None
        self.error: BaseException | None = None

    def add(self, frame: Any) -> None:
        """Every decoded picture counts; its kind is looked at 3x a second at most (a 1280x720 picture
        costs ~20x more to convert under TCG than natively, and every one of them must be decoded)."""
        self.decoded += 1
        now = time.monotonic()
        size = (frame.width, frame.height)
        if self.seen and self.seen[-1].size == size and now - self.seen[-1].at < 0.3:
            return
        kind, median, spread, self.last = classify(frame)
        self.seen.append(Seen(now, size, kind, median, spread))

    def wait(self, what: str, size: tuple[int, int], kind: str, since: float, timeout: float, count: int = 2) -> float:
        """Seconds until ``count`` pictures of ``kind`` at ``size`` were decoded after ``since``."""
        while True:
            if self.error is not None:
                raise AssertionError(f"{self.name} viewer failed after {self.decoded} pictures: {self.error!r}")
            hits = [s for s in self.seen if s.at >= since and s.size == size and s.kind == kind]
            if len(hits) >= count:
                return hits[count - 1].at - since
            if time.monotonic() - since > timeout:
                recent = self.seen[-4:]
                if self.last is not None and pathlib.Path("/out").is_dir():  # kept by run.py on failure
                    import numpy as np

                    np.save(f"/out/h264-{self.name}.npy", self.last)
                raise AssertionError(
                    f"{self.name}: no {what} within {timeout} s; {self.decoded} decoded, the last {recent}"
                )
            time.sleep(0.2)


async def watch_direct(app: App, viewer: Viewer, stop: asyncio.Event) -> None:
    import av
    from websockets.asyncio.client import connect

    decoder = av.CodecContext.create("h264", "r")
    # With flow control (as NanoKVM's page): a viewer that decodes slower than the app encodes (Python
    # ~20x slower under TCG) holds at most FLOW frames and acknowledges each one once decoded, so the
    # app never waits to send (its 2 s write deadline would end a stream whose reader lags).
    url = f"ws://127.0.0.1:{app.port}/api/stream/h264/direct?flow={FLOW}"
    async with connect(url, additional_headers={"Cookie": app.cookie}, max_size=None, open_timeout=60) as ws:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                message = await asyncio.wait_for(ws.recv(), 1.0)
                assert isinstance(message, bytes)
                if viewer.first_key is None:
                    viewer.first_key = message[0] == 1
                for frame in decoder.decode(av.Packet(message[9:])):
                    viewer.add(frame)
                await ws.send(bytes([2]) + message[1:9])  # [2, timestamp]: acknowledged


async def watch_webrtc(app: App, viewer: Viewer, stop: asyncio.Event) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{app.port}/api/stream/h264"
    async with connect(url, additional_headers={"Cookie": app.cookie}, open_timeout=60) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert first["event"] == "ice-servers" and json.loads(first["data"]) == [], first
        pc = RTCPeerConnection()
        try:
            pc.addTransceiver("video", direction="recvonly")
            track: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            pc.on("track", lambda t: track.done() or track.set_result(t))
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"type": "offer", "sdp": pc.localDescription.sdp}
            await ws.send(json.dumps({"event": "video-offer", "data": json.dumps(offer)}))
            while (message := json.loads(await asyncio.wait_for(ws.recv(), 60)))["event"] != "video-answer":
                pass
            answer = json.loads(message["data"])
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
            remote = await asyncio.wait_for(track, 60)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    viewer.add(await asyncio.wait_for(remote.recv(), 1.0))
        finally:
            await pc.close()


@dataclass
class Viewers:
    direct: Viewer
    webrtc: Viewer

    app: App
    hdmi: kt_v4l2.Vivid

    def wait(self, what: str, size: tuple[int, int], kind: str, timeout: float = CHANGE_TIMEOUT) -> str:
        since = time.monotonic()
        try:
            took = [v.wait(what, size, kind, since, timeout) for v in (self.direct, self.webrtc)]
        except AssertionError:
            status, hdmi = self.app.call("GET", "/api/vm/hdmi")
            print(f"the receiver detects {self.hdmi.query_dv_timings()}; /api/vm/hdmi: {status} {hdmi}")
            raise
        return f"direct {took[0]:.1f} s, WebRTC {took[1]:.1f} s"


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dummy_interface() -> Iterator[None]:
    subprocess.run(["modprobe", "dummy"], check=True)
    subprocess.run(["ip", "link", "add", DUMMY_IF, "type", "dummy"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", DUMMY_ADDR, "dev", DUMMY_IF], check=True)
        subprocess.run(["ip", "link", "set", DUMMY_IF, "up"], check=True)
        yield
    finally:
        subprocess.run(["ip", "link", "del", DUMMY_IF], check=False)


def _reload_vivid(*extra: str) -> str:
    subprocess.run(["modprobe", "-r", "vivid"], check=True)
    subprocess.run(["modprobe", "vivid", *kt_v4l2.VIVID_PARAMS, *extra], check=True)
    return str(kt_usb.wait_for("vivid's /dev/video*", kt_v4l2.find_vivid, 10))


@pytest.fixture(scope="module")
def hdmi(vivid_module: str) -> Iterator[kt_v4l2.Vivid]:
    """vivid as a plain HDMI receiver for this module: no crop, compose or scaler (``ccs_cap_mode=0``),
    like a TC358743, so the picture is the source's whole frame. With vivid's default composing
    capture, OpenCV's first 640x480 format leaves a 640x480 compose rectangle, and the app's 1280x720
    frames show the source shrunk into their top-left corner (the MJPEG tests only look at sizes)."""
    from conftest import _hdmi_input

    node = _reload_vivid("ccs_cap_mode=0")
    try:
        with _hdmi_input(node) as dev:
            yield dev
    finally:
        _reload_vivid()  # the session's vivid for the modules after this one


@pytest.fixture(scope="module")
def app(start_app: Any, hdmi: kt_v4l2.Vivid, dummy_interface: None) -> Iterator[App]:
    with start_app(PORT, CONFIG.format(device=hdmi.path)) as app:
        app.login()
        yield app


@pytest.fixture(scope="module")
def viewers(app: App, hdmi: kt_v4l2.Vivid) -> Iterator[Viewers]:
    """Both viewers, each in its own thread and event loop (decoding the direct stream must not hold
    up aiortc's ICE consent answers), watching until the module ends."""
    both = Viewers(Viewer("direct"), Viewer("WebRTC"), app, hdmi)
    stop = threading.Event()

    def run(viewer: Viewer, watch: Any) -> None:
        async def main() -> None:
            done = asyncio.Event()
            task = asyncio.create_task(watch(app, viewer, done))
            while not stop.is_set() and not task.done():
                await asyncio.sleep(0.2)
            done.set()
            await task

        try:
            asyncio.run(main())
        except BaseException as err:  # reported by the next wait()
            viewer.error = err

    threads = [
        threading.Thread(target=run, args=(both.direct, watch_direct), daemon=True),
        threading.Thread(target=run, args=(both.webrtc, watch_webrtc), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield both
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


# --- tests --------------------------------------------------------------------------


def test_both_viewers_decode_frames_of_the_native_size(viewers: Viewers, app: App, hdmi: kt_v4l2.Vivid) -> None:
    took = viewers.wait("colour bars at 1280x720", (1280, 720), "bars", FIRST_FRAME_TIMEOUT)
    print(f"\nfirst 1280x720 pictures decoded: {took}")
    assert viewers.direct.first_key is True, "the direct stream did not start with a key frame"
    for viewer in (viewers.direct, viewers.webrtc):
        recent = [s for s in viewer.seen if s.at > time.monotonic() - 5]
        print(f"{viewer.name}: {len(viewer.seen)} decoded, ~{len(recent) / 5:.1f} fps under TCG")
    status = app.ok("GET", "/api/vm/hdmi")
    assert status["signal"] is True


def test_no_signal_shows_the_picture_then_the_bars_return(viewers: Viewers, app: App, hdmi: kt_v4l2.Vivid) -> None:
    viewers.wait("colour bars", (1280, 720), "bars")
    hdmi.set_signal_mode("no signal")
    try:
        took = viewers.wait("the No-signal picture", (1280, 720), "no-signal")
        print(f"\nno signal: the No-signal picture after {took}")
        assert app.ok("GET", "/api/vm/hdmi")["signal"] is False
    finally:
        hdmi.set_signal_mode("current")
    print(f"signal back: colour bars after {viewers.wait('colour bars again', (1280, 720), 'bars')}")


def select_timings(hdmi: kt_v4l2.Vivid, name: str) -> None:
    index = next(i for i, label in hdmi.menu("dv_timings").items() if label.startswith(name))
    hdmi.set_ctrl("dv_timings", index)
    hdmi.set_signal_mode("selected")


def test_new_timings_reach_both_decoders_at_the_new_size(viewers: Viewers, app: App, hdmi: kt_v4l2.Vivid) -> None:
    viewers.wait("colour bars", (1280, 720), "bars")
    try:
        select_timings(hdmi, "1024x768p60")
        print(f"\n1024x768 pictures after {viewers.wait('1024x768 bars', (1024, 768), 'bars')}")
        select_timings(hdmi, "1280x720p60")
        print(f"1280x720 again after {viewers.wait('1280x720 bars again', (1280, 720), 'bars')}")
    finally:
        hdmi.set_signal_mode("current")
