"""Each RFB security type the server offers, and when it offers it (issue 17: VeNCrypt with TLS and
our accounts always; classic VNC authentication only once an admin set a VNC password, also inside
VeNCrypt as X509Vnc; None and X509None only with ``authentication: disable``). Every login is
followed through to a Tight frame from the sim screen. vncdotool speaks None and VNC (see
test_vnc_server.py); VeNCrypt is driven by the test-side client (tests/vnc/rfb.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp, free_port, start_app
from tests.vnc.rfb import JPEG_QUALITY_8, RAW, TIGHT, X509_NONE, X509_PLAIN, X509_VNC, Refused, RfbClient, decode_jpeg

VENCRYPT, VNC, NONE = 19, 2, 1


def sees_the_screen(client: RfbClient) -> None:
    client.init([TIGHT, JPEG_QUALITY_8, RAW])
    client.request()
    image = decode_jpeg(client.update().jpegs[0])
    assert image.shape[:2] == (client.height, client.width)


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, int]]:
    port = free_port()
    app = start_app(tmp_path_factory.mktemp("vnc-security"), {"vnc": {"enabled": True, "port": port}})
    try:
        yield app, port
    finally:
        app.stop()


def set_vnc_password(app: RunningApp, password: str) -> None:
    answer = app.login().post("/api/vnc/settings", json={"password": encrypt(password) if password else ""}).json()
    assert answer["code"] == 0, answer
    assert answer["data"]["vncPassword"] is bool(password)


def offered(port: int) -> tuple[list[int], list[int]]:
    client = RfbClient(port)
    try:
        types = client.security_types()
        client.close()
        client = RfbClient(port)
        return types, client.vencrypt_subtypes()
    finally:
        client.close()


def test_without_a_vnc_password_only_vencrypt_plain(accounts: tuple[RunningApp, int]) -> None:
    app, port = accounts
    set_vnc_password(app, "")
    assert offered(port) == ([VENCRYPT], [X509_PLAIN])
    client = RfbClient(port)
    try:
        client.login_vencrypt("admin", "admin", cafile=str(app.path("/etc/kvm/server.crt")))
        sees_the_screen(client)
    finally:
        client.close()


def test_a_vnc_password_adds_vnc_auth_and_x509vnc(accounts: tuple[RunningApp, int]) -> None:
    app, port = accounts
    set_vnc_password(app, "pa55word")
    try:
        assert offered(port) == ([VENCRYPT, VNC], [X509_PLAIN, X509_VNC])
        client = RfbClient(port)
        try:  # X509Vnc: TLS with the device certificate, then the DES challenge inside it
            client.vencrypt(X509_VNC, cafile=str(app.path("/etc/kvm/server.crt")))
            client.vnc_auth("pa55word")
            sees_the_screen(client)
        finally:
            client.close()
        client = RfbClient(port)
        try:
            client.login_vnc("pa55word")
            sees_the_screen(client)
        finally:
            client.close()
        client = RfbClient(port)
        try:
            client.vencrypt(X509_VNC)
            with pytest.raises(Refused, match="authentication failed"):
                client.vnc_auth("wrong")
        finally:
            client.close()
    finally:
        set_vnc_password(app, "")
    assert offered(port) == ([VENCRYPT], [X509_PLAIN])


def test_security_none_only_without_authentication(tmp_path_factory: pytest.TempPathFactory) -> None:
    port = free_port()
    app = start_app(
        tmp_path_factory.mktemp("vnc-open"), {"authentication": "disable", "vnc": {"enabled": True, "port": port}}
    )
    try:
        assert offered(port) == ([VENCRYPT, NONE], [X509_NONE])
        client = RfbClient(port)
        try:
            client.login_none()
            sees_the_screen(client)
        finally:
            client.close()
        client = RfbClient(port)
        try:  # X509None: encrypted, no credentials
            client.vencrypt(X509_NONE, cafile=str(app.path("/etc/kvm/server.crt")))
            client._result()
            sees_the_screen(client)
        finally:
            client.close()
    finally:
        app.stop()


def test_an_admin_switches_the_listener_off_and_on(accounts: tuple[RunningApp, int]) -> None:
    app, port = accounts
    admin = app.login()
    client = RfbClient(port)
    client.login_vencrypt("admin", "admin")
    client.init([TIGHT, JPEG_QUALITY_8, RAW])
    try:
        answer = admin.post("/api/vnc/settings", json={"enabled": False}).json()
        assert answer["code"] == 0, answer
        assert answer["data"]["enabled"] is False and answer["data"]["running"] is False
        with pytest.raises((ConnectionError, OSError)):  # its client is ended
            for _ in range(100):
                client.request()
                client.update()
        with pytest.raises(ConnectionRefusedError):
            RfbClient(port)
        viewer = app.client()
        assert viewer.post("/api/vnc/settings", json={"enabled": True}).status_code == 401
    finally:
        client.close()
        answer = admin.post("/api/vnc/settings", json={"enabled": True}).json()
    assert answer["code"] == 0 and answer["data"]["running"] is True, answer
    client = RfbClient(port)
    try:
        client.login_vencrypt("admin", "admin")
        sees_the_screen(client)
    finally:
        client.close()
    assert admin.post("/api/vnc/settings", json={"enabled": "yes"}).json()["code"] != 0
