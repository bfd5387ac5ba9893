"""A request body's bytes to disk from a writer thread of their own, fed by the event loop a batch at a time.

Uploads (images, raw MSD writes, update bundles) stream hundreds of MiB through the event loop, which
must not block on the disk. What it costs to hand the bytes over decides their speed on a one-core
board (measured with bench/upload.py, the server pinned to one CPU):

* one thread per upload, woken through a ``SimpleQueue`` (C, one futex) and answering with
  ``call_soon_threadsafe``, not an executor hop per batch (``ThreadPoolExecutor.submit`` is Python:
  a lock, a work item, a condition, per hop);
* the loop waits for each batch to be written before it reads on: a queue of one. On one core a
  batch written while the loop goes on gains nothing and costs a GIL hand-over per batch; it also
  bounds memory by one batch, whatever the client sends;
* batches of about WRITE_BATCH (1 MiB) bytes: large chunks as they came (views, no copy), small ones
  copied together so a trickle of tiny pieces makes neither a hop nor an iovec entry each. 256 KiB
  batches measured 10-15 % more server CPU (more hops), 2 MiB ones more again (the batch no longer
  sits in the CPU's cache when it is copied to the page cache).

The sink (called in the thread with each batch) does the work: hash, write, count. Its error is
raised by ``send``/``finish`` on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable

Chunk = bytes | bytearray | memoryview
Sink = Callable[[list[Chunk]], None]

WRITE_BATCH = 1 << 20  # bytes gathered before the thread writes them
SMALL_PART = 64 << 10  # pieces smaller than this are copied together


class FileWriter:
    """Gathers a body's pieces on the loop (``add``) and has the thread pass each batch to ``sink``.

    Created on the event loop. ``close`` (or ``finish``) must end every writer: it stops the thread."""

    def __init__(self, sink: Sink, name: str = "file-writer") -> None:
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        self._jobs: queue.SimpleQueue[tuple[asyncio.Future[None], list[Chunk]] | None] = queue.SimpleQueue()
        self._batch: list[Chunk] = []
        self._small = bytearray()
        self._size = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def add(self, data: Chunk) -> None:
        """Gather ``data``; the caller must not change it after (large pieces are kept, not copied)."""
        self._size += len(data)
        if len(data) < SMALL_PART:
            self._small += data
            if len(self._small) >= SMALL_PART:
                self._batch.append(self._small)
                self._small = bytearray()
            return
        if self._small:
            self._batch.append(self._small)
            self._small = bytearray()
        self._batch.append(data)

    @property
    def full(self) -> bool:
        """Enough is gathered to be worth a write (``send`` it)."""
        return self._size >= WRITE_BATCH

    async def send(self) -> None:
        """Have the thread write what is gathered; returns once it is written (the sink's error is raised
        here): the loop reads no more of the body meanwhile, so memory stays at one batch."""
        if self._small:
            self._batch.append(self._small)
            self._small = bytearray()
        if not self._batch:
            return
        if self._closed:
            raise RuntimeError("the writer is closed")
        batch, self._batch, self._size = self._batch, [], 0
        done = self._loop.create_future()
        self._jobs.put((done, batch))
        del batch
        await done

    async def finish(self) -> None:
        """Everything gathered is written; the thread ends."""
        try:
            await self.send()
        finally:
            self.close()

    def close(self) -> None:
        """The thread ends after the batch in hand, if any (what is gathered and not sent is dropped)."""
        if not self._closed:
            self._closed = True
            self._batch, self._small, self._size = [], bytearray(), 0
            self._jobs.put(None)

    def join(self) -> None:
        """Blocks (call it in a thread) until the thread has ended, after ``close``."""
        self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            done, batch = job
            del job
            error: Exception | None = None
            try:
                self._sink(batch)
            except Exception as err:  # raised on the loop by send()
                error = err
            del batch  # the chunks are freed now, not when the next batch comes
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                self._loop.call_soon_threadsafe(_settle, done, error)
            del done, error


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # the waiting task was cancelled
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
