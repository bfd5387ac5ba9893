"""A minimal MJPEG multipart reader over a raw socket, for tests that must control the pace of reading."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass


@dataclass
class Part:
    headers: dict[str, str]
    jpeg: bytes
    received: float  # wall-clock time the part was complete


class MjpegReader:
    def __init__(self, url: str, cookie: str, rcvbuf: int | None = None, path: str = "/api/stream/mjpeg") -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect((host, int(port)))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: nano-kvm-token={cookie}\r\n\r\n".encode())
        self.buffer = b""
        self.status_line = ""
        self.response_headers: dict[str, str] = {}
        self._body = b""  # de-chunked
        self.chunk_size = 65536

    def _fill(self) -> None:
        data = self.sock.recv(self.chunk_size)
        if not data:
            raise ConnectionError("stream closed")
        self.buffer += data

    def _read_head(self) -> None:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status_line = lines[0]
        self.response_headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}

    def _dechunk(self, need: int) -> None:
        """Move de-chunked bytes from buffer to _body until it holds ``need`` bytes."""
        while len(self._body) < need:
            while b"\r\n" not in self.buffer:
                self._fill()
            size_line, rest = self.buffer.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(rest) < size + 2:
                self._fill()
                size_line, rest = self.buffer.split(b"\r\n", 1)
            self._body += rest[:size]
            self.buffer = rest[size + 2 :]

    def next_part(self) -> Part:
        if not self.status_line:
            self._read_head()
        chunked = self.response_headers.get("transfer-encoding") == "chunked"
        take = self._dechunk if chunked else self._raw
        take(2)
        while b"\r\n\r\n" not in self._body:
            take(len(self._body) + 1)
        head, self._body = self._body.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert lines[0] == "--frame", lines[0]
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        size = int(headers["content-length"])
        take(size + 2)
        jpeg, tail, self._body = self._body[:size], self._body[size : size + 2], self._body[size + 2 :]
        assert tail == b"\r\n"
        return Part(headers, jpeg, time.time())

    def _raw(self, need: int) -> None:
        while len(self._body) < need:
            if not self.buffer:
                self._fill()
            self._body += self.buffer
            self.buffer = b""

    def close(self) -> None:
        self.sock.close()
