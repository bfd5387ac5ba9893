"""V4L2 helpers for vivid in the kernel-tier guest, with plain ioctls (no v4l-utils).

``modprobe vivid n_devs=1 node_types=0x1 input_types=0xe4`` gives one capture node whose
inputs are webcam, TV, S-Video and -- input 3 -- an HDMI receiver with DV timings, EDID and
the vivid control ``dv_timings_signal_mode`` (current / no signal / no lock / out of
range / selected / cycle / custom). Standard library only.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pathlib
import re
import select
import struct
from dataclasses import dataclass

VIVID_PARAMS = ("n_devs=1", "node_types=0x1", "input_types=0xe4")
VIVID_HDMI_INPUT = 3

_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("V") << 8) | nr


def _ior(nr: int, size: int) -> int:
    return _ioc(_IOC_READ, nr, size)


def _iow(nr: int, size: int) -> int:
    return _ioc(_IOC_WRITE, nr, size)


def _iowr(nr: int, size: int) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, size)


DV_TIMINGS_SIZE = 132  # struct v4l2_dv_timings (packed): type + 128-byte union
FORMAT_SIZE = 208  # struct v4l2_format on 64-bit: type, 4 pad, 200-byte union

VIDIOC_QUERYCAP = _ior(0, 104)
VIDIOC_ENUM_FMT = _iowr(2, 64)
VIDIOC_G_FMT = _iowr(4, FORMAT_SIZE)
VIDIOC_S_FMT = _iowr(5, FORMAT_SIZE)
VIDIOC_ENUMINPUT = _iowr(26, 80)
VIDIOC_G_CTRL = _iowr(27, 8)
VIDIOC_S_CTRL = _iowr(28, 8)
VIDIOC_QUERYCTRL = _iowr(36, 68)
VIDIOC_QUERYMENU = _iowr(37, 44)
VIDIOC_G_INPUT = _ior(38, 4)
VIDIOC_S_INPUT = _iowr(39, 4)
VIDIOC_TRY_FMT = _iowr(64, FORMAT_SIZE)
VIDIOC_S_DV_TIMINGS = _iowr(87, DV_TIMINGS_SIZE)
VIDIOC_G_DV_TIMINGS = _iowr(88, DV_TIMINGS_SIZE)
VIDIOC_DQEVENT = _ior(89, 136)
VIDIOC_SUBSCRIBE_EVENT = _iow(90, 32)
VIDIOC_ENUM_DV_TIMINGS = _iowr(98, 16 + DV_TIMINGS_SIZE)
VIDIOC_QUERY_DV_TIMINGS = _ior(99, DV_TIMINGS_SIZE)

V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_FIELD_NONE = 1
V4L2_CTRL_FLAG_NEXT_CTRL = 0x80000000
V4L2_CTRL_TYPE_MENU = 3
V4L2_EVENT_SOURCE_CHANGE = 5
V4L2_EVENT_SRC_CH_RESOLUTION = 1

_QUERYCTRL = struct.Struct("<II32siiiiI8x")
_QUERYMENU = struct.Struct("<II32sI")
_ENUMINPUT = struct.Struct("<I32sIIIQII12x4x")
_FMTDESC = struct.Struct("<III32sII12x")
_PIX = struct.Struct("<IIIIIIIIIIII")  # v4l2_pix_format (48 bytes) at offset 8 of v4l2_format


def fourcc(code: str) -> int:
    a, b, c, d = code.encode()
    return a | b << 8 | c << 16 | d << 24


def fourcc_str(value: int) -> str:
    return value.to_bytes(4, "little").decode("latin-1")


def find_vivid() -> str | None:
    """The ``/dev/videoN`` of vivid's capture node (sysfs name ``vivid-000-vid-cap``)."""
    for node in sorted(pathlib.Path("/sys/class/video4linux").glob("video*")):
        try:
            name = (node / "name").read_text().strip()
        except OSError:
            continue
        if name.startswith("vivid-") and name.endswith("-vid-cap") and pathlib.Path("/dev", node.name).exists():
            return f"/dev/{node.name}"
    return None


def ctrl_key(name: str) -> str:
    """v4l2-ctl's control name: "DV Timings Signal Mode" -> "dv_timings_signal_mode"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class DvTimings:
    width: int
    height: int
    interlaced: bool
    pixelclock: int
    raw: bytes  # the whole struct v4l2_dv_timings, to hand back to S_DV_TIMINGS

    @classmethod
    def parse(cls, raw: bytes) -> DvTimings:
        width, height, interlaced, _pol, pixelclock = struct.unpack_from("<IIIIQ", raw, 4)
        return cls(width, height, bool(interlaced), pixelclock, bytes(raw))

    def __str__(self) -> str:
        return f"{self.width}x{self.height}{'i' if self.interlaced else 'p'} ({self.pixelclock} Hz)"


@dataclass(frozen=True)
class Control:
    id: int
    type: int
    name: str
    minimum: int
    maximum: int
    default: int


class Vivid:
    """An open V4L2 capture node with the ioctls the HDMI tests need."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._controls: dict[str, Control] | None = None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _ioctl(self, request: int, buf: bytes | bytearray) -> bytearray:
        arg = bytearray(buf)
        fcntl.ioctl(self.fd, request, arg)
        return arg

    # identity, inputs, formats
    def querycap(self) -> tuple[str, str]:
        out = self._ioctl(VIDIOC_QUERYCAP, bytes(104))
        return out[:16].rstrip(b"\0").decode(), out[16:48].rstrip(b"\0").decode()

    def inputs(self) -> list[str]:
        names = []
        for index in range(16):
            try:
                out = self._ioctl(VIDIOC_ENUMINPUT, _ENUMINPUT.pack(index, b"", 0, 0, 0, 0, 0, 0))
            except OSError:
                break
            names.append(_ENUMINPUT.unpack(out)[1].rstrip(b"\0").decode())
        return names

    def get_input(self) -> int:
        return int(struct.unpack("<i", self._ioctl(VIDIOC_G_INPUT, bytes(4)))[0])

    def set_input(self, index: int) -> None:
        self._ioctl(VIDIOC_S_INPUT, struct.pack("<i", index))

    def pixel_formats(self) -> list[tuple[str, str]]:
        """(fourcc, description) of every capture pixel format offered on the current input."""
        out = []
        for index in range(64):
            try:
                raw = self._ioctl(VIDIOC_ENUM_FMT, _FMTDESC.pack(index, V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, b"", 0, 0))
            except OSError:
                break
            _i, _t, _flags, desc, pixfmt, _mbus = _FMTDESC.unpack(raw)
            out.append((fourcc_str(pixfmt), desc.rstrip(b"\0").decode()))
        return out

    def _fmt(self, request: int, width: int, height: int, pixfmt: str) -> tuple[int, int, str]:
        buf = bytearray(FORMAT_SIZE)
        struct.pack_into("<I", buf, 0, V4L2_BUF_TYPE_VIDEO_CAPTURE)
        _PIX.pack_into(buf, 8, width, height, fourcc(pixfmt), V4L2_FIELD_NONE, 0, 0, 0, 0, 0, 0, 0, 0)
        out = self._ioctl(request, buf)
        w, h, pf = _PIX.unpack_from(out, 8)[:3]
        return w, h, fourcc_str(pf)

    def try_format(self, width: int, height: int, pixfmt: str) -> tuple[int, int, str]:
        """VIDIOC_TRY_FMT: what the driver would give for this request (width, height, fourcc)."""
        return self._fmt(VIDIOC_TRY_FMT, width, height, pixfmt)

    def get_format(self) -> tuple[int, int, str]:
        buf = bytearray(FORMAT_SIZE)
        struct.pack_into("<I", buf, 0, V4L2_BUF_TYPE_VIDEO_CAPTURE)
        w, h, pf = _PIX.unpack_from(self._ioctl(VIDIOC_G_FMT, buf), 8)[:3]
        return w, h, fourcc_str(pf)

    # DV timings
    def dv_timings_list(self) -> list[DvTimings]:
        out = []
        for index in range(256):
            try:
                raw = self._ioctl(VIDIOC_ENUM_DV_TIMINGS, struct.pack("<II8x", index, 0) + bytes(DV_TIMINGS_SIZE))
            except OSError:
                break
            out.append(DvTimings.parse(raw[16:]))
        return out

    def set_dv_timings(self, width: int, height: int) -> DvTimings:
        """Set the first progressive preset of that size (EBUSY while someone streams)."""
        for t in self.dv_timings_list():
            if (t.width, t.height, t.interlaced) == (width, height, False):
                self._ioctl(VIDIOC_S_DV_TIMINGS, t.raw)
                return t
        raise ValueError(f"no {width}x{height} progressive DV timings offered")

    def get_dv_timings(self) -> DvTimings:
        return DvTimings.parse(self._ioctl(VIDIOC_G_DV_TIMINGS, bytes(DV_TIMINGS_SIZE)))

    def query_dv_timings(self) -> DvTimings | str:
        """What the receiver detects; on no signal/no lock/out of range the errno name
        (``ENOLINK``/``ENOLCK``/``ERANGE``)."""
        try:
            return DvTimings.parse(self._ioctl(VIDIOC_QUERY_DV_TIMINGS, bytes(DV_TIMINGS_SIZE)))
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc.errno))

    # controls
    def controls(self) -> dict[str, Control]:
        if self._controls is None:
            found: dict[str, Control] = {}
            cid = 0
            while True:
                try:
                    query = _QUERYCTRL.pack(cid | V4L2_CTRL_FLAG_NEXT_CTRL, 0, b"", 0, 0, 0, 0, 0)
                    raw = self._ioctl(VIDIOC_QUERYCTRL, query)
                except OSError:
                    break
                cid, ctype, name, minimum, maximum, _step, default, _flags = _QUERYCTRL.unpack(raw)
                text = name.rstrip(b"\0").decode()
                found[ctrl_key(text)] = Control(cid, ctype, text, minimum, maximum, default)
            self._controls = found
        return self._controls

    def menu(self, control: str) -> dict[int, str]:
        ctrl = self.controls()[control]
        items = {}
        for index in range(ctrl.minimum, ctrl.maximum + 1):
            try:
                raw = self._ioctl(VIDIOC_QUERYMENU, _QUERYMENU.pack(ctrl.id, index, b"", 0))
            except OSError:
                continue  # a skipped menu entry
            items[index] = _QUERYMENU.unpack(raw)[2].rstrip(b"\0").decode()
        return items

    def get_ctrl(self, control: str) -> int:
        ctrl = self.controls()[control]
        return int(struct.unpack("<Ii", self._ioctl(VIDIOC_G_CTRL, struct.pack("<Ii", ctrl.id, 0)))[1])

    def set_ctrl(self, control: str, value: int) -> None:
        ctrl = self.controls()[control]
        self._ioctl(VIDIOC_S_CTRL, struct.pack("<Ii", ctrl.id, value))

    def set_signal_mode(self, mode: str) -> int:
        """``dv_timings_signal_mode`` by menu name prefix, case-insensitive: "current"
        (the set DV timings), "no signal", "no lock", "out of range", "selected", "cycle"."""
        for index, name in self.menu("dv_timings_signal_mode").items():
            if name.lower().startswith(mode.lower()):
                self.set_ctrl("dv_timings_signal_mode", index)
                return index
        raise ValueError(f"no signal mode {mode!r}: {self.menu('dv_timings_signal_mode')}")

    def frames_dropped(self, percent: int) -> None:
        """vivid's ``percentage_of_dropped_buffers``: 100 = no buffer is ever filled (reads
        block/time out: a receiver that stops delivering), 0 = normal."""
        self.set_ctrl("percentage_of_dropped_buffers", percent)

    # events
    def subscribe_source_change(self, input_index: int = VIVID_HDMI_INPUT) -> None:
        """V4L2_EVENT_SOURCE_CHANGE of one input (the event's id is the input index)."""
        self._ioctl(VIDIOC_SUBSCRIBE_EVENT, struct.pack("<III20x", V4L2_EVENT_SOURCE_CHANGE, input_index, 0))

    def wait_event(self, timeout: float) -> tuple[int, int] | None:
        """(type, first u32 of the payload: ``changes`` for SOURCE_CHANGE) of the next event, or None."""
        _r, _w, exc = select.select([], [], [self.fd], timeout)
        if not exc:
            return None
        raw = self._ioctl(VIDIOC_DQEVENT, bytes(136))
        ev_type, changes = struct.unpack_from("<I4xI", raw, 0)
        return ev_type, changes


assert struct.calcsize("l") == 8, "the struct sizes here are for 64-bit guests"
