"""Image library, mount/unmount, delete and the virtual device toggles, over HTTP (spec 4.5, 7.4, 7.5).

Each operation is checked against the configfs tree the sim board's gadget manager built, byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.services.media.iso import make_iso
from tests.conftest import RunningApp, start_app

G0 = "/sys/kernel/config/usb_gadget/g0"
LUN = f"{G0}/functions/mass_storage.disk0/lun.0"
CD = b"NanoKVM USB CD/DVD-ROM  0520"
DISK = b"NanoKVM USB Mass Storage0520"


def lun(kvm: RunningApp) -> dict[str, bytes]:
    return {name: kvm.path(f"{LUN}/{name}").read_bytes() for name in ("file", "ro", "cdrom", "inquiry_string")}


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error(response: httpx.Response) -> tuple[int, str]:
    body = answer(response)
    assert body["data"] is None
    return body["code"], body["msg"]


@pytest.fixture
def images(kvm: RunningApp) -> RunningApp:
    data = kvm.path("/data")
    (data / "a.iso").write_bytes(make_iso("ALPHA"))
    (data / "sub/deeper").mkdir(parents=True)
    (data / "sub/B.ISO").write_bytes(make_iso("BETA"))
    (data / "sub/deeper/disk.img").write_bytes(b"\0" * 4096)
    (data / "notes.txt").write_text("not an image")
    (data / "link.iso").symlink_to(data / "a.iso")
    outside = kvm.path("/etc/secret.iso")
    outside.write_bytes(b"secret")
    (data / "out.iso").symlink_to(outside)
    (kvm.path("/etc") / "outdir").mkdir()
    (kvm.path("/etc/outdir") / "c.iso").write_bytes(b"x")
    (data / "outdir").symlink_to(kvm.path("/etc/outdir"))
    return kvm


def test_list_is_null_without_images_then_full_paths(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert answer(admin.get("/api/storage/image")) == {"code": 0, "msg": "success", "data": {"files": None}}
    data = kvm.path("/data")
    (data / "z.img").write_bytes(b"z")
    (data / "dir").mkdir()
    (data / "dir/m.Iso").write_bytes(b"m")
    (data / ".nanokvm-upload-x").write_bytes(b"partial")  # a temp file is never listed
    files = answer(admin.get("/api/storage/image"))["data"]["files"]
    assert files == ["/data/dir/m.Iso", "/data/z.img"]


def test_list_walks_subdirectories_and_skips_symlinks_out(images: RunningApp) -> None:
    admin = images.login()
    files = answer(admin.get("/api/storage/image"))["data"]["files"]
    assert files == ["/data/a.iso", "/data/link.iso", "/data/sub/B.ISO", "/data/sub/deeper/disk.img"]


def test_initial_gadget_and_nothing_mounted(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert lun(kvm) == {"file": b"/dev/mmcblk0p3\n", "ro": b"0\n", "cdrom": b"0\n", "inquiry_string": DISK + b"\n"}
    assert answer(admin.get("/api/storage/image/mounted"))["data"] == {"file": ""}
    assert answer(admin.get("/api/storage/images/mounted"))["data"] == {"file": ""}
    assert answer(admin.get("/api/storage/cdrom")) == {"code": 0, "msg": "success", "data": {"cdrom": 0}}
    assert answer(admin.get("/api/hid/mode"))["data"] == {"mode": "normal"}


def test_mount_cdrom_then_flash_then_unmount(images: RunningApp) -> None:
    admin = images.login()
    kvm = images
    udc = kvm.path(f"{G0}/UDC")
    udc.write_bytes(b"\n")  # unbound: the mount must bind it again
    assert answer(admin.post("/api/storage/image/mount", json={"file": "/data/a.iso", "cdrom": True}))["code"] == 0
    assert lun(kvm) == {"file": b"/data/a.iso", "ro": b"1", "cdrom": b"1", "inquiry_string": CD}
    assert udc.read_bytes() == b"sim-udc\n"
    assert answer(admin.get("/api/storage/image/mounted"))["data"] == {"file": "/data/a.iso"}
    assert answer(admin.get("/api/storage/images/mounted"))["data"] == {"file": "/data/a.iso"}
    assert answer(admin.get("/api/storage/cdrom"))["data"] == {"cdrom": 1}

    # A flash mount leaves ro/cdrom as they were (quirk 15); keys are case-insensitive.
    assert answer(admin.post("/api/storage/image/mount", json={"FILE": "/data/sub/B.ISO"}))["code"] == 0
    assert lun(kvm) == {"file": b"/data/sub/B.ISO", "ro": b"1", "cdrom": b"1", "inquiry_string": DISK}

    # {} unmounts (the nanokvm client), as does file "".
    assert answer(admin.post("/api/storage/image/mount", json={}))["code"] == 0
    assert lun(kvm) == {"file": b"/dev/mmcblk0p3", "ro": b"0", "cdrom": b"0", "inquiry_string": DISK}
    assert answer(admin.get("/api/storage/image/mounted"))["data"] == {"file": ""}
    assert answer(admin.post("/api/storage/image/mount", json={"file": "/data/sub/deeper/disk.img"}))["code"] == 0
    assert lun(kvm)["file"] == b"/data/sub/deeper/disk.img"
    assert answer(admin.post("/api/storage/image/mount", json={"file": "", "cdrom": True}))["code"] == 0
    assert lun(kvm) == {"file": b"/dev/mmcblk0p3", "ro": b"0", "cdrom": b"0", "inquiry_string": CD}


def test_mount_through_a_symlink_inside_data_gives_the_real_path(images: RunningApp) -> None:
    admin = images.login()
    assert answer(admin.post("/api/storage/image/mount", json={"file": "/data/link.iso", "cdrom": True}))["code"] == 0
    assert lun(images)["file"] == b"/data/a.iso"


@pytest.mark.parametrize(
    "file",
    [
        "/data/../etc/secret.iso",
        "/data/sub/../../etc/secret.iso",
        "/etc/secret.iso",
        "data/a.iso",
        "../data/a.iso",
        "/data/out.iso",  # a symlink out of /data
        "/data/outdir/c.iso",  # through a symlinked directory
        "/data/notes.txt",
        "/data",
        "/data/a.iso\u0000.iso",
    ],
)
def test_mount_refuses_paths_outside_data(images: RunningApp, file: str) -> None:
    admin = images.login()
    before = lun(images)
    assert error(admin.post("/api/storage/image/mount", json={"file": file, "cdrom": True})) == (
        -1,
        "invalid arguments",
    )
    assert lun(images) == before


def test_mount_missing_file_and_bad_bodies(images: RunningApp) -> None:
    admin = images.login()
    before = lun(images)
    missing = admin.post("/api/storage/image/mount", json={"file": "/data/missing.iso", "cdrom": True})
    assert error(missing) == (-2, "mount image failed")
    assert error(admin.post("/api/storage/image/mount", json={"file": "/data/sub.iso"})) == (-2, "mount image failed")
    assert error(admin.post("/api/storage/image/mount", json={"file": 5})) == (-1, "invalid arguments")
    broken = admin.post("/api/storage/image/mount", content=b"{", headers={"content-type": "application/json"})
    assert error(broken) == (-1, "invalid arguments")
    assert lun(images) == before


def test_delete(images: RunningApp) -> None:
    admin = images.login()
    data = images.path("/data")
    assert answer(admin.post("/api/storage/image/delete", json={"file": "/data/sub/B.ISO"}))["code"] == 0
    assert not (data / "sub/B.ISO").exists()
    # A symlink inside /data is removed as a link; its target stays.
    assert answer(admin.post("/api/storage/image/delete", json={"file": "/data/link.iso"}))["code"] == 0
    assert not (data / "link.iso").is_symlink()
    assert (data / "a.iso").exists()
    assert error(admin.post("/api/storage/image/delete", json={"file": "/data/gone.iso"})) == (-3, "remove file failed")
    assert error(admin.post("/api/storage/image/delete", json={"file": 1})) == (-1, "invalid arguments")


@pytest.mark.parametrize(
    "file",
    ["/data/../etc/secret.iso", "/etc/secret.iso", "/data/out.iso", "/data/outdir/c.iso", "/data/notes.txt", ""],
)
def test_delete_refuses_paths_outside_data(images: RunningApp, file: str) -> None:
    admin = images.login()

    def listing() -> list[str]:  # the audit log records the attempt by design (in a thread: it may appear late)
        return sorted(str(p) for p in images.root.rglob("*") if not p.name.startswith("audit.jsonl"))

    before = listing()
    assert error(admin.post("/api/storage/image/delete", json={"file": file})) == (-2, "invalid arguments")
    assert listing() == before
    assert images.path("/etc/secret.iso").read_bytes() == b"secret"


def test_delete_refuses_the_mounted_image(images: RunningApp) -> None:
    admin = images.login()
    assert answer(admin.post("/api/storage/image/mount", json={"file": "/data/a.iso", "cdrom": True}))["code"] == 0
    for name in ("/data/a.iso", "/data/link.iso"):  # also through a link to it
        code, msg = error(admin.post("/api/storage/image/delete", json={"file": name}))
        assert code == -3
        assert msg.startswith("remove file failed")
    assert images.path("/data/a.iso").exists()
    assert answer(admin.post("/api/storage/image/mount", json={"file": ""}))["code"] == 0
    assert answer(admin.post("/api/storage/image/delete", json={"file": "/data/a.iso"}))["code"] == 0


def test_storage_is_admin_only(kvm: RunningApp) -> None:
    anonymous = kvm.client()
    assert anonymous.get("/api/storage/image").status_code == 401
    assert anonymous.post("/api/storage/image/mount", json={}).status_code == 401
    assert anonymous.get("/api/vm/device/virtual").status_code == 401


def test_virtual_network_and_disk_toggles(kvm: RunningApp) -> None:
    admin = kvm.login()
    g0 = kvm.path(G0)
    virtual = "/api/vm/device/virtual"
    assert answer(admin.get(virtual))["data"] == {"network": False, "media": False, "disk": True}
    assert not (g0 / "functions/rndis.usb0").exists()

    assert answer(admin.post(virtual, json={"device": "network"}))["data"] == {"on": True}
    assert kvm.path("/boot/usb.rndis0").exists()
    assert (g0 / "functions/rndis.usb0/class").read_bytes() == b"e0\n"
    assert (g0 / "configs/c.1/rndis.usb0").readlink() == g0 / "functions/rndis.usb0"
    assert (g0 / "os_desc/c.1").readlink() == g0 / "configs/c.1"
    assert (g0 / "UDC").read_bytes() == b"sim-udc\n"
    assert answer(admin.get(virtual))["data"] == {"network": True, "media": False, "disk": True}

    assert answer(admin.post(virtual, json={"device": "disk"}))["data"] == {"on": False}
    assert not kvm.path("/boot/usb.disk0").exists()
    assert not (g0 / "functions/mass_storage.disk0").exists()
    assert not (g0 / "configs/c.1/mass_storage.disk0").exists()
    assert error(admin.get("/api/storage/image/mounted")) == (-2, "read failed")
    assert error(admin.get("/api/storage/cdrom")) == (-1, "read failed")
    (kvm.path("/data") / "a.iso").write_bytes(make_iso("A"))
    assert error(admin.post("/api/storage/image/mount", json={"file": "/data/a.iso", "cdrom": True})) == (
        -2,
        "unmount image failed",
    )

    assert answer(admin.post(virtual, json={"device": "network"}))["data"] == {"on": False}
    assert not (g0 / "functions/rndis.usb0").exists()
    assert not (g0 / "os_desc/c.1").exists()
    assert answer(admin.post(virtual, json={"device": "disk"}))["data"] == {"on": True}
    assert kvm.path(f"{LUN}/file").read_bytes() == b"/dev/mmcblk0p3\n"
    assert answer(admin.get(virtual))["data"] == {"network": False, "media": False, "disk": True}
    # The HID functions survive every rebuild.
    assert (g0 / "functions/hid.GS0/report_length").read_bytes() == b"8\n"

    assert error(admin.post(virtual, json={"device": "mic"})) == (-2, "invalid arguments")
    assert error(admin.post(virtual, json={"device": 1})) == (-1, "invalid argument")


def test_hid_only_mode_reports_nothing_mounted(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/kvm").mkdir(parents=True)
    (root / "etc/kvm/hid-mode").write_text("hid-only\n")
    kvm = start_app(tmp_path, root=root)
    try:
        admin = kvm.login()
        assert answer(admin.get("/api/hid/mode"))["data"] == {"mode": "hid-only"}
        assert answer(admin.get("/api/storage/image/mounted"))["data"] == {"file": ""}
        assert not kvm.path(f"{G0}/functions/mass_storage.disk0").exists()
    finally:
        kvm.stop()
