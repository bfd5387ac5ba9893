"""``GET /api/vm/screen`` (ours): the screen settings in use, read back over a real socket."""

from __future__ import annotations

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

DEFAULTS = {"type": "mjpeg", "resolution": 0, "quality": 80, "fps": 30, "bitrate": 3000, "gop": 30}


def test_defaults_then_what_was_set(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.get("/api/vm/screen").json() == {"code": 0, "msg": "success", "data": DEFAULTS}
    for kind, value in (("resolution", 720), ("quality", 60), ("fps", 15), ("quality", 2000), ("gop", 50)):
        assert admin.post("/api/vm/screen", json={"type": kind, "value": value}).json()["code"] == 0
    state = admin.get("/api/vm/screen").json()["data"]
    assert state == {"type": "mjpeg", "resolution": 720, "quality": 60, "fps": 15, "bitrate": 2000, "gop": 50}


def test_what_is_read_back_is_what_is_applied(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.post("/api/vm/screen", json={"type": "fps", "value": 500}).json()["code"] == 0
    assert admin.post("/api/vm/screen", json={"type": "resolution", "value": 1234}).json()["code"] == -1
    state = admin.get("/api/vm/screen").json()["data"]
    assert state["fps"] == 60  # clamped, as the stream uses it
    assert state["resolution"] == 0  # a refused value changes nothing
    assert kvm.path("/kvmapp/kvm/fps").read_text() == "60"


def test_a_viewer_reads_but_cannot_change(kvm: RunningApp) -> None:
    admin = kvm.login()
    body = {"username": "vera", "password": encrypt("password-1"), "role": "viewer"}
    assert admin.post("/api/auth/users", json=body).json()["code"] == 0
    viewer = kvm.login("vera", "password-1")
    assert viewer.get("/api/vm/screen").json()["data"] == DEFAULTS
    refused = viewer.post("/api/vm/screen", json={"type": "fps", "value": 10})
    assert refused.status_code == 403
    assert admin.get("/api/vm/screen").json()["data"]["fps"] == 30
    assert kvm.client().get("/api/vm/screen").status_code == 401
