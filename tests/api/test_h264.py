"""H.264 over a real socket: the direct stream (spec 6.3) with a websockets client and the WebRTC
route (6.2) with an aiortc client, frames decoded with PyAV; key frames on join, flow control,
resync, status on /api/ws, and the end of both streams when the session ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.api.h264 import (
    PLAYOUT_DELAY_URI,
    RESYNC,
    DirectViewer,
    ack,
    cookie,
    direct,
    offer_playout_delay,
    power_on,
    screen,
    webrtc,
)
from tests.conftest import RunningApp, start_app

SMALL = {"video": {"width": 640, "height": 360}, "stun": "disable"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One sim board for the tests that only watch (a small screen keeps the encoder cheap)."""
    app = start_app(tmp_path_factory.mktemp("h264"), SMALL)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def watcher(shared: RunningApp) -> httpx.Client:
    client = shared.login()
    power_on(client)
    return client


def frames_for(viewer: DirectViewer, seconds: float) -> list[Any]:
    """What arrives within ``seconds`` (the stream keeps going)."""
    received = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            received.append(viewer.frame(timeout=left))
        except TimeoutError:
            break
    return received


def test_direct_starts_with_a_key_frame_and_decodes(shared: RunningApp, watcher: httpx.Client) -> None:
    viewer = direct(shared, watcher)
    try:
        frames = [viewer.frame() for _ in range(15)]
    finally:
        viewer.close()
    assert frames[0].key
    assert frames[0].data.startswith(b"\x00\x00\x00\x01")  # Annex-B
    stamps = [frame.timestamp for frame in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    decoded = [picture for frame in frames for picture in viewer.decode(frame)]
    assert len(decoded) == len(frames)
    assert {(picture.width, picture.height) for picture in decoded} == {(640, 360)}


def test_a_joining_viewer_gets_a_key_frame_without_waiting_for_the_gop(
    shared: RunningApp, watcher: httpx.Client
) -> None:
    screen(watcher, "fps", 10)
    screen(watcher, "gop", 100)  # a key frame every 10 s unless one is asked for
    first = direct(shared, watcher)
    try:
        before = [first.frame() for _ in range(15)]  # 1.5 s into the GOP
        assert before[0].key and not any(frame.key for frame in before[1:])
        joined = time.monotonic()
        second = direct(shared, watcher)
        try:
            opening = second.frame()
            waited = time.monotonic() - joined
            assert opening.key
            assert waited < 3.0, waited  # far less than the 10 s GOP (generous for a loaded machine)
            assert second.decode(opening)
            # One encode for both: the first viewer got the very same key frame.
            seen = {frame.timestamp: frame for frame in frames_for(first, 3.0)}
            assert seen[opening.timestamp].data == opening.data
        finally:
            second.close()
    finally:
        first.close()
        screen(watcher, "fps", 30)
        screen(watcher, "gop", 30)


def test_flow_window_holds_frames_until_acknowledged(shared: RunningApp, watcher: httpx.Client) -> None:
    viewer = direct(shared, watcher, "?flow=2")
    try:
        held = frames_for(viewer, 1.5)
        assert len(held) == 2, len(held)  # 30 fps, but only two unacknowledged frames
        assert held[0].key
        viewer.socket.send(ack(held[-1].timestamp))
        more = frames_for(viewer, 1.5)
        assert len(more) == 2, len(more)
        assert more[0].timestamp > held[-1].timestamp
        for frame in held + more:  # nothing was skipped in between: every frame decodes
            assert viewer.decode(frame)
        viewer.socket.send(ack(more[0].timestamp))  # acknowledges one of the two: one more comes
        assert len(frames_for(viewer, 1.5)) == 1
    finally:
        viewer.close()


def test_flow_window_is_clamped_to_eight(shared: RunningApp, watcher: httpx.Client) -> None:
    viewer = direct(shared, watcher, "?flow=50")
    try:
        assert len(frames_for(viewer, 2.0)) == 8
    finally:
        viewer.close()


def test_resync_sends_a_key_frame(shared: RunningApp, watcher: httpx.Client) -> None:
    screen(watcher, "gop", 100)
    viewer = direct(shared, watcher)
    try:
        frames = [viewer.frame() for _ in range(10)]
        assert frames[0].key and not any(frame.key for frame in frames[1:])
        viewer.socket.send(RESYNC)
        deadline = time.monotonic() + 3.0  # the GOP would take 3 s at 30 fps
        while not viewer.frame().key:
            assert time.monotonic() < deadline, "no key frame after a resync"
    finally:
        viewer.close()
        screen(watcher, "gop", 30)


def test_a_client_that_keeps_resyncing_does_not_make_every_frame_a_key_frame(
    shared: RunningApp, watcher: httpx.Client
) -> None:
    """NanoKVM's page resyncs after every frame when the browser has no hardware decoder: the key
    frames it asks for are granted about once a second, so another viewer's stream stays mostly
    P frames."""
    healthy, broken = direct(shared, watcher), direct(shared, watcher)
    stop = threading.Event()

    def resync_forever() -> None:
        with contextlib.suppress(Exception):
            while not stop.is_set():
                broken.frame(timeout=5)
                broken.socket.send(RESYNC)

    thread = threading.Thread(target=resync_forever, daemon=True)
    thread.start()
    try:
        healthy.frame()
        frames = frames_for(healthy, 3.0)
        keys = sum(frame.key for frame in frames)
        assert len(frames) >= 20, len(frames)
        assert keys <= 6, (keys, len(frames))  # about one a second
    finally:
        stop.set()
        thread.join(timeout=10)
        broken.close()
        healthy.close()


def test_unknown_messages_are_ignored_and_big_ones_close(shared: RunningApp, watcher: httpx.Client) -> None:
    viewer = direct(shared, watcher)
    try:
        viewer.frame()
        viewer.socket.send(bytes([9, 9, 9]))
        viewer.socket.send("text is ignored")
        viewer.socket.send(bytes([2, 1]))  # an acknowledgement of the wrong length
        viewer.frame()
        viewer.socket.send(bytes(65))  # NanoKVM's read limit is 64 bytes
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                viewer.frame()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    finally:
        viewer.close()


@pytest.mark.parametrize("path", ["/api/stream/h264/direct", "/api/stream/h264"])
def test_streams_need_a_session_and_the_same_origin(shared: RunningApp, watcher: httpx.Client, path: str) -> None:
    url = shared.url.replace("http", "ws") + path
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=10)
    assert refused.value.response.status_code in (401, 403)  # granian answers 403 to any refused upgrade
    with pytest.raises(InvalidStatus) as foreign:
        connect(url, additional_headers={**cookie(watcher), "Origin": "http://evil.example"}, open_timeout=10)
    assert foreign.value.response.status_code == 403
    with connect(url, additional_headers={**cookie(watcher), "Origin": shared.url}, open_timeout=10) as socket:
        assert socket.recv(timeout=10)


def account(app: RunningApp, admin: httpx.Client, name: str, role: str = "viewer") -> httpx.Client:
    """A session of a new account (logging out ends every session of its user, so not admin's)."""
    from app.services.auth.transport import encrypt

    answer = admin.post("/api/auth/users", json={"username": name, "password": encrypt(f"{name}-pass"), "role": role})
    assert answer.json()["code"] == 0, answer.json()
    return app.login(name, f"{name}-pass")


def test_a_viewer_account_may_watch(shared: RunningApp, watcher: httpx.Client) -> None:
    viewer = direct(shared, account(shared, watcher, "eve"))
    try:
        assert viewer.frame().key
    finally:
        viewer.close()


def _closed_code(receive: Callable[[], Any], seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            receive()
    assert time.monotonic() < deadline + 0.5
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


def test_logout_ends_the_direct_stream_with_4401(shared: RunningApp, watcher: httpx.Client) -> None:
    client = account(shared, watcher, "dora")
    viewer = direct(shared, client)
    viewer.frame()
    assert client.post("/api/auth/logout").json()["code"] == 0
    started = time.monotonic()
    assert _closed_code(lambda: viewer.frame(timeout=5), 5.0) == 4401
    assert time.monotonic() - started < 3.0  # within a second, plus a loaded machine's slack


async def test_webrtc_viewer_decodes_the_shared_stream(shared: RunningApp, watcher: httpx.Client) -> None:
    offer_playout_delay()
    from aiortc import rtp

    seen_extensions: list[tuple[int, bytes]] = []
    original = rtp.unpack_header_extensions

    def recording(profile: int, value: bytes) -> list[tuple[int, bytes]]:
        found = original(profile, value)
        seen_extensions.extend(found)
        return found

    rtp.unpack_header_extensions = recording
    try:
        async with webrtc(shared, watcher) as viewer:
            assert viewer.first["event"] == "ice-servers"
            assert json.loads(viewer.first["data"]) == []  # stun: disable, no TURN
            sdp = viewer.answer_sdp
            assert "H264/90000" in sdp and "VP8" not in sdp
            (extmap,) = [line for line in sdp.splitlines() if PLAYOUT_DELAY_URI in line]
            playout_id = int(extmap.split(":")[1].split()[0])
            frames = [await asyncio.wait_for(viewer.track.recv(), 20) for _ in range(10)]
            assert {(frame.width, frame.height) for frame in frames} == {(640, 360)}
            assert (playout_id, bytes(3)) in seen_extensions  # min = max = 0 in the packets
            await viewer.socket.send(json.dumps({"event": "heartbeat", "data": ""}))
            echo = json.loads(await asyncio.wait_for(viewer.socket.recv(), 10))
            assert echo == {"event": "heartbeat", "data": ""}
    finally:
        rtp.unpack_header_extensions = original


async def test_webrtc_signalling_ends_with_4401_on_logout(shared: RunningApp, watcher: httpx.Client) -> None:
    client = await asyncio.to_thread(account, shared, watcher, "walt")
    async with webrtc(shared, client) as viewer:
        await asyncio.wait_for(viewer.track.recv(), 20)
        await asyncio.to_thread(lambda: client.post("/api/auth/logout"))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(3):
                while True:
                    await viewer.socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def _events(socket: Any, until: Callable[[list[dict[str, Any]]], bool], seconds: float = 10) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while not until(events):
        assert time.monotonic() < deadline, events
        message = json.loads(socket.recv(timeout=deadline - time.monotonic()))
        events.append({"type": message["type"], "data": json.loads(message["data"])})
    return events


async def test_ws_reports_h264_modes_and_capture_status(shared: RunningApp, watcher: httpx.Client) -> None:
    url = shared.url.replace("http", "ws") + "/api/ws"
    with connect(url, additional_headers=cookie(watcher), open_timeout=10) as status:
        snapshot = _events(status, lambda e: any(x["type"] == "hid-led-status" for x in e))
        (modes,) = [e["data"] for e in snapshot if e["type"] == "h264-mode-status"]
        assert set(modes) == {"generation", "revision", "direct", "webrtc", "mixed"}
        assert modes["mixed"] is False
        viewer = await asyncio.to_thread(direct, shared, watcher)
        try:
            await asyncio.to_thread(viewer.frame)
            async with webrtc(shared, watcher) as rtc:
                await asyncio.wait_for(rtc.track.recv(), 20)

                def mixed(events: list[dict[str, Any]]) -> bool:
                    return any(e["type"] == "h264-mode-status" and e["data"]["mixed"] for e in events)

                events = await asyncio.to_thread(_events, status, mixed)
                (flipped,) = [e["data"] for e in events if e["type"] == "h264-mode-status"]
                assert flipped["direct"] >= 1 and flipped["webrtc"] >= 1
                assert flipped["generation"] == modes["generation"]
                assert flipped["revision"] > modes["revision"]
        finally:
            viewer.close()
    with connect(url, additional_headers=cookie(watcher), open_timeout=10) as status:
        snapshot = _events(status, lambda e: any(x["type"] == "hid-led-status" for x in e))
        captures = {e["data"]["mode"]: e["data"] for e in snapshot if e["type"] == "capture-status"}
        assert {"direct", "h264"} <= set(captures)
        assert captures["direct"]["ok"] and captures["direct"]["result"] == 0


def test_nanokvm_board_streams_what_libkvm_encodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the NanoKVM the vendor library captures and encodes: its access units reach the direct
    viewer as they are (key flag from result 3), its JPEGs the MJPEG viewer."""
    import av
    import cv2
    import numpy as np

    from tests.api.mjpeg import MjpegReader
    from tests.standin import build_standin, script

    root = tmp_path / "root"
    library = build_standin(root / "kvmapp/server/dl_lib")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    units = []
    for index in range(3):
        picture = np.full((240, 320, 3), index * 60, np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")
        frame.pts = index
        units += [(3 if packet.is_keyframe else 4, bytes(packet)) for packet in encoder.encode(frame)]
    units += [(3 if packet.is_keyframe else 4, bytes(packet)) for packet in encoder.encode(None)]
    assert units[0][0] == 3
    _, jpeg = cv2.imencode(".jpg", np.zeros((240, 320, 3), np.uint8))
    records = [*units, (5, b""), (0, bytes(jpeg))]
    (tmp_path / "script").write_bytes(script(records))
    monkeypatch.setenv("KVM_STANDIN_SCRIPT", str(tmp_path / "script"))
    app = start_app(tmp_path, {**SMALL, "video": {"source": "libkvm"}}, root=root)
    try:
        assert library.exists()
        client = app.login()
        viewer = direct(app, client)
        try:
            got = []
            while len(got) < len(units) + 2:
                got.append(viewer.frame())
            first_key = next(i for i, frame in enumerate(got) if frame.key)
            cycle = got[first_key : first_key + len(units)]
            assert [(3 if f.key else 4, f.data) for f in cycle] == units
            assert all(viewer.decode(frame) for frame in cycle[:1])
        finally:
            viewer.close()
        reader = MjpegReader(app.url, client.cookies.get("nano-kvm-token") or "")
        try:
            assert reader.next_part().jpeg == bytes(jpeg)
        finally:
            reader.close()
    finally:
        app.stop()


async def test_a_silent_stun_server_does_not_hold_up_the_answer(tmp_path: Path) -> None:
    """A KVM on a LAN without the internet: the configured STUN server never answers. aioice alone
    would wait 5 s for it before aiortc can answer; the server waits about a second."""
    import socket

    from aioice.ice import get_host_addresses
    from aiortc import RTCConfiguration, RTCPeerConnection
    from websockets.asyncio.client import connect as connect_async

    addresses = get_host_addresses(use_ipv4=True, use_ipv6=False)
    if not addresses:
        pytest.skip("no IPv4 address but loopback here: ICE has no host candidate to query STUN from")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a STUN server that never answers
    silent.bind((addresses[0], 0))
    silent.setblocking(False)
    stun = f"{addresses[0]}:{silent.getsockname()[1]}"
    app = await asyncio.to_thread(start_app, tmp_path, {**SMALL, "stun": stun})
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        client = await asyncio.to_thread(app.login)
        url = app.url.replace("http", "ws") + "/api/stream/h264"
        async with connect_async(url, additional_headers=cookie(client), open_timeout=10) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert json.loads(first["data"]) == [{"urls": [f"stun:{stun}"]}]  # the page gets it too
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"type": "offer", "sdp": pc.localDescription.sdp}
            started = time.monotonic()
            await ws.send(json.dumps({"event": "video-offer", "data": json.dumps(offer)}))
            while json.loads(await asyncio.wait_for(ws.recv(), 20))["event"] != "video-answer":
                pass
            took = time.monotonic() - started
        request = silent.recv(2048)  # the server did ask (raises if nothing came)
        assert request[:2] == b"\x00\x01", request[:20]  # a STUN Binding request
        assert took < 4.0, f"the answer took {took:.1f} s"  # 5 s and more when it waits for STUN
    finally:
        await pc.close()
        silent.close()
        await asyncio.to_thread(app.stop)


def test_without_pyav_and_aiortc_both_routes_refuse_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A board whose Python lacks the ``h264`` extra (the zipapp): both H.264 routes close with 1011
    and the reason (our page then falls back to MJPEG), capture-status says so for each mode
    (NanoKVM's page shows it), MJPEG still streams, and nothing fails with a traceback."""
    from tests.api.mjpeg import MjpegReader

    hide = tmp_path / "hide"
    hide.mkdir()
    # sys.modules[name] = None: "import av" raises ImportError and find_spec() answers None, as when
    # the packages are not installed.
    (hide / "sitecustomize.py").write_text('import sys\nsys.modules["av"] = None\nsys.modules["aiortc"] = None\n')
    monkeypatch.setenv("PYTHONPATH", str(hide))
    app = start_app(tmp_path, SMALL)
    try:
        client = app.login()
        base = app.url.replace("http", "ws")
        with connect(base + "/api/ws", additional_headers=cookie(client), open_timeout=10) as status:
            _events(status, lambda e: any(x["type"] == "hid-led-status" for x in e))
            for path, mode, reason in (
                ("/api/stream/h264/direct", "direct", "H.264 needs PyAV on the board"),
                ("/api/stream/h264", "h264", "H.264 over WebRTC needs PyAV and aiortc on the board"),
            ):
                socket = connect(base + path, additional_headers=cookie(client), open_timeout=10)
                with socket, pytest.raises(ConnectionClosed) as closed:
                    socket.recv(timeout=10)
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, reason)
                events = _events(status, lambda e: any(x["type"] == "capture-status" for x in e))
                (report,) = [e["data"] for e in events if e["type"] == "capture-status"]
                assert (report["mode"], report["ok"], report["result"]) == (mode, False, -2)
        reader = MjpegReader(app.url, client.cookies.get("nano-kvm-token") or "")
        try:
            assert reader.next_part().jpeg.startswith(b"\xff\xd8")
        finally:
            reader.close()
        assert "Traceback" not in app.log.read_text()
    finally:
        app.stop()
