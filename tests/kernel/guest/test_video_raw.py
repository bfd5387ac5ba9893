"""Raw video smoke tests on vivid's HDMI input (input 3), with plain ioctls (kt_v4l2) and
OpenCV's V4L2 backend -- what the app's V4L2 source will see on a real kernel.

cv2 is imported once, by a module fixture (3.5-6 s under TCG), only when these tests run.
What vivid does (observed, 6.1):
* it offers ~60 raw pixel formats (YUYV, NV12, BGR3, ...) and no MJPEG/JPEG: TRY_FMT with
  MJPG gives YUYV, so the app's V4L2 source must encode JPEG itself;
* "no signal" (``dv_timings_signal_mode``) does NOT stop or fail reads: frames keep coming
  and turn into noise; the signal is visible as QUERY_DV_TIMINGS -> ENOLINK,
  ``power_present`` 0 and a V4L2_EVENT_SOURCE_CHANGE on input 3;
* frames really stop only with ``percentage_of_dropped_buffers`` = 100 (reads time out).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from kt_v4l2 import V4L2_EVENT_SOURCE_CHANGE, V4L2_EVENT_SRC_CH_RESOLUTION, VIVID_HDMI_INPUT, Vivid

# OpenCV's V4L2 backend waits this long in select() for a frame (default 10 s); it reads
# the variable once, at import. CAP_PROP_READ_TIMEOUT_MSEC is not supported by it (set()
# is ignored, and as an open parameter the open fails).
SELECT_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def cv2() -> ModuleType:
    os.environ["OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"] = str(SELECT_TIMEOUT_S)
    t0 = time.monotonic()
    module = pytest.importorskip("cv2")
    print(f"\nimport cv2 {module.__version__}: {time.monotonic() - t0:.1f} s")
    return module


@pytest.fixture
def capture(cv2: ModuleType, vivid: Vivid) -> Iterator[Any]:
    """An opened ``cv2.VideoCapture(dev, CAP_V4L2)`` asking for 1280x720 (without that OpenCV
    asks for 640x480, and vivid's capture scaler gives it); released afterwards."""
    cap = cv2.VideoCapture(vivid.path, cv2.CAP_V4L2)
    assert cap.isOpened()
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, 1280)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, 720)
    try:
        yield cap
    finally:
        cap.release()


def roughness(frame: Any) -> float:
    """Mean absolute difference of horizontally adjacent pixels: ~1.4 on vivid's colour
    bars, >10 on its "no signal" noise."""
    import numpy as np

    return float(np.abs(np.diff(frame.astype(np.int16), axis=1)).mean())


def read_until(cap: Any, want: str, max_frames: int = 30) -> tuple[int, float]:
    """Read frames until they look like ``want`` ("bars" or "noise"); (frames read, roughness)."""
    r = -1.0
    for n in range(1, max_frames + 1):
        ok, frame = cap.read()
        assert ok, f"read {n} failed while waiting for {want}"
        r = roughness(frame)
        if (r < 5) if want == "bars" else (r > 10):
            return n, r
    raise AssertionError(f"no {want} after {max_frames} frames (roughness {r:.1f})")


def test_hdmi_input_and_pixel_formats(vivid: Vivid) -> None:
    driver, card = vivid.querycap()
    inputs = vivid.inputs()
    formats = vivid.pixel_formats()
    codes = [code for code, _ in formats]
    print(f"\n{vivid.path}: {driver} / {card}, inputs {inputs}, input {vivid.get_input()}")
    print(f"{len(formats)} pixel formats: {' '.join(codes)}")
    assert driver == "vivid"
    assert inputs[VIVID_HDMI_INPUT].startswith("HDMI")
    assert vivid.get_input() == VIVID_HDMI_INPUT
    assert {"YUYV", "NV12", "BGR3"} <= set(codes)
    assert not {"MJPG", "JPEG"} & set(codes), "vivid now offers MJPEG: the app could pass it through"
    tried = vivid.try_format(1280, 720, "MJPG")
    print(f"TRY_FMT 1280x720 MJPG -> {tried}")
    assert tried[2] != "MJPG"


def test_dv_timings_set_and_query(vivid: Vivid) -> None:
    assert str(vivid.query_dv_timings()).startswith("1280x720p")
    assert vivid.get_format()[:2] == (1280, 720)
    t = vivid.set_dv_timings(1024, 768)
    print(
        f"\nset {t}: G_DV_TIMINGS {vivid.get_dv_timings()}, QUERY {vivid.query_dv_timings()}, fmt {vivid.get_format()}"
    )
    assert (vivid.get_dv_timings().width, vivid.get_dv_timings().height) == (1024, 768)
    assert vivid.get_format()[:2] == (1024, 768)
    assert str(vivid.query_dv_timings()).startswith("1024x768p")  # mode "current": follows the set timings
    vivid.set_dv_timings(1280, 720)
    assert vivid.get_format()[:2] == (1280, 720)


def test_opencv_reads_1280x720_then_another_resolution(cv2: ModuleType, vivid: Vivid) -> None:
    cap = cv2.VideoCapture(vivid.path, cv2.CAP_V4L2)
    try:
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))  # ignored: not offered
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, 1280)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, 720)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1")
        t0 = time.monotonic()
        shapes = []
        for _ in range(5):
            ok, frame = cap.read()
            assert ok
            shapes.append(frame.shape)
        took = time.monotonic() - t0
        print(f"\nOpenCV asked for MJPG, got {fourcc}; 5 frames {set(shapes)} in {took:.2f} s")
        assert set(shapes) == {(720, 1280, 3)}
        assert roughness(frame) < 5, "not vivid's colour bars"
    finally:
        cap.release()

    vivid.set_dv_timings(1024, 768)  # EBUSY while streaming: only between captures
    cap = cv2.VideoCapture(vivid.path, cv2.CAP_V4L2)
    try:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, 1024)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, 768)
        ok, frame = cap.read()
        print(f"after S_DV_TIMINGS 1024x768: {ok} {frame.shape if ok else None}")
        assert ok and frame.shape == (768, 1024, 3)
    finally:
        cap.release()


def test_no_signal_keeps_frames_coming_as_noise_and_is_seen_by_query(vivid: Vivid, capture: Any) -> None:
    n, r = read_until(capture, "bars")
    vivid.subscribe_source_change()
    vivid.set_signal_mode("no signal")
    event = vivid.wait_event(2)
    query = vivid.query_dv_timings()
    power = vivid.get_ctrl("power_present")
    n, r = read_until(capture, "noise")
    print(
        f"\nno signal: event {event}, QUERY_DV_TIMINGS {query}, power_present {power}; noise after {n} reads ({r:.1f})"
    )
    assert event == (V4L2_EVENT_SOURCE_CHANGE, V4L2_EVENT_SRC_CH_RESOLUTION)
    assert query == "ENOLINK"
    assert power == 0

    vivid.set_signal_mode("current")
    event = vivid.wait_event(2)
    n, r = read_until(capture, "bars")
    print(f"signal back: event {event}, QUERY_DV_TIMINGS {vivid.query_dv_timings()}; bars after {n} reads ({r:.1f})")
    assert event == (V4L2_EVENT_SOURCE_CHANGE, V4L2_EVENT_SRC_CH_RESOLUTION)
    assert str(vivid.query_dv_timings()).startswith("1280x720p")
    assert vivid.get_ctrl("power_present") == 1


def test_frames_stop_when_every_buffer_is_dropped_and_come_back(vivid: Vivid, capture: Any) -> None:
    ok, frame = capture.read()
    assert ok and frame.shape == (720, 1280, 3)
    vivid.frames_dropped(100)
    results = []
    t0 = time.monotonic()
    for _ in range(4):  # up to a few buffers were filled before the control took effect
        ok, _frame = capture.read()
        results.append(ok)
        if not ok:
            break
    took = time.monotonic() - t0
    print(f"\npercentage_of_dropped_buffers=100: reads {results} in {took:.1f} s (select timeout {SELECT_TIMEOUT_S} s)")
    assert results[-1] is False
    assert took < SELECT_TIMEOUT_S * 4 + 2, "OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT was not applied"
    vivid.frames_dropped(0)
    back = [capture.read()[0] for _ in range(3)]
    print(f"dropped buffers 0 again, same capture: {back}")
    if not any(back):  # OpenCV may give up on a capture after a timeout: a reopen must work
        capture.release()
        capture.open(vivid.path, 200)  # cv2.CAP_V4L2
        back = [capture.read()[0] for _ in range(3)]
        print(f"after reopening: {back}")
    assert any(back)
