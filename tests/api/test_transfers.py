"""Image transfers over HTTP (spec 4.6): browser upload and download by URL from a local server.

Every refused, failed, cancelled or interrupted transfer must leave /data as it was: no image, no
temp file, and the transfer lock released.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.services.media.iso import make_iso
from tests.conftest import RunningApp, start_app
from tests.lan import lan_address

LOCK = "/run/nanokvm-transfer-in-progress"
ISO = make_iso("UPLOADED", 200 * 1024)
IDLE = {"status": "idle", "file": "", "percentage": ""}


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error(response: httpx.Response) -> tuple[int, str]:
    body = answer(response)
    assert body["data"] is None, body
    return body["code"], body["msg"]


def data_files(kvm: RunningApp) -> list[str]:
    return sorted(p.name for p in kvm.path("/data").iterdir())


def upload(client: httpx.Client, name: str, content: bytes, **headers: str) -> httpx.Response:
    return client.post(
        "/api/download/file", files={"file": (name, content, "application/octet-stream")}, headers=headers
    )


def wait_status(client: httpx.Client, *done: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = answer(client.get("/api/download/image/status"))["data"]
        if status["status"] in done:
            return status
        time.sleep(0.05)
    raise AssertionError(f"status never became {done}: {status}")


# --- a local HTTP server -------------------------------------------------------------------


class Served:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.slow: dict[str, int] = {}  # path -> announced size, sent 64 KiB every 0.1 s
        self.release = threading.Event()


def serve(served: Served) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/moved.iso":
                self.send_response(302)
                self.send_header("Location", "/image.iso")
                self.end_headers()
                return
            if self.path == "/to-file.iso":
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.end_headers()
                return
            if self.path in served.slow:
                self.send_response(200)
                self.send_header("Content-Length", str(served.slow[self.path]))
                self.end_headers()
                with contextlib.suppress(OSError):
                    for _ in range(served.slow[self.path] // 65536):
                        if served.release.wait(0.1):
                            return
                        self.wfile.write(b"\0" * 65536)
                return
            body = served.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    host = lan_address()  # downloads refuse loopback
    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


@pytest.fixture
def web() -> Iterator[tuple[Served, str]]:
    served = Served()
    server, url = serve(served)
    yield served, url
    served.release.set()
    server.shutdown()
    server.server_close()


# --- upload --------------------------------------------------------------------------------


def test_upload_without_and_with_checksum(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert answer(upload(admin, "ubuntu-24.04.iso", ISO)) == {"code": 0, "msg": "success", "data": IDLE}
    assert kvm.path("/data/ubuntu-24.04.iso").read_bytes() == ISO
    digest = hashlib.sha256(ISO[::-1]).hexdigest()
    second = make_iso("SECOND")
    digest = hashlib.sha256(second).hexdigest()
    assert answer(upload(admin, "Second_1.ISO", second, **{"X-SHA256-Sum": digest.upper()}))["code"] == 0
    assert kvm.path("/data/Second_1.ISO").read_bytes() == second
    assert data_files(kvm) == ["Second_1.ISO", "ubuntu-24.04.iso"]
    files = answer(admin.get("/api/storage/image"))["data"]["files"]
    assert files == ["/data/Second_1.ISO", "/data/ubuntu-24.04.iso"]
    assert not kvm.path(LOCK).exists()
    assert answer(admin.get("/api/download/image/status"))["data"] == IDLE
    # The same name again replaces the file.
    assert answer(upload(admin, "ubuntu-24.04.iso", second))["code"] == 0
    assert kvm.path("/data/ubuntu-24.04.iso").read_bytes() == second


def test_upload_with_an_empty_checksum_header_has_no_checksum(kvm: RunningApp) -> None:
    # NanoKVM's page always sends X-SHA256-Sum, empty when the user gave none (upstream: no check).
    admin = kvm.login()
    assert answer(upload(admin, "page.iso", ISO, **{"X-SHA256-Sum": ""})) == {"code": 0, "msg": "success", "data": IDLE}
    assert kvm.path("/data/page.iso").read_bytes() == ISO


def test_large_upload_streams(kvm: RunningApp) -> None:
    admin = kvm.login()
    big = make_iso("BIG", 48 << 20)
    digest = hashlib.sha256(big).hexdigest()
    assert answer(upload(admin, "big.iso", big, **{"X-SHA256-Sum": digest}))["code"] == 0
    assert hashlib.sha256(kvm.path("/data/big.iso").read_bytes()).hexdigest() == digest


@pytest.mark.parametrize(
    ("name", "content", "headers", "message"),
    [
        ("bad.iso", ISO, {"X-SHA256-Sum": "0" * 64}, "checksum mismatch"),
        ("bad.iso", ISO, {"X-SHA256-Sum": "xyz"}, "invalid sha256sum"),
        ("plain.iso", b"\0" * 40000, {}, "file is not a valid ISO image"),
        ("short.iso", b"CD001", {}, "file is not a valid ISO image"),
        ("disk.img", ISO, {}, "only .iso files allowed"),
        ("noext", ISO, {}, "only .iso files allowed"),
        ("../up.iso", ISO, {}, "invalid filename"),
        ("a..b.iso", ISO, {}, "invalid filename"),
        ("sub/x.iso", ISO, {}, "invalid filename"),
        ("with space.iso", ISO, {}, "invalid filename"),
        ("é.iso", ISO, {}, "invalid filename"),
        ("semi;colon.iso", ISO, {}, "invalid filename"),
        ("", ISO, {}, "no filename"),
    ],
)
def test_upload_refusals_leave_nothing(
    kvm: RunningApp, name: str, content: bytes, headers: dict[str, str], message: str
) -> None:
    admin = kvm.login()
    assert error(upload(admin, name, content, **headers)) == (-1, message)
    assert data_files(kvm) == []
    assert not kvm.path(LOCK).exists()
    assert answer(admin.get("/api/download/image/status"))["data"] == IDLE


def test_upload_bad_bodies(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert error(admin.post("/api/download/file", json={"file": "x.iso"})) == (-1, "invalid multipart data")
    no_file = admin.post("/api/download/file", files={"other": ("x.iso", ISO)})
    assert error(no_file) == (-1, "no filename")
    cut = b'--B\r\nContent-Disposition: form-data; name="file"; filename="cut.iso"\r\n\r\n' + ISO
    short = admin.post("/api/download/file", content=cut, headers={"content-type": "multipart/form-data; boundary=B"})
    assert error(short) == (-1, "failed to read part")
    assert data_files(kvm) == []
    assert not kvm.path(LOCK).exists()


def begin_raw_upload(kvm: RunningApp, client: httpx.Client, filename: str, length: int) -> socket.socket:
    """A socket that has sent the upload's headers, the file part's head and ``ISO``; ``length``
    is the Content-Length it announced (the test sends the rest, or not)."""
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    head = f'--B\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n\r\n'.encode()
    sock = socket.create_connection(("127.0.0.1", int(kvm.url.rsplit(":", 1)[1])))
    sock.sendall(
        b"POST /api/download/file HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        + f"Cookie: {cookie}\r\nContent-Length: {length}\r\n\r\n".encode()
        + head
        + ISO
    )
    return sock


def test_interrupted_upload_leaves_nothing(kvm: RunningApp) -> None:
    client = kvm.login()
    with begin_raw_upload(kvm, client, "lost.iso", 10 << 20):
        deadline = time.monotonic() + 10
        while answer(client.get("/api/download/image/status"))["data"]["status"] != "in_progress":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        status = answer(client.get("/api/download/image/status"))["data"]
        assert status["file"] == "lost.iso"
        assert status["percentage"].endswith("%")
        assert kvm.path(LOCK).exists()
    wait_status(client, "idle")
    deadline = time.monotonic() + 10
    while data_files(kvm) or kvm.path(LOCK).exists():
        assert time.monotonic() < deadline, data_files(kvm)
        time.sleep(0.05)


def test_cancelled_upload_is_not_kept_even_if_the_body_completes(kvm: RunningApp) -> None:
    """Ours: the page tells the server to cancel before it aborts (a browser may go on sending)."""
    client = kvm.login()
    head = len(b'--B\r\nContent-Disposition: form-data; name="file"; filename="kept.iso"\r\n\r\n')
    rest = b"\0" * (1 << 20) + b"\r\n--B--\r\n"
    with begin_raw_upload(kvm, client, "kept.iso", head + len(ISO) + len(rest)) as sock:
        wait_status(client, "in_progress")
        assert answer(client.post("/api/download/image/cancel"))["code"] == 0
        sock.sendall(rest)  # the whole body arrives after all
        reply = sock.recv(65536)
    assert b'"upload cancelled"' in reply, reply
    wait_status(client, "idle")
    assert data_files(kvm) == []
    assert not kvm.path(LOCK).exists()


# --- download by URL -----------------------------------------------------------------------


def test_download_by_url(kvm: RunningApp, web: tuple[Served, str]) -> None:
    served, base = web
    served.files["/image.iso"] = ISO
    admin = kvm.login()
    started = answer(admin.post("/api/download/image", json={"file": f"{base}/image.iso"}))
    assert started == {
        "code": 0,
        "msg": "success",
        "data": {"status": "in_progress", "file": f"{base}/image.iso", "percentage": ""},
    }
    assert wait_status(admin, "success", "failed") == {"status": "success", "file": "", "percentage": ""}
    assert kvm.path("/data/image.iso").read_bytes() == ISO
    assert not kvm.path(LOCK).exists()

    # Through a redirect (named after the URL asked for, as NanoKVM), with the right checksum in upper case.
    kvm.path("/data/image.iso").unlink()
    digest = hashlib.sha256(ISO).hexdigest().upper()
    body = {"file": f"{base}/moved.iso", "sha256sum": digest}
    assert answer(admin.post("/api/download/image", json=body))["code"] == 0
    assert wait_status(admin, "success", "failed")["status"] == "success"
    assert data_files(kvm) == ["moved.iso"]


def test_download_failures_leave_nothing(kvm: RunningApp, web: tuple[Served, str]) -> None:
    served, base = web
    served.files["/good.iso"] = ISO
    admin = kvm.login()
    body = {"file": f"{base}/good.iso", "sha256sum": "0" * 64}
    assert answer(admin.post("/api/download/image", json=body))["code"] == 0
    assert wait_status(admin, "checksum_failed", "success", "failed")["status"] == "checksum_failed"
    for missing in ("/missing.iso", "/to-file.iso"):
        assert answer(admin.post("/api/download/image", json={"file": f"{base}{missing}"}))["code"] == 0
        assert wait_status(admin, "failed", "success")["status"] == "failed"
    host = lan_address()
    closed = socket.socket()
    closed.bind((host, 0))
    port = closed.getsockname()[1]
    closed.close()
    assert answer(admin.post("/api/download/image", json={"file": f"http://{host}:{port}/x.iso"}))["code"] == 0
    assert wait_status(admin, "failed", "success")["status"] == "failed"
    assert data_files(kvm) == []
    assert not kvm.path(LOCK).exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"file": ""}, "invalid arguments"),
        ({}, "invalid arguments"),
        ({"file": 3}, "invalid arguments"),
        ({"file": "ftp://127.0.0.1/x.iso"}, "invalid url"),
        ({"file": "file:///etc/passwd"}, "invalid url"),
        ({"file": "http://127.0.0.1/"}, "invalid url"),
        ({"file": "http:///x.iso"}, "invalid url"),
        ({"file": "not a url"}, "invalid url"),
        ({"file": "http://127.0.0.1/..%2F..%2Fetc%2Fx.iso"}, "invalid url"),
        ({"file": "http://127.0.0.1/x.iso", "sha256sum": "abc"}, "invalid sha256sum"),
    ],
)
def test_download_refusals(kvm: RunningApp, body: dict[str, Any], message: str) -> None:
    admin = kvm.login()
    assert error(admin.post("/api/download/image", json=body)) == (-1, message)
    assert answer(admin.get("/api/download/image/status"))["data"] == IDLE
    assert not kvm.path(LOCK).exists()


def test_cancel_and_one_transfer_at_a_time(kvm: RunningApp, web: tuple[Served, str]) -> None:
    served, base = web
    served.slow["/slow.iso"] = 64 << 20
    served.files["/other.iso"] = ISO
    admin = kvm.login()
    assert error(admin.post("/api/download/image/cancel")) == (-1, "no cancellable download in progress")
    assert answer(admin.post("/api/download/image", json={"file": f"{base}/slow.iso"}))["code"] == 0
    deadline = time.monotonic() + 10
    while not (status := answer(admin.get("/api/download/image/status"))["data"])["percentage"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["status"] == "in_progress"
    assert status["file"] == f"{base}/slow.iso"
    assert status["percentage"].endswith("%")
    assert float(status["percentage"][:-1]) < 100
    assert kvm.path(LOCK).read_text() == f"{base}/slow.iso"

    # A second transfer of either kind is refused while this one runs.
    assert error(admin.post("/api/download/image", json={"file": f"{base}/other.iso"})) == (-1, "download in progress")
    assert error(upload(admin, "x.iso", ISO)) == (-1, "download in progress")

    assert answer(admin.post("/api/download/image/cancel")) == {"code": 0, "msg": "success", "data": None}
    assert answer(admin.get("/api/download/image/status"))["data"] == IDLE
    assert data_files(kvm) == []
    assert not kvm.path(LOCK).exists()
    assert error(admin.post("/api/download/image/cancel")) == (-1, "no cancellable download in progress")

    # And the next one runs.
    assert answer(admin.post("/api/download/image", json={"file": f"{base}/other.iso"}))["code"] == 0
    assert wait_status(admin, "success", "failed")["status"] == "success"
    assert data_files(kvm) == ["other.iso"]


def test_enabled(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert answer(admin.get("/api/download/image/enabled")) == {"code": 0, "msg": "success", "data": {"enabled": True}}
    assert data_files(kvm) == []
    data = kvm.path("/data")
    data.rename(kvm.path("/data.away"))
    try:
        assert answer(admin.get("/api/download/image/enabled"))["data"] == {"enabled": False}
    finally:
        kvm.path("/data.away").rename(data)


def test_transfers_are_admin_only(kvm: RunningApp) -> None:
    anonymous = kvm.client()
    assert anonymous.get("/api/download/image/status").status_code == 401
    assert anonymous.post("/api/download/file", files={"file": ("x.iso", ISO)}).status_code == 401
    assert data_files(kvm) == []


def test_start_removes_a_stale_lock_and_temp_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "run/nanokvm-transfer-in-progress").write_text("http://x/y.iso")
    (root / "data/.nanokvm-download-abc").write_bytes(b"half")
    (root / "data/.nanokvm-upload-def").write_bytes(b"half")
    (root / "data/keep.iso").write_bytes(b"keep")
    kvm = start_app(tmp_path, root=root)
    try:
        assert data_files(kvm) == ["keep.iso"]
        assert not kvm.path(LOCK).exists()
    finally:
        kvm.stop()


@pytest.fixture
def small_data(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs as /data (needs root; skipped elsewhere, a failure under CI, which runs as root)."""
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root / "data")], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        message = f"cannot mount a small tmpfs: {mounted.stderr.decode().strip()}"
        assert os.environ.get("CI") != "true", message
        pytest.skip(message)
    yield root
    subprocess.run(["umount", "-l", str(root / "data")], check=False)


def test_full_disk_is_a_clear_error_and_leaves_nothing(
    small_data: Path, tmp_path: Path, web: tuple[Served, str]
) -> None:
    served, base = web
    big = make_iso("BIG", 3 << 20)
    served.files["/big.iso"] = big
    kvm = start_app(tmp_path, root=small_data)
    try:
        admin = kvm.login()
        assert error(upload(admin, "big.iso", big)) == (-1, "write failed: no space left on device")
        assert data_files(kvm) == []
        assert not kvm.path(LOCK).exists()
        assert answer(admin.post("/api/download/image", json={"file": f"{base}/big.iso"}))["code"] == 0
        assert wait_status(admin, "failed", "success")["status"] == "failed"
        assert data_files(kvm) == []
        # Room for a small one is still there: nothing was left behind.
        assert answer(upload(admin, "small.iso", ISO))["code"] == 0
        assert data_files(kvm) == ["small.iso"]
    finally:
        kvm.stop()
