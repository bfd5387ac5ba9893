"""gin's wire behaviour that NanoKVM's clients see (spec 1.3, 1.4, 6.4, 11.4): exact statuses, headers, bytes."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

import pytest
import yaml

from tests.api.mjpeg import MjpegReader
from tests.conftest import RunningApp


def raw_request(kvm: RunningApp, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """One HTTP/1.1 exchange on a plain socket: the status line, the headers (lower-case names), the body."""
    host, port = kvm.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(body) < length:
            body += sock.recv(65536)
    return lines[0], headers, body


def request(method: str, path: str, cookie: str = "", body: bytes = b"") -> bytes:
    extra = f"Cookie: nano-kvm-token={cookie}\r\n" if cookie else ""
    if body:
        extra += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return f"{method} {path} HTTP/1.1\r\nHost: kvm\r\nConnection: close\r\n{extra}\r\n".encode() + body


def test_get_with_a_trailing_slash_is_moved_permanently_before_auth(kvm: RunningApp) -> None:
    status, headers, body = raw_request(kvm, request("GET", "/api/vm/hardware/?v=1"))
    assert status == "HTTP/1.1 301 Moved Permanently"
    assert headers["location"] == "/api/vm/hardware?v=1"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body == b'<a href="/api/vm/hardware?v=1">Moved Permanently</a>.\n\n'


def test_other_methods_with_a_trailing_slash_are_redirected_temporarily(kvm: RunningApp) -> None:
    status, headers, body = raw_request(kvm, request("POST", "/api/vm/gpio/", body=b'{"type":"power"}'))
    assert status == "HTTP/1.1 307 Temporary Redirect"
    assert headers["location"] == "/api/vm/gpio"
    assert "content-type" not in headers and body == b""
    # Only a route registered for that method redirects; anything else stays gin's 404.
    status, headers, body = raw_request(kvm, request("POST", "/api/vm/hardware/"))
    assert status == "HTTP/1.1 404 Not Found" and body == b"404 page not found"
    status, _, body = raw_request(kvm, request("DELETE", "/api/vm/nothing/"))
    assert status == "HTTP/1.1 404 Not Found" and body == b"404 page not found"


def test_mouse_jiggler_post_redirects_to_the_slash_form_before_auth(kvm: RunningApp) -> None:
    status, headers, body = raw_request(kvm, request("POST", "/api/vm/mouse-jiggler", body=b"{}"))
    assert status == "HTTP/1.1 307 Temporary Redirect"
    assert headers["location"] == "/api/vm/mouse-jiggler/" and body == b""
    status, headers, _ = raw_request(kvm, request("GET", "/api/vm/mouse-jiggler/"))
    assert status == "HTTP/1.1 301 Moved Permanently" and headers["location"] == "/api/vm/mouse-jiggler"
    # The slash form itself is the route, behind authentication.
    status, _, body = raw_request(kvm, request("POST", "/api/vm/mouse-jiggler/", body=b"{}"))
    assert status == "HTTP/1.1 401 Unauthorized" and body == b'"unauthorized"'
    cookie = kvm.login().cookies["nano-kvm-token"]
    answer = b'{"enabled":true,"mode":"absolute"}'
    status, headers, body = raw_request(kvm, request("POST", "/api/vm/mouse-jiggler/", cookie, answer))
    assert status == "HTTP/1.1 200 OK" and body == b'{"code":0,"msg":"success","data":null}'


def test_json_is_gins_bytes(kvm: RunningApp) -> None:
    admin = kvm.login()
    cookie = admin.cookies["nano-kvm-token"]
    title = '{"title":"<b>Tom & Jerry</b> \u00e9"}'.encode()
    status, headers, body = raw_request(kvm, request("POST", "/api/vm/web-title", cookie, title))
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/json; charset=utf-8"
    status, headers, body = raw_request(kvm, request("GET", "/api/vm/web-title", cookie))
    assert headers["content-type"] == "application/json; charset=utf-8"
    expected = '{"code":0,"msg":"success","data":{"title":"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e \u00e9"}}'
    assert body == expected.encode()  # non-ASCII stays raw UTF-8, as Go writes it
    assert int(headers["content-length"]) == len(body)
    # Errors and the auth failure carry the same Content-Type.
    _, headers, body = raw_request(kvm, request("POST", "/api/vm/gpio", cookie, b'{"type":"<x>"}'))
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert body == b'{"code":-2,"msg":"invalid power event: \\u003cx\\u003e","data":null}'
    _, headers, body = raw_request(kvm, request("GET", "/api/vm/info"))
    assert headers["content-type"] == "application/json; charset=utf-8" and body == b'"unauthorized"'


def test_mjpeg_server_date_is_rfc1123_with_the_zone_name(
    app_factory: Callable[..., RunningApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")  # a board has no time zone set: Go prints "UTC"
    kvm = app_factory()
    reader = MjpegReader(kvm.url, kvm.login().cookies["nano-kvm-token"])
    try:
        reader.next_part()
    finally:
        reader.close()
    date = reader.response_headers["x-server-date"]
    assert re.fullmatch(
        r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
        r"\d{4} \d\d:\d\d:\d\d UTC",
        date,
    ), date


def test_tls_on_the_sim_board_edits_the_device_roots_config(kvm: RunningApp) -> None:
    started = kvm.root.parent / "server.yaml"  # what `task run` would pass: the checkout's server.yaml
    before = started.read_bytes()
    admin = kvm.login()
    assert admin.post("/api/vm/tls", json={"enabled": True}).json()["code"] == 0
    assert started.read_bytes() == before
    device = yaml.safe_load(kvm.path("/etc/kvm/server.yaml").read_text())
    assert device["proto"] == "https"
    assert device["cert"] == {"crt": str(kvm.path("/etc/kvm/server.crt")), "key": str(kvm.path("/etc/kvm/server.key"))}
    assert admin.post("/api/vm/tls", json={"enabled": False}).json()["code"] == 0
    assert yaml.safe_load(kvm.path("/etc/kvm/server.yaml").read_text())["proto"] == "http"
    assert started.read_bytes() == before
