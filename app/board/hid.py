"""The USB HID gadget's device nodes: one writer thread per node, and the keyboard LED reader.

Nodes are opened write-only and non-blocking. A write that meets EAGAIN (the host has not yet
polled the previous report) is retried for a moment; a write that cannot complete (host asleep or
off, cable out, gadget not bound) is dropped with one logged warning and the node is reopened on
the next report. Nothing here ever blocks the event loop: reports are handed over through a
bounded queue.

On the sim board the nodes are FIFOs that the sim host reads; its LED answers come back through a
second FIFO, since a FIFO, unlike ``/dev/hidg0``, carries data one way only.

Around a gadget unbind or rebuild every node is *held*: closed first, reopened after. A
``/dev/hidgN`` file kept open across an unbind and closed after the rebind corrupts f_hid's
character-device list in Linux (6.1: ``list_del corruption`` in ``cd_forget``, then a lockup),
found by the kernel tier.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import select
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

EAGAIN_RETRY_SECONDS = 0.05  # as NanoKVM: a report the host has not polled for 50 ms is dropped
QUEUE_LIMIT = 256


class HidPaths(NamedTuple):
    keyboard: Path
    mouse: Path
    touchpad: Path
    keyboard_out: Path  # where the host's LED output reports arrive (/dev/hidg0 itself on a board)


class HidWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Each report travels with how long it may wait for the host (EAGAIN retries).
        self._queue: queue.Queue[tuple[bytes, float] | None] = queue.Queue(QUEUE_LIMIT)
        self._fd: int | None = None
        self._failing = False
        self.written = 0
        self.dropped = 0
        self._reopen = threading.Event()
        self._held = threading.Event()  # the gadget is being unbound: the node stays closed
        self._writing = threading.Lock()  # held while a report is being written, by either path
        self._thread = threading.Thread(target=self._run, name=f"hid-{path.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1)
        self._thread.join(timeout=2)
        self._close()

    def _write_now(self, report: bytes) -> bool:
        """The fast path, from the caller's thread: write at once if nothing is queued or being
        written (so order holds) and the node takes it without waiting. Never blocks."""
        if self._fd is None or self._queue.unfinished_tasks or not self._writing.acquire(blocking=False):
            return False
        try:
            fd = self._fd  # read under the lock: the thread closes it only while holding it
            if fd is None or self._queue.unfinished_tasks or self._reopen.is_set() or self._held.is_set():
                return False
            os.write(fd, report)
        except OSError:  # EAGAIN or worse: the writer thread retries and reports it
            return False
        finally:
            self._writing.release()
        self.written += 1
        return True

    def submit(self, report: bytes, critical: bool = False) -> bool:
        """Write or queue a report. A full queue drops it, unless it is critical (a release): then
        the backlog goes and the release stays, so keys never stick behind a host that stopped polling."""
        if self._write_now(report):
            return True
        item = (report, EAGAIN_RETRY_SECONDS)
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            if not critical:
                self.dropped += 1
                return False
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
                self._queue.task_done()
                self.dropped += 1
        self._queue.put_nowait(item)
        return True

    def put(self, report: bytes, patience: float) -> None:
        """Queue a report, waiting for room; it may wait ``patience`` seconds for the host (paste:
        every character counts, so it waits rather than drops). Call from a worker thread."""
        self._queue.put((report, patience), timeout=patience + 1)

    def wait_written(self) -> None:
        """Block until everything queued so far was written or dropped (for paste)."""
        self._queue.join()

    def reopen(self) -> None:
        """Close the node; the next report opens it again (HID reset)."""
        self._reopen.set()

    def hold(self, timeout: float = 2.0) -> None:
        """Close the node now and drop reports until :meth:`release` (the gadget is about to go)."""
        self._held.set()
        if not self._writing.acquire(timeout=timeout):  # a write waiting on the host; it ends by itself
            log.warning("%s: still being written while held", self.path)
            return
        try:
            self._close()
        finally:
            self._writing.release()

    def release(self) -> None:
        """The gadget is back: the next report opens the node."""
        self._held.clear()

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _fail(self, why: str) -> None:
        self.dropped += 1
        self._close()
        if not self._failing:
            log.warning("%s: report dropped (%s); further drops are not logged until a write succeeds", self.path, why)
            self._failing = True

    def _write(self, report: bytes, patience: float) -> None:
        if self._held.is_set():
            self.dropped += 1
            return
        if self._reopen.is_set():
            self._reopen.clear()
            self._close()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            deadline = time.monotonic() + patience
            while True:
                try:
                    os.write(self._fd, report)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        self._fail("the host is not polling")
                        return
                    time.sleep(0.001)
        except OSError as err:
            self._fail(errno.errorcode.get(err.errno or 0, str(err)))
            return
        self.written += 1
        if self._failing:
            log.info("%s: writing again", self.path)
            self._failing = False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                with self._writing:
                    self._write(*item)
            finally:
                self._queue.task_done()


class LedReader:
    """Reads the keyboard's 1-byte LED output reports and hands each to ``on_leds``."""

    def __init__(self, path: Path, on_leds: Callable[[int], None]) -> None:
        self.path = path
        self._on_leds = on_leds
        self._stop = threading.Event()
        self._reopen = threading.Event()
        self._held = threading.Event()
        self._closed = threading.Event()  # set by the thread while held, once the node is closed
        self._thread = threading.Thread(target=self._run, name="hid-leds", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def reopen(self) -> None:
        """Drop the node and open it again (HID reset)."""
        self._reopen.set()

    def hold(self, timeout: float = 2.0) -> None:
        """Close the node and keep it closed until :meth:`release`; returns once it is closed."""
        self._closed.clear()
        self._held.set()
        if self._thread.is_alive() and not self._closed.wait(timeout):
            log.warning("%s: the LED reader did not close it in time", self.path)

    def release(self) -> None:
        self._held.clear()

    def _open(self) -> int | None:
        try:
            # A FIFO opened read-write never reports end-of-file while nobody writes.
            fifo = stat.S_ISFIFO(self.path.stat().st_mode)
            return os.open(self.path, (os.O_RDWR if fifo else os.O_RDONLY) | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None

    def _run(self) -> None:
        fd: int | None = None
        while not self._stop.is_set():
            if self._held.is_set():
                if fd is not None:
                    os.close(fd)
                    fd = None
                self._closed.set()
                self._stop.wait(0.05)
                continue
            if self._reopen.is_set() and fd is not None:
                os.close(fd)
                fd = None
            self._reopen.clear()
            if fd is None:
                fd = self._open()
                if fd is None:
                    self._stop.wait(1.0)
                    continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    continue
                data = os.read(fd, 8)
            except BlockingIOError:
                continue
            except OSError:
                os.close(fd)
                fd = None
                continue
            if data:
                self._on_leds(data[-1])
            else:
                self._stop.wait(0.2)
        if fd is not None:
            os.close(fd)
