"""The audit log: who did what, from where, and how it ended, as JSON lines on flash.

Records are appended by one writer thread (the event loop only queues them) to
``/etc/kvm/audit.jsonl``; at ``max_bytes`` the file becomes ``audit.jsonl.1`` (the older one is
dropped), so the log never holds more than twice that. Each record is one ``write`` of one whole
line to a file opened with ``O_APPEND``: a kill -9 leaves whole lines only (the kernel finishes a
write to a regular file); after a power cut the reader skips a torn last line. No fsync per record:
flash wear matters more than the last seconds before a power cut.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024
QUEUE_LIMIT = 1000


class AuditEntry(msgspec.Struct, omit_defaults=True):
    time: float
    action: str  # "POST /api/vm/gpio", "login", ...
    actor: str  # the account (or, for a login, the name tried); "" unknown
    address: str  # the client's IP
    result: str  # "ok", or the failure ("-2 invalid username or password", "401")
    via: str = ""  # "token:<id>" when an API token acted
    detail: dict[str, str] = {}


_encoder = msgspec.json.Encoder()


class AuditLog:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.dropped = 0  # records lost because the writer fell behind
        self._queue: queue.Queue[AuditEntry | None] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # --- writing -----------------------------------------------------------------------------

    def write(self, entry: AuditEntry) -> None:
        """Queue a record; never blocks (a full queue drops it and counts the drop)."""
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        fd: int | None = None
        while True:
            entry = self._queue.get()
            if entry is None:
                break
            try:
                fd = self._append(fd, _encoder.encode(entry) + b"\n")
            except OSError:
                log.warning("cannot write the audit log %s", self.path, exc_info=True)
                _close(fd)
                fd = None
        _close(fd)

    def _append(self, fd: int | None, line: bytes) -> int:
        if fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if os.fstat(fd).st_size + len(line) > self.max_bytes:
            self.path.replace(self.path.with_name(self.path.name + ".1"))
            os.close(fd)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.write(fd, line)
        return fd

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, then stop the writer (at shutdown)."""
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)
            self._thread = None

    # --- reading (blocking: call in a thread) ------------------------------------------------

    def entries(self, limit: int = 200, before: float | None = None) -> list[AuditEntry]:
        """The newest ``limit`` records (older than ``before`` if given), newest first."""
        found: list[AuditEntry] = []
        for path in (self.path, self.path.with_name(self.path.name + ".1")):
            try:
                lines = path.read_bytes().splitlines()
            except FileNotFoundError:
                continue
            for line in reversed(lines):
                try:
                    entry = msgspec.json.decode(line, type=AuditEntry)
                except msgspec.DecodeError:
                    continue  # a line torn by a power cut
                if before is None or entry.time < before:
                    found.append(entry)
                    if len(found) >= limit:
                        return found
        return found


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def now() -> float:
    return round(time.time(), 3)
