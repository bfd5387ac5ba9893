"""Download by URL against hostile addresses (issue 13, finding 6), over the running app.

A server on loopback stands for what only the device can reach (its own API, kvm_system, a cloud's
metadata service): it serves a valid ISO for any path and counts requests, and must count none.
An image server on the machine's LAN address stands for a mirror, which stays reachable.
"""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.services.media.iso import make_iso
from tests.conftest import RunningApp
from tests.lan import lan_address

ISO = make_iso("GUARDED", 64 * 1024)
SECRET = "s3cret-pw"
IDLE = {"status": "idle", "file": "", "percentage": ""}


@dataclass
class Site:
    url: str
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)
    files: dict[str, bytes] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    password: str | None = None  # Basic auth required when set


def serve(host: str) -> tuple[http.server.ThreadingHTTPServer, Site]:
    site = Site("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            authorization = self.headers.get("Authorization")
            site.requests.append((self.path, authorization))
            if self.path in site.redirects:
                self.send_response(302)
                self.send_header("Location", site.redirects[self.path])
                self.end_headers()
                return
            if site.password is not None:
                wanted = "Basic " + base64.b64encode(f"alice:{site.password}".encode()).decode()
                if authorization != wanted:
                    self.send_error(401)
                    return
            body = site.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site.url = f"http://{host}:{server.server_address[1]}"
    return server, site


@pytest.fixture
def inside() -> Iterator[Site]:
    """What must stay out of reach: a loopback server that would happily serve an ISO anywhere."""
    server, site = serve("127.0.0.1")
    site.files.update({f"/{name}": ISO for name in ("secret.iso", "x.iso", "meta.iso")})
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def mirror() -> Iterator[Site]:
    server, site = serve(lan_address())
    yield site
    server.shutdown()
    server.server_close()


def envelope(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_done(client: httpx.Client, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = envelope(client.get("/api/download/image/status"))["data"]
        if status["status"] != "in_progress":
            return str(status["status"])
        time.sleep(0.05)
    raise AssertionError("the download never ended")


def data_files(kvm: RunningApp) -> list[str]:
    return sorted(p.name for p in kvm.path("/data").iterdir())


def test_addresses_of_the_device_itself_are_refused_at_once(kvm: RunningApp, inside: Site) -> None:
    """Loopback in every spelling, link-local metadata, unspecified: a clear error, nothing fetched."""
    admin = kvm.login()
    port = inside.url.rsplit(":", 1)[1]
    hosts = ["127.0.0.1", "0x7f000001", "2130706433", "127.1", "0", "[::1]", "[::ffff:127.0.0.1]"]
    for host in hosts:
        answer = envelope(admin.post("/api/download/image", json={"file": f"http://{host}:{port}/secret.iso"}))
        assert answer["code"] == -1 and answer["msg"].startswith(f"refusing to download from {host.strip('[]')}")
        assert answer["data"] is None
    answer = envelope(admin.post("/api/download/image", json={"file": "http://169.254.169.254/meta.iso"}))
    assert answer["msg"] == "refusing to download from 169.254.169.254: a link-local address"
    assert envelope(admin.get("/api/download/image/status"))["data"] == IDLE
    assert inside.requests == [] and data_files(kvm) == []


def test_a_name_for_loopback_is_refused_when_it_resolves(kvm: RunningApp, inside: Site) -> None:
    admin = kvm.login()
    url = inside.url.replace("127.0.0.1", "localhost") + "/x.iso"
    started = envelope(admin.post("/api/download/image", json={"file": url}))
    assert started["code"] == 0, started  # a name: checked when it resolves
    assert wait_done(admin) == "failed", kvm.log.read_text()[-2000:]
    assert inside.requests == [] and data_files(kvm) == []
    assert "refusing to download from localhost" in kvm.log.read_text(), kvm.log.read_text()[-2000:]


@pytest.mark.parametrize("via", ["127.0.0.1", "localhost", "0x7f000001"])
def test_a_redirect_to_loopback_is_refused(kvm: RunningApp, inside: Site, mirror: Site, via: str) -> None:
    mirror.redirects["/moved.iso"] = inside.url.replace("127.0.0.1", via) + "/secret.iso"
    admin = kvm.login()
    assert envelope(admin.post("/api/download/image", json={"file": f"{mirror.url}/moved.iso"}))["code"] == 0
    assert wait_done(admin) == "failed"
    assert [path for path, _ in mirror.requests] == ["/moved.iso"]
    assert inside.requests == [] and data_files(kvm) == []


def test_lan_mirrors_stay_allowed_through_redirects(kvm: RunningApp, mirror: Site) -> None:
    mirror.files["/images/real.iso"] = ISO
    mirror.redirects["/latest.iso"] = "/images/real.iso"
    admin = kvm.login()
    assert envelope(admin.post("/api/download/image", json={"file": f"{mirror.url}/latest.iso"}))["code"] == 0
    assert wait_done(admin) == "success"
    assert kvm.path("/data/latest.iso").read_bytes() == ISO


def test_credentials_work_and_are_never_shown(kvm: RunningApp, mirror: Site) -> None:
    """``user:password@`` is sent as Basic auth to that origin only, and appears nowhere: not in the
    answer, the status, the audit log, the server's log, nor a redirect's next origin."""
    mirror.password = SECRET
    mirror.files["/private.iso"] = ISO
    admin = kvm.login()
    netloc = mirror.url.removeprefix("http://")
    started = envelope(admin.post("/api/download/image", json={"file": f"http://alice:{SECRET}@{netloc}/private.iso"}))
    assert started["data"]["file"] == f"http://***@{netloc}/private.iso"
    assert wait_done(admin) == "success"
    assert kvm.path("/data/private.iso").read_bytes() == ISO

    # A failure is logged; a redirect to another origin gets no credentials.
    other_server, other = serve(lan_address())
    try:
        mirror.redirects["/elsewhere.iso"] = other.url + "/elsewhere.iso"
        url = f"http://alice:{SECRET}@{netloc}/elsewhere.iso"
        status = envelope(admin.post("/api/download/image", json={"file": url}))["data"]
        assert SECRET not in str(status)
        assert wait_done(admin) == "failed"  # the other server has no such file: 404
        assert other.requests == [("/elsewhere.iso", None)]
    finally:
        other_server.shutdown()
        other_server.server_close()
    token_url = f"{mirror.url}/missing.iso?token={SECRET}"
    assert envelope(admin.post("/api/download/image", json={"file": token_url}))["data"]["file"].endswith("token=***")
    assert wait_done(admin) == "failed"

    audit = envelope(admin.get("/api/security/audit", params={"limit": 50}))["data"]
    downloads = [entry for entry in audit["entries"] if entry["action"] == "POST /api/download/image"]
    assert len(downloads) == 3 and downloads[-1]["detail"]["url"] == f"http://***@{netloc}/private.iso"
    assert SECRET not in str(audit)
    log = kvm.log.read_text()
    assert "download of http://***@" in log and SECRET not in log


def test_a_json_reply_is_not_saved_as_an_iso(kvm: RunningApp, mirror: Site) -> None:
    mirror.files["/r1.iso"] = b'{"error": "not found"}'
    mirror.files["/disk.img"] = b"\x00raw disk bytes, no ISO 9660 needed" * 100
    admin = kvm.login()
    assert envelope(admin.post("/api/download/image", json={"file": f"{mirror.url}/r1.iso"}))["code"] == 0
    assert wait_done(admin) == "failed"
    assert data_files(kvm) == []
    assert "not an ISO 9660 image" in kvm.log.read_text()
    assert envelope(admin.post("/api/download/image", json={"file": f"{mirror.url}/disk.img"}))["code"] == 0
    assert wait_done(admin) == "success"
    assert data_files(kvm) == ["disk.img"]


def test_kvmd_write_remote_follows_the_same_rules(kvm: RunningApp, inside: Site, mirror: Site) -> None:
    kvmd = httpx.Client(base_url=kvm.url, headers={"X-KVMD-User": "admin", "X-KVMD-Passwd": "admin"}, timeout=30)
    with kvmd:
        refused = kvmd.post("/api/msd/write_remote", params={"url": f"{inside.url}/x.iso", "image": "x.iso"})
        assert refused.status_code == 400 and "loopback" in refused.text, refused.text
        netloc = mirror.url.removeprefix("http://")
        url = f"http://alice:{SECRET}@{netloc}/missing.iso"
        failed = kvmd.post("/api/msd/write_remote", params={"url": url, "image": "m.iso"})
        assert failed.status_code == 400 and f"http://***@{netloc}/missing.iso" in failed.text, failed.text
        assert SECRET not in failed.text
    assert inside.requests == []
