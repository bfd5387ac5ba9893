"""The default password is enforced by the server (issue 13, finding 5): while the account still has
admin/admin (``isUpdated: false``) it can log in, read its account (and the device identity clients
read to log in) and change its password; anything else is refused with 403 and an envelope that says
what to do."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app.services.auth.transport import encrypt
from tests.conftest import ButtonWatch, RunningApp

POWER_BUTTON = "/sys/class/gpio/gpio503/value"
REFUSED = [
    ("GET", "/api/auth/users", None),
    ("POST", "/api/auth/users", {"username": "eve", "password": encrypt("password-1"), "role": "admin"}),
    ("POST", "/api/vm/gpio", {"type": "power", "duration": 100}),
    ("GET", "/api/vm/gpio", None),
    ("GET", "/api/stream/mjpeg", None),
    ("POST", "/api/vm/hostname", {"hostname": "owned"}),
    ("GET", "/api/storage/image", None),
]


@pytest.fixture
def fresh(app_factory: Callable[..., RunningApp]) -> RunningApp:
    return app_factory(first_boot=True)


def test_the_default_password_opens_only_the_password_change(fresh: RunningApp) -> None:
    admin = fresh.login("admin", "admin")  # logging in works
    assert admin.get("/api/auth/account").json()["data"] == {"username": "admin", "role": "admin"}
    assert admin.get("/api/auth/password").json()["data"] == {"isUpdated": False}
    assert admin.get("/api/vm/hardware").json()["code"] == 0
    for method, path, body in REFUSED:
        answer = admin.request(method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.status_code, answer.text[:200])
        envelope = answer.json()
        assert envelope["code"] < 0 and "password change required" in envelope["msg"], envelope
        assert "POST /api/auth/password" in envelope["msg"]
    cookie = admin.cookies.get("nano-kvm-token")
    with pytest.raises(InvalidStatus):
        connect(fresh.url.replace("http", "ws") + "/api/ws", additional_headers={"Cookie": f"nano-kvm-token={cookie}"})


def test_after_the_change_everything_opens(fresh: RunningApp) -> None:
    admin = fresh.login("admin", "admin")
    body = {"currentPassword": encrypt("admin"), "password": encrypt("a-new-password")}
    assert admin.post("/api/auth/password", json=body).json()["code"] == 0
    again = fresh.login("admin", "a-new-password")
    assert again.get("/api/auth/password").json()["data"] == {"isUpdated": True}
    assert again.get("/api/auth/users").json()["code"] == 0
    assert again.get("/api/vm/gpio").json()["code"] == 0


def test_a_power_press_with_the_default_password_presses_nothing(fresh: RunningApp) -> None:
    admin = fresh.login("admin", "admin")
    with ButtonWatch(fresh.path(POWER_BUTTON)) as watch:
        answer = admin.post("/api/vm/gpio", json={"type": "power", "duration": 300})
    assert answer.status_code == 403 and not watch.pressed


def test_logout_works_with_the_default_password(fresh: RunningApp) -> None:
    admin = fresh.login("admin", "admin")
    assert admin.post("/api/auth/logout").json()["code"] == 0
    assert httpx.get(f"{fresh.url}/api/auth/account", cookies=admin.cookies).status_code == 401


def test_the_pikvm_api_is_closed_too_until_the_change(fresh: RunningApp) -> None:
    """kvmd's credentials (HTTP Basic here) reach the same accounts: the same rule."""
    answer = httpx.post(f"{fresh.url}/api/atx/power?action=on", auth=("admin", "admin"))
    assert answer.status_code == 403 and "password change required" in answer.text, answer.text
