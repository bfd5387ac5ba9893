"""VNC's VeNCrypt Plain login honours per-user TOTP (the code appended to the password, as VNC
cannot prompt), and a VNC login is a session like any other: listed, and ended from the list."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.api.security_support import enrol_totp, make_user, ready_admin, totp
from tests.conftest import RunningApp, free_port, start_app
from tests.vnc.rfb import JPEG_QUALITY_8, RAW, TIGHT, Refused, RfbClient


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, int]]:
    port = free_port()
    app = start_app(tmp_path_factory.mktemp("vnc-totp"), {"vnc": {"enabled": True, "port": port}})
    try:
        yield app, port
    finally:
        app.stop()


def vnc_login(app: RunningApp, port: int, username: str, password: str) -> RfbClient:
    client = RfbClient(port)
    client.login_vencrypt(username, password, cafile=str(app.path("/etc/kvm/server.crt")))
    return client


def test_totp_account_needs_its_code_over_vnc_and_the_session_can_be_ended(board: tuple[RunningApp, int]) -> None:
    app, port = board
    admin: httpx.Client = ready_admin(app)
    make_user(admin, "vick", "user")
    secret, _ = enrol_totp(app.login("vick", "password-1"))
    refused = RfbClient(port)
    with pytest.raises(Refused, match="invalid username or password"):
        refused.login_vencrypt("vick", "password-1", cafile=str(app.path("/etc/kvm/server.crt")))
    refused.close()

    client = vnc_login(app, port, "vick", "password-1" + totp(secret, step_offset=1))
    try:
        client.init([TIGHT, JPEG_QUALITY_8, RAW])
        client.request()
        client.update()
        listed = admin.get("/api/security/sessions").json()["data"]["sessions"]
        vnc = next(s for s in listed if s["username"] == "vick" and s["client"] == "VNC")
        closed = threading.Event()

        def drain() -> None:
            try:
                while True:
                    client.request(incremental=True)
                    client.update()
            except (OSError, ConnectionError, AssertionError):
                closed.set()

        threading.Thread(target=drain, daemon=True).start()
        assert admin.delete(f"/api/security/sessions/{vnc['id']}").json()["code"] == 0
        assert closed.wait(5), "the VNC connection outlived its ended session"
    finally:
        client.close()
