"""The upload's path from body chunks to the file, in process: any chunking arrives intact, memory stays
bounded when a client trickles tiny pieces, and a failed write leaves nothing behind.

(The HTTP side, over a real socket, is tests/api/test_transfers.py.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from app.errors import DomainError
from app.paths import DeviceRoot
from app.services import file_writer
from app.services.media import transfers as transfers_module
from app.services.media.iso import make_iso
from app.services.media.transfers import Transfers

BOUNDARY = "----WebKitFormBoundaryx7KpQ2mZ9vLs4TbN"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(name: str, content: bytes) -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
    return head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


async def pieces(raw: bytes, sizes: Iterable[int]) -> AsyncIterator[bytes]:
    position = 0
    for size in sizes:
        if position >= len(raw):
            return
        yield raw[position : position + size]
        position += size
    if position < len(raw):
        yield raw[position:]


async def no_writer_thread_left() -> None:
    """Every upload's writer thread ends with it (a failed one a moment after)."""
    deadline = time.monotonic() + 10
    while any(t.name == "upload-writer" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "an upload's writer thread is still running"
        await asyncio.sleep(0.01)


def transfers(tmp_path: Path) -> Transfers:
    (tmp_path / "data").mkdir()
    return Transfers(DeviceRoot(tmp_path))


async def test_any_chunking_arrives_intact(tmp_path: Path) -> None:
    service = transfers(tmp_path)
    content = make_iso("CHUNKS", 3 << 20) + random.Random(3).randbytes(1 << 20)
    raw = body("chunks.iso", content)
    rng = random.Random(4)
    chunkings = {
        "tiny": [rng.randrange(1, 9) for _ in range(40_000)],
        "mixed": [rng.choice((1, 40, 4096, 70_000, 300_000)) for _ in range(400)],
        "large": [1 << 20] * 8,
    }
    for label, sizes in chunkings.items():
        digest = hashlib.sha256(content).hexdigest()
        await service.upload(CONTENT_TYPE, len(raw), digest, pieces(raw, sizes))
        assert (tmp_path / "data/chunks.iso").read_bytes() == content, label
        assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["chunks.iso"], label
        await no_writer_thread_left()


async def test_tiny_pieces_are_written_in_bounded_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client trickling bytes: every write still takes about WRITE_BATCH bytes in a few buffers, so a
    batch never holds tens of thousands of tiny objects (memory bounded by the batches, not the pieces)."""
    service = transfers(tmp_path)
    writes: list[tuple[int, int]] = []
    writev = os.writev

    def counted(fd: int, parts: list[memoryview]) -> int:
        writes.append((len(parts), sum(map(len, parts))))
        return writev(fd, parts)

    monkeypatch.setattr(transfers_module.os, "writev", counted)
    content = make_iso("TRICKLE", 3 << 20)
    raw = body("trickle.iso", content)
    await service.upload(CONTENT_TYPE, len(raw), None, pieces(raw, [32] * (len(raw) // 32)))
    assert (tmp_path / "data/trickle.iso").read_bytes() == content
    batch, small = file_writer.WRITE_BATCH, file_writer.SMALL_PART
    assert len(writes) <= len(content) // batch + 1, writes
    assert max(count for count, _ in writes) <= batch // small + 1, writes
    assert max(size for _, size in writes) < batch + small, writes


async def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = transfers(tmp_path)
    raw = body("full.iso", make_iso("FULL", 8 << 20))
    calls = 0

    def full_after_two(fd: int, parts: list[bytes]) -> int:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise OSError(28, "No space left on device")
        return sum(map(len, parts))

    monkeypatch.setattr(transfers_module.os, "writev", full_after_two)
    with pytest.raises(DomainError) as refused:
        await service.upload(CONTENT_TYPE, len(raw), None, pieces(raw, [256 << 10] * 40))
    assert (refused.value.code, refused.value.msg) == (-1, "write failed: no space left on device")
    assert list((tmp_path / "data").iterdir()) == []
    assert not (tmp_path / "run/nanokvm-transfer-in-progress").exists()
    await no_writer_thread_left()
