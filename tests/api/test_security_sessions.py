"""Live sessions (``/api/security/sessions``): each account sees and ends its own; admins everyone's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.api.security_support import Mjpeg, login_body, make_user, ready_admin
from tests.conftest import RunningApp, start_app


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("sessions"))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def admin(kvm: RunningApp) -> httpx.Client:
    client = ready_admin(kvm)
    make_user(client, "sam", "user")
    make_user(client, "vera", "viewer")
    return client


def login(kvm: RunningApp, username: str, agent: str) -> httpx.Client:
    client = kvm.client()
    client.headers["User-Agent"] = agent
    assert client.post("/api/auth/login", json=login_body(username, "password-1")).json()["code"] == 0
    return client


def sessions(client: httpx.Client) -> list[dict[str, object]]:
    answer = client.get("/api/security/sessions").json()
    assert answer["code"] == 0, answer
    found: list[dict[str, object]] = answer["data"]["sessions"]
    return found


def test_each_account_sees_its_own_sessions_with_client_and_address(kvm: RunningApp, admin: httpx.Client) -> None:
    laptop = login(kvm, "sam", "laptop-browser/1.0")
    phone = login(kvm, "sam", "phone-browser/2.0")
    seen = sessions(laptop)
    assert {s["client"] for s in seen} == {"laptop-browser/1.0", "phone-browser/2.0"}
    assert all(s["username"] == "sam" and s["address"] == "127.0.0.1" for s in seen)
    assert [s["current"] for s in seen if s["client"] == "laptop-browser/1.0"] == [True]
    assert all(float(s["started"]) <= float(s["lastSeen"]) <= time.time() + 1 for s in seen)  # type: ignore[arg-type]
    assert sessions(phone)[0]["client"] == "phone-browser/2.0"  # the one seen last comes first
    everyone = {s["username"] for s in sessions(admin)}
    assert {"sam", "admin"} <= everyone
    assert {s["username"] for s in sessions(login(kvm, "vera", "v"))} == {"vera"}


def test_ending_one_session_leaves_the_others(kvm: RunningApp, admin: httpx.Client) -> None:
    first = login(kvm, "sam", "first")
    second = login(kvm, "sam", "second")
    target = next(s for s in sessions(first) if s["client"] == "second")
    assert first.delete(f"/api/security/sessions/{target['id']}").json()["code"] == 0
    assert second.get("/api/auth/account").status_code == 401
    assert first.get("/api/auth/account").status_code == 200
    assert first.delete(f"/api/security/sessions/{target['id']}").json()["code"] == -3


def test_a_user_cannot_end_another_users_session_but_an_admin_can(kvm: RunningApp, admin: httpx.Client) -> None:
    sam = login(kvm, "sam", "sam-tab")
    vera = login(kvm, "vera", "vera-tab")
    sams = next(s for s in sessions(sam) if s["current"])
    assert vera.delete(f"/api/security/sessions/{sams['id']}").json()["code"] == -3
    assert sam.get("/api/auth/account").status_code == 200
    assert admin.delete(f"/api/security/sessions/{sams['id']}").json()["code"] == 0
    assert sam.get("/api/auth/account").status_code == 401


def test_ending_a_session_closes_its_websocket_within_a_second(kvm: RunningApp, admin: httpx.Client) -> None:
    sam = login(kvm, "sam", "socket-tab")
    other = login(kvm, "sam", "bystander-tab")
    own = next(s for s in sessions(sam) if s["current"])
    url = kvm.url.replace("http", "ws") + "/api/ws"

    def cookie(client: httpx.Client) -> dict[str, str]:
        return {"Cookie": f"nano-kvm-token={client.cookies.get('nano-kvm-token')}"}

    with connect(url, additional_headers=cookie(sam)) as ws, connect(url, additional_headers=cookie(other)) as kept:
        ws.recv(timeout=5)
        kept.recv(timeout=5)
        started = time.monotonic()
        assert admin.delete(f"/api/security/sessions/{own['id']}").json()["code"] == 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert time.monotonic() - started < 1.0
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        kept.ping().wait(5)  # the same user's other session is still connected


def test_logout_and_user_changes_remove_sessions_from_the_list(kvm: RunningApp, admin: httpx.Client) -> None:
    make_user(admin, "temp", "user")
    temp = login(kvm, "temp", "temp-tab")
    assert any(s["username"] == "temp" for s in sessions(admin))
    assert temp.post("/api/auth/logout").json()["code"] == 0
    assert not any(s["username"] == "temp" for s in sessions(admin))
    login(kvm, "temp", "again")
    assert admin.delete("/api/auth/users/temp").json()["code"] == 0
    assert not any(s["username"] == "temp" for s in sessions(admin))


def test_hostile_session_ids(kvm: RunningApp, admin: httpx.Client) -> None:
    for sid in ("x" * 2000, "token:abc", "%00", "' OR 1=1"):
        response = admin.delete(f"/api/security/sessions/{sid}")
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            assert response.json()["code"] == -3
    assert admin.get("/api/auth/account").status_code == 200


def test_an_ended_session_stays_ended_across_a_restart_with_a_fixed_secret(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = tmp_path_factory.mktemp("fixed-secret")
    config = {"jwt": {"secretKey": "fixed-secret-for-this-test-0123456789abcdef"}}
    (directory / "a").mkdir()
    app = start_app(directory / "a", config)
    try:
        admin = ready_admin(app)
        make_user(admin, "sam", "user")
        sam = login(app, "sam", "tab")
        token = sam.cookies.get("nano-kvm-token")
        kept = login(app, "sam", "kept").cookies.get("nano-kvm-token")
        own = next(s for s in sessions(sam) if s["current"])
        assert admin.delete(f"/api/security/sessions/{own['id']}").json()["code"] == 0
    finally:
        app.stop()
    (directory / "b").mkdir()
    again = start_app(directory / "b", config, root=app.root)
    try:
        probe = again.client()
        response = probe.get("/api/auth/account", headers={"Cookie": f"nano-kvm-token={token}"})
        assert response.status_code == 401
        # The control: the same user's other session outlives the restart (the secret is fixed).
        response = probe.get("/api/auth/account", headers={"Cookie": f"nano-kvm-token={kept}"})
        assert response.status_code == 200
    finally:
        again.stop()


def test_ending_a_session_ends_its_mjpeg_stream_within_a_second(kvm: RunningApp, admin: httpx.Client) -> None:
    sam = login(kvm, "sam", "stream-tab")
    own = next(s for s in sessions(sam) if s["current"])
    stream = Mjpeg(kvm.url, f"Cookie: nano-kvm-token={sam.cookies.get('nano-kvm-token')}")
    try:
        stream.wait_frames()
        started = time.monotonic()
        assert admin.delete(f"/api/security/sessions/{own['id']}").json()["code"] == 0
        assert stream.seconds_to_end(started) < 1.0
    finally:
        stream.close()


def test_with_authentication_off_the_security_routes_say_so(tmp_path_factory: pytest.TempPathFactory) -> None:
    app = start_app(tmp_path_factory.mktemp("auth-off"), {"authentication": "disable"})
    try:
        client = app.client()
        for method, path in (
            ("GET", "/api/security/sessions"),
            ("GET", "/api/security/tokens"),
            ("POST", "/api/security/tokens"),
            ("POST", "/api/security/totp/enrol"),
        ):
            answer = client.request(method, path, json={"name": "x"} if method == "POST" else None).json()
            assert answer == {"code": -5, "msg": "authentication is disabled", "data": None}, (method, path)
        assert client.get("/api/security/audit").json()["code"] == 0  # admins (everyone, here) read it
    finally:
        app.stop()
