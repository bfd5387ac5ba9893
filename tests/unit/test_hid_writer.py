"""The gadget writer on FIFOs standing in for /dev/hidg*: a host that stops reading never blocks us."""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.board.hid import HidWriter


def test_writes_reach_the_reader(tmp_path: Path) -> None:
    node = tmp_path / "hidg0"
    os.mkfifo(node)
    reader = os.open(node, os.O_RDONLY | os.O_NONBLOCK)
    writer = HidWriter(node)
    writer.start()
    try:
        for i in range(10):
            writer.submit(bytes([0, 0, i + 4, 0, 0, 0, 0, 0]))
        writer.wait_written()
        assert os.read(reader, 4096) == b"".join(bytes([0, 0, i + 4, 0, 0, 0, 0, 0]) for i in range(10))
        assert writer.written == 10 and writer.dropped == 0
    finally:
        writer.stop()
        os.close(reader)


def test_no_host_drops_fast(tmp_path: Path) -> None:
    node = tmp_path / "hidg0"
    os.mkfifo(node)  # nobody reads: opening for writing fails (ENXIO), as with an unbound gadget
    writer = HidWriter(node)
    writer.start()
    try:
        started = time.monotonic()
        for _ in range(50):
            writer.submit(bytes(8))
        writer.wait_written()
        assert time.monotonic() - started < 1.0
        assert writer.dropped == 50
    finally:
        writer.stop()


def test_a_host_that_stops_polling_costs_at_most_the_retry(tmp_path: Path) -> None:
    node = tmp_path / "hidg0"
    os.mkfifo(node)
    reader = os.open(node, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read: the pipe fills up
    writer = HidWriter(node)
    writer.start()
    try:
        report = bytes(range(8))
        started = time.monotonic()
        for _ in range(20_000):  # far more than a pipe holds
            writer.submit(report)
        writer.wait_written()
        assert writer.dropped > 0 and writer.written > 0
        assert time.monotonic() - started < 15
    finally:
        writer.stop()
        os.close(reader)


def test_a_release_is_never_lost_behind_a_backlog(tmp_path: Path) -> None:
    node = tmp_path / "missing"  # writes fail: the queue backs up while the thread is slow
    writer = HidWriter(node)  # not started: nothing drains the queue
    for _ in range(300):
        writer.submit(bytes([0, 0, 4, 0, 0, 0, 0, 0]))
    assert writer.submit(bytes(8), critical=True)
    queued = []
    while not writer._queue.empty():
        queued.append(writer._queue.get_nowait())
    assert [report for report, _ in queued] == [bytes(8)]
