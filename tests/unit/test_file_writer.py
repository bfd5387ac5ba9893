"""The uploads' writer thread (app/services/file_writer.py): bytes arrive whole and in order, written off
the event loop's thread, the loop waits for each batch (memory: one batch), a write's error reaches the
loop, and the thread always ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.services.file_writer import SMALL_PART, WRITE_BATCH, Chunk, FileWriter


class Recorder:
    """A sink that keeps what it was given, on which thread, and can be held or made to fail."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.batches: list[int] = []
        self.threads: set[int] = set()
        self.release = threading.Event()
        self.release.set()
        self.fail: Exception | None = None

    def __call__(self, batch: list[Chunk]) -> None:
        self.release.wait(10)
        self.threads.add(threading.get_ident())
        if self.fail is not None:
            raise self.fail
        for part in batch:
            self.data += part
        self.batches.append(sum(map(len, batch)))


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "test-writer"]


async def test_bytes_arrive_in_order_off_the_loop_in_bounded_batches() -> None:
    sink = Recorder()
    writer = FileWriter(sink, "test-writer")
    expected = bytearray()
    sizes = [1, 7, 300, SMALL_PART - 1, SMALL_PART, 3 * WRITE_BATCH, 5, 400_000, 17] * 4
    for number, size in enumerate(sizes):
        piece = bytes([number % 251]) * size
        expected += piece
        writer.add(memoryview(piece) if number % 2 else piece)
        if writer.full:
            await writer.send()
    await writer.finish()
    assert sink.data == expected
    assert threading.get_ident() not in sink.threads and len(sink.threads) == 1
    # A batch is what was gathered when it went: less than WRITE_BATCH, then the piece that filled it.
    assert max(sink.batches) < WRITE_BATCH + max(sizes)
    assert len(sink.batches) <= len(expected) // WRITE_BATCH + 1
    await asyncio.to_thread(writer.join)
    assert writer_threads() == []


async def test_the_loop_waits_for_each_batch() -> None:
    """Back-pressure: while the disk is slow, send() does not return, so nothing more is read."""
    sink = Recorder()
    sink.release.clear()
    writer = FileWriter(sink, "test-writer")
    writer.add(b"x" * WRITE_BATCH)
    sending = asyncio.ensure_future(writer.send())
    await asyncio.sleep(0.2)
    assert not sending.done()
    sink.release.set()
    await asyncio.wait_for(sending, 10)
    await writer.finish()
    assert len(sink.data) == WRITE_BATCH


async def test_a_write_error_is_raised_on_the_loop_and_the_thread_ends() -> None:
    sink = Recorder()
    sink.fail = OSError(28, "No space left on device")
    writer = FileWriter(sink, "test-writer")
    writer.add(b"y" * WRITE_BATCH)
    with pytest.raises(OSError, match="No space"):
        await writer.send()
    writer.close()
    await asyncio.to_thread(writer.join)
    assert writer_threads() == []


async def test_a_cancelled_send_still_ends_the_thread() -> None:
    """The client went away while a batch was being written: the batch ends, close() stops the thread."""
    sink = Recorder()
    sink.release.clear()
    writer = FileWriter(sink, "test-writer")
    writer.add(b"z" * WRITE_BATCH)
    sending = asyncio.ensure_future(writer.send())
    await asyncio.sleep(0.05)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    writer.add(b"never written")
    writer.close()
    sink.release.set()
    await asyncio.to_thread(writer.join)
    assert writer_threads() == []
    assert bytes(sink.data) == b"z" * WRITE_BATCH
    with pytest.raises(RuntimeError):
        writer.add(b"late")
        await writer.send()
