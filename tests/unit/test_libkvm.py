"""NanoKVM's libkvm.so through ctypes, against a stand-in compiled from the same C signatures:
MJPEG and H.264 reads, every result code of spec 6.1, key frames on request, nothing leaked."""

from __future__ import annotations

import ctypes
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.board.video import NoSignal
from app.board.video.h264 import EncoderSettings
from app.board.video.libkvm import LibKvm, LibKvmH264, LibKvmSource
from tests.standin import build_standin

MESSAGES = {
    -1: "No image captured",
    -2: "Encoder error",
    -3: "Image buffer full",
    -4: "Changing image resolution",
    -5: "Retrieving image",
    -6: "Unsupported HDMI resolution",
    -7: "HDMI input resolution error",
    -9: "Capture failed",
}
SPS, PPS = b"\x00\x00\x00\x01\x67\x42\xc0\x2a", b"\x00\x00\x00\x01\x68\xce\x3c\x80"
IDR, P = b"\x00\x00\x00\x01\x65\x88\x84", b"\x00\x00\x00\x01\x41\x9a\x20"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return build_standin(tmp_path)


@pytest.fixture
def standin(library: Path) -> ctypes.CDLL:
    """The same loaded library the app code uses (dlopen of one path gives one instance)."""
    lib = ctypes.CDLL(str(library))
    lib.standin_push.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    return lib


def counter(lib: ctypes.CDLL, name: str) -> int:
    return ctypes.c_int.in_dll(lib, name).value


def push(lib: ctypes.CDLL, result: int, data: bytes = b"") -> None:
    lib.standin_push(result, data, len(data))


def jpeg(width: int, height: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", np.zeros((height, width, 3), np.uint8))
    assert ok
    return bytes(buffer)


def test_mjpeg_frames_and_unchanged(library: Path, standin: ctypes.CDLL) -> None:
    source = LibKvmSource(library)
    assert counter(standin, "standin_inits") == 1
    assert counter(standin, "standin_frame_detect") == 0  # the capture loop detects itself
    image = jpeg(320, 200)
    push(standin, 0, image)
    frame = source.read(1280, 720, 30)
    assert (frame.jpeg, frame.width, frame.height) == (image, 320, 200)  # the size the JPEG says
    assert counter(standin, "standin_last_type") == 0
    assert counter(standin, "standin_last_width") == 1280
    assert counter(standin, "standin_last_quality") == 50  # clamped to the library's 50..100
    push(standin, 5)
    assert source.read(1280, 720, 80) is frame  # "unchanged": the same object, for frame detect
    assert counter(standin, "standin_outstanding") == 0


@pytest.mark.parametrize("result", sorted(MESSAGES))
def test_every_error_code_is_a_capture_status(library: Path, standin: ctypes.CDLL, result: int) -> None:
    source = LibKvmSource(library)
    push(standin, result)
    with pytest.raises(NoSignal) as mjpeg_error:
        source.read(0, 0, 80)
    assert (mjpeg_error.value.code, mjpeg_error.value.message) == (result, MESSAGES[result])
    encoder = LibKvmH264(source.lib, EncoderSettings(0, 0, 30, 3000, 30))
    push(standin, result)
    with pytest.raises(NoSignal) as h264_error:
        encoder.encode(None, 0, False)
    assert (h264_error.value.code, h264_error.value.message) == (result, MESSAGES[result])


def test_h264_frames_headers_and_unchanged(library: Path, standin: ctypes.CDLL) -> None:
    encoder = LibKvmH264(LibKvm.load(library), EncoderSettings(1920, 1080, 30, 20000, 60))
    assert counter(standin, "standin_gop") == 60
    push(standin, 1, SPS)  # the deprecated lone SPS and PPS go in front of the next frame
    push(standin, 2, PPS)
    push(standin, 3, IDR)
    push(standin, 4, P)
    push(standin, 5)
    assert encoder.encode(None, 10, False) == []
    assert encoder.encode(None, 20, False) == []
    (key,) = encoder.encode(None, 30, False)
    assert (key.data, key.key, key.timestamp) == (SPS + PPS + IDR, True, 30)
    (delta,) = encoder.encode(None, 40, False)
    assert (delta.data, delta.key) == (P, False)
    assert encoder.encode(None, 50, False) == []  # unchanged: nothing to send
    assert counter(standin, "standin_last_type") == 1
    assert counter(standin, "standin_last_quality") == 10000  # kbps clamped to 500..10000
    assert (counter(standin, "standin_last_width"), counter(standin, "standin_last_height")) == (1920, 1080)
    assert counter(standin, "standin_outstanding") == 0
    assert counter(standin, "standin_frees") == 4


def test_a_key_frame_request_shortens_the_gop_until_one_comes(library: Path, standin: ctypes.CDLL) -> None:
    encoder = LibKvmH264(LibKvm.load(library), EncoderSettings(0, 0, 30, 3000, 30))
    push(standin, 4, P)
    push(standin, 4, P)
    push(standin, 3, IDR)
    encoder.encode(None, 1, True)
    assert counter(standin, "standin_gop") == 1
    encoder.encode(None, 2, True)  # still waiting: not asked again
    (unit,) = encoder.encode(None, 3, False)
    assert unit.key
    assert counter(standin, "standin_gop") == 30  # the configured GOP is back
    history = (ctypes.c_int * 64).in_dll(standin, "standin_gop_history")
    assert list(history[: counter(standin, "standin_gop_calls")]) == [30, 1, 30]
