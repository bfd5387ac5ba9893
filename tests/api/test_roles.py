"""Roles over the real socket: viewer < user < admin (spec 2.8 plus our viewer).

A refusal is HTTP 403 with the JSON body ``"forbidden"``, and it must come before anything happens:
no button press, no change to the account store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import ButtonWatch, RunningApp, start_app

POWER_BUTTON = "/sys/class/gpio/gpio503/value"
RESET_BUTTON = "/sys/class/gpio/gpio507/value"  # Alpha hardware, the sim board's default
ADMIN_ONLY = [
    ("GET", "/api/auth/users", None),
    ("POST", "/api/auth/users", {"username": "mallory", "password": encrypt("password-1"), "role": "admin"}),
    ("PUT", "/api/auth/users/admin", {"enabled": False}),
    ("PUT", "/api/auth/users/vera", {"role": "admin"}),
    ("DELETE", "/api/auth/users/ursula", None),
    ("POST", "/api/auth/users/ursula/password", {"password": encrypt("password-2")}),
]
READABLE_BY_ALL = ["/api/vm/gpio", "/api/vm/gpio/led", "/api/vm/info", "/api/vm/hardware", "/api/auth/account"]


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("roles"))
    admin = app.login()
    for name, role in (("vera", "viewer"), ("ursula", "user")):
        body = {"username": name, "password": encrypt("password-1"), "role": role}
        assert admin.post("/api/auth/users", json=body).json()["code"] == 0
    yield app
    app.stop()


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.content == b'"forbidden"'
    assert response.headers["content-type"].startswith("application/json")


def test_viewer_reads_state(board: RunningApp) -> None:
    viewer = board.login("vera", "password-1")
    for path in READABLE_BY_ALL:
        response = viewer.get(path)
        assert response.status_code == 200, path
        assert response.json()["code"] == 0, path
    assert viewer.get("/api/auth/account").json()["data"] == {"username": "vera", "role": "viewer"}
    assert set(viewer.get("/api/vm/gpio").json()["data"]) == {"pwr", "hdd"}
    assert viewer.get("/api/vm/hardware").json()["data"] == {"version": "Alpha"}
    info = viewer.get("/api/vm/info").json()["data"]
    assert set(info) == {"ips", "mdns", "image", "application", "deviceKey"}


def test_viewer_cannot_press_power(board: RunningApp) -> None:
    viewer = board.login("vera", "password-1")
    leds_before = viewer.get("/api/vm/gpio").json()["data"]
    with ButtonWatch(board.path(POWER_BUTTON)) as power, ButtonWatch(board.path(RESET_BUTTON)) as reset:
        for body in ({"type": "power", "duration": 300}, {"type": "reset", "duration": 300}, {}, {"type": "x"}):
            assert_forbidden(viewer.post("/api/vm/gpio", json=body))
        time.sleep(0.1)
    assert not power.pressed and not reset.pressed
    assert viewer.get("/api/vm/gpio").json()["data"]["pwr"] == leds_before["pwr"]
    assert viewer.get("/api/auth/account").status_code == 200  # a refusal does not end the session


def test_viewer_and_user_cannot_administer_users(board: RunningApp) -> None:
    before = board.path("/etc/kvm/pwd").read_bytes()
    for name in ("vera", "ursula"):
        client = board.login(name, "password-1")
        for method, path, body in ADMIN_ONLY:
            assert_forbidden(client.request(method, path, json=body))
    assert board.path("/etc/kvm/pwd").read_bytes() == before


def test_user_presses_power(board: RunningApp) -> None:
    user = board.login("ursula", "password-1")
    assert_forbidden(user.get("/api/auth/users"))
    was_on = user.get("/api/vm/gpio").json()["data"]["pwr"]
    with ButtonWatch(board.path(POWER_BUTTON)) as power:
        answer = user.post("/api/vm/gpio", json={"type": "power", "duration": 200})
    assert answer.json() == {"code": 0, "msg": "success", "data": None}
    assert power.pressed, "the power button line never went to 1"
    assert board.path(POWER_BUTTON).read_text().strip() == "0"
    if not was_on:  # off -> on at once (booting counts as lit)
        deadline = time.monotonic() + 3
        while not user.get("/api/vm/gpio").json()["data"]["pwr"]:
            assert time.monotonic() < deadline, "the press by a user did not power the host on"
            time.sleep(0.05)


def test_admin_can_do_both(board: RunningApp) -> None:
    admin = board.login()
    listed = admin.get("/api/auth/users").json()["data"]["users"]
    roles = {u["username"]: u["role"] for u in listed}
    assert {name: roles.get(name) for name in ("admin", "vera", "ursula")} == {
        "admin": "admin",
        "vera": "viewer",
        "ursula": "user",
    }
    assert admin.post("/api/vm/gpio", json={"type": "reset", "duration": 100}).json()["code"] == 0


def test_promoted_viewer_gets_the_new_role_on_next_login(board: RunningApp) -> None:
    admin = board.login()
    body = {"username": "val", "password": encrypt("password-1"), "role": "viewer"}
    assert admin.post("/api/auth/users", json=body).json()["code"] == 0
    val = board.login("val", "password-1")
    assert_forbidden(val.post("/api/vm/gpio", json={"type": "reset", "duration": 100}))
    assert admin.put("/api/auth/users/val", json={"role": "user"}).json()["code"] == 0
    assert val.post("/api/vm/gpio", json={"type": "reset", "duration": 100}).status_code == 401  # session ended
    val = board.login("val", "password-1")
    assert val.post("/api/vm/gpio", json={"type": "reset", "duration": 100}).json()["code"] == 0
