"""A minimal RFB 3.8 client for what the PyPI clients lack: VeNCrypt with TLS and Plain, Tight JPEG
rectangles, QEMU extended key events, ExtendedDesktopSize. Written from RFC 6143 and the rfbproto
community document, test code only (vncdotool drives everything else).
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from Crypto.Cipher import DES

TIGHT, RAW, ZRLE = 7, 0, 16
QEMU_KEY, EXT_DESKTOP, DESKTOP_SIZE = -258, -308, -223
JPEG_QUALITY_8 = -24
CONTINUOUS = -313
X509_NONE, X509_VNC, X509_PLAIN = 260, 261, 262


class Refused(Exception):
    pass


@dataclass
class Update:
    rects: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    jpegs: list[bytes] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


class RfbClient:
    def __init__(self, port: int, timeout: float = 20.0, rcvbuf: int | None = None) -> None:
        self.sock: Any = socket.socket()
        if rcvbuf:  # before connecting, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.width = self.height = 0
        self.name = ""

    def recv(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            chunk = self.sock.recv(size - len(out))
            if not chunk:
                raise ConnectionError("closed by the server")
            out += chunk
        return bytes(out)

    def u8(self) -> int:
        return self.recv(1)[0]

    def u32(self) -> int:
        return int(struct.unpack(">I", self.recv(4))[0])

    def _reason(self) -> str:
        return self.recv(self.u32()).decode()

    def security_types(self) -> list[int]:
        assert self.recv(12) == b"RFB 003.008\n"
        self.sock.sendall(b"RFB 003.008\n")
        count = self.u8()
        if count == 0:
            raise Refused(self._reason())
        return list(self.recv(count))

    def _result(self) -> None:
        if self.u32() != 0:
            raise Refused(self._reason())

    def login_none(self) -> None:
        assert 1 in self.security_types()
        self.sock.sendall(b"\x01")
        self._result()

    def vencrypt_subtypes(self) -> list[int]:
        """Choose VeNCrypt (19), agree on version 0.2: the subtypes the server offers."""
        assert 19 in self.security_types()
        self.sock.sendall(b"\x13")
        assert self.recv(2) == b"\x00\x02"
        self.sock.sendall(b"\x00\x02")
        assert self.u8() == 0
        return [self.u32() for _ in range(self.u8())]

    def vencrypt(self, subtype: int, cafile: str | None = None) -> None:
        """VeNCrypt with ``subtype`` (260 X509None, 261 X509Vnc, 262 X509Plain): TLS started."""
        subtypes = self.vencrypt_subtypes()
        assert subtype in subtypes, subtypes
        self.sock.sendall(struct.pack(">I", subtype))
        assert self.u8() == 1
        context = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()  # noqa: S323
        self.sock = context.wrap_socket(self.sock, server_hostname="127.0.0.1")

    def login_vencrypt(self, username: str, password: str, cafile: str | None = None) -> None:
        self.vencrypt(X509_PLAIN, cafile)
        user, word = username.encode(), password.encode()
        self.sock.sendall(struct.pack(">II", len(user), len(word)) + user + word)
        self._result()

    def vnc_auth(self, password: str) -> None:
        """RFC 6143 7.2.2: the challenge DES-encrypted with the password (8 bytes, each bit-reversed) as key."""
        challenge = self.recv(16)
        key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
        self.sock.sendall(DES.new(key, DES.MODE_ECB).encrypt(challenge))  # noqa: S304 - the protocol's
        self._result()

    def login_vnc(self, password: str) -> None:
        assert 2 in self.security_types()
        self.sock.sendall(b"\x02")
        self.vnc_auth(password)

    def init(self, encodings: list[int]) -> None:
        self.sock.sendall(b"\x01")  # shared
        self.width, self.height = struct.unpack(">HH", self.recv(4))
        self.recv(16)
        self.name = self.recv(self.u32()).decode()
        self.sock.sendall(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))

    def request(self, incremental: bool = False) -> None:
        self.sock.sendall(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.width, self.height))

    def continuous(self, enable: bool = True) -> None:
        """EnableContinuousUpdates (after CONTINUOUS was offered): updates come without requests."""
        self.sock.sendall(struct.pack(">BBHHHH", 150, int(enable), 0, 0, self.width, self.height))

    def key(self, keysym: int, down: bool) -> None:
        self.sock.sendall(struct.pack(">BBxxI", 4, int(down), keysym))

    def qemu_key(self, scancode: int, down: bool, keysym: int = 0) -> None:
        self.sock.sendall(struct.pack(">BBHII", 255, 0, int(down), keysym, scancode))

    def pointer(self, mask: int, x: int, y: int) -> None:
        self.sock.sendall(struct.pack(">BBHH", 5, mask, x, y))

    def cut_text(self, text: bytes) -> None:
        self.sock.sendall(struct.pack(">BxxxI", 6, len(text)) + text)

    def _compact(self) -> int:
        size, shift = 0, 0
        for i in range(3):
            byte = self.u8()
            size |= (byte & (0x7F if i < 2 else 0xFF)) << shift
            shift += 7
            if not byte & 0x80 or i == 2:
                break
        return size

    def update(self) -> Update:
        """The next framebuffer update (skipping other server messages)."""
        while True:
            kind = self.u8()
            if kind == 0:
                break
            if kind == 150:  # EndOfContinuousUpdates
                continue
            if kind == 3:
                self.recv(3)
                self.recv(self.u32())
                continue
            if kind == 248:
                self.recv(3 + 4)
                self.recv(self.u8())
                continue
            raise AssertionError(f"unexpected server message {kind}")
        self.recv(1)
        (count,) = struct.unpack(">H", self.recv(2))
        update = Update()
        for _ in range(count):
            x, y, w, h, encoding = struct.unpack(">HHHHi", self.recv(12))
            update.rects.append((x, y, w, h, encoding))
            if encoding == TIGHT:
                assert self.u8() == 0x90
                update.jpegs.append(self.recv(self._compact()))
            elif encoding == RAW:
                update.raw.append(self.recv(w * h * 4))
            elif encoding == EXT_DESKTOP:
                screens = self.u8()
                self.recv(3 + 16 * screens)
                if x == 0:
                    self.width, self.height = w, h
            elif encoding == DESKTOP_SIZE:
                self.width, self.height = w, h
            elif encoding == QEMU_KEY:
                pass
            else:
                raise AssertionError(f"unexpected encoding {encoding}")
        return update

    def close(self) -> None:
        self.sock.close()


def decode_jpeg(data: bytes) -> np.ndarray[Any, Any]:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image  # type: ignore[no-any-return]
