"""One VNC client after the handshake: its messages in, framebuffer updates out.

Updates follow the client's requests (or run on their own once it enables continuous updates) and
are paced like MJPEG viewers: the next update goes only when the client has received all but a
little of the previous one, and it is always the newest frame, so a slow client skips frames and
sees the present. The client's session is re-checked while it is connected; when it ends the
connection closes (within a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.services.auth.accounts import Role
from app.services.video.capture import Capture, Frame
from app.services.video.stats import RAW, ZRLE, ViewerStats
from app.services.vnc import encodings, wire, zrle
from app.services.vnc.input import VncInput
from app.services.vnc.link import Link, Piece
from app.services.vnc.security import Identity
from app.services.vnc.wire import PixelFormat

log = logging.getLogger(__name__)

IN_FLIGHT_SLACK = 64 * 1024  # bytes that may still be on the way when the next update goes
PACE_POLL_MIN, PACE_POLL_MAX = 0.002, 0.01
CUT_TEXT_LIMIT = 256 * 1024  # a longer ClientCutText closes the connection
ENCODINGS_LIMIT = 1024
FIRST_FRAME_SECONDS = 3.0  # how long ServerInit waits for the picture's size
DEFAULT_SIZE = (1920, 1080)  # the size announced when no frame came by then
ENCODING_NAMES = {wire.ENC_TIGHT: "tight", wire.ENC_ZRLE: "zrle"}


class ProtocolError(Exception):
    """The client sent something RFB does not allow; the connection closes."""


@dataclass
class ClientState:
    """What the settings page shows about a client."""

    peer: str
    username: str
    role: str
    transport: str
    connected: float = field(default_factory=time.time)
    encoding: str = "raw"
    updates: int = 0


class VncConnection:
    def __init__(
        self,
        link: Link,
        identity: Identity,
        capture: Capture,
        inputs: VncInput | None,
        paste: Callable[[str], None],
        name: str,
        state: ClientState,
        decoded: encodings.Decoded,
        passthrough: encodings.Passthrough,
    ) -> None:
        self.decoded = decoded
        self.passthrough = passthrough
        self.link = link
        self.identity = identity
        self.capture = capture
        self.inputs = inputs  # None: a viewer, whose input is dropped
        self.paste = paste
        self.name = name
        self.state = state
        self.width = self.height = 0
        self.format = wire.SERVER_FORMAT
        self.encodings: list[int] = [wire.ENC_RAW]
        self._wake = asyncio.Event()
        self._requested = False  # an update request is waiting
        self._full = True  # the next update is a whole screen, whatever changed
        self._continuous = False
        self._pseudo: list[bytes] = []  # pseudo-rectangles waiting for the next update
        self._last_seq = 0
        self._last_image: encodings.Image | None = None
        self._zrle = zrle.ZrleStream()
        self._sent = 0
        # KasmVNC's statistics: this connection, its last update's encode time, when it went.
        self.stats: ViewerStats | None = None
        self._encode_seconds = 0.0
        self._update_sent_at: float | None = None

    # --- the whole connection --------------------------------------------------------------

    async def run(self, ended: asyncio.Event) -> None:
        """Until the client goes, breaks the protocol, or ``ended`` is set (its session ended)."""
        await self.link.read(1)  # ClientInit: the shared flag (every client shares here)
        async with self.capture.viewer():
            try:
                frame = await asyncio.wait_for(self.capture.next_frame(0), FIRST_FRAME_SECONDS)
                self.width, self.height = frame.width, frame.height
            except TimeoutError:  # a capture still starting (or broken): the size follows with the first frame
                self.width, self.height = DEFAULT_SIZE
            self.link.write([wire.server_init(self.width, self.height, self.name)])
            await self.link.drain()
            kind = "vnc" if self.state.transport == "vnc" else "websocket"  # KasmVNC's name for noVNC's
            stats = self.capture.stats
            viewer = self.stats = stats.add_viewer(
                kind, self.identity.username, self.link.peer, self.link.rtt, continuous=False
            )
            tasks = [
                asyncio.create_task(self._read_loop()),
                asyncio.create_task(self._update_loop()),
                asyncio.create_task(ended.wait()),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = task.exception()
                    if isinstance(error, ProtocolError):
                        log.info("VNC client %s: %s", self.link.peer, error)
                    elif error is not None and not isinstance(error, (OSError, asyncio.IncompleteReadError)):
                        raise error
            finally:
                stats.remove_viewer(viewer)
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(BaseException):
                        await task
                if self.inputs is not None:
                    self.inputs.release()

    # --- client messages -------------------------------------------------------------------

    async def _read_loop(self) -> None:
        read = self.link.read
        while True:
            (kind,) = await read(1)
            if kind == wire.C_SET_PIXEL_FORMAT:
                fmt = PixelFormat.parse((await read(19))[3:])
                if not fmt.usable():
                    raise ProtocolError(f"pixel format not supported: {fmt}")
                self.format = fmt
                self._last_image = None
            elif kind == wire.C_SET_ENCODINGS:
                (count,) = struct.unpack(">xH", await read(3))
                if count > ENCODINGS_LIMIT:
                    raise ProtocolError("too many encodings")
                self._set_encodings(list(struct.unpack(f">{count}i", await read(4 * count))))
            elif kind == wire.C_UPDATE_REQUEST:
                incremental, *_ = struct.unpack(">BHHHH", await read(9))
                self._requested = True
                self._measure_request(bool(incremental))
                if not incremental:
                    self._full = True
                if self._ready() is not None:  # else the next frame wakes the update loop
                    self._wake.set()
            elif kind == wire.C_KEY:
                down, keysym = struct.unpack(">BxxI", await read(7))
                if self.inputs is not None:
                    self.inputs.keysym(keysym, bool(down))
            elif kind == wire.C_POINTER:
                mask, x, y = struct.unpack(">BHH", await read(5))
                if self.inputs is not None:
                    self.inputs.pointer(mask, x, y, self.width, self.height)
            elif kind == wire.C_CUT_TEXT:
                await self._cut_text()
            elif kind == wire.C_ENABLE_CONTINUOUS:
                enable, *_ = struct.unpack(">BHHHH", await read(9))
                self._set_continuous(bool(enable))
            elif kind == wire.C_FENCE:
                await self._fence()
            elif kind == wire.C_SET_DESKTOP_SIZE:
                (_, _, _, screens) = struct.unpack(">xHHBx", await read(7))
                await read(16 * screens)
                # The picture's size is the host's: a client cannot change it.
                self._pseudo.append(
                    wire.extended_desktop_size(self.width, self.height, wire.RESIZE_BY_CLIENT, wire.RESIZE_PROHIBITED)
                )
                self._wake.set()
            elif kind == wire.C_QEMU:
                await self._qemu()
            else:
                raise ProtocolError(f"unknown message type {kind}")

    def _set_encodings(self, offered: list[int]) -> None:
        self.encodings = offered
        self._last_image = None
        self._full = True
        if wire.ENC_EXTENDED_DESKTOP_SIZE in offered:  # says the server knows it (rfbproto)
            self._pseudo.append(
                wire.extended_desktop_size(self.width, self.height, wire.RESIZE_BY_SERVER, wire.RESIZE_OK)
            )
        if wire.ENC_QEMU_KEY in offered:
            self._pseudo.append(wire.rect(0, 0, 0, 0, wire.ENC_QEMU_KEY))
        if wire.ENC_CONTINUOUS_UPDATES in offered:
            self.link.write([bytes([wire.S_END_CONTINUOUS])])  # says continuous updates are supported
        if wire.ENC_FENCE in offered:
            self.link.write([wire.fence(wire.FENCE_REQUEST, b"")])  # says fences are supported
        self._wake.set()

    def _measure_request(self, incremental: bool) -> None:
        """The client wants a frame from now on; an incremental request right after an update gives
        the client's round trip (receive, draw, ask again)."""
        if self.stats is None:
            return
        latest = self.capture.latest
        self.stats.want(latest.seq if latest is not None else 0)
        if incremental and self._update_sent_at is not None:
            self.stats.client_round_trip(time.perf_counter() - self._update_sent_at)
        self._update_sent_at = None

    def _set_continuous(self, enable: bool) -> None:
        self._continuous = enable
        if self.stats is not None:
            self.stats.continuous = enable
            if enable:
                latest = self.capture.latest
                self.stats.want(latest.seq if latest is not None else 0)
        if not enable:
            self.link.write([bytes([wire.S_END_CONTINUOUS])])
        self._wake.set()

    async def _cut_text(self) -> None:
        (length,) = struct.unpack(">xxxi", await self.link.read(7))
        if length < 0:  # the extended clipboard's messages: not offered, so skip them
            length = -length
            if length > CUT_TEXT_LIMIT:
                raise ProtocolError("clipboard message too long")
            await self.link.read(length)
            return
        if length > CUT_TEXT_LIMIT:
            raise ProtocolError(f"cut text of {length} bytes (limit {CUT_TEXT_LIMIT})")
        text = (await self.link.read(length)).decode("latin-1")
        if self.inputs is not None and text:
            self.paste(text)

    async def _fence(self) -> None:
        flags, size = struct.unpack(">xxxIB", await self.link.read(8))
        if size > 64:
            raise ProtocolError("fence payload too long")
        payload = await self.link.read(size)
        if flags & wire.FENCE_REQUEST:  # answered at once: updates already go out in order
            self.link.write([wire.fence(flags & ~wire.FENCE_REQUEST & 0x7, payload)])
            await self.link.drain()

    async def _qemu(self) -> None:
        (sub,) = await self.link.read(1)
        if sub == wire.QEMU_KEY_EVENT:
            down, keysym, code = struct.unpack(">HII", await self.link.read(10))
            if self.inputs is None:
                return
            if code:
                self.inputs.scancode(code, bool(down))
            else:
                self.inputs.keysym(keysym, bool(down))
        elif sub == wire.QEMU_AUDIO:
            (op,) = struct.unpack(">H", await self.link.read(2))
            if op == 2:
                await self.link.read(6)
        else:
            raise ProtocolError(f"unknown QEMU message {sub}")

    # --- updates ---------------------------------------------------------------------------

    def _ready(self) -> Frame | None:
        """The frame to send now, if an update is wanted and there is something to send."""
        latest = self.capture.latest
        if not (self._requested or self._continuous) or latest is None:
            return None
        if self._full or self._pseudo or latest.seq > self._last_seq:
            return latest
        return None

    def _on_frame(self) -> None:
        if self._requested or self._continuous:  # else the client's request wakes the update loop
            self._wake.set()

    async def _update_loop(self) -> None:
        stop_listening = self.capture.listen(self._on_frame)
        try:
            while True:
                if self._ready() is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                # Paced like MJPEG viewers: the previous update must have left (all but a little).
                # Checked now, a frame after it went, when it normally has: no polling then.
                await self._wait_delivered()
                frame = self._ready()  # the newest, after the wait
                if frame is None:
                    continue
                pieces = await self._update(frame)
                if pieces is None:
                    continue  # nothing changed in the picture: wait for the next frame
                self._requested = False
                began = time.perf_counter()
                size = self.link.write(pieces)
                await self.link.drain()
                self._update_sent_at = sent_at = time.perf_counter()
                self._sent += size
                self.state.updates += 1
                if self.stats is not None:
                    self.stats.delivered(frame.seq, size, sent_at - began, self._encode_seconds)
        finally:
            stop_listening()

    def _choose(self, frame: Frame) -> int:
        """The first encoding in the client's order that the server can send for this frame."""
        quality = any(wire.JPEG_QUALITY_LOWEST <= e <= wire.JPEG_QUALITY_HIGHEST for e in self.encodings)
        same_size = (frame.width, frame.height) == (self.width, self.height)
        for encoding in self.encodings:
            if encoding == wire.ENC_TIGHT and quality and self.format.jpeg_ok() and same_size:
                return encoding
            if encoding in (wire.ENC_ZRLE, wire.ENC_RAW):
                return encoding
        return wire.ENC_RAW

    def _resize(self, frame: Frame) -> list[bytes]:
        """The desktop-size rectangle if the picture changed size and the client can follow."""
        if (frame.width, frame.height) == (self.width, self.height):
            return []
        if wire.ENC_EXTENDED_DESKTOP_SIZE in self.encodings:
            self.width, self.height = frame.width, frame.height
            return [wire.extended_desktop_size(self.width, self.height, wire.RESIZE_BY_SERVER, wire.RESIZE_OK)]
        if wire.ENC_DESKTOP_SIZE in self.encodings:
            self.width, self.height = frame.width, frame.height
            return [wire.rect(0, 0, self.width, self.height, wire.ENC_DESKTOP_SIZE)]
        return []  # the client keeps its size: the picture is scaled to it

    async def _update(self, frame: Frame) -> list[Piece] | None:
        rects: list[list[Piece]] = [[p] for p in self._pseudo]
        self._pseudo = []
        resize = self._resize(frame)
        rects += [[p] for p in resize]
        full = self._full or bool(resize)
        encoding = self._choose(frame)
        self.state.encoding = ENCODING_NAMES.get(encoding, "raw")
        self._encode_seconds = 0.0
        if encoding == wire.ENC_TIGHT:
            alone, head, jpeg = self.passthrough.get(frame)
            self._full = False
            self._last_seq = frame.seq
            self._last_image = None
            if not rects:  # the common case: the update's bytes are shared by every Tight client
                return [alone, jpeg]
            rects.append([head, jpeg])
        else:
            image = await self._pixels(frame, encoding, full)
            if image is not None:
                rects.append(image)
        self._full = False
        self._last_seq = frame.seq
        if not rects:
            return None
        return [wire.update_header(len(rects)), *(piece for rect in rects for piece in rect)]

    async def _pixels(self, frame: Frame, encoding: int, full: bool) -> list[Piece] | None:
        end = len(frame.part) - 2
        jpeg = memoryview(frame.part)[end - frame.jpeg_size : end]
        image = await self.decoded.get(frame.seq, jpeg, self.width, self.height)
        box = encodings.changed_box(None if full else self._last_image, image)
        self._last_image = image
        if box is None:
            return None
        pieces, seconds = await asyncio.to_thread(self._encode, encoding, image, box)
        self._encode_seconds = seconds
        self.capture.stats.stage(ZRLE if encoding == wire.ENC_ZRLE else RAW, seconds, box[2] * box[3])
        return pieces

    def _encode(
        self, encoding: int, image: encodings.Image, box: tuple[int, int, int, int]
    ) -> tuple[list[Piece], float]:
        """ZRLE or Raw, and the time it took (in the worker thread, so the hop is not counted)."""
        began = time.perf_counter()
        if encoding == wire.ENC_ZRLE:
            x, y, w, h = box
            pixels = encodings.pixels(image[y : y + h, x : x + w], self.format)
            pieces: list[Piece] = self._zrle.encode(pixels, box, self.format)
        else:
            pieces = encodings.raw(image, box, self.format)
        return pieces, time.perf_counter() - began

    async def _wait_delivered(self) -> None:
        delay = PACE_POLL_MIN
        while True:
            delivered = self.link.delivered()
            if delivered is None or self._sent - delivered <= IN_FLIGHT_SLACK:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, PACE_POLL_MAX)


def is_viewer(identity: Identity) -> bool:
    return identity.role < Role.USER
