"""The recorder's picture queue: bounded in bytes, a lagging writer loses the oldest pictures (not
the newest), each picture keeps the time it came at, and a writer that passes JPEGs through is not
handed the pixels the capture also had."""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np

from app.board.video import Captured
from app.services.recording.sources import QUEUE_BYTES, ScreenSource

MIB = 1 << 20


def jpeg(number: int) -> bytes:
    return b"%04d" % number + bytes(MIB - 4)


def test_a_full_queue_drops_the_oldest_and_keeps_the_order() -> None:
    source = ScreenSource(cast(Any, None))  # offer() does not touch the capture loop
    fits = QUEUE_BYTES // MIB
    before = time.monotonic()
    for number in range(fits + 25):
        source.offer(Captured(jpeg(number), 64, 48), 0)
    taken = source.take()
    assert [picture.jpeg[:4] for _, picture in taken] == [b"%04d" % n for n in range(25, fits + 25)]
    times = [at for at, _ in taken]
    assert times == sorted(times) and before <= times[0] <= times[-1] <= time.monotonic()
    assert source.picture is not None and source.picture.jpeg == jpeg(fits + 24)
    assert source.changes == fits + 25
    assert source.take() == []  # taken once
    source.offer(None, 0)  # the loop's pace without a picture: nothing queued
    assert source.take() == []


def test_pixels_are_queued_only_for_a_writer_that_needs_them() -> None:
    source = ScreenSource(cast(Any, None))
    big = np.zeros((1080, 1920, 3), np.uint8)  # 6 MiB: two fit
    for number in range(4):
        source.offer(Captured(jpeg(number), 1920, 1080, big), 0)
    kept = source.take()
    assert [p.jpeg[:4] for _, p in kept] == [b"0002", b"0003"] and all(p.image is big for _, p in kept)
    source.keep_pixels = False  # a pass-through writer
    for number in range(4):
        source.offer(Captured(jpeg(number), 1920, 1080, big), 0)
    assert [(p.jpeg[:4], p.image) for _, p in source.take()] == [(b"%04d" % n, None) for n in range(4)]
    huge = Captured(jpeg(9), 1920, 1080, np.zeros((4 * 1080, 1920, 3), np.uint8))  # alone over the bound
    source.keep_pixels = True
    source.offer(huge, 0)
    assert [p.image is huge.image for _, p in source.take()] == [True]  # the newest is always kept
