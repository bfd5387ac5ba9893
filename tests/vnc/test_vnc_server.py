"""The VNC server against real RFB clients: vncdotool (PyPI) for classic VNC auth, None, Raw/ZRLE,
keysyms, pointer and clipboard; a small test-side client (tests/vnc/rfb.py) for VeNCrypt+TLS with
Plain, Tight JPEG, QEMU key events and ExtendedDesktopSize."""

from __future__ import annotations

import io
import statistics
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from twisted.internet import reactor
from vncdotool import api as vncapi
from vncdotool.rfb import Encoding
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from app.services.auth.transport import encrypt
from tests.api.mjpeg import MjpegReader
from tests.conftest import RunningApp, free_port, start_app
from tests.vnc.rfb import (
    CONTINUOUS,
    DESKTOP_SIZE,
    EXT_DESKTOP,
    JPEG_QUALITY_8,
    QEMU_KEY,
    RAW,
    TIGHT,
    Refused,
    RfbClient,
    decode_jpeg,
)

# vncdotool runs one Twisted reactor per process, in a thread; it is shut down once at the end.
_vncdotool_used = False


@pytest.fixture(scope="module", autouse=True)
def _vncdotool_reactor() -> Iterator[None]:
    yield
    if _vncdotool_used:
        vncapi.shutdown()


def vncdotool(port: int, password: str | None = None, encoding: int = Encoding.RAW) -> Any:
    global _vncdotool_used
    _vncdotool_used = True
    client = vncapi.connect(f"127.0.0.1::{port}", password=password, timeout=30)
    client.factory.encoding = encoding
    return client


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def host(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/api/sim/host").json()
    assert answer["code"] == 0
    return answer["data"]  # type: ignore[no-any-return]


class Board:
    def __init__(self, app: RunningApp, port: int) -> None:
        self.app = app
        self.port = port
        self.admin = app.login()

    def power_on(self) -> None:
        if host(self.admin)["power"] == "off":
            assert self.admin.post("/api/vm/gpio", json={"type": "power", "duration": 50}).json()["code"] == 0
            wait_until(lambda: host(self.admin)["power"] != "off")
            time.sleep(0.3)

    def clear(self) -> None:
        assert self.admin.post("/api/sim/host/clear").json()["code"] == 0

    def layout(self, name: str) -> None:
        assert self.admin.post("/api/sim/host/layout", json={"layout": name}).json()["code"] == 0
        answer = self.admin.post("/api/vnc/settings", json={"layout": name}).json()
        assert answer["code"] == 0, answer

    def text(self) -> str:
        return str(host(self.admin)["text"])

    def mjpeg_frame(self) -> bytes:
        reader = MjpegReader(self.app.url, str(self.admin.cookies.get("nano-kvm-token")))
        try:
            return reader.next_part().jpeg
        finally:
            reader.sock.close()


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    port = free_port()
    app = start_app(tmp_path_factory.mktemp("vnc"), {"vnc": {"enabled": True, "port": port}})
    try:
        yield Board(app, port)
    finally:
        app.stop()


def same_picture(vnc: np.ndarray[Any, Any], board: Board) -> bool:
    """Whether the VNC picture is what MJPEG shows (a few tries: the sim PC's screen may move)."""
    for _ in range(20):
        mjpeg = decode_jpeg(board.mjpeg_frame())
        if mjpeg.shape == vnc.shape and float(np.abs(vnc.astype(int) - mjpeg.astype(int)).mean()) < 2.0:
            return True
        time.sleep(0.3)
    return False


def connect_plain(board: Board, username: str = "admin", password: str = "admin") -> RfbClient:
    client = RfbClient(board.port)
    client.login_vencrypt(username, password, cafile=str(board.app.path("/etc/kvm/server.crt")))
    return client


def test_vencrypt_plain_tight_passes_the_mjpeg_frame_through(board: Board) -> None:
    board.power_on()
    client = connect_plain(board)
    try:
        client.init([TIGHT, JPEG_QUALITY_8, EXT_DESKTOP, QEMU_KEY, RAW])
        assert "KVM" in client.name
        client.request()
        update = client.update()
        encodings = [r[4] for r in update.rects]
        assert EXT_DESKTOP in encodings and QEMU_KEY in encodings
        assert len(update.jpegs) == 1
        image = decode_jpeg(update.jpegs[0])
        assert image.shape[:2] == (client.height, client.width)
        assert image.std() > 1  # the console, not an empty picture
        # The same JPEG, byte for byte, as an MJPEG viewer's (the sim hands out one JPEG per change;
        # while the PC boots the screen moves, so a few tries).
        deadline = time.monotonic() + 30
        while True:
            mjpeg = board.mjpeg_frame()
            client.request()
            vnc_jpeg = client.update().jpegs[0]
            if vnc_jpeg == mjpeg or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert vnc_jpeg == mjpeg
    finally:
        client.close()


def test_vencrypt_refuses_a_wrong_password_and_counts_it(tmp_path: Path) -> None:
    port = free_port()
    app = start_app(
        tmp_path,
        {"vnc": {"enabled": True, "port": port}, "security": {"loginLockoutDuration": 60, "loginMaxFailures": 2}},
    )
    try:
        for _ in range(2):
            client = RfbClient(port)
            with pytest.raises(Refused, match="invalid username or password"):
                client.login_vencrypt("admin", "wrong")
            client.close()
        client = RfbClient(port)
        with pytest.raises(Refused, match="too many failed attempts"):
            client.security_types()
        client.close()
    finally:
        app.stop()


def test_vnc_password_with_vncdotool_raw_matches_the_screen(board: Board, tmp_path: Path) -> None:
    answer = board.admin.post("/api/vnc/settings", json={"password": encrypt("s3cret")}).json()
    assert answer["code"] == 0 and answer["data"]["vncPassword"] is True
    board.power_on()
    client = vncdotool(board.port, password="s3cret")
    try:
        shot = tmp_path / "raw.png"
        client.captureScreen(str(shot))
        vnc = np.asarray(Image.open(shot).convert("RGB"))[..., ::-1]  # RGB -> BGR
        assert same_picture(vnc, board)
    finally:
        client.disconnect()


def test_zrle_with_vncdotool(board: Board, tmp_path: Path) -> None:
    board.admin.post("/api/vnc/settings", json={"password": encrypt("s3cret")})
    client = vncdotool(board.port, password="s3cret", encoding=Encoding.ZRLE)
    try:
        buffer = io.BytesIO()
        client.captureScreen(buffer, format="PNG")
        vnc = np.asarray(Image.open(buffer).convert("RGB"))[..., ::-1]
        assert same_picture(vnc, board)
    finally:
        client.disconnect()


def test_wrong_vnc_password_is_refused(board: Board) -> None:
    board.admin.post("/api/vnc/settings", json={"password": encrypt("s3cret")})
    with pytest.raises(Exception, match=r"(?i)auth"):
        client = vncdotool(board.port, password="nope")
        client.captureScreen(io.BytesIO(), format="PNG")


# Per layout: what vncdotool types as keysyms, and QEMU scancodes for the physical keys Q, W, Y, 2
# with what the host then types (the layout's own letters there).
LAYOUT_CASES = [
    ("us", "Hi @#{", "qwy2"),
    ("de", "Zürich @€{", "qwz2"),
    ("fr", "Déjà @{", "azyé"),
]
SCANCODES = [0x10, 0x11, 0x15, 0x03]


@pytest.mark.parametrize(("layout", "typed", "physical"), LAYOUT_CASES)
def test_keys_in_three_layouts(board: Board, layout: str, typed: str, physical: str) -> None:
    board.power_on()
    board.layout(layout)
    board.clear()
    board.admin.post("/api/vnc/settings", json={"password": encrypt("s3cret")})
    client = vncdotool(board.port, password="s3cret")
    try:
        for char in typed:
            client.keyPress(char)
        wait_until(lambda: board.text() == typed)
    finally:
        client.disconnect()
    board.clear()
    rfb = connect_plain(board)
    try:
        rfb.init([RAW, QEMU_KEY])
        for code in SCANCODES:
            rfb.qemu_key(code, True, keysym=0x61)  # a wrong keysym: the scancode must win
            rfb.qemu_key(code, False, keysym=0x61)
        wait_until(lambda: board.text() == physical)
    finally:
        rfb.close()
    board.layout("us")


def test_pointer_buttons_and_clipboard(board: Board) -> None:
    board.power_on()
    board.layout("us")
    board.clear()
    board.admin.post("/api/vnc/settings", json={"password": encrypt("s3cret")})
    client = vncdotool(board.port, password="s3cret")
    try:
        client.mouseMove(1919, 0)
        wait_until(lambda: host(board.admin)["pointer"] == {"x": 32767, "y": 0})
        clicks = host(board.admin)["clicks"]
        client.mouseMove(960, 540)
        client.mousePress(1)
        client.mousePress(3)
        wait_until(lambda: host(board.admin)["clicks"] == clicks + 2)
        pointer = host(board.admin)["pointer"]
        assert abs(pointer["x"] - 16392) < 20 and abs(pointer["y"] - 16399) < 20
        assert host(board.admin)["buttons"] == 0
        wheel = host(board.admin)["wheel"]
        for button in (4, 4, 5):  # RFB's buttons 4 and 5: the wheel turned up, up, down
            client.mousePress(button)
        wait_until(lambda: host(board.admin)["wheel"] == wheel + 1)
        assert host(board.admin)["clicks"] == clicks + 2  # the wheel clicks no button
        client.clientCutText("pasted, OK!")  # typed in the host's layout
        # vncdotool's clientCutText returns None, which becomes the protocol its later calls get.
        reactor.callFromThread(client.factory.deferred.addCallback, lambda _: client.protocol)
        wait_until(lambda: board.text() == "pasted, OK!")
    finally:
        client.disconnect()


def test_viewer_sees_but_cannot_type(board: Board) -> None:
    answer = board.admin.post(
        "/api/auth/users", json={"username": "vera", "password": encrypt("viewer-pass-1"), "role": "viewer"}
    ).json()
    assert answer["code"] in (0, -3), answer  # -3: made by an earlier run of this module's board
    board.power_on()
    board.clear()
    client = connect_plain(board, "vera", "viewer-pass-1")
    try:
        client.init([TIGHT, JPEG_QUALITY_8, RAW])
        client.request()
        assert client.update().jpegs
        client.key(0x61, True)
        client.key(0x61, False)
        client.qemu_key(0x1E, True)
        client.qemu_key(0x1E, False)
        client.pointer(1, 10, 10)
        client.cut_text(b"nothing")
        client.request()
        client.update()  # the server read all of the above
        time.sleep(0.5)
        assert board.text() == ""
        assert host(board.admin)["buttons"] == 0
    finally:
        client.close()


def test_revocation_disconnects(board: Board) -> None:
    board.admin.post("/api/auth/users", json={"username": "ursula", "password": encrypt("user-pass-1"), "role": "user"})
    client = connect_plain(board, "ursula", "user-pass-1")
    client.init([TIGHT, JPEG_QUALITY_8, RAW, CONTINUOUS])
    client.request()
    client.update()
    closed = threading.Event()

    def drain() -> None:
        try:
            while True:
                client.request(incremental=True)
                client.update()
        except (OSError, ConnectionError, AssertionError):
            closed.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    answer = board.admin.put("/api/auth/users/ursula", json={"role": "viewer"}).json()
    assert answer["code"] == 0, answer
    assert closed.wait(5), "the connection outlived its session"
    client.close()


def test_status_lists_clients(board: Board) -> None:
    client = connect_plain(board)
    try:
        client.init([RAW])
        status = board.admin.get("/api/vnc").json()
        assert status["code"] == 0
        data = status["data"]
        assert data["enabled"] is True and data["running"] is True and data["port"] == board.port
        assert any(c["username"] == "admin" and c["transport"] == "vnc" for c in data["clients"])
    finally:
        client.close()
    viewer = board.app.client()
    assert viewer.get("/api/vnc").status_code == 401


def test_oversized_cut_text_closes_the_connection(board: Board) -> None:
    client = connect_plain(board)
    try:
        client.init([RAW])
        client.sock.sendall(b"\x06\x00\x00\x00" + (10 << 20).to_bytes(4, "big"))
        with pytest.raises((ConnectionError, OSError)):
            for _ in range(100):
                client.request()
                client.update()
    finally:
        client.close()


# --- RFB over the WebSocket (what noVNC speaks) ---------------------------------------------------


def vnc_ws(board: Board, client: httpx.Client | None, **headers: str) -> ClientConnection:
    cookie = {"Cookie": f"nano-kvm-token={client.cookies.get('nano-kvm-token')}"} if client else {}
    return connect(
        board.app.url.replace("http", "ws") + "/api/vnc/ws",
        additional_headers={**cookie, **headers},
        subprotocols=[Subprotocol("binary")],
        open_timeout=10,
        max_size=None,
    )


class WsReader:
    """Exact reads over WebSocket messages."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.buffer = b""

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += bytes(self.conn.recv(timeout=20))  # type: ignore[arg-type]
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


def test_websocket_speaks_rfb_with_the_session(board: Board) -> None:
    board.power_on()
    with vnc_ws(board, board.admin, Origin=board.app.url) as conn:
        assert conn.subprotocol == "binary"
        reader = WsReader(conn)
        assert reader.read(12) == b"RFB 003.008\n"
        conn.send(b"RFB 003.008\n")
        count = reader.read(1)[0]
        assert list(reader.read(count)) == [1]  # None: the cookie said who this is
        conn.send(b"\x01")
        assert reader.read(4) == b"\0\0\0\0"
        conn.send(b"\x01")
        width, height = struct.unpack(">HH", reader.read(4))
        reader.read(16)
        reader.read(struct.unpack(">I", reader.read(4))[0])
        conn.send(struct.pack(">BxH3i", 2, 3, TIGHT, JPEG_QUALITY_8, RAW))
        conn.send(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
        assert reader.read(1) == b"\0"
        reader.read(1)
        (rects,) = struct.unpack(">H", reader.read(2))
        assert rects == 1
        assert struct.unpack(">HHHHi", reader.read(12)) == (0, 0, width, height, TIGHT)
        assert reader.read(1) == b"\x90"
        size, shift = 0, 0
        for i in range(3):
            byte = reader.read(1)[0]
            size |= (byte & 0x7F if i < 2 else byte) << shift
            shift += 7
            if not byte & 0x80:
                break
        jpeg = reader.read(size)
        assert decode_jpeg(jpeg).shape == (height, width, 3)


def test_websocket_needs_a_session_and_the_same_origin(board: Board) -> None:
    with pytest.raises(InvalidStatus):
        vnc_ws(board, None)
    with pytest.raises(InvalidStatus):
        vnc_ws(board, board.admin, Origin="http://evil.example")


def test_websocket_caps_what_waits_unread(board: Board) -> None:
    with vnc_ws(board, board.admin) as conn:
        conn.recv(timeout=10)  # the version; the server now waits for ours, reading 12 bytes
        conn.send(b"x" * (600 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                conn.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_websocket_ends_with_the_session(board: Board) -> None:
    board.admin.post("/api/auth/users", json={"username": "ursula", "password": encrypt("user-pass-1"), "role": "user"})
    user = board.app.login("ursula", "user-pass-1")
    with vnc_ws(board, user) as conn:
        conn.recv(timeout=10)
        assert user.post("/api/auth/logout").json()["code"] == 0
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                conn.recv(timeout=10)
        assert time.monotonic() - started < 5
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def next_picture(client: RfbClient, size: tuple[int, int], timeout: float = 30) -> bytes:
    """The first JPEG once the client's framebuffer has ``size`` (the server resized it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.request(incremental=True)
        update = client.update()
        if (client.width, client.height) == size and update.jpegs:
            return update.jpegs[-1]
    raise AssertionError(f"no {size} picture; the client is at {client.width}x{client.height}")


def test_no_signal_is_a_picture_and_clients_follow_the_size(board: Board) -> None:
    """HDMI capture off: the "no signal" picture (1280x720 here) reaches VNC clients, resized by
    ExtendedDesktopSize or the older DesktopSize, as the same JPEG MJPEG viewers get; back on, 1080p."""
    board.power_on()
    extended, plain = connect_plain(board), connect_plain(board)
    try:
        extended.init([TIGHT, JPEG_QUALITY_8, EXT_DESKTOP, RAW])
        plain.init([TIGHT, JPEG_QUALITY_8, DESKTOP_SIZE, RAW])
        for client in (extended, plain):
            client.request()
            client.update()
            assert (client.width, client.height) == (1920, 1080)
        assert board.admin.post("/api/vm/hdmi/disable").json()["code"] == 0
        try:
            for client in (extended, plain):
                jpeg = next_picture(client, (1280, 720))
                image = decode_jpeg(jpeg)
                assert image.shape == (720, 1280, 3)
                assert image.std() > 1  # words on a plain background, not an empty screen
                assert jpeg == board.mjpeg_frame()  # the very picture MJPEG shows
        finally:
            assert board.admin.post("/api/vm/hdmi/enable").json()["code"] == 0
        for client in (extended, plain):
            assert decode_jpeg(next_picture(client, (1920, 1080))).shape == (1080, 1920, 3)
    finally:
        extended.close()
        plain.close()


def capture_fps(board: Board) -> float:
    """What the capture loop last reported in /kvmapp/kvm/now_fps (0 once it stopped)."""
    path = board.app.path("/kvmapp/kvm/now_fps")
    return float(path.read_text() or 0) if path.exists() else 0.0


def fresh_pictures(client: RfbClient, count: int = 3) -> set[bytes]:
    """``count`` different pictures in a row (the sim PC's clock moves): the capture is running."""
    seen: set[bytes] = set()
    deadline = time.monotonic() + 20
    while len(seen) < count:
        assert time.monotonic() < deadline, "the picture stopped changing"
        client.request(incremental=True)
        seen.update(client.update().jpegs)
    return seen


def test_vnc_clients_are_viewers_with_the_mjpeg_ones(board: Board) -> None:
    """The capture runs while any viewer of any kind watches, and stops with the last."""
    board.power_on()
    wait_until(lambda: capture_fps(board) == 0, timeout=20)  # the earlier tests' clients are gone
    first = connect_plain(board)
    first.init([TIGHT, JPEG_QUALITY_8, RAW])
    first.request()
    first.update()
    fresh_pictures(first)
    wait_until(lambda: capture_fps(board) > 0, timeout=10)  # a VNC client alone starts the capture
    reader = MjpegReader(board.app.url, str(board.admin.cookies.get("nano-kvm-token")))
    try:
        reader.next_part()
        first.close()  # the MJPEG viewer still watches: frames go on
        parts = {reader.next_part().jpeg for _ in range(10)}
        assert len(parts) > 1
        second = connect_plain(board)
        second.init([TIGHT, JPEG_QUALITY_8, RAW])
        second.request()
        second.update()
    finally:
        reader.sock.close()
    try:
        fresh_pictures(second)  # the MJPEG viewer left; a VNC client keeps the capture going
    finally:
        second.close()
    wait_until(lambda: capture_fps(board) == 0, timeout=10)  # the last viewer left: the capture stopped


def painted_clock(image: np.ndarray[Any, Any]) -> int:
    """The sim PC's wall clock (ms mod 2^32) painted in its picture: the second row of 32 squares from
    the bottom, each 1/60 of the height (at least 8 px), white for 1, bit 31 first (app/sim/screen.py)."""
    cell = max(8, image.shape[0] // 60)
    y = image.shape[0] - 2 * cell + cell // 2
    bits = [int(image[y, bit * cell + cell // 2].mean() > 128) for bit in range(32)]
    return int("".join(map(str, bits)), 2)


def test_a_throttled_vnc_client_sees_the_present(board: Board) -> None:
    """Read at ~1 MB/s with continuous updates: each picture is as fresh as its own transfer allows,
    not one that waited behind older ones (paced by what TCP delivered, as MJPEG viewers are)."""
    board.power_on()
    assert board.admin.post("/api/vm/screen", json={"type": "quality", "value": 100}).json()["code"] == 0
    client = RfbClient(board.port, rcvbuf=16384)
    ages: list[float] = []
    sizes: list[int] = []
    try:
        client.login_vencrypt("admin", "admin")
        client.init([TIGHT, JPEG_QUALITY_8, RAW, CONTINUOUS])
        client.request()
        client.continuous()
        start = time.monotonic()
        while time.monotonic() - start < 6:
            jpegs = client.update().jpegs
            received = time.time()
            if not jpegs:
                continue
            time.sleep(len(jpegs[-1]) / 1_000_000)  # ~1 MB/s
            if time.monotonic() - start > 2:  # past the start-up
                age_ms = (int(received * 1000) - painted_clock(decode_jpeg(jpegs[-1]))) % (1 << 32)
                ages.append(age_ms / 1000)
                sizes.append(len(jpegs[-1]))
    finally:
        client.close()
        board.admin.post("/api/vm/screen", json={"type": "quality", "value": 80})
    assert len(ages) >= 5
    # The painted clock is the render time, before the JPEG is encoded (at quality 100): allow for that
    # too. Queued behind older pictures (the socket buffers hold seconds of them) ages would grow past 1 s.
    assert statistics.median(ages) <= 0.5 + statistics.median(sizes) / 1_000_000, (ages, sizes)
    assert max(ages) < 1.5, ages


def count_pictures(client: RfbClient, seconds: float) -> int:
    frames, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        frames += len(client.update().jpegs)
    return frames


def test_a_stalled_vnc_client_does_not_slow_another(board: Board) -> None:
    """Pictures a client gets in 3 s, alone and then beside a client that stopped reading."""
    board.power_on()
    reader = connect_plain(board)
    stalled = RfbClient(board.port, rcvbuf=4096)
    try:
        reader.init([TIGHT, JPEG_QUALITY_8, RAW, CONTINUOUS])
        reader.request()
        reader.continuous()
        reader.update()
        alone = count_pictures(reader, 3.0)
        stalled.login_vencrypt("admin", "admin")
        stalled.init([TIGHT, JPEG_QUALITY_8, RAW, CONTINUOUS])
        stalled.request()
        stalled.continuous()  # and never reads again
        time.sleep(0.5)  # its buffers fill
        beside = count_pictures(reader, 3.0)
    finally:
        reader.close()
        stalled.close()
    assert alone >= 3.0 * 30 * 0.5, alone  # the default 30 fps, on a loaded machine
    assert beside >= alone * 0.75, (alone, beside)
