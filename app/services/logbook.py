"""The app's recent log lines in memory, for kvmd's ``/api/log`` (``seek``, ``follow``).

A logging handler keeps the last lines with their times; followers get each new line through a bounded
queue (a follower that falls behind loses lines, never holds up the logger). Safe from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Iterator

LINES = 2000
FOLLOW_QUEUE = 256


class LogBook(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._lines: collections.deque[tuple[float, str]] = collections.deque(maxlen=LINES)
        self._guard = threading.Lock()
        self._followers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(record.created))} {self.format(record)}\n"
        except Exception:  # a logging handler must never raise
            return
        with self._guard:
            self._lines.append((record.created, line))
            followers = list(self._followers)
        for loop, queue in followers:
            with contextlib.suppress(RuntimeError):  # a closed loop
                loop.call_soon_threadsafe(_offer, queue, line)

    def since(self, seconds: float) -> list[str]:
        """Lines of the last ``seconds`` (0: every line kept)."""
        start = time.time() - seconds if seconds > 0 else 0.0
        with self._guard:
            return [line for created, line in self._lines if created >= start]

    @contextlib.contextmanager
    def follow(self) -> Iterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(FOLLOW_QUEUE)
        entry = (asyncio.get_running_loop(), queue)
        with self._guard:
            self._followers.add(entry)
        try:
            yield queue
        finally:
            with self._guard:
                self._followers.discard(entry)


def _offer(queue: asyncio.Queue[str], line: str) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(line)


_book: LogBook | None = None


def logbook() -> LogBook:
    """The process's one LogBook, attached to the root logger at first use."""
    global _book
    if _book is None:
        _book = LogBook()
        logging.getLogger().addHandler(_book)
    return _book
