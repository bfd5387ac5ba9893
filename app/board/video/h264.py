"""H.264 encoders behind one interface, chosen by board and config.

An encoder turns the capture loop's pictures into Annex-B access units. There is one encoder per
source, shared by every H.264 viewer (WebRTC and direct); it runs in the pipeline's own thread.

- ``x264``: software, PyAV's libx264, zero-latency tuning, constrained baseline at level 4.2 (what
  WebCodecs' ``avc1.42E02A`` and every browser decode), SPS/PPS in front of every key frame.
- ``v4l2m2m``: the V4L2 memory-to-memory hardware encoder through PyAV (``h264_v4l2m2m``, e.g. a
  Raspberry Pi 4's ``/dev/video11``).
- ``libkvm``: NanoKVM's vendor library encodes in hardware itself (``app.board.video.libkvm``); it
  needs no pictures from the capture loop, only its pace.

PyAV and OpenCV are imported when an encoder is opened, never at app start.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, Protocol

EncoderKind = Literal["x264", "v4l2m2m", "libkvm"]

# SPS profile_idc 66 (baseline) with constraint_set1 (constrained baseline), level 4.2: 1080p60.
X264_OPTIONS = {
    "preset": "ultrafast",
    "tune": "zerolatency",
    "profile": "baseline",
    "level": "4.2",
    "forced-idr": "1",  # a requested I frame is an IDR, so a joining decoder can start on it
}
MICROSECONDS = Fraction(1, 1_000_000)
# x264's rate-control buffer, in frames at the configured bitrate: how much bigger than the average
# a frame may be. 1.5 (what zero latency alone would want) starves key frames and scrolling text:
# measured on bench/h264.py's 1080p60 screen pattern at 6 Mbit/s, SSIM 0.84 worst / 0.93 mean, and
# the encoder could not even spend the bitrate (3.7 Mbit/s); 8 frames gave 0.92 / 0.96 at 4.6 Mbit/s
# (10 Mbit/s: 0.955 / 0.974). A key frame then takes up to 8 frame times (133 ms at 60 fps) to send.
VBV_FRAMES = 8


class EncoderError(Exception):
    """The encoder failed (capture-status -2, "Encoder error")."""


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One encoded picture: Annex-B NAL units, SPS/PPS included in front of a key frame."""

    data: bytes
    key: bool
    timestamp: int  # microseconds since the pipeline started (spec 6.3)
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    gop: int


class H264Encoder(Protocol):
    # False: the encoder captures by itself (libkvm) and the capture loop only paces it.
    needs_pictures: bool
    settings: EncoderSettings  # what it was opened with (a change reopens it)

    def encode(self, image: Any, timestamp: int, key: bool) -> list[AccessUnit]:
        """Encode one BGR picture (None when ``needs_pictures`` is False); ``key`` forces an IDR.
        Raises EncoderError, or NoSignal (libkvm) with the capture's result code."""
        ...

    def close(self) -> None: ...


class PyAvEncoder:
    """libx264 or h264_v4l2m2m through PyAV, opened at the first picture's size and reopened
    when the size or the settings change."""

    needs_pictures = True

    def __init__(self, kind: EncoderKind, settings: EncoderSettings) -> None:
        self.kind = kind
        self.settings = settings
        self._codec: Any = None
        self._size: tuple[int, int] | None = None

    def _open(self, width: int, height: int) -> Any:
        try:
            import av
        except ImportError:
            raise EncoderError("H.264 needs PyAV (pip install 'nanokvm-py[h264]')") from None

        name = "libx264" if self.kind == "x264" else "h264_v4l2m2m"
        try:
            codec: Any = av.CodecContext.create(name, "w")
        except (av.FFmpegError, ValueError) as err:
            raise EncoderError(f"no {name} encoder: {err}") from None
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.time_base = MICROSECONDS
        codec.framerate = Fraction(self.settings.fps, 1)
        codec.bit_rate = self.settings.bitrate_kbps * 1000
        codec.gop_size = self.settings.gop
        if self.kind == "x264":
            bitrate = self.settings.bitrate_kbps
            # A VBV of a few frames keeps each frame's size near the average: no long bursts that a
            # viewer's link must queue (what zero latency needs besides no B-frames).
            buffer = max(bitrate * VBV_FRAMES // max(self.settings.fps, 1), 50)
            codec.options = {**X264_OPTIONS, "x264-params": f"vbv-maxrate={bitrate}:vbv-bufsize={buffer}"}
        try:
            codec.open()
        except av.FFmpegError as err:
            raise EncoderError(f"cannot open {name} at {width}x{height}: {err}") from None
        return codec

    def encode(self, image: Any, timestamp: int, key: bool) -> list[AccessUnit]:
        import av
        import cv2

        height, width = image.shape[:2]
        width, height = width & ~1, height & ~1  # 4:2:0 needs even sizes
        if self._size != (width, height):
            self.close()
            self._codec = self._open(width, height)
            self._size = (width, height)
            key = True
        yuv = cv2.cvtColor(image[:height, :width], cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = timestamp
        if key:
            frame.pict_type = av.video.frame.PictureType.I
        try:
            packets = self._codec.encode(frame)
        except av.FFmpegError as err:
            self.close()
            raise EncoderError(f"{self.kind} failed: {err}") from None
        return [
            AccessUnit(bytes(packet), bool(packet.is_keyframe), int(packet.pts or timestamp), width, height)
            for packet in packets
        ]

    def close(self) -> None:
        self._codec, self._size = None, None  # PyAV frees the encoder with the object


def open_encoder(kind: EncoderKind, settings: EncoderSettings, libkvm: Any = None) -> H264Encoder:
    """The encoder for the board: ``libkvm`` needs the opened vendor library (LibKvm)."""
    if kind == "libkvm":
        from app.board.video.libkvm import LibKvmH264

        if libkvm is None:
            raise EncoderError("encoder libkvm needs video source libkvm")
        return LibKvmH264(libkvm, settings)
    return PyAvEncoder(kind, settings)
