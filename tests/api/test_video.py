"""The MJPEG stream, screen settings and HDMI control, through real sockets (sim and file sources)."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from tests.api.mjpeg import MjpegReader
from tests.conftest import RunningApp


def token(client: httpx.Client) -> str:
    value = client.cookies.get("nano-kvm-token")
    assert value
    return value


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def envelope(answer: httpx.Response) -> dict[str, object]:
    assert answer.status_code == 200
    return answer.json()


def test_stream_format_and_frames(kvm: RunningApp) -> None:
    admin = kvm.login()
    reader = MjpegReader(kvm.url, token(admin))
    try:
        parts = [reader.next_part() for _ in range(5)]
    finally:
        reader.close()
    assert reader.status_line == "HTTP/1.1 200 OK"
    headers = reader.response_headers
    assert headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
    assert headers["cache-control"] == "no-cache" and headers["pragma"] == "no-cache"
    assert "x-server-date" in headers
    for part in parts:
        assert part.headers["content-type"] == "image/jpeg"
        assert int(part.headers["content-length"]) == len(part.jpeg)
        assert abs(float(part.headers["x-timestamp"]) - part.received) < 2
        assert decode(part.jpeg).shape == (1080, 1920, 3)  # the sim screen's native size
    stamps = [float(p.headers["x-timestamp"]) for p in parts]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5


def test_stream_needs_a_session(kvm: RunningApp) -> None:
    assert kvm.client().get("/api/stream/mjpeg").status_code == 401
    assert kvm.login().post("/api/stream/mjpeg").status_code == 404


def test_settings_change_what_is_streamed(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert envelope(admin.post("/api/vm/gpio", json={"type": "power", "duration": 100}))["code"] == 0
    time.sleep(2.5)  # booted: the console, with text on it
    for kind, value in (("resolution", 480), ("quality", 95)):
        assert envelope(admin.post("/api/vm/screen", json={"type": kind, "value": value}))["code"] == 0
    reader = MjpegReader(kvm.url, token(admin))
    try:
        big = reader.next_part()
        assert decode(big.jpeg).shape == (480, 640, 3)
        assert envelope(admin.post("/api/vm/screen", json={"type": "quality", "value": 20}))["code"] == 0
        changed = time.time()
        small = reader.next_part()
        deadline = time.monotonic() + 10
        while float(small.headers["x-timestamp"]) < changed:  # frames captured before the change may be on the way
            assert time.monotonic() < deadline
            small = reader.next_part()
    finally:
        reader.close()
    assert decode(small.jpeg).shape == (480, 640, 3)
    assert len(small.jpeg) < len(big.jpeg)
    assert kvm.path("/kvmapp/kvm/res").read_text() == "480"
    assert kvm.path("/kvmapp/kvm/qlty").read_text() == "20"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "resolution", "value": 1234}, -1),
        ({"type": "quality", "value": 0}, -1),
        ({"type": "quality", "value": "high"}, -1),
        ({"type": "bogus", "value": 1}, -2),
        ({"value": 1}, -1),
        ({}, -1),
    ],
)
def test_bad_screen_settings(kvm: RunningApp, body: dict[str, object], code: int) -> None:
    answer = envelope(kvm.login().post("/api/vm/screen", json=body))
    assert answer["code"] == code and answer["data"] is None


def test_fps_is_clamped_and_mirrored(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert envelope(admin.post("/api/vm/screen", json={"type": "fps", "value": 500}))["code"] == 0
    assert kvm.path("/kvmapp/kvm/fps").read_text() == "60"


def count_frames(reader: MjpegReader, seconds: float) -> int:
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        reader.next_part()
        count += 1
    return count


def test_a_stalled_viewer_does_not_slow_another(kvm: RunningApp) -> None:
    admin = kvm.login()
    cookie = token(admin)
    stalled = MjpegReader(kvm.url, cookie, rcvbuf=4096)
    stalled.next_part()  # connected, then never reads again
    reader = MjpegReader(kvm.url, cookie)
    try:
        reader.next_part()
        frames = count_frames(reader, 3.0)
    finally:
        reader.close()
        stalled.close()
    assert frames >= 3.0 * 30 * 0.8, frames  # the default 30 fps, within scheduling noise


def test_a_throttled_viewer_sees_the_present(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert envelope(admin.post("/api/vm/gpio", json={"type": "power", "duration": 100}))["code"] == 0
    assert envelope(admin.post("/api/vm/screen", json={"type": "quality", "value": 100}))["code"] == 0
    reader = MjpegReader(kvm.url, token(admin), rcvbuf=16384)
    reader.chunk_size = 8192
    ages: list[float] = []
    sizes: list[int] = []
    try:
        start = time.monotonic()
        while time.monotonic() - start < 6:
            part = reader.next_part()
            time.sleep(len(part.jpeg) / 1_000_000)  # ~1 MB/s
            if time.monotonic() - start > 2:  # past the start-up
                ages.append(part.received - float(part.headers["x-timestamp"]))
                sizes.append(len(part.jpeg))
    finally:
        reader.close()
    assert len(ages) >= 5
    # Delivered at ~1 MB/s, a frame takes size/1 MB/s to arrive; it must not wait behind stale ones.
    assert statistics.median(ages) <= 0.25 + statistics.median(sizes) / 1_000_000, (ages, sizes)
    assert max(ages) < 1.0, ages


def test_capture_stops_when_nobody_watches(kvm: RunningApp) -> None:
    admin = kvm.login()
    now_fps = kvm.path("/kvmapp/kvm/now_fps")
    reader = MjpegReader(kvm.url, token(admin))
    try:
        count_frames(reader, 3.5)
        assert int(now_fps.read_text()) >= 20
    finally:
        reader.close()
    deadline = time.monotonic() + 5
    while now_fps.read_text() != "0":
        assert time.monotonic() < deadline, "capture still running without viewers"
        time.sleep(0.1)


def test_frame_detect_sends_nothing_while_the_screen_is_still(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert envelope(admin.post("/api/stream/mjpeg/detect", json={"enabled": True}))["data"] == {"enabled": True}
    reader = MjpegReader(kvm.url, token(admin))
    received: list[float] = []

    def read() -> None:
        try:
            while True:
                reader.next_part()
                received.append(time.monotonic())
        except (OSError, ConnectionError, ValueError):
            pass

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # the host is off: a black, unchanging screen
        still = len(received)
        assert still <= 2, still
        assert envelope(admin.post("/api/vm/gpio", json={"type": "power", "duration": 100}))["code"] == 0
        time.sleep(2.0)  # booting: the BIOS lines change the picture
        assert len(received) > still
    finally:
        reader.close()
        thread.join(timeout=5)
    assert envelope(admin.get("/api/stream/mjpeg/detect"))["data"] == {"enabled": True}


def test_detect_stop_reenables_afterwards(kvm: RunningApp) -> None:
    admin = kvm.login()
    started = time.monotonic()
    assert envelope(admin.post("/api/stream/mjpeg/detect/stop", json={"duration": 1}))["code"] == 0
    assert time.monotonic() - started >= 1.0
    assert envelope(admin.get("/api/stream/mjpeg/detect"))["data"] == {"enabled": True}
    assert envelope(admin.post("/api/stream/mjpeg/detect/stop", json={"duration": -1}))["code"] == -1


def test_hdmi_control(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert envelope(admin.get("/api/vm/hdmi"))["data"] == {"enabled": True, "signal": False, "idleTimeout": 0}
    assert envelope(admin.post("/api/vm/hdmi/timeout", json={"minutes": 30}))["code"] == 0
    assert envelope(admin.post("/api/vm/hdmi/timeout", json={"minutes": 10081}))["code"] == -1
    assert kvm.path("/etc/kvm/hdmi_idle_timeout").read_text() == "30"
    assert envelope(admin.post("/api/vm/hdmi/disable"))["code"] == 0
    assert kvm.path("/etc/kvm/hdmi_disable").exists()
    assert envelope(admin.get("/api/vm/hdmi"))["data"]["enabled"] is False
    reader = MjpegReader(kvm.url, token(admin))
    try:
        disabled = decode(reader.next_part().jpeg)
    finally:
        reader.close()
    assert disabled.mean() > 10  # a picture that says so, not black and not an error
    assert envelope(admin.post("/api/vm/hdmi/enable"))["code"] == 0
    assert not kvm.path("/etc/kvm/hdmi_disable").exists()
    reader = MjpegReader(kvm.url, token(admin))
    try:
        for _ in range(3):  # past any picture captured before the switch
            reader.next_part()
        assert envelope(admin.get("/api/vm/hdmi"))["data"]["signal"] is True
    finally:
        reader.close()


def write_mjpeg(path: Path, count: int, size: tuple[int, int]) -> list[bytes]:
    frames = []
    for index in range(count):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.putText(image, f"frame {index}", (20, size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        frames.append(cv2.imencode(".jpg", image)[1].tobytes())
    path.write_bytes(b"".join(frames))
    return frames


def test_file_source_passes_mjpeg_through(app_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frames = write_mjpeg(tmp_path / "demo.mjpeg", 4, (640, 360))
    kvm = app_factory({"video": {"source": "file", "file": str(tmp_path / "demo.mjpeg")}})
    reader = MjpegReader(kvm.url, token(kvm.login()))
    try:
        seen = [reader.next_part().jpeg for _ in range(8)]
    finally:
        reader.close()
    assert set(seen) == set(frames)  # byte for byte: no decode, no re-encode
    start = frames.index(seen[0])
    assert seen == [frames[(start + i) % 4] for i in range(8)]  # in order, looped
