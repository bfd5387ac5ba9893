"""Debian's TigerVNC viewer (xtigervncviewer) under Xvfb signs in with VeNCrypt (X509Plain, our
certificate as its CA) and shows the sim PC's console: Xvfb's framebuffer, read from its XWD file,
is compared with the MJPEG stream of the same screen."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.api.mjpeg import MjpegReader
from tests.conftest import RunningApp, free_port, start_app
from tests.vnc.rfb import decode_jpeg

TOOLS = ("xtigervncviewer", "Xvfb")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING) and os.environ.get("CI") != "true",
    reason=f"{', '.join(MISSING)} not installed (apt-get install tigervnc-viewer xvfb)",
)
WIDTH, HEIGHT = 1920, 1080


def xwd_ready(path: Path) -> bool:
    """Xvfb has written its screen file's header (it makes the file first, then fills it)."""
    try:
        header = path.read_bytes()[:100]
    except OSError:
        return False
    return len(header) == 100 and struct.unpack(">25I", header)[11] == 32


def read_xwd(path: Path) -> np.ndarray[Any, Any]:
    """An XWD screen dump (X11's XWDFileHeader: 25 big-endian 32-bit fields) as BGR pixels."""
    data = path.read_bytes()
    fields = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order = fields[0], fields[4], fields[5], fields[7]
    bits_per_pixel, bytes_per_line, colours = fields[11], fields[12], fields[19]
    assert bits_per_pixel == 32
    offset = header_size + colours * 12
    rows = np.frombuffer(data, np.uint8, bytes_per_line * height, offset).reshape(height, bytes_per_line)
    pixels = rows[:, : width * 4].reshape(height, width, 4)
    return pixels[..., :3] if byte_order == 0 else pixels[..., 1:][..., ::-1]  # LSB first: B, G, R, x


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[RunningApp, int]]:
    port = free_port()
    app = start_app(tmp_path, {"vnc": {"enabled": True, "port": port}})
    try:
        yield app, port
    finally:
        app.stop()


def test_tigervnc_shows_the_console(board: tuple[RunningApp, int], tmp_path: Path) -> None:
    app, port = board
    admin = app.login()
    assert admin.get("/api/vnc").json()["data"]["tls"] is True  # the device certificate exists now
    assert admin.post("/api/vm/gpio", json={"type": "power", "duration": 50}).json()["code"] == 0
    display = f":{90 + os.getpid() % 500}"
    fbdir = tmp_path / "fb"
    fbdir.mkdir()
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-fbdir", str(fbdir), "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = tmp_path / "viewer.log"
    viewer = None
    try:
        deadline = time.monotonic() + 10
        while not xwd_ready(fbdir / "Xvfb_screen0"):
            assert time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.1)
        env = {**os.environ, "DISPLAY": display, "VNC_USERNAME": "admin", "VNC_PASSWORD": "admin"}
        viewer = subprocess.Popen(
            [
                "xtigervncviewer",
                "-SecurityTypes",
                "VeNCrypt,X509Plain",
                "-X509CA",
                str(app.path("/etc/kvm/server.crt")),
                "-FullScreen",
                f"127.0.0.1::{port}",
            ],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        # First the viewer signs in (a blank Xvfb screen can match a dark frame before it has drawn anything).
        deadline = time.monotonic() + 60
        while True:
            clients = admin.get("/api/vnc").json()["data"]["clients"]
            signed_in = any(c["username"] == "admin" and c["encoding"] == "tight" for c in clients)
            if signed_in or time.monotonic() > deadline or viewer.poll() is not None:
                break
            time.sleep(0.2)
        seen = f"clients {clients}, viewer exit {viewer.poll()}\nviewer log:\n{log.read_text()}"
        assert signed_in, seen + f"\napp log:\n{app.log.read_text()[-3000:]}"
        reader = MjpegReader(app.url, str(admin.cookies.get("nano-kvm-token")))
        # The console's text (left half; the clock and frame counter at the right and bottom move).
        region = (slice(0, 700), slice(0, 1100))
        deadline = time.monotonic() + 60
        while True:
            screen = read_xwd(fbdir / "Xvfb_screen0")
            mjpeg = decode_jpeg(reader.next_part().jpeg)
            diff = float(np.abs(screen[region].astype(int) - mjpeg[region].astype(int)).mean())
            drawn = screen[region].std() > 5 and mjpeg[region].std() > 5
            if (diff < 3.0 and drawn) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        reader.sock.close()
        assert diff < 3.0, f"the viewer's screen differs from the stream by {diff:.1f} on average\n{log.read_text()}"
    finally:
        if viewer is not None:
            viewer.terminate()
            viewer.wait(timeout=10)
        xvfb.terminate()
        xvfb.wait(timeout=10)
