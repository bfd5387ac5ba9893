"""The recorder: one recording at a time, vncrecordingserver's start / status / stop.

The recording runs in its own writer thread. The source queues its pictures (``sources``); the
writer writes the first at once, then wakes and writes a frame for each tick of the recording's
frame rate since, the newest picture that had arrived by that tick (``writer``). When it passes the
captured JPEGs through it wakes every ``BATCH_SECONDS``: waking twice a second instead of at every
frame is what keeps such a recording cheap next to streaming (a thread wake-up and a cold cache per
frame cost more than the write itself), and a kill -9 loses at most that batch. When it encodes
(H.264, a clipped or an RFB picture) it wakes at every frame: the encoding dwarfs the wake-up, and
the queue holds a few pictures with pixels, not a batch of them.

It stops by itself, cleanly closing the file and saying why, when the file reaches ``max_size``,
when a write fails for lack of space, when the source fails, or, on the filesystem that holds the
device's own state (``/etc/kvm``), before the free space would fall below a reserve (that state must
stay writable); a recordings directory on a disk of its own may fill up.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from app.board.video.h264 import EncoderKind
from app.errors import Conflict, DomainError, Failed, InvalidArgument, Unavailable
from app.paths import DeviceRoot
from app.services.recording.options import RecordingConfig, clip_of, container_of, target
from app.services.recording.sources import Picture, RfbSource, ScreenSource, Source
from app.services.recording.writer import MAX_REPEAT_SECONDS, Writer, open_writer
from app.services.video.capture import Capture
from app.services.video.screen import ScreenSettings

log = logging.getLogger(__name__)

DIRECTORY = "/data/recordings"
FIRST_PICTURE_SECONDS = 10.0
BATCH_SECONDS = 0.5  # how often a pass-through writer wakes to write the frames since (and checks the limits)
FREE_RESERVE = 64 << 20  # bytes left free on the disk of the device's state
STATE = "/etc/kvm"  # the device's own state: its disk keeps the reserve free
MASK = "*" * 8  # the password's place in answers
LOOPBACK_NAMES = ("localhost", "ip6-localhost", "localhost.localdomain")


class RecordingStatus(msgspec.Struct):
    active: bool
    config: dict[str, object]
    file: str | None = None  # relative to the recordings directory
    duration: float = 0.0  # seconds recorded
    frames: int = 0
    bytes: int = 0
    stopped: str | None = None  # why the last recording ended (when not active)
    source: str = "screen"  # "screen" (this KVM's) or "vnc://host:port"


@dataclass
class _Run:
    config: RecordingConfig
    path: Path
    source: Source
    writer: Writer
    source_name: str
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    started: float = 0.0
    ticks: int = 0
    size: int = 0
    ended: str | None = None
    closed: bool = False
    reserve: int = 0  # bytes to leave free on the recording's disk


def shown(config: RecordingConfig) -> dict[str, object]:
    """The config as answered: vncrecordingserver's keys, the password never echoed."""
    data: dict[str, object] = msgspec.to_builtins(config)
    if config.password is not None:
        data["password"] = MASK
    return data


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def same_disk(directory: Path, state: Path) -> bool:
    """Whether ``directory`` is on the filesystem of ``state`` (or of the nearest existing parent)."""
    while not state.exists() and state != state.parent:
        state = state.parent
    try:
        return directory.stat().st_dev == state.stat().st_dev
    except OSError:
        return True  # unknown: keep the reserve


class Recorder:
    def __init__(
        self,
        root: DeviceRoot,
        capture: Capture,
        screen: ScreenSettings,
        encoder: EncoderKind,
        own_vnc_port: int | None,
    ) -> None:
        self.directory = root(DIRECTORY)
        self._state = root(STATE)
        self._capture = capture
        self._screen = screen
        self._encoder: EncoderKind = encoder
        self._own_ports = {5900} | ({own_vnc_port} if own_vnc_port else set())
        self._run: _Run | None = None
        self._lock = asyncio.Lock()
        self._last_config = RecordingConfig()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.reserve = FREE_RESERVE

    # --- the API ---------------------------------------------------------------------------

    def status(self) -> RecordingStatus:
        run = self._run
        if run is None:
            return RecordingStatus(False, shown(self._last_config))
        return RecordingStatus(
            active=run.thread is not None and run.thread.is_alive() and run.ended is None,
            config=shown(run.config),
            file=str(run.path.relative_to(self.directory)),
            duration=round(run.ticks / run.config.framerate, 3),
            frames=run.writer.frames,
            bytes=run.size,
            stopped=run.ended,
            source=run.source_name,
        )

    def recording(self, path: Path) -> bool:
        """Whether ``path`` is the file being written now."""
        run = self._run
        return run is not None and run.ended is None and run.path == path

    async def start(self, config: RecordingConfig) -> RecordingStatus:
        """Start recording; answers once the first picture is written. InvalidArgument (options),
        Conflict (already recording), Failed (the source), Unavailable (no picture, no PyAV)."""
        async with self._lock:
            if self._run is not None and self._run.ended is None:
                raise Conflict("a recording is already running; DELETE /recording stops it")
            clip = clip_of(config)
            container = container_of(config.filename)
            try:
                import av  # noqa: F401
            except ImportError:
                raise Unavailable("recordings need PyAV (pip install 'nanokvm-py[recording]')") from None
            await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
            path = await asyncio.to_thread(target, self.directory, config)
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            self._loop = asyncio.get_running_loop()
            source, name = self._source(config)
            writer = open_writer(  # opens its file at the first picture
                path, container, config.framerate, config.keyframe, clip, self._encoder, self._screen.bitrate
            )
            source.keep_pixels = writer.needs_pixels
            await source.open()
            run = _Run(config, path, source, writer, name)
            if await asyncio.to_thread(same_disk, path.parent, self._state):
                run.reserve = self.reserve
            self._run, self._last_config = run, config
            try:
                await self._first_picture(run)
            except DomainError:
                await self._finish(run, "no picture")
                raise
            run.started = time.monotonic()
            run.thread = threading.Thread(target=self._record, args=(run,), name="recorder", daemon=True)
            run.thread.start()
            await self._written(run)
            return self.status()

    async def stop(self, reason: str = "stopped") -> RecordingStatus:
        async with self._lock:
            run = self._run
            if run is not None and run.ended is None:
                await self._finish(run, reason)
            return self.status()

    async def shutdown(self) -> None:
        await self.stop("the app stopped")

    # --- inside ----------------------------------------------------------------------------

    def _source(self, config: RecordingConfig) -> tuple[Source, str]:
        host = (config.host or "").strip()
        if not host or (is_loopback(host) and config.port in self._own_ports):
            return ScreenSource(self._capture), "screen"
        if len(host) > 253:
            raise InvalidArgument("host name too long")
        return RfbSource(host, config.port, config.password, config.framerate), f"vnc://{host}:{config.port}"

    async def _first_picture(self, run: _Run) -> None:
        deadline = time.monotonic() + FIRST_PICTURE_SECONDS
        while run.source.picture is None:
            error = getattr(run.source, "error", None)
            if error:
                raise Failed(error)
            if time.monotonic() > deadline:
                raise Unavailable("no picture from the source within 10 s")
            await asyncio.sleep(0.02)

    async def _written(self, run: _Run) -> None:
        """Until the first frame is in the file (or the run ended): then GET shows real progress."""
        deadline = time.monotonic() + FIRST_PICTURE_SECONDS
        while run.writer.frames == 0 and run.ended is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the thread's progress: polled, a few times per start
        if run.ended is not None:
            raise Failed(f"the recording stopped at once: {run.ended}")

    async def _finish(self, run: _Run, reason: str) -> None:
        if run.ended is None:
            run.ended = reason
        if run.closed:
            return
        run.closed = True
        run.stop.set()
        if run.thread is not None:
            await asyncio.to_thread(run.thread.join)
        await run.source.close()
        await asyncio.to_thread(self._close_writer, run)

    @staticmethod
    def _close_writer(run: _Run) -> None:
        try:
            run.writer.close()
        except Exception as err:  # a full disk at the trailer: what was written stays playable
            log.warning("closing the recording %s failed: %s", run.path, err)
        with contextlib.suppress(OSError):
            run.size = run.path.stat().st_size

    def _record(self, run: _Run) -> None:
        try:
            ended = self._write_all(run)
        except Exception as err:  # a bug must still end the run, or it would stay "being written"
            log.exception("recording %s failed", run.path)
            ended = f"failed: {err}"
        if ended is not None:
            log.warning("recording %s stopped: %s", run.path, ended)
        if run.ended is None:  # else stop() said why first
            run.ended = ended or "stopped"
        if not run.stop.is_set() and self._loop is not None:  # ended by itself: release the source too
            self._loop.call_soon_threadsafe(self._finish_soon, run)

    def _write_all(self, run: _Run) -> str | None:
        """The writer thread's work until the stop or a reason to end (returned)."""
        queued = run.source.take()
        picture = queued[-1][1] if queued else run.source.picture
        assert picture is not None  # start() waited for the first
        queued = []
        if ended := self._limits(run, 1):
            return ended
        if ended := self._write(run, picture, 0):  # the clock starts once the first frame is in
            return ended
        run.started, run.ticks = time.monotonic(), 1
        interval, rate = 1 / run.config.framerate, run.config.framerate
        passes_through = run.source.jpegs and not run.writer.needs_pixels
        batch = max(1, round(rate * BATCH_SECONDS))
        per_wake, checked = batch if passes_through else 1, time.monotonic()
        while True:
            due = run.started + (run.ticks + per_wake - 1) * interval
            stopping = run.stop.wait(max(0.0, due - time.monotonic()))
            queued += run.source.take()
            if run.source.error:
                return f"source failed: {run.source.error}"
            last = int((time.monotonic() - run.started) / interval)
            first = max(run.ticks, last - rate * MAX_REPEAT_SECONDS)  # a starved writer catches up this much
            if per_wake > 1 or time.monotonic() - checked >= BATCH_SECONDS:  # a stat, a statfs: not per frame
                checked = time.monotonic()
                if ended := self._limits(run, max(batch, last + 1 - first)):
                    return ended
            for tick in range(first, last + 1):
                due = run.started + tick * interval
                while queued and queued[0][0] <= due:
                    picture = queued.pop(0)[1]
                if ended := self._write(run, picture, tick):
                    return ended
            if stopping:
                return None

    def _write(self, run: _Run, picture: Picture, tick: int) -> str | None:
        # Every packet goes to the OS as it is muxed (writer: flush_packets), so the file's size before
        # a write ends a whole frame (MP4 fragment, Matroska cluster): a write a full disk cut short is
        # cut off there, and the file ends on a frame that plays rather than on half of one. A file
        # without a single frame is removed.
        whole = None
        if run.writer.frames:
            with contextlib.suppress(OSError):
                whole = run.path.stat().st_size
        try:
            run.writer.write(picture, tick)
        except Exception as err:
            with contextlib.suppress(OSError):
                if run.writer.frames == 0:
                    run.path.unlink(missing_ok=True)
                elif whole is not None:
                    os.truncate(run.path, whole)
            return self._write_failed(err)
        run.ticks = tick + 1
        return None

    def _finish_soon(self, run: _Run) -> None:
        async def finish() -> None:
            async with self._lock:
                await self._finish(run, run.ended or "stopped")

        task = asyncio.create_task(finish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _limits(self, run: _Run, coming: int) -> str | None:
        """Why the recording must stop before writing ``coming`` more frames, or None."""
        try:
            run.size = run.path.stat().st_size if run.writer.frames else 0
            if run.config.max_size and run.size >= run.config.max_size:
                return f"size quota reached ({run.config.max_size} bytes)"
            if run.reserve:
                frame = run.size // run.writer.frames if run.writer.frames else 1 << 20
                # Twice the frames' average: a busier picture makes bigger JPEGs, and the trailer comes.
                if free_bytes(run.path.parent) - 2 * coming * frame < run.reserve:
                    return f"disk full: stopped to keep {run.reserve >> 20} MiB free for the device"
        except OSError as err:
            return f"cannot check the file: {err.strerror}"
        return None

    @staticmethod
    def _write_failed(err: Exception) -> str:
        code = getattr(err, "errno", None)
        if code in (errno.ENOSPC, errno.EDQUOT):
            return "disk full: a write found no space"
        return f"write failed: {err}"
