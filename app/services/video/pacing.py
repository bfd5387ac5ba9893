"""Pace a viewer by what its TCP connection has really delivered.

Between the app and a slow viewer sit granian's buffers and the kernel's socket buffers: measured
here, a viewer reading 1 MB/s got frames 4-5 s old, queued where the app never saw them. So the app
asks the kernel (``TCP_INFO.tcpi_bytes_acked``) how much of the stream the viewer has acknowledged,
and sends the next frame only when the previous one has left; in the meantime newer frames replace
it. The connection's socket is found among the process's descriptors by its two addresses.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from pathlib import Path
from typing import Any

_TCP_INFO_LEN = 232
_BYTES_ACKED = struct.Struct("=Q")
_BYTES_ACKED_OFFSET = 120  # struct tcp_info.tcpi_bytes_acked (Linux >= 4.1)
_RTT = struct.Struct("=I")
_RTT_OFFSET = 68  # struct tcp_info.tcpi_rtt: the smoothed round trip, microseconds


def _same(address: Any, host: str, port: int | str) -> bool:
    try:
        found_host, found_port = address[0], address[1]
        # granian gives ports as strings in the scope, unlike the ASGI spec's integers.
        return bool(
            found_port == int(port) and ipaddress.ip_address(found_host.split("%")[0]) == ipaddress.ip_address(host)
        )
    except (ValueError, IndexError, TypeError, AttributeError):
        return False


class TcpPacer:
    """A duplicate of the connection's socket, used only to read TCP_INFO."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._base = self._acked()

    @classmethod
    def for_scope(cls, scope: Any) -> TcpPacer | None:
        client, server = scope.get("client"), scope.get("server")
        if not client or not server:
            return None
        for entry in Path("/proc/self/fd").iterdir():
            try:
                if not str(entry.readlink()).startswith("socket:"):
                    continue
                sock = socket.socket(fileno=os.dup(int(entry.name)))
            except (OSError, ValueError):
                continue
            try:
                if (
                    sock.type == socket.SOCK_STREAM
                    and _same(sock.getpeername(), client[0], client[1])
                    and _same(sock.getsockname(), server[0], server[1])
                ):
                    return cls(sock)
            except OSError:
                pass
            sock.close()
        return None

    def _acked(self) -> int:
        info = self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
        return int(_BYTES_ACKED.unpack_from(info, _BYTES_ACKED_OFFSET)[0])

    def rtt(self) -> float | None:
        """The kernel's smoothed round-trip time of the connection, in seconds (None once closed)."""
        try:
            info = self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
        except OSError:
            return None
        return int(_RTT.unpack_from(info, _RTT_OFFSET)[0]) / 1_000_000

    def acked(self) -> int:
        """Bytes the viewer has acknowledged since this pacer was made."""
        return self._acked() - self._base

    def close(self) -> None:
        self._sock.close()
