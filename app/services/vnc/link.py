"""The byte pipe under one RFB connection: a TCP socket (optionally upgraded to TLS) or a WebSocket.

The RFB code reads exact byte counts and writes pieces; a link also says how much of what was
written the client has really received, so updates can be paced like MJPEG viewers (see
``app.services.video.pacing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from app.services.video.pacing import TcpPacer

Piece = bytes | memoryview
SMALL_PIECE = 4096  # bytes below which pieces are copied together rather than sent on their own


class Link(Protocol):
    peer: str

    async def read(self, size: int) -> bytes: ...

    def write(self, pieces: Iterable[Piece]) -> int:
        """Queue pieces; the number of bytes queued."""
        ...

    async def drain(self) -> None: ...

    def delivered(self) -> int | None:
        """Bytes the client has acknowledged since the link was made; None if unknown."""
        ...

    def rtt(self) -> float | None:
        """The connection's smoothed round trip in seconds (the kernel's, from the client's
        acknowledgements); None if unknown."""
        ...

    async def start_tls(self, context: ssl.SSLContext) -> None: ...

    def close(self) -> None: ...


class TcpLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else "unknown"
        self._pacer: TcpPacer | None = None
        raw = writer.get_extra_info("socket")
        if raw is not None:
            with contextlib.suppress(OSError):
                self._pacer = TcpPacer(socket.socket(fileno=os.dup(raw.fileno())))

    async def read(self, size: int) -> bytes:
        return await self.reader.readexactly(size)

    def write(self, pieces: Iterable[Piece]) -> int:
        # Small pieces (headers) are joined, large ones (a JPEG) passed as they are: one writelines,
        # so an update costs one send, not one per header.
        out: list[Piece] = []
        small: list[Piece] = []
        total = 0
        for piece in pieces:
            total += len(piece)
            if len(piece) < SMALL_PIECE:
                small.append(piece)
                continue
            if small:
                out.append(b"".join(small))
                small = []
            out.append(piece)
        if small:
            out.append(b"".join(small))
        self.writer.writelines(out)
        return total

    async def drain(self) -> None:
        await self.writer.drain()

    def delivered(self) -> int | None:
        if self._pacer is None:
            return None
        try:
            return self._pacer.acked()
        except OSError:
            return None

    def rtt(self) -> float | None:
        return self._pacer.rtt() if self._pacer is not None else None

    async def start_tls(self, context: ssl.SSLContext) -> None:
        await self.writer.start_tls(context)

    def close(self) -> None:
        if self._pacer is not None:
            self._pacer.close()
            self._pacer = None
        self.writer.close()


class WebSocketLink:
    """RFB inside binary WebSocket messages (what noVNC speaks): messages in are fed to a reader,
    pieces out are sent as one message per drain."""

    def __init__(
        self,
        peer: str,
        send: Callable[[bytes], Awaitable[None]],
        pacer: TcpPacer | None,
        limit: int,
    ) -> None:
        self.peer = peer
        self._send = send
        self._pacer = pacer
        self.reader = asyncio.StreamReader(limit=limit)
        self._out: list[Piece] = []
        self._closed = False
        self._fed = self._read = 0

    def feed(self, data: bytes) -> None:
        self._fed += len(data)
        self.reader.feed_data(data)

    def feed_eof(self) -> None:
        self.reader.feed_eof()

    def buffered(self) -> int:
        """Bytes received and not read yet (the caller caps it)."""
        return self._fed - self._read

    async def read(self, size: int) -> bytes:
        data = await self.reader.readexactly(size)
        self._read += size
        return data

    def write(self, pieces: Iterable[Piece]) -> int:
        total = 0
        for piece in pieces:
            self._out.append(piece)
            total += len(piece)
        return total

    async def drain(self) -> None:
        if self._out and not self._closed:
            data, self._out = b"".join(self._out), []
            await self._send(data)

    def delivered(self) -> int | None:
        if self._pacer is None:
            return None
        try:
            return self._pacer.acked()
        except OSError:
            return None

    def rtt(self) -> float | None:
        return self._pacer.rtt() if self._pacer is not None else None

    async def start_tls(self, context: ssl.SSLContext) -> None:
        raise RuntimeError("TLS is the HTTP server's business on a WebSocket")

    def close(self) -> None:
        self._closed = True
        if self._pacer is not None:
            self._pacer.close()
            self._pacer = None
        self.reader.feed_eof()
