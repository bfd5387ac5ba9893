"""Device settings on the sim board: every change lands in the sandbox, nothing runs on this machine."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import RunningApp


def code(answer: httpx.Response) -> int:
    assert answer.status_code == 200
    return int(answer.json()["code"])


def test_hostname(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.get("/api/vm/hostname").json()["data"] == {"hostname": "kvm-sim"}
    assert code(admin.post("/api/vm/hostname", json={"hostname": "rack-7"})) == 0
    assert admin.get("/api/vm/hostname").json()["data"] == {"hostname": "rack-7"}
    assert kvm.path("/etc/hostname").read_text() == "rack-7\n"
    assert kvm.path("/boot/hostname").read_text() == "rack-7\n"
    assert "rack-7" in kvm.path("/etc/hosts").read_text() and "kvm-sim" not in kvm.path("/etc/hosts").read_text()


@pytest.mark.parametrize(
    "name", ["bad\nname", "x;reboot", "$(reboot)", "a b", "-lead", "trail-", "", "x" * 64, "y" * 10_000, "../x"]
)
def test_bad_hostnames_are_refused(kvm: RunningApp, name: str) -> None:
    admin = kvm.login()
    before = kvm.path("/etc/hostname").read_bytes()
    assert code(admin.post("/api/vm/hostname", json={"hostname": name})) == -1
    assert kvm.path("/etc/hostname").read_bytes() == before


def test_web_title_quirks(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.get("/api/vm/web-title").json() == {"code": -1, "msg": "read web title failed", "data": None}
    assert code(admin.post("/api/vm/web-title", json={"title": ""})) == -2  # resetting an unset title fails
    assert code(admin.post("/api/vm/web-title", json={"title": "Lab KVM"})) == 0
    assert admin.get("/api/vm/web-title").json()["data"] == {"title": "Lab KVM"}
    assert code(admin.post("/api/vm/web-title", json={"title": "line\nbreak"})) == -1
    assert code(admin.post("/api/vm/web-title", json={"title": "t" * 10_000})) == -1
    assert code(admin.post("/api/vm/web-title", json={"title": "NanoKVM"})) == 0  # the default: file removed
    assert not kvm.path("/etc/kvm/web-title").exists()


def test_ssh_mdns_oled_wifi_tailscale(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.get("/api/vm/ssh").json()["data"] == {"enabled": False}  # off until the owner says so
    assert code(admin.post("/api/vm/ssh/enable")) == 0
    assert admin.get("/api/vm/ssh").json()["data"] == {"enabled": True}
    assert not kvm.path("/etc/kvm/ssh_stop").exists()
    assert code(admin.post("/api/vm/ssh/disable")) == 0
    assert kvm.path("/etc/kvm/ssh_stop").exists()
    assert code(admin.post("/api/vm/mdns/enable")) == 0
    assert admin.get("/api/vm/mdns").json()["data"] == {"enabled": True}
    assert admin.get("/api/vm/info").json()["data"]["mdns"] == "kvm-sim.local"
    assert code(admin.post("/api/vm/mdns/disable")) == 0
    assert admin.get("/api/vm/info").json()["data"]["mdns"] == ""
    assert admin.get("/api/vm/oled").json()["data"] == {"exist": False, "sleep": 0}
    assert code(admin.post("/api/vm/oled", json={"sleep": 60})) == 0
    assert code(admin.post("/api/vm/oled", json={"sleep": -1})) == -1
    assert admin.get("/api/vm/oled").json()["data"] == {"exist": False, "sleep": 60}
    assert admin.get("/api/network/wifi").json()["data"] == {
        "supported": False,
        "apMode": False,
        "connected": False,
        "ssid": "Wi-Fi",
    }
    assert admin.get("/api/extensions/tailscale/status").json()["data"] == {
        "state": "notInstall",
        "name": "",
        "ip": "",
        "account": "",
    }


def test_reboot_restarts_the_sim_host_not_this_machine(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert code(admin.post("/api/vm/gpio", json={"type": "power", "duration": 50})) == 0
    deadline = time.monotonic() + 5
    while admin.get("/api/sim/host").json()["data"]["power"] != "on":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert code(admin.post("/api/vm/system/reboot")) == 0
    deadline = time.monotonic() + 3
    while admin.get("/api/sim/host").json()["data"]["power"] != "booting":
        assert time.monotonic() < deadline, "the sim host did not restart"
        time.sleep(0.05)
    assert kvm.process.poll() is None  # the app (and this test) still run: nothing was executed


def test_settings_need_admin(kvm: RunningApp) -> None:
    admin = kvm.login()
    from app.services.auth.transport import encrypt

    assert (
        code(admin.post("/api/auth/users", json={"username": "op", "password": encrypt("op-password"), "role": "user"}))
        == 0
    )
    user = kvm.login("op", "op-password")
    assert user.get("/api/vm/hostname").json()["code"] == 0
    for path in (
        "/api/vm/ssh",
        "/api/vm/mdns",
        "/api/vm/oled",
        "/api/network/wifi",
        "/api/extensions/tailscale/status",
    ):
        assert user.get(path).status_code == 403
    assert user.post("/api/vm/system/reboot").status_code == 403
    assert user.post("/api/vm/hostname", json={"hostname": "x"}).status_code == 403
