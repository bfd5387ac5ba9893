"""The sim PC sees its disks: a mounted ISO's volume label (its console lists the drive)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from app.services.media.iso import make_iso
from tests.conftest import RunningApp


def pc(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get("/api/sim/host").json()["data"])


def test_the_sim_pc_sees_the_mounted_iso(kvm: RunningApp) -> None:
    admin = kvm.login()
    kvm.path("/data/ubuntu.iso").write_bytes(make_iso("UBUNTU_24_04"))
    assert admin.post("/api/vm/gpio", json={"type": "power", "duration": 50}).json()["code"] == 0
    assert admin.post("/api/storage/image/mount", json={"file": "/data/ubuntu.iso", "cdrom": True}).json()["code"] == 0
    deadline = time.monotonic() + 5
    while (pc(admin).get("usb") or {}).get("label") != "UBUNTU_24_04":
        assert time.monotonic() < deadline, pc(admin)
        time.sleep(0.1)
    assert pc(admin)["usb"]["disk"] == "cdrom"
    assert admin.post("/api/storage/image/mount", json={}).json()["code"] == 0
    deadline = time.monotonic() + 5
    while (pc(admin).get("usb") or {}).get("label") is not None:
        assert time.monotonic() < deadline, pc(admin)
        time.sleep(0.1)
