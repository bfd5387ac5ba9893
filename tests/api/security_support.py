"""Helpers for the /api/security tests: accounts ready to use, and TOTP codes computed here.

The codes come from RFC 6238 written out with hmac/hashlib (not pyotp, which the app uses), so a
test's expectation never comes from the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import struct
import time

import httpx

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

ADMIN_PASSWORD = "admin-password-1"


def totp(secret: str, at: float | None = None, step_offset: int = 0) -> str:
    """RFC 6238 with RFC 4226's dynamic truncation: SHA-1, 30 s, 6 digits."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def login_body(username: str, password: str, **extra: str) -> dict[str, str]:
    return {"username": username, "password": encrypt(password), **extra}


def ready_admin(app: RunningApp) -> httpx.Client:
    """admin with a chosen password (the default one may only change itself), logged in."""
    first = app.login()
    body = {"currentPassword": encrypt("admin"), "password": encrypt(ADMIN_PASSWORD)}
    assert first.post("/api/auth/password", json=body).json()["code"] == 0
    return app.login("admin", ADMIN_PASSWORD)


def make_user(admin: httpx.Client, username: str, role: str = "user", password: str = "password-1") -> None:
    body = {"username": username, "password": encrypt(password), "role": role}
    assert admin.post("/api/auth/users", json=body).json()["code"] == 0


def wait_for_next_step() -> None:
    """Sleep into the next 30 s step when the current one is about to end (codes are per step)."""
    left = 30 - time.time() % 30
    if left < 3:
        time.sleep(left + 0.2)


def enrol_totp(client: httpx.Client) -> tuple[str, list[str]]:
    """Turn TOTP on for ``client``'s account; its secret and recovery codes."""
    answer = client.post("/api/security/totp/enrol").json()
    assert answer["code"] == 0, answer
    secret: str = answer["data"]["secret"]
    wait_for_next_step()
    confirmed = client.post("/api/security/totp/confirm", json={"code": totp(secret)}).json()
    assert confirmed["code"] == 0, confirmed
    codes: list[str] = confirmed["data"]["recoveryCodes"]
    return secret, codes


class Mjpeg:
    """``GET /api/stream/mjpeg`` over a raw socket with one credential header; when its body ends."""

    def __init__(self, url: str, header: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.sendall(f"GET /api/stream/mjpeg HTTP/1.1\r\nHost: {host}\r\n{header}\r\n\r\n".encode())
        self.tail = b""

    def _recv(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        self.tail = (self.tail + data)[-16:]
        return data

    def wait_frames(self, count: int = 2) -> None:
        frames = 0
        while frames < count:
            data = self._recv(10)
            assert data, "stream closed before any frame"
            frames += data.count(b"--frame")

    def seconds_to_end(self, since: float, wait: float = 6.0) -> float:
        """Seconds from ``since`` to the end of the body, or inf if it went on for ``wait`` seconds."""
        while time.monotonic() - since < wait:
            try:
                data = self._recv(0.2)
            except TimeoutError:
                continue
            except ConnectionError:
                return time.monotonic() - since
            if not data or self.tail.endswith(b"\r\n0\r\n\r\n"):
                return time.monotonic() - since
        return float("inf")

    def close(self) -> None:
        self.sock.close()
