"""The recorder's picture queue: the capture thread's side never waits, a lagging writer loses the
oldest pictures (not the newest), and each picture keeps the time it came at."""

from __future__ import annotations

import time
from typing import Any, cast

from app.board.video import Captured
from app.services.recording.sources import QUEUED, ScreenSource


def test_a_full_queue_drops_the_oldest_and_keeps_the_order() -> None:
    source = ScreenSource(cast(Any, None))  # offer() does not touch the capture loop
    before = time.monotonic()
    for number in range(QUEUED + 25):
        source.offer(Captured(b"%d" % number, 64, 48), 0)
    taken = source.take()
    assert [picture.jpeg for _, picture in taken] == [b"%d" % n for n in range(25, QUEUED + 25)]
    times = [at for at, _ in taken]
    assert times == sorted(times) and before <= times[0] <= times[-1] <= time.monotonic()
    assert source.picture is not None and source.picture.jpeg == b"%d" % (QUEUED + 24)
    assert source.changes == QUEUED + 25
    assert source.take() == []  # taken once
    source.offer(None, 0)  # the loop's pace without a picture: nothing queued
    assert source.take() == []
