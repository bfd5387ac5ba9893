"""End to end: the app (``python -m app``) streams vivid's HDMI input over HTTP on a real kernel.

The app runs once for the module in the guest with ``board: nanokvm`` and ``video: {source: v4l2,
device: <vivid's node>}`` (and the gpio-sim ATX lines its board needs); the test logs in, reads
``/api/stream/mjpeg`` over a raw socket and drives the "HDMI source" through vivid's controls:

* frames come at the receiver's native size (1280x720 DV timings), not at OpenCV's default
  640x480 nor at the configured 1920x1080, and JPEG-encoded by the app (vivid has no MJPEG);
* "no signal" (vivid keeps delivering noise) turns into the app's "No signal" picture --
  one cached JPEG, sent again and again -- and ``/api/vm/hdmi`` ``signal: false``; with the
  signal back, real frames return;
* other timings at the source (vivid's "selected DV timings", which a streaming capture cannot
  stop) make the app reopen the capture at the new size.

Only the app imports cv2; frame sizes come from the JPEG headers.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import kt_v4l2
import pytest
from kt_app import App

PORT = 8091
FIRST_FRAME_TIMEOUT = 120.0  # the first viewer makes the app import cv2 and open the device
CHANGE_TIMEOUT = 60.0  # a signal/timings change until the stream shows it

VIDEO_CONFIG = """\
video:
  source: v4l2
  device: {device}
"""


# --- MJPEG --------------------------------------------------------------------------


@dataclass
class Part:
    jpeg: bytes
    size: tuple[int, int]  # width, height from the JPEG's SOF header
    received: float  # monotonic


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first SOFn segment of a baseline/progressive JPEG."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i + 9 < len(data):
        assert data[i] == 0xFF, f"bad JPEG marker at {i}"
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    raise AssertionError("no SOF segment in the JPEG")


class MjpegReader:
    """``GET /api/stream/mjpeg`` over a raw socket (after tests/api/mjpeg.py): one part at a time."""

    def __init__(self, token: str, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
        self.sock.sendall(
            f"GET /api/stream/mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: nano-kvm-token={token}\r\n\r\n".encode()
        )
        self.buffer = b""
        self.body = b""  # de-chunked
        self.headers: dict[str, str] = {}
        self.status_line = ""

    def _fill(self) -> None:
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("stream closed")
        self.buffer += data

    def _take(self, need: int) -> None:
        """Until ``body`` holds ``need`` bytes (de-chunking if the response is chunked)."""
        while len(self.body) < need:
            if self.headers.get("transfer-encoding") != "chunked":
                if not self.buffer:
                    self._fill()
                self.body, self.buffer = self.body + self.buffer, b""
                continue
            while b"\r\n" not in self.buffer:
                self._fill()
            size_line, rest = self.buffer.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(rest) < size + 2:
                self._fill()
                rest = self.buffer.split(b"\r\n", 1)[1]
            self.body += rest[:size]
            self.buffer = rest[size + 2 :]

    def next_part(self) -> Part:
        if not self.status_line:
            while b"\r\n\r\n" not in self.buffer:
                self._fill()
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            self.status_line = lines[0]
            self.headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
            assert self.status_line == "HTTP/1.1 200 OK", self.status_line
        self._take(4)
        while b"\r\n\r\n" not in self.body:
            self._take(len(self.body) + 1)
        head, self.body = self.body.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert lines[0] == "--frame", lines[0]
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        assert headers["content-type"] == "image/jpeg"
        length = int(headers["content-length"])
        self._take(length + 2)
        jpeg, tail, self.body = self.body[:length], self.body[length : length + 2], self.body[length + 2 :]
        assert tail == b"\r\n"
        return Part(jpeg, jpeg_size(jpeg), time.monotonic())

    def read_until(self, what: str, done: Callable[[list[Part]], bool], timeout: float) -> tuple[list[Part], float]:
        """Parts until ``done(parts so far)``; (the parts, seconds it took)."""
        t0 = time.monotonic()
        parts: list[Part] = []
        while not done(parts):
            if time.monotonic() - t0 > timeout:
                sizes = [(p.size, len(p.jpeg)) for p in parts[-5:]]
                raise AssertionError(f"no {what} within {timeout} s; {len(parts)} parts, the last: {sizes}")
            parts.append(self.next_part())
        return parts, time.monotonic() - t0

    def close(self) -> None:
        self.sock.close()


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(start_app: Callable[..., App], hdmi: kt_v4l2.Vivid) -> Iterator[App]:
    """The app on vivid's node, logged in; it stops before ``hdmi`` is restored."""
    with start_app(PORT, VIDEO_CONFIG.format(device=hdmi.path)) as app:
        app.login()
        yield app


@pytest.fixture(scope="module")
def stream(app: App) -> Iterator[MjpegReader]:
    """One viewer for the module: the capture stays open across the tests, as for a real viewer."""
    reader = MjpegReader(app.token, timeout=FIRST_FRAME_TIMEOUT)
    try:
        yield reader
    finally:
        reader.close()


def hdmi_signal(app: App) -> bool:
    signal: bool = app.ok("GET", "/api/vm/hdmi")["signal"]
    return signal


def real_frames(size: tuple[int, int], count: int = 3) -> Callable[[list[Part]], bool]:
    """The last ``count`` parts are of ``size`` and all different (vivid's OSD counts frames)."""

    def done(parts: list[Part]) -> bool:
        last = parts[-count:]
        return len(last) == count and {p.size for p in last} == {size} and len({p.jpeg for p in last}) == count

    return done


# --- tests --------------------------------------------------------------------------


def test_frames_at_the_native_hdmi_size(stream: MjpegReader, app: App, hdmi: kt_v4l2.Vivid) -> None:
    t0 = time.monotonic()
    first = stream.next_part()
    print(f"\nfirst frame after {time.monotonic() - t0:.1f} s: {first.size}, {len(first.jpeg)} bytes")
    assert "multipart/x-mixed-replace" in stream.headers["content-type"]
    parts, took = stream.read_until("5 real 1280x720 frames", real_frames((1280, 720), 5), CHANGE_TIMEOUT)
    fps = (len(parts) - 1) / max(parts[-1].received - parts[0].received, 1e-6)
    print(
        f"{len(parts)} parts in {took:.1f} s (~{fps:.1f} fps under TCG), "
        f"{statistics.median(len(p.jpeg) for p in parts):.0f} bytes median"
    )
    assert hdmi_signal(app) is True
    assert hdmi.get_format()[:2] == (1280, 720), "the app asked vivid for another size (its scaler obliged)"


def test_no_signal_shows_the_no_signal_picture_then_frames_return(
    stream: MjpegReader, app: App, hdmi: kt_v4l2.Vivid
) -> None:
    before, _ = stream.read_until("real frames", real_frames((1280, 720)), CHANGE_TIMEOUT)
    real_size = statistics.median(len(p.jpeg) for p in before[-3:])
    hdmi.set_signal_mode("no signal")
    try:
        # vivid keeps delivering (noise); the app must notice and send its one cached picture.
        parts, took = stream.read_until(
            "the No-signal picture",
            lambda ps: len(ps) >= 3 and ps[-1].jpeg == ps[-2].jpeg == ps[-3].jpeg,
            CHANGE_TIMEOUT,
        )
        picture = parts[-1]
        sizes = [len(p.jpeg) for p in parts]
        print(
            f"\nno signal: the same picture 3x after {took:.1f} s ({len(parts)} parts, sizes {sizes}); "
            f"real frames ~{real_size:.0f} bytes"
        )
        assert picture.size == (1280, 720)  # the no-signal picture takes the viewer's (native) size
        assert len(picture.jpeg) < real_size, "not the plain No-signal picture"
        assert hdmi_signal(app) is False
        noisy = [p for p in parts if len(p.jpeg) > 2 * real_size]
        print(f"frames that look like noise (> 2x a real frame) before the picture: {len(noisy)}")
    finally:
        hdmi.set_signal_mode("current")
    parts, took = stream.read_until("real frames again", real_frames((1280, 720)), CHANGE_TIMEOUT)
    print(f"signal back: real 1280x720 frames after {took:.1f} s ({len(parts)} parts)")
    assert hdmi_signal(app) is True


def select_timings(hdmi: kt_v4l2.Vivid, name: str) -> None:
    """The source switches to other timings: vivid's "selected DV timings" (QUERY_DV_TIMINGS then
    reports them while the capture streams on at the old ones, as a real receiver would)."""
    index = next(i for i, label in hdmi.menu("dv_timings").items() if label.startswith(name))
    hdmi.set_ctrl("dv_timings", index)
    hdmi.set_signal_mode("selected")


def test_new_source_timings_reopen_the_capture_at_the_new_size(
    stream: MjpegReader, app: App, hdmi: kt_v4l2.Vivid
) -> None:
    stream.read_until("real frames", real_frames((1280, 720)), CHANGE_TIMEOUT)
    try:
        select_timings(hdmi, "1024x768p60")
        print(f"\nthe source now sends {hdmi.query_dv_timings()}")
        parts, took = stream.read_until("1024x768 frames", real_frames((1024, 768)), CHANGE_TIMEOUT)
        print(f"1024x768 frames after {took:.1f} s ({len(parts)} parts: {[p.size for p in parts]})")
        assert hdmi.get_dv_timings().width == 1024, "the app did not set the detected timings"
        assert hdmi_signal(app) is True

        select_timings(hdmi, "1280x720p60")
        parts, took = stream.read_until("1280x720 frames again", real_frames((1280, 720)), CHANGE_TIMEOUT)
        print(f"back to 1280x720 after {took:.1f} s ({len(parts)} parts)")
    finally:
        hdmi.set_signal_mode("current")  # the timings the app set: 1280x720 unless a step failed


def test_a_receiver_that_stops_delivering_times_out_in_seconds(
    stream: MjpegReader, app: App, hdmi: kt_v4l2.Vivid
) -> None:
    """Signal present, no frames: OpenCV's read must give up after OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT
    (the source sets 2 s), not its default 10 s, so the picture says "No signal" soon."""
    stream.read_until("real frames", real_frames((1280, 720)), CHANGE_TIMEOUT)
    hdmi.frames_dropped(100)
    try:
        parts, took = stream.read_until(
            "the No-signal picture", lambda ps: len(ps) >= 2 and ps[-1].jpeg == ps[-2].jpeg, CHANGE_TIMEOUT
        )
        # Each picture costs a read timeout + the loop's 1 s reopen delay + a reopen; two of them
        # take ~6-9 s with a 2 s timeout, over 20 s with OpenCV's 10 s.
        print(f"\nno frames: the No-signal picture twice after {took:.1f} s ({len(parts)} parts)")
        assert took < 15, "reads block for longer than the 2 s select timeout"
        assert hdmi_signal(app) is False
    finally:
        hdmi.frames_dropped(0)
    parts, took = stream.read_until("real frames again", real_frames((1280, 720)), CHANGE_TIMEOUT)
    print(f"frames again after {took:.1f} s ({len(parts)} parts)")
