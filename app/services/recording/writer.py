"""Writing a recording's container with PyAV, so that a killed app leaves a playable file.

- ``.avi``: MJPEG; the captured JPEGs are passed through untouched (no decode, no encode) unless the
  recording clips the picture or the picture's size changes. The AVI index is written only at the
  end: a killed recording has none, and players read it sequentially (ffprobe counts its frames,
  ffmpeg and VLC play it; its duration is unknown until remuxed).
- ``.mp4``, ``.mkv``, ``.flv``: H.264 from the board's encoder (``app.board.video.h264``: libx264 or
  the V4L2 m2m hardware one), a key frame every ``keyframe`` frames. MP4 is fragmented (a fragment
  per second after an empty moov) and Matroska writes a cluster per second: both play up to the
  last complete second after a kill; FLV is a stream format anyway.

Every packet is handed to the OS at once (``flush_packets``): a kill -9 loses at most what the
muxer itself held back (the current fragment or cluster). Frames are constant-rate: a picture is
written at each tick of the recording's clock (repeated when the screen did not change, or when the
recorder was starved of CPU and missed ticks), and the packet's timestamp is the tick, so playback
keeps the wall clock's pace.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from app.board.video import jpeg as jpg
from app.board.video.h264 import AccessUnit, EncoderKind, EncoderSettings, H264Encoder, open_encoder
from app.services.recording.options import Clip
from app.services.recording.sources import Picture

JPEG_QUALITY = 80  # for pictures that must be encoded (clipped, resized, from an RFB server)
MAX_REPEAT_SECONDS = 2  # a stalled recorder catches up at most this much with repeated frames
_NAL_START = re.compile(b"\x00\x00\x00\x01|\x00\x00\x01")


class Writer(Protocol):
    frames: int
    needs_pixels: bool  # False: the captured JPEGs are all it needs (written as they are)

    def write(self, picture: Picture, tick: int) -> None:
        """Write ``picture`` at ``tick`` (frames since the start). Blocking. Raises OSError or av's errors."""
        ...

    def close(self) -> None: ...


def _open_container(path: Path, container: str) -> Any:
    import av

    options = {"flush_packets": "1"}
    if container == "mp4":
        options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        options["frag_duration"] = "1000000"
    elif container == "matroska":
        options["cluster_time_limit"] = "1000"
    return av.open(str(path), "w", format=container, container_options=options)


def crop(image: Any, clip: Clip | None) -> Any:
    """The clipping rectangle of the picture (clamped to it)."""
    if clip is None:
        return image
    height, width = image.shape[:2]
    left, top = min(clip.left, width - 1), min(clip.top, height - 1)
    return image[top : top + clip.height, left : left + clip.width]


def fit(image: Any, size: tuple[int, int]) -> Any:
    """``image`` at ``size`` (the recording's first size: a container keeps one size). Blocking."""
    height, width = image.shape[:2]
    if (width, height) == size:
        return image
    return jpg.cv().resize(image, size, interpolation=jpg.cv().INTER_AREA)


class MjpegWriter:
    def __init__(self, path: Path, framerate: int, clip: Clip | None) -> None:
        self._path, self._rate, self._clip = path, framerate, clip
        # Packets count in ticks of the recording's frame rate. Not the stream's time base: a muxer
        # may change that when it writes the header (MP4 uses 1/12288), which would shrink the file's
        # length while its frame count stayed right.
        self._tick = Fraction(1, framerate)
        self._output: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._last_tick = -1
        self.frames = 0
        self.passed_through = 0  # JPEGs written as captured
        self.needs_pixels = clip is not None

    def _jpeg(self, picture: Picture) -> bytes:
        size = (picture.width, picture.height)
        if picture.jpeg and self._clip is None and (self._size is None or size == self._size):
            self.passed_through += 1
            return picture.jpeg
        image = crop(picture.pixels(), self._clip)
        if self._size is not None:
            image = fit(image, self._size)
        return jpg.encode(image, JPEG_QUALITY)

    def _open(self, picture: Picture) -> None:
        if self._clip is not None:
            image = crop(picture.pixels(), self._clip)
            self._size = (image.shape[1], image.shape[0])
        else:
            self._size = (picture.width, picture.height)
        self._output = _open_container(self._path, "avi")
        stream = self._output.add_stream("mjpeg", rate=self._rate)
        stream.width, stream.height = self._size
        stream.pix_fmt = "yuvj420p"
        stream.time_base = Fraction(1, self._rate)
        self._stream = stream

    def write(self, picture: Picture, tick: int) -> None:
        import av

        if self._output is None:
            self._open(picture)
        data = self._jpeg(picture)
        # AVI has no timestamps of its own: a frame per tick, the picture repeated over missed ticks.
        first = max(self._last_tick + 1, tick - self._rate * MAX_REPEAT_SECONDS)
        for at in range(first, tick + 1):
            packet = av.Packet(data)
            packet.stream = self._stream
            packet.pts = packet.dts = at
            packet.time_base = self._tick
            packet.is_keyframe = True
            self._output.mux(packet)
            self.frames += 1
        self._last_tick = max(self._last_tick, tick)

    def close(self) -> None:
        if self._output is not None:
            output, self._output = self._output, None
            output.close()


def _parameter_sets(unit: AccessUnit) -> bytes:
    """SPS and PPS of a key frame, as the container's codec header (Annex-B; muxers convert it)."""
    nals = [nal for nal in _NAL_START.split(unit.data) if nal and nal[0] & 0x1F in (7, 8)]
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)


class H264Writer:
    def __init__(
        self,
        path: Path,
        container: str,
        framerate: int,
        keyframe: int,
        clip: Clip | None,
        encoder: EncoderKind,
        bitrate_kbps: int,
    ) -> None:
        self._path, self._container, self._rate, self._clip = path, container, framerate, clip
        self._tick = Fraction(1, framerate)  # the packets' time base, as MjpegWriter's
        self._kind: EncoderKind = "x264" if encoder == "libkvm" else encoder  # libkvm encodes only its own capture
        self._keyframe, self._bitrate = keyframe, bitrate_kbps
        self._encoder: H264Encoder | None = None
        self._output: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._last_tick = -1
        self.frames = 0
        self.needs_pixels = True

    def write(self, picture: Picture, tick: int) -> None:
        image = crop(picture.pixels(), self._clip)
        if self._size is None:
            self._size = (image.shape[1] & ~1, image.shape[0] & ~1)
            settings = EncoderSettings(self._size[0], self._size[1], self._rate, self._bitrate, self._keyframe)
            self._encoder = open_encoder(self._kind, settings)
        assert self._encoder is not None
        image = fit(image, self._size)
        # Ticks missed while this thread was starved get the same picture again: an unchanged picture
        # is cheap to encode (skipped macroblocks), and the file keeps a constant frame rate.
        first = max(self._last_tick + 1, tick - self._rate * MAX_REPEAT_SECONDS)
        for at in range(first, tick + 1):
            for unit in self._encoder.encode(image, at * 1_000_000 // self._rate, False):
                self._mux(unit)
        self._last_tick = max(self._last_tick, tick)

    def _mux(self, unit: AccessUnit) -> None:
        import av

        if self._output is None:
            self._output = _open_container(self._path, self._container)
            stream = self._output.add_stream("h264", rate=self._rate)
            stream.width, stream.height = unit.width, unit.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, self._rate)
            stream.codec_context.extradata = _parameter_sets(unit)
            self._stream = stream
        packet = av.Packet(unit.data)
        packet.stream = self._stream
        packet.pts = packet.dts = round(unit.timestamp * self._rate / 1_000_000)
        packet.time_base = self._tick
        packet.is_keyframe = unit.key
        self._output.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
        if self._output is not None:
            output, self._output = self._output, None
            output.close()


def open_writer(
    path: Path,
    container: str,
    framerate: int,
    keyframe: int,
    clip: Clip | None,
    encoder: EncoderKind,
    bitrate_kbps: int,
) -> Writer:
    if container == "avi":
        return MjpegWriter(path, framerate, clip)
    return H264Writer(path, container, framerate, keyframe, clip, encoder, bitrate_kbps)
