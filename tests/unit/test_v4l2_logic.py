"""The V4L2 source's decisions (size, DV timings, signal checks), against a fake receiver and capture.

The kernel tier (tests/kernel/guest/test_app_video.py) runs the same code against vivid; here the
ioctls and OpenCV's VideoCapture are stand-ins, so every branch is cheap to reach.
"""

from __future__ import annotations

import errno
import struct
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from app.board.video import NoSignal, v4l2
from app.board.video import jpeg as jpg


def timings(width: int, height: int) -> bytes:
    raw = bytearray(v4l2.DV_TIMINGS_SIZE)
    struct.pack_into("<IIIIIQ", raw, 0, 0, width, height, 0, 0, 74_250_000)
    return bytes(raw)


class Receiver:
    """An HDMI receiver's ioctls: what it detects, what is set, and queued source-change events."""

    def __init__(self, detected: tuple[int, int] | int | None, current: tuple[int, int] = (1280, 720)) -> None:
        self.detected = detected  # a size, an errno (no signal...), or None (no DV timings at all)
        self.current = current
        self.set_error = 0
        self.events = 0
        self.calls: list[str] = []

    def ioctl(self, fd: int, request: int, data: bytes) -> bytes:
        name = {v: k for k, v in vars(v4l2).items() if k.startswith("VIDIOC_")}[request]
        self.calls.append(name)
        if self.detected is None:
            raise OSError(errno.ENOTTY, "not a DV-timings device")
        if name == "VIDIOC_QUERY_DV_TIMINGS":
            if isinstance(self.detected, int):
                raise OSError(self.detected, errno.errorcode[self.detected])
            return timings(*self.detected)
        if name == "VIDIOC_G_DV_TIMINGS":
            return timings(*self.current)
        if name == "VIDIOC_S_DV_TIMINGS":
            if self.set_error:
                raise OSError(self.set_error, errno.errorcode[self.set_error])
            self.current = struct.unpack_from("<II", data, 4)
            return data
        if name == "VIDIOC_DQEVENT":
            if not self.events:
                raise OSError(errno.ENOENT, "no event")
            self.events -= 1
            return bytes(v4l2.EVENT_SIZE)
        return data  # G_INPUT, SUBSCRIBE_EVENT


class FakeCapture:
    """cv2.VideoCapture on a raw-only device (no MJPEG), giving frames at the negotiated size."""

    opened: list[FakeCapture] = []

    def __init__(self, path: str, api: int, receiver: Receiver) -> None:
        self.props: dict[int, float] = {
            cv2.CAP_PROP_FRAME_WIDTH: 640,  # OpenCV's default ask
            cv2.CAP_PROP_FRAME_HEIGHT: 480,
            cv2.CAP_PROP_FOURCC: cv2.VideoWriter_fourcc(*"BGR3"),
        }
        self.released = False
        FakeCapture.opened.append(self)

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_FOURCC:
            return False  # no MJPEG: the format stays
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0)

    def read(self) -> tuple[bool, Any]:
        w, h = int(self.props[cv2.CAP_PROP_FRAME_WIDTH]), int(self.props[cv2.CAP_PROP_FRAME_HEIGHT])
        return True, np.full((h, w, 3), 128, np.uint8)

    def release(self) -> None:
        self.released = True


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "video0"  # a plain file: the source only opens it for its ioctls
    path.write_bytes(b"")
    return path


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    rx = Receiver((1280, 720))
    monkeypatch.setattr(v4l2, "_ioctl", rx.ioctl)
    fake = types.SimpleNamespace(**{k: getattr(cv2, k) for k in dir(cv2) if not k.startswith("__")})
    fake.VideoCapture = lambda path, api: FakeCapture(path, api, rx)
    monkeypatch.setattr(jpg, "cv", lambda: fake)
    FakeCapture.opened = []
    yield rx


def test_opens_at_the_detected_timings_not_the_configured_size(device: Path, receiver: Receiver) -> None:
    source = v4l2.V4l2Source(device, "auto", 1920, 1080)
    try:
        assert source.native == (1280, 720)
        assert "VIDIOC_S_DV_TIMINGS" not in receiver.calls  # already the current ones
        frame = source.read(0, 0, 80)
        assert (frame.width, frame.height) == (1280, 720)
        assert frame.jpeg[:2] == b"\xff\xd8" and not source.passthrough  # encoded here: no MJPEG
        scaled = source.read(640, 480, 80)
        assert (scaled.width, scaled.height) == (640, 480)
    finally:
        source.close()
    assert FakeCapture.opened[0].released


def test_sets_the_detected_timings_first(device: Path, receiver: Receiver) -> None:
    receiver.detected, receiver.current = (1024, 768), (1280, 720)
    source = v4l2.V4l2Source(device, "auto")
    source.close()
    assert receiver.current == (1024, 768)
    assert source.native == (1024, 768)


@pytest.mark.parametrize(("error", "code"), [(errno.EBUSY, -4), (errno.EINVAL, -6)])
def test_timings_that_cannot_be_set(device: Path, receiver: Receiver, error: int, code: int) -> None:
    receiver.detected, receiver.set_error = (1920, 1080), error
    with pytest.raises(NoSignal) as raised:
        v4l2.V4l2Source(device, "auto")
    assert raised.value.code == code
    assert not FakeCapture.opened


@pytest.mark.parametrize(("error", "code"), [(errno.ENOLINK, -1), (errno.ENOLCK, -1), (errno.ERANGE, -6)])
def test_no_signal_at_open_opens_no_capture(device: Path, receiver: Receiver, error: int, code: int) -> None:
    receiver.detected = error
    with pytest.raises(NoSignal) as raised:
        v4l2.V4l2Source(device, "auto")
    assert raised.value.code == code
    assert not FakeCapture.opened


def test_missing_device_is_no_signal(tmp_path: Path, receiver: Receiver) -> None:
    with pytest.raises(NoSignal) as raised:
        v4l2.V4l2Source(tmp_path / "video9", "auto")
    assert raised.value.code == -1


def test_without_dv_timings_the_configured_size_is_asked(device: Path, receiver: Receiver) -> None:
    receiver.detected = None
    source = v4l2.V4l2Source(device, "auto", 1920, 1080)
    try:
        assert source.timings is None and source.native == (1920, 1080)
        receiver.calls.clear()
        for _ in range(3):
            source.read(0, 0, 80)
        assert receiver.calls == []  # nothing to query on such a device
    finally:
        source.close()


def test_a_source_change_event_is_checked_at_once(device: Path, receiver: Receiver) -> None:
    source = v4l2.V4l2Source(device, "auto")
    try:
        source.read(0, 0, 80)
        receiver.detected, receiver.events = errno.ENOLINK, 1
        with pytest.raises(NoSignal) as raised:
            source.read(0, 0, 80)
        assert raised.value.code == -1
    finally:
        source.close()


def test_without_events_the_signal_is_queried_every_interval(
    device: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr(v4l2.time, "monotonic", lambda: now[0])
    source = v4l2.V4l2Source(device, "auto")
    try:
        receiver.detected = (1920, 1080)  # a new mode, and the driver sent no event
        source.read(0, 0, 80)  # within the interval: not asked
        now[0] += v4l2.SIGNAL_CHECK_SECONDS
        with pytest.raises(NoSignal) as raised:
            source.read(0, 0, 80)
        assert raised.value.code == -4
    finally:
        source.close()
