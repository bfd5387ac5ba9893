"""kvmd's envelope and credentials over a real socket: headers, Basic, the auth_token cookie, logout,
lock-out, revocation, roles and cross-site refusal."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp
from tests.pikvm.conftest import ADMIN


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["ok"] is False and set(body["result"]) == {"error", "error_msg"}, body
    return response.status_code, body["result"]["error"]


def test_no_credentials_401_bad_credentials_403(board: RunningApp) -> None:
    with httpx.Client(base_url=board.url, timeout=30) as anon:
        assert _error(anon.get("/api/auth/check")) == (401, "UnauthorizedError")
        assert _error(anon.get("/api/info", headers={"X-KVMD-User": "admin", "X-KVMD-Passwd": "nope"}))[0] == 403
        assert _error(anon.get("/api/atx", auth=("admin", "wrong")))[0] == 403
        assert _error(anon.get("/api/atx", headers={"Cookie": "auth_token=" + "0" * 64}))[0] == 403


def test_headers_and_basic_without_challenge(board: RunningApp) -> None:
    with httpx.Client(base_url=board.url, timeout=30) as anon:
        answer = anon.get("/api/auth/check", headers=ADMIN)
        assert answer.status_code == 200 and answer.json() == {"ok": True, "result": {}}
        basic = anon.get("/api/auth/check", auth=("admin", "admin"))
        assert basic.status_code == 200
        refused = anon.get("/api/auth/check")
        assert "www-authenticate" not in refused.headers  # kvmd's Basic never challenges


def test_login_form_and_json_cookie_then_logout_revokes(board: RunningApp) -> None:
    for body in ({"data": {"user": "admin", "passwd": "admin"}}, {"json": {"user": "admin", "passwd": "admin"}}):
        with httpx.Client(base_url=board.url, timeout=30) as client:
            login = client.post("/api/auth/login", **body)  # type: ignore[arg-type]
            assert login.status_code == 200 and login.json() == {"ok": True, "result": {}}
            set_cookie = login.headers["set-cookie"].lower()
            assert "auth_token=" in set_cookie and "httponly" in set_cookie and "samesite=strict" in set_cookie
            assert client.get("/api/auth/check").status_code == 200
            token = client.cookies["auth_token"]
            assert client.post("/api/auth/logout").json()["ok"] is True
            # The token is dead, whoever presents it.
            again = httpx.get(f"{board.url}/api/auth/check", headers={"Cookie": f"auth_token={token}"})
            assert again.status_code == 403


def test_wrong_login_403_and_bad_input_400(board: RunningApp) -> None:
    with httpx.Client(base_url=board.url, timeout=30) as client:
        assert _error(client.post("/api/auth/login", data={"user": "admin", "passwd": "x"})) == (403, "ForbiddenError")
        assert _error(client.post("/api/auth/login", json={"user": 5, "passwd": "x"}))[0] == 400


def test_unknown_path_404_envelope(kvmd: httpx.Client) -> None:
    assert _error(kvmd.get("/api/atx/nothing"))[0] == 404
    assert _error(kvmd.get("/api/msd/write"))[0] == 405


def test_lockout_counts_header_failures(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory({"security": {"loginLockoutDuration": 60, "loginMaxFailures": 2}})
    with httpx.Client(base_url=app.url, timeout=30) as client:
        for _ in range(2):
            assert client.get("/api/info", auth=("admin", "bad")).status_code == 403
        locked = client.get("/api/info", auth=("admin", "admin"))
        assert _error(locked) == (403, "ForbiddenError") and "Locked" in locked.json()["result"]["error_msg"]
        # NanoKVM's login is locked out for that client too: one lock-out for both APIs.
        nano = client.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")}).json()
        assert nano["code"] == -5


def test_password_change_revokes_cookie_and_headers(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory()
    nano = app.login()
    with httpx.Client(base_url=app.url, timeout=30) as client:
        client.post("/api/auth/login", data={"user": "admin", "passwd": "admin"}).raise_for_status()
        assert client.get("/api/auth/check").status_code == 200
        assert client.get("/api/auth/check", headers=ADMIN).status_code == 200  # remembered pair
        changed = nano.post(
            "/api/auth/password", json={"password": encrypt("n3w-Passw0rd!"), "currentPassword": encrypt("admin")}
        ).json()
        assert changed["code"] == 0, changed
        assert client.get("/api/auth/check").status_code == 403
        assert client.get("/api/auth/check", headers=ADMIN).status_code == 403
        ok = client.get("/api/auth/check", headers={"X-KVMD-User": "admin", "X-KVMD-Passwd": "n3w-Passw0rd!"})
        assert ok.status_code == 200


def test_viewer_role_reads_but_cannot_act(board: RunningApp) -> None:
    app = board
    nano = app.login()
    created = nano.post(
        "/api/auth/users", json={"username": "watcher", "password": encrypt("Watch3r-pass"), "role": "viewer"}
    ).json()
    assert created["code"] == 0, created
    auth = "Basic " + base64.b64encode(b"watcher:Watch3r-pass").decode()
    with httpx.Client(base_url=app.url, headers={"Authorization": auth}, timeout=30) as viewer:
        assert viewer.get("/api/atx").status_code == 200
        assert _error(viewer.post("/api/atx/click", params={"button": "power"})) == (403, "ForbiddenError")
        assert _error(viewer.post("/api/msd/reset"))[0] == 403
        assert _error(viewer.get("/api/log"))[0] == 403


def test_cross_site_post_refused(kvmd: httpx.Client) -> None:
    refused = kvmd.post("/api/hid/events/send_key", params={"key": "KeyA"}, headers={"Origin": "https://evil.example"})
    assert _error(refused) == (403, "ForbiddenError")
    host = kvmd.base_url.netloc.decode()
    same = kvmd.post("/api/hid/set_connected", params={"connected": 1}, headers={"Origin": f"http://{host}"})
    assert same.status_code == 200


def test_log_follow_and_mjpeg_end_on_revocation(app_factory: Callable[..., RunningApp]) -> None:
    import time

    app = app_factory()
    with httpx.Client(base_url=app.url, timeout=30) as client:
        client.post("/api/auth/login", data={"user": "admin", "passwd": "admin"}).raise_for_status()
        with (
            client.stream("GET", "/api/log", params={"follow": 1}) as log,
            client.stream("GET", "/streamer/stream") as video,
        ):
            assert log.status_code == 200 and video.status_code == 200
            frames = video.iter_bytes()
            next(frames)
            assert app.login().post("/api/auth/logout").json()["code"] == 0  # revokes every admin session
            started = time.monotonic()
            for _ in log.iter_bytes():
                pass  # keep-alive newlines until the end
            for _ in frames:
                pass  # frames until the end
            assert time.monotonic() - started < 3.0  # within a second of the revocation, on a loaded machine
