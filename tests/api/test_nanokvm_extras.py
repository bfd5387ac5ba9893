"""NanoKVM's newer routes: input region and resolution, the internal USB recover, AI control, PicoClaw."""

from __future__ import annotations

import httpx

from tests.conftest import RunningApp


def test_input_region(kvm: RunningApp) -> None:
    admin = kvm.login()
    empty = {
        "mode": "off",
        "frameWidth": 0,
        "frameHeight": 0,
        "left": 0,
        "top": 0,
        "width": 0,
        "height": 0,
        "resolutions": [],
        "selectedResolution": "",
        "regions": [],
        "selectedRegion": "",
    }
    assert admin.get("/api/vm/input-region").json() == {"code": 0, "msg": "success", "data": empty}
    manual = {"mode": "manual", "frameWidth": 1920, "frameHeight": 1080, "left": 240, "top": 0, "width": 1440}
    assert admin.post("/api/vm/input-region", json={**manual, "height": 1080}).json()["code"] == 0
    got = admin.get("/api/vm/input-region").json()["data"]
    assert (got["mode"], got["left"], got["width"], got["height"]) == ("manual", 240, 1440, 1080)
    sizes = {"mode": "auto", "resolutions": [{"width": 1280, "height": 720}], "selectedResolution": "1280x720"}
    assert admin.post("/api/vm/input-region", json=sizes).json()["code"] == 0
    got = admin.get("/api/vm/input-region").json()["data"]
    assert got["mode"] == "auto" and got["left"] == 240 and got["selectedResolution"] == "1280x720"
    for bad in (
        {**manual, "height": 1081},  # outside the frame
        {**manual},  # incomplete
        {"mode": "sideways"},
        {"mode": "auto", "selectedResolution": "1x1"},
        {"mode": "auto", "resolutions": [{"width": 0, "height": 1}]},
    ):
        assert admin.post("/api/vm/input-region", json=bad).json()["code"] == -1, bad
    assert kvm.path("/etc/kvm/input-region.json").exists()
    assert admin.get("/api/vm/input-resolution").json() == {
        "code": 0,
        "msg": "success",
        "data": {"width": 1920, "height": 1080},  # the sim screen's size
    }
    assert kvm.client().get("/api/vm/input-region").status_code == 401


def test_usb_recover_is_loopback_with_the_internal_token(kvm: RunningApp) -> None:
    token = kvm.path("/etc/kvm/.picoclaw_internal_token").read_text().strip()
    assert len(token) >= 32 and kvm.path("/etc/kvm/.picoclaw_internal_token").stat().st_mode & 0o077 == 0
    for path in ("/api/internal/usb/recover", "/api/hid/internal/usb/recover"):
        refused = httpx.post(kvm.url + path, headers={"X-NanoKVM-Internal-Token": "wrong" * 10})
        assert (refused.status_code, refused.content) == (401, b'"unauthorized"')
        assert httpx.post(kvm.url + path).status_code == 401
        done = httpx.post(kvm.url + path, headers={"X-NanoKVM-Internal-Token": token})
        assert done.json() == {"code": 0, "msg": "success", "data": None}


def test_ai_control_mode_and_picoclaw(kvm: RunningApp) -> None:
    admin = kvm.login()
    status = admin.get("/api/ai/control/status").json()
    assert status["code"] == 0 and status["data"]["mode"] == "off" and status["data"]["transitioning"] is False
    refused = admin.put("/api/ai/control/mode", json={"mode": "picoclaw"}).json()
    assert refused == {"code": -2, "message": "PicoClaw cannot be installed on this firmware"}
    assert admin.put("/api/ai/control/mode", json={"mode": "robot"}).json() == {
        "code": -1,
        "message": "invalid control mode",
    }
    assert admin.put("/api/ai/control/mode", content=b"{").json() == {"code": -1, "message": "invalid arguments"}
    assert admin.put("/api/ai/control/mode", json={"mode": "mcp"}).json()["data"]["mode"] == "mcp"
    assert kvm.path("/etc/kvm/ai-control.mode").read_text() == "mcp\n"
    runtime = admin.get("/api/picoclaw/runtime/status").json()
    assert runtime["code"] == 0 and runtime["data"]["installed"] is False
    assert runtime["data"]["status"] == "not_installed" and "cannot be installed" in runtime["data"]["last_error"]
    install = admin.post("/api/picoclaw/runtime/install").json()
    assert install["code"] == "RUNTIME_UNAVAILABLE" and "cannot be installed" in install["message"]
    assert admin.get("/api/picoclaw/sessions").json() == {"code": 0, "msg": "success", "data": []}
    assert admin.get("/api/picoclaw/sessions/x").status_code == 404
    assert admin.post("/api/picoclaw/runtime/stop").json()["data"]["started"] is False
    # A user (not an admin) gets none of it.
    form = {"username": "op", "password": "", "role": "user"}
    from app.services.auth.transport import encrypt

    form["password"] = encrypt("op-password")
    assert admin.post("/api/auth/users", json=form).json()["code"] == 0
    user = kvm.login("op", "op-password")
    for path in ("/api/ai/control/status", "/api/mcp/config", "/api/picoclaw/runtime/status"):
        assert user.get(path).status_code == 403
