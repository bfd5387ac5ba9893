"""Swap, memory limit and HTTPS on the sim board: every change lands in the sandbox, nothing runs here."""

from __future__ import annotations

import ssl
import stat

import httpx
import pytest
import yaml

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

MIB = 1 << 20


def answer(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_swap(kvm: RunningApp) -> None:
    admin = kvm.login()
    swapfile, inittab = kvm.path("/swapfile"), kvm.path("/etc/inittab")
    assert answer(admin.get("/api/vm/swap")) == {"code": 0, "msg": "success", "data": {"size": 0}}
    assert answer(admin.post("/api/vm/swap", json={"size": 64}))["code"] == 0
    assert answer(admin.get("/api/vm/swap"))["data"] == {"size": 64}
    assert swapfile.stat().st_size == 64 * MIB
    assert swapfile.stat().st_blocks * 512 < MIB  # sparse: the sim does not fill the disk
    assert stat.S_IMODE(swapfile.stat().st_mode) == 0o600
    assert inittab.read_text().splitlines() == ["si11::sysinit:/sbin/swapon /swapfile"]
    assert "/swapfile" in kvm.path("/proc/swaps").read_text()

    assert answer(admin.post("/api/vm/swap", json={"SIZE": 128}))["code"] == 0  # resized, one inittab line
    assert swapfile.stat().st_size == 128 * MIB
    assert inittab.read_text().count("swapon /swapfile") == 1
    assert answer(admin.post("/api/vm/swap", json={"size": 128}))["code"] == 0  # unchanged: nothing to do

    assert answer(admin.post("/api/vm/swap", json={"size": 0}))["code"] == 0
    assert not swapfile.exists()
    assert "swapfile" not in inittab.read_text()
    assert "/swapfile" not in kvm.path("/proc/swaps").read_text()
    assert answer(admin.get("/api/vm/swap"))["data"] == {"size": 0}


@pytest.mark.parametrize("body", [{"size": -1}, {"size": 10**9}, {"size": "64"}, {"size": 1.5}, {}, {"size": None}])
def test_bad_swap_sizes_are_refused(kvm: RunningApp, body: dict[str, object]) -> None:
    admin = kvm.login()
    assert answer(admin.post("/api/vm/swap", json=body))["code"] == -1
    assert not kvm.path("/swapfile").exists() and not kvm.path("/etc/inittab").exists()


def test_memory_limit(kvm: RunningApp) -> None:
    admin = kvm.login()
    path = kvm.path("/etc/kvm/GOMEMLIMIT")
    assert answer(admin.get("/api/vm/memory/limit"))["data"] == {"enabled": False, "limit": 0}
    assert answer(admin.post("/api/vm/memory/limit", json={"enabled": True, "limit": 128}))["code"] == 0
    assert path.read_text() == "128"  # NanoKVM's format: decimal MB
    assert answer(admin.get("/api/vm/memory/limit"))["data"] == {"enabled": True, "limit": 128}
    for bad in ({"enabled": True, "limit": 0}, {"enabled": True, "limit": -5}, {"enabled": "yes"}, {"limit": 64}):
        assert answer(admin.post("/api/vm/memory/limit", json=bad))["code"] == -1, bad
    assert path.read_text() == "128"
    assert answer(admin.post("/api/vm/memory/limit", json={"enabled": False}))["code"] == 0
    assert not path.exists()
    assert answer(admin.post("/api/vm/memory/limit", json={"enabled": False}))["code"] == 0  # already off
    path.write_text("lots")
    assert answer(admin.get("/api/vm/memory/limit")) == {"code": -1, "msg": "failed to get memory limit", "data": None}


def test_tls(kvm: RunningApp) -> None:
    admin = kvm.login()
    # The sim board edits its device root's /etc/kvm/server.yaml (a board: the one it was started with).
    config = kvm.path("/etc/kvm/server.yaml")
    crt, key = kvm.path("/etc/kvm/server.crt"), kvm.path("/etc/kvm/server.key")
    enabled = answer(admin.post("/api/vm/tls", json={"enabled": True}))
    assert enabled["code"] == 0 and "restart" in str(enabled["msg"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(crt, key)  # a matching, loadable pair
    decoded = ssl._ssl._test_decode_cert(str(crt))  # type: ignore[attr-defined]
    assert ("DNS", "localhost") in decoded["subjectAltName"] and ("DNS", "kvm-sim") in decoded["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in decoded["subjectAltName"]
    data = yaml.safe_load(config.read_text())
    assert data["proto"] == "https" and data["cert"] == {"crt": str(crt), "key": str(key)}

    first = crt.read_bytes()
    assert answer(admin.post("/api/vm/tls", json={"Enabled": True}))["code"] == 0
    assert crt.read_bytes() == first  # re-enabling keeps the certificate browsers were told to trust
    assert answer(admin.post("/api/vm/tls", json={"enabled": False}))["code"] == 0
    assert yaml.safe_load(config.read_text())["proto"] == "http"
    assert kvm.process.poll() is None  # the sim board does not restart (nor run anything)
    assert answer(admin.get("/api/vm/swap"))["code"] == 0

    before = config.read_bytes()
    for bad in ({"enabled": "yes"}, {}, {"enabled": None}):
        assert answer(admin.post("/api/vm/tls", json=bad))["code"] == -1, bad
    assert answer(admin.post("/api/vm/tls", content=b"x" * 10_000))["code"] == -1
    assert config.read_bytes() == before


def test_tls_keeps_comments_of_an_existing_config(kvm: RunningApp) -> None:
    admin = kvm.login()
    config = kvm.path("/etc/kvm/server.yaml")
    config.write_text("# mine\nproto: http  # scheme\nport:\n    http: 80\n    https: 443\nlogger:\n    level: info\n")
    assert answer(admin.post("/api/vm/tls", json={"enabled": True}))["code"] == 0
    text = config.read_text()
    assert text.startswith("# mine\nproto: https  # scheme\n")
    data = yaml.safe_load(text)
    assert data["port"] == {"http": 80, "https": 443} and data["logger"] == {"level": "info"}
    assert data["cert"]["crt"].endswith("/etc/kvm/server.crt")


def test_board_settings_need_admin(kvm: RunningApp) -> None:
    admin = kvm.login()
    created = admin.post("/api/auth/users", json={"username": "op", "password": encrypt("op-password"), "role": "user"})
    assert answer(created)["code"] == 0
    user = kvm.login("op", "op-password")
    assert user.get("/api/vm/swap").status_code == 403
    assert user.post("/api/vm/swap", json={"size": 64}).status_code == 403
    assert user.get("/api/vm/memory/limit").status_code == 403
    assert user.post("/api/vm/memory/limit", json={"enabled": True, "limit": 64}).status_code == 403
    assert user.post("/api/vm/tls", json={"enabled": True}).status_code == 403
    assert kvm.client().post("/api/vm/tls", json={"enabled": True}).status_code == 401
    assert not kvm.path("/swapfile").exists() and not kvm.path("/etc/kvm/server.crt").exists()
