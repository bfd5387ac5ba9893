"""``/api/vm/terminal``: the sim board's stand-in shell over a real WebSocket, and the board's PTY shell."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.services.auth.transport import encrypt
from app.services.system.terminal import PtyShell
from tests.conftest import RunningApp


def open_terminal(kvm: RunningApp, client: httpx.Client | None, **headers: str) -> ClientConnection:
    if client is not None:
        headers["Cookie"] = f"nano-kvm-token={client.cookies.get('nano-kvm-token')}"
    return connect(kvm.url.replace("http", "ws") + "/api/vm/terminal", additional_headers=headers, open_timeout=10)


def read_until(conn: ClientConnection, text: str, timeout: float = 5.0) -> str:
    """Output up to ``text``; every frame must be binary and at most 1024 bytes."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        frame = conn.recv(timeout=max(0.01, deadline - time.monotonic()))
        assert isinstance(frame, bytes) and 0 < len(frame) <= 1024, frame
        seen += frame
    return seen.decode()


def test_sim_terminal(kvm: RunningApp, tmp_path: Path) -> None:
    admin = kvm.login()
    with open_terminal(kvm, admin) as conn:
        assert "Type 'help'" in read_until(conn, "sim$ ")
        conn.send("help\r")
        assert "nothing typed here runs anywhere" in read_until(conn, "sim$ ")
        conn.send(b'{"rows": 40, "cols": 132}')  # binary: a resize, as the web page sends it
        conn.send(b"not json at all")  # dropped
        conn.send(b'{"rows": 0, "cols": 99999}')  # out of range: dropped
        conn.send("stty size\r")
        assert "40 132" in read_until(conn, "sim$ ")
        marker = tmp_path / "ran"
        conn.send(f"touch {marker}; reboot\r")
        assert "not available on the sim board" in read_until(conn, "sim$ ")
        conn.send("echo " + "x" * 3000 + "\r")  # long output: split into frames of at most 1024 bytes
        assert "x" * 3000 in read_until(conn, "x" * 3000 + "\r\nsim$ ")
        conn.send("ab\x7fc\x1b[Ahostname\x03uptime\r")  # backspace, an arrow key, Ctrl-C
        output = read_until(conn, "(this terminal)")
        assert "^C" in output
        conn.send("exit\r")
        with pytest.raises(ConnectionClosed):  # the shell ended: the socket closes
            while True:
                conn.recv(timeout=5)
        assert conn.close_code == 1000
    assert not marker.exists()
    assert kvm.process.poll() is None


def test_terminal_refusals(kvm: RunningApp) -> None:
    admin = kvm.login()
    created = admin.post("/api/auth/users", json={"username": "op", "password": encrypt("op-password"), "role": "user"})
    assert created.json()["code"] == 0
    user = kvm.login("op", "op-password")
    with pytest.raises(InvalidStatus) as refused:
        open_terminal(kvm, user).close()
    assert refused.value.response.status_code == 403  # a user, not an administrator
    with pytest.raises(InvalidStatus) as refused:
        open_terminal(kvm, None).close()
    assert refused.value.response.status_code in (401, 403)  # no session (granian answers 403 to any refusal)
    with pytest.raises(InvalidStatus) as refused:
        open_terminal(kvm, admin, Origin="http://evil.example").close()
    assert refused.value.response.status_code == 403  # another site's page
    host = kvm.url.removeprefix("http://")
    with open_terminal(kvm, admin, Origin=f"http://{host}") as conn:  # our own page
        read_until(conn, "sim$ ")


def test_terminal_closes_when_the_session_ends(kvm: RunningApp) -> None:
    admin = kvm.login()
    with open_terminal(kvm, admin) as conn:
        read_until(conn, "sim$ ")
        assert admin.post("/api/auth/logout").json()["code"] == 0
        with pytest.raises(ConnectionClosed):
            while True:
                conn.recv(timeout=10)
        assert conn.close_code == 4401


# The board's shell, run directly (not through the app): a small Python program stands in for /bin/sh.
CHILD = """
import fcntl, os, signal, struct, sys, termios, time
rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))[:2]
print("tty", os.isatty(0), os.getsid(0) == os.getpid(), os.tcgetpgrp(0) == os.getpgrp(), flush=True)
for line in sys.stdin:
    if line.strip() == "size":
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))[:2]
        print("size", rows, cols, flush=True)
    elif line.strip() == "pid":
        print("pid", os.getpid(), flush=True)
    elif line.strip() == "flood":
        sys.stdout.write("y" * 100_000 + "\\n"); sys.stdout.flush()
"""


async def _read_match(shell: PtyShell, pattern: bytes, timeout: float = 5.0) -> re.Match[bytes]:
    """Read until ``pattern`` matches the output so far (chunks arrive split anywhere)."""
    seen = b""
    async with asyncio.timeout(timeout):
        while (match := re.search(pattern, seen)) is None:
            chunk = await shell.read()
            assert 0 < len(chunk) <= 1024
            seen += chunk
    return match


async def test_pty_shell() -> None:
    shell = PtyShell([sys.executable, "-c", CHILD])
    await shell.start()
    try:
        # Its own session, the PTY as its controlling terminal, in the foreground.
        assert (await _read_match(shell, rb"tty (\w+) (\w+) (\w+)\r?\n")).groups() == (b"True", b"True", b"True")
        shell.resize(33, 101)
        await shell.write(b"size\n")
        assert (await _read_match(shell, rb"size (\d+) (\d+)\r?\n")).groups() == (b"33", b"101")
        await shell.write(b"flood\n")
        await _read_match(shell, rb"y{100}")
        await shell.write(b"pid\n")
        pid = int((await _read_match(shell, rb"pid (\d+)\r?\n")).group(1))
    finally:
        await shell.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the shell is gone
