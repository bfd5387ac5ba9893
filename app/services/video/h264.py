"""One H.264 encode shared by every H.264 viewer, WebRTC and direct alike.

The pipeline is a tap on the capture loop (the same pictures MJPEG viewers get). While at least
one H.264 viewer exists it runs an encoder thread: the capture thread leaves the newest picture in
a one-slot mailbox, the encoder thread encodes it (a picture that arrives meanwhile replaces the
waiting one, so a slow encoder skips pictures instead of falling behind) and hands each access unit
to every viewer on the event loop. A viewer decides itself what to do when it cannot keep up
(drop until the next key frame, spec 6.3).

A joining viewer asks for a key frame: the next picture is encoded as an IDR, so it sees the
screen within a frame or two, not after a whole GOP. Bitrate, GOP, fps and size come from
``/api/vm/screen``; the encoder is reopened when they change. An unchanged picture (the sim hands
out the same object) is not encoded again unless a key frame is due.

``h264-mode-status`` (spec 5.1) counts the viewers per mode and is broadcast when ``mixed`` flips;
``capture-status`` is reported per mode (``h264`` = WebRTC, ``direct``) while it has viewers.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.board.video import Captured, NoSignal
from app.board.video.h264 import AccessUnit, EncoderKind, EncoderSettings, H264Encoder, open_encoder
from app.services.events import EventBus
from app.services.video.capture import Capture
from app.services.video.screen import ScreenSettings
from app.services.video.stats import H264_ENCODER

log = logging.getLogger(__name__)

MODES = ("direct", "webrtc")
STATUS_MODE = {"direct": "direct", "webrtc": "h264"}  # capture-status names WebRTC "h264"
RETRY_SECONDS = 1.0
# A still screen is encoded again this often anyway (a tiny P frame), so viewers keep receiving and
# acknowledging, and a dead connection shows as unacknowledged bytes (no WebSocket pings in ASGI).
KEEPALIVE_SECONDS = 1.0
# Key frames asked for by a viewer that fell behind (not by a joining one) are granted this often at
# most: a viewer on a bad link must not turn everyone's stream into a train of I frames.
RECOVERY_KEY_SECONDS = 1.0
GENERATION = str(uuid.uuid4())  # per process, as NanoKVM's h264-mode-status

Deliver = Callable[[AccessUnit], None]


def _always() -> bool:
    return True


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True, slots=True)
class _Viewer:
    mode: str
    deliver: Deliver
    wants: Callable[[], bool]  # False while the viewer cannot take a frame (its flow window is full)


class H264Pipeline:
    def __init__(
        self,
        capture: Capture,
        screen: ScreenSettings,
        bus: EventBus,
        encoder: EncoderKind,
        libkvm: Path | None = None,
    ) -> None:
        self.capture = capture
        self.screen = screen
        self.bus = bus
        self.encoder_kind: EncoderKind = encoder
        self._libkvm = libkvm
        self.needs_pictures = encoder != "libkvm"
        self._viewers: dict[int, _Viewer] = {}
        self._ids = itertools.count(1)
        self._revision = 0
        self._mixed = False
        self._slot = threading.Condition()
        self._pending: tuple[Captured | None, int] | None = None
        self._key = threading.Event()
        self._stop: threading.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._modes: tuple[str, ...] = ()
        self._started = time.monotonic()
        self._last_recovery = 0.0
        self.encoded = 0  # access units so far (for tests and the bench)

    # --- viewers (event loop) --------------------------------------------------------------

    def add_viewer(self, mode: str, deliver: Deliver, wants: Callable[[], bool] = _always) -> int:
        """Register a viewer (``direct`` or ``webrtc``); it gets a key frame first. Returns its id."""
        if mode not in MODES:
            raise ValueError(mode)
        self._loop = asyncio.get_running_loop()
        viewer_id = next(self._ids)
        first = not self._viewers
        self._viewers[viewer_id] = _Viewer(mode, deliver, wants)
        self._counts_changed()
        self.request_key_frame()
        if first:
            self._start()
        return viewer_id

    def remove_viewer(self, viewer_id: int) -> None:
        if self._viewers.pop(viewer_id, None) is None:
            return
        self._counts_changed()
        if not self._viewers:
            self._halt()

    def request_key_frame(self, recovery: bool = False) -> None:
        """The next picture is encoded as an IDR. ``recovery``: for a viewer that dropped frames
        (rate-limited); a joining viewer or a decoder that lost its state is served at once."""
        now = time.monotonic()
        if recovery:
            if now - self._last_recovery < RECOVERY_KEY_SECONDS:
                return
            self._last_recovery = now
        self._key.set()

    def _wanted(self) -> bool:
        return any(viewer.wants() for viewer in list(self._viewers.values()))

    def unavailable(self, mode: str) -> str | None:
        """Why ``mode`` (``direct``/``webrtc``) cannot stream on this install, or None. PyAV and aiortc
        are an optional extra (not in the zipapp): without PyAV only NanoKVM's library encodes, and
        WebRTC needs aiortc (which needs PyAV). Reported as capture-status -2 for that mode too."""
        needed = {"webrtc": ("av", "aiortc"), "direct": ("av",) if self.needs_pictures else ()}[mode]
        missing = [name for name in needed if not _importable(name)]
        if not missing:
            return None
        self.capture.status.report(STATUS_MODE[mode], -2)
        names = " and ".join("PyAV" if name == "av" else name for name in missing)
        return f"H.264 {'over WebRTC ' if mode == 'webrtc' else ''}needs {names} on the board"

    def count(self, mode: str) -> int:
        return sum(1 for viewer in self._viewers.values() if viewer.mode == mode)

    def mode_status(self) -> dict[str, object]:
        direct, webrtc = self.count("direct"), self.count("webrtc")
        return {
            "generation": GENERATION,
            "revision": self._revision,
            "direct": direct,
            "webrtc": webrtc,
            "mixed": direct > 0 and webrtc > 0,
        }

    def _counts_changed(self) -> None:
        self._revision += 1
        self._modes = tuple(sorted({STATUS_MODE[v.mode] for v in self._viewers.values()}))
        status = self.mode_status()
        if status["mixed"] != self._mixed:  # NanoKVM broadcasts only when mixed flips
            self._mixed = bool(status["mixed"])
            self.bus.publish("h264-mode-status", status)

    def _publish(self, unit: AccessUnit) -> None:
        for viewer in list(self._viewers.values()):
            viewer.deliver(unit)

    # --- the tap (capture thread) ----------------------------------------------------------

    def offer(self, captured: Captured | None, result: int) -> None:
        with self._slot:
            self._pending = (captured, result)
            self._slot.notify()

    # --- the encoder thread ----------------------------------------------------------------

    def _start(self) -> None:
        stop = self._stop = threading.Event()
        self._started = time.monotonic()
        threading.Thread(target=self._run, args=(stop,), name="h264-encoder", daemon=True).start()
        self.capture.attach(self)

    def _halt(self) -> None:
        self.capture.detach(self)
        if self._stop is not None:
            self._stop.set()
        with self._slot:
            self._pending = None
            self._slot.notify_all()

    def stop(self) -> None:
        """At shutdown."""
        if self._stop is not None:
            self._stop.set()
        with self._slot:
            self._slot.notify_all()

    def _settings(self) -> EncoderSettings:
        state = self.screen.state()
        return EncoderSettings(self.screen.width, self.screen.height, state.fps, state.bitrate, state.gop)

    def _open(self, settings: EncoderSettings) -> H264Encoder:
        lib = None
        if self.encoder_kind == "libkvm" and self._libkvm is not None:
            from app.board.video.libkvm import LibKvm

            lib = LibKvm.load(self._libkvm)
        return open_encoder(self.encoder_kind, settings, lib)

    def _take(self, stop: threading.Event) -> tuple[Captured | None, int] | None:
        with self._slot:
            while self._pending is None and not stop.is_set():
                self._slot.wait()
            pending, self._pending = self._pending, None
        return None if stop.is_set() else pending

    def _report(self, result: int) -> None:
        for mode in self._modes:
            self.capture.status.report(mode, result)

    def _run(self, stop: threading.Event) -> None:
        encoder: H264Encoder | None = None
        previous: bytes | None = None
        encoded_at = 0.0
        try:
            while (pending := self._take(stop)) is not None:
                captured, result = pending
                settings = self._settings()
                key = self._key.is_set()
                if not self._wanted():
                    continue  # every viewer's window is full (spec 6.3: capture pauses)
                still = captured is not None and captured.jpeg is previous
                if still and not key and encoder is not None and time.monotonic() - encoded_at < KEEPALIVE_SECONDS:
                    continue  # nothing changed on screen
                try:
                    if encoder is None or encoder.settings != settings:
                        if encoder is not None:
                            encoder.close()
                        encoder = self._open(settings)
                        key = True
                    self._key.clear()
                    began = time.perf_counter()
                    units = encoder.encode(self._image(captured), self._timestamp(), key)
                    spent = time.perf_counter() - began
                except NoSignal as err:
                    self._report(err.code)
                    stop.wait(0.1)
                    continue
                except Exception:  # a broken encoder or driver must not end the stream for good
                    log.exception("H.264 encoding failed")
                    self._report(-2)
                    if encoder is not None:
                        encoder.close()
                    encoder = None
                    stop.wait(RETRY_SECONDS)
                    continue
                previous = captured.jpeg if captured is not None else None
                encoded_at = time.monotonic()
                area = captured.width * captured.height if captured is not None else settings.width * settings.height
                self.capture.stats.stage(H264_ENCODER, spent, area)
                self._report(result)
                loop = self._loop
                for unit in units:
                    self.encoded += 1
                    if loop is not None and not stop.is_set():
                        loop.call_soon_threadsafe(self._publish, unit)
        except Exception:
            log.exception("the H.264 encoder thread failed")
            self._report(-2)
        finally:
            if encoder is not None:
                encoder.close()

    def _timestamp(self) -> int:
        return int((time.monotonic() - self._started) * 1_000_000)

    @staticmethod
    def _image(captured: Captured | None) -> object:
        if captured is None:
            return None
        if captured.image is not None:
            return captured.image
        from app.board.video import jpeg as jpg

        return jpg.decode(captured.jpeg)
