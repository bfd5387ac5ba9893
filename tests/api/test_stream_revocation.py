"""A long-lived response ends within a second of its session's end (issue 13, finding 1).

Each case opens ``GET /api/stream/mjpeg`` as its own account over a raw socket, reads frames, ends
the session one way (logout, delete, disable, demotion, expiry) and measures the seconds from that
moment to the end of the stream (the chunked body's terminator or the connection's close).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import jwt
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp, start_app

LIMIT = 1.0  # seconds from revocation to the stream's end
WAIT = 6.0  # how long a stream that does not end is watched before the test fails


class RawStream:
    """The stream's bytes as they arrive, and the moment they stop."""

    def __init__(self, url: str, token: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        head = f"GET /api/stream/mjpeg HTTP/1.1\r\nHost: {host}\r\nCookie: nano-kvm-token={token}\r\n\r\n"
        self.sock.sendall(head.encode())
        self.tail = b""
        self.received = 0

    def _recv(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        self.received += len(data)
        self.tail = (self.tail + data)[-16:]
        return data

    def wait_frames(self, count: int = 2) -> None:
        frames = 0
        while frames < count:
            data = self._recv(10)
            assert data, "stream closed before any frame"
            frames += data.count(b"--frame")

    def seconds_to_end(self, since: float) -> float:
        """Read until the body ends; seconds from ``since``, or inf if it went on for WAIT seconds."""
        while time.monotonic() - since < WAIT:
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


def token(client: httpx.Client) -> str:
    value = client.cookies.get("nano-kvm-token")
    assert value
    return value


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    running = start_app(tmp_path_factory.mktemp("revocation"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(app: RunningApp) -> httpx.Client:
    return app.login()


def watcher(app: RunningApp, admin: httpx.Client, name: str, role: str = "user") -> httpx.Client:
    body = {"username": name, "password": encrypt("password-1"), "role": role}
    assert admin.post("/api/auth/users", json=body).json()["code"] == 0
    return app.login(name, "password-1")


def revocations() -> dict[str, Callable[[httpx.Client, httpx.Client, str], None]]:
    def ok(response: httpx.Response) -> None:
        assert response.json()["code"] == 0, response.text

    return {
        "logout": lambda admin, own, name: ok(own.post("/api/auth/logout")),
        "delete": lambda admin, own, name: ok(admin.delete(f"/api/auth/users/{name}")),
        "disable": lambda admin, own, name: ok(admin.put(f"/api/auth/users/{name}", json={"enabled": False})),
        "demote": lambda admin, own, name: ok(admin.put(f"/api/auth/users/{name}", json={"role": "viewer"})),
        "password": lambda admin, own, name: ok(
            admin.post(f"/api/auth/users/{name}/password", json={"password": encrypt("password-2")})
        ),
    }


@pytest.mark.parametrize("how", sorted(revocations()))
def test_stream_ends_within_a_second_of_revocation(app: RunningApp, admin: httpx.Client, how: str) -> None:
    name = f"watch-{how}"
    own = watcher(app, admin, name)
    stream = RawStream(app.url, token(own))
    try:
        stream.wait_frames()
        started = time.monotonic()
        revocations()[how](admin, own, name)
        seconds = stream.seconds_to_end(started)
    finally:
        stream.close()
    print(f"revocation by {how}: stream ended after {seconds:.3f} s")
    assert seconds < LIMIT, f"{how}: the stream went on for {seconds} s after the session was revoked"


def test_stream_ends_within_a_second_of_expiry(tmp_path_factory: pytest.TempPathFactory) -> None:
    app = start_app(tmp_path_factory.mktemp("expiry"), {"jwt": {"refreshTokenDuration": 4}})
    try:
        value = token(app.login())
        exp = jwt.decode(value, options={"verify_signature": False})["exp"]
        stream = RawStream(app.url, value)
        try:
            stream.wait_frames()
            assert time.time() < exp, "the machine is too slow for this test: the token expired before a frame"
            seconds = stream.seconds_to_end(time.monotonic() + (exp - time.time()))
        finally:
            stream.close()
    finally:
        app.stop()
    print(f"expiry: stream ended {seconds:.3f} s after the token's exp")
    assert -0.1 < seconds < LIMIT
