"""The gadget manager on a plain tree: every file and link of g0, byte for byte (spec 7.3.2)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.board.gadget import Gadget, GadgetError, network_macs
from app.paths import DeviceRoot

REPO = Path(__file__).resolve().parents[2]
G0 = "sys/kernel/config/usb_gadget/g0"

KEYBOARD = bytes.fromhex(
    "05010906a101050719e029e715002501750195088102950175088103950575010508190129059102"
    "950175039103950675081500 25e7 0507 1900 29e7 8100 c0".replace(" ", "")
)
KEYBOARD_HID_ONLY = KEYBOARD.replace(bytes.fromhex("25e70507190029e7"), bytes.fromhex("2565050719002965"))
MOUSE = bytes.fromhex(
    "05010902a1010901a1000509190129031500250195037501810295017505810305010930093109381581257f750895038106c0c0"
)
TOUCHPAD = bytes.fromhex(
    "05010902a1010901a10005091901290515002501950575018102950175038101050109300931"
    "150026ff7f350046ff7f751095028102050109381581257f35004500750895018106c0c0"
)
TOUCHPAD_HID_ONLY = TOUCHPAD.replace(
    bytes.fromhex("2905150025019505750181029501750381"), bytes.fromhex("2903150025019503750181029501750581")
)


def tree(root: Path) -> dict[str, bytes | str]:
    """g0 as {relative path: file bytes, or '-> target' (relative to the root) for a link}."""
    base = root / G0
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(base))
            if path.is_symlink():
                out[rel] = "-> " + str(path.readlink().relative_to(root))
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


def base_normal() -> dict[str, bytes | str]:
    return {
        "bcdDevice": b"0x0510\n",
        "idVendor": b"0x3346\n",
        "idProduct": b"0x1009\n",
        "bDeviceClass": b"0xEF\n",
        "bDeviceSubClass": b"0x02\n",
        "bDeviceProtocol": b"0x01\n",
        "strings/0x409/serialnumber": b"0123456789ABCDEF\n",
        "strings/0x409/manufacturer": b"sipeed\n",
        "strings/0x409/product": b"NanoKVM\n",
        "configs/c.1/bmAttributes": b"0xE0\n",
        "configs/c.1/MaxPower": b"120\n",
        "configs/c.1/strings/0x409/configuration": b"NanoKVM\n",
        "UDC": b"sim-udc\n",
    }


def hid(mode: str, *, subclass: bool = False, wakeup: bool = True) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    descriptors = {
        "hid.GS0": (b"1\n", b"8\n", KEYBOARD if mode == "normal" else KEYBOARD_HID_ONLY),
        "hid.GS1": (b"2\n", b"4\n", MOUSE),
        "hid.GS2": (b"2\n", b"6\n", TOUCHPAD if mode == "normal" else TOUCHPAD_HID_ONLY),
    }
    for name, (protocol, length, desc) in descriptors.items():
        function = f"functions/{name}"
        if subclass:
            out[f"{function}/subclass"] = b"1\n"
        if wakeup:
            out[f"{function}/wakeup_on_write"] = b"1\n"
        out[f"{function}/protocol"] = protocol
        out[f"{function}/report_length"] = length
        out[f"{function}/report_desc"] = desc
        out[f"configs/c.1/{name}"] = f"-> {G0}/{function}"
    return out


def disk(file: bytes = b"/dev/mmcblk0p3\n", ro: bytes = b"0\n") -> dict[str, bytes | str]:
    lun = "functions/mass_storage.disk0/lun.0"
    return {
        f"{lun}/removable": b"1\n",
        f"{lun}/ro": ro,
        f"{lun}/cdrom": b"0\n",
        f"{lun}/inquiry_string": b"NanoKVM USB Mass Storage0520\n",
        f"{lun}/file": file,
        "configs/c.1/mass_storage.disk0": f"-> {G0}/functions/mass_storage.disk0",
    }


def network(kind: str, dev: str, host: str) -> dict[str, bytes | str]:
    function = f"functions/{kind}.usb0"
    out: dict[str, bytes | str] = {
        f"{function}/dev_addr": f"{dev}\n".encode(),
        f"{function}/host_addr": f"{host}\n".encode(),
        f"configs/c.1/{kind}.usb0": f"-> {G0}/{function}",
        "os_desc/use": b"1\n",
        "os_desc/b_vendor_code": b"0xCD\n",
        "os_desc/qw_sign": b"MSFT100\n",
        "os_desc/c.1": f"-> {G0}/configs/c.1",
    }
    if kind == "ncm":
        out[f"{function}/os_desc/interface.ncm/compatible_id"] = b"WINNCM\n"
    else:
        out[f"{function}/class"] = b"e0\n"
        out[f"{function}/subclass"] = b"01\n"
        out[f"{function}/protocol"] = b"03\n"
        out[f"{function}/os_desc/interface.rndis/compatible_id"] = b"RNDIS\n"
        out[f"{function}/os_desc/interface.rndis/sub_compatible_id"] = b"5162001\n"
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "sys/class/udc/sim-udc").mkdir(parents=True)
    (tmp_path / "boot").mkdir()
    (tmp_path / "sys/class/cvi-base").mkdir(parents=True)
    (tmp_path / "sys/class/cvi-base/base_uid").write_bytes(b"uid-1234\n")
    return tmp_path


def flag(root: Path, name: str, content: bytes = b"") -> None:
    (root / "boot" / name).write_bytes(content)


def test_normal_gadget_with_defaults(root: Path) -> None:
    Gadget(DeviceRoot(root)).start()
    assert tree(root) == base_normal() | hid("normal")


def test_normal_gadget_with_every_flag(root: Path) -> None:
    flag(root, "usb.rndis0")
    flag(root, "usb.disk0", b"/data/boot.img\n")
    flag(root, "usb.disk0.ro")
    flag(root, "BIOS")
    flag(root, "usb.notwakeup")
    flag(root, "usb.vid", b"0x1d6b\n")
    flag(root, "usb.pid", b"0x0104\n")
    Gadget(DeviceRoot(root)).start()
    digits = hashlib.sha512(b"uid-1234\n").hexdigest()[:4]
    mac = f"{digits[:2]}:{digits[2:]}"
    expected = base_normal() | {"idVendor": b"0x1d6b\n", "idProduct": b"0x0104\n"}
    expected |= network("rndis", f"48:da:35:6e:{mac}", f"48:da:35:6d:{mac}")
    expected |= hid("normal", subclass=True, wakeup=False)
    expected |= disk(b"/data/boot.img\n", b"1\n")
    assert tree(root) == expected


def test_ncm_wins_over_rndis_and_macs_fall_back_to_the_device_key(root: Path) -> None:
    (root / "sys/class/cvi-base/base_uid").unlink()
    (root / "device_key").write_bytes(b"abcdef\n")
    flag(root, "usb.rndis0")
    flag(root, "usb.ncm")
    flag(root, "disable_hid")
    flag(root, "usb.disk0")
    Gadget(DeviceRoot(root)).start()
    digits = hashlib.sha512(b"abcdef\n").hexdigest()[:4]
    mac = f"{digits[:2]}:{digits[2:]}"
    assert network_macs(DeviceRoot(root)) == (f"48:da:35:6e:{mac}", f"48:da:35:6d:{mac}")
    assert tree(root) == base_normal() | network("ncm", f"48:da:35:6e:{mac}", f"48:da:35:6d:{mac}") | disk()


def test_hid_only_gadget(root: Path) -> None:
    flag(root, "usb.rndis0")  # ignored in hid-only mode, as is the disk
    flag(root, "usb.disk0")
    (root / "etc/kvm").mkdir(parents=True)
    (root / "etc/kvm/hid-mode").write_text("hid-only\n")
    Gadget(DeviceRoot(root)).start()
    assert tree(root) == {
        "bcdUSB": b"0x0101\n",
        "bcdDevice": b"0x0623\n",
        "idVendor": b"0x3346\n",
        "idProduct": b"0x1009\n",
        "strings/0x409/manufacturer": b"sipeed\n",
        "strings/0x409/product": b"NanoKVM\n",
        "configs/c.1/bmAttributes": b"0xA0\n",
        "configs/c.1/MaxPower": b"200\n",
        "configs/c.1/strings/0x409/configuration": b"NanoKVM\n",
        "UDC": b"sim-udc\n",
    } | hid("hid-only", subclass=True)


def test_stop_removes_everything_and_restart_rebinds(root: Path) -> None:
    flag(root, "usb.rndis0")
    flag(root, "usb.disk0")
    (root / "proc/cviusb").mkdir(parents=True)
    (root / "proc/cviusb/otg_role").write_text("host\n")
    gadget = Gadget(DeviceRoot(root), rebind_delay=0)
    gadget.start()
    assert (root / "proc/cviusb/otg_role").read_text() == "device\n"
    gadget.restart()
    assert (root / G0 / "UDC").read_bytes() == b"sim-udc\n"
    gadget.stop()
    assert not (root / G0).exists()
    assert (root / "proc/cviusb/otg_role").read_text() == "host\n"
    gadget.stop()  # nothing to stop: fine
    gadget.start()  # and a second build over an existing one replaces it
    gadget.start()
    assert tree(root)["UDC"] == b"sim-udc\n"


def test_no_udc_is_a_clear_error(root: Path) -> None:
    (root / "sys/class/udc/sim-udc").rmdir()
    with pytest.raises(GadgetError, match="no UDC"):
        Gadget(DeviceRoot(root)).start()


def test_first_udc_in_name_order(root: Path) -> None:
    (root / "sys/class/udc/a-udc").mkdir()
    gadget = Gadget(DeviceRoot(root))
    gadget.start()
    assert gadget.bound() == "a-udc"


def test_command_line(root: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "gadget", *args, "--root", str(root)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )

    assert run("start").returncode == 0
    assert tree(root) == base_normal() | hid("normal")
    assert run("restart").returncode == 0
    assert run("stop").returncode == 0
    assert not (root / G0).exists()
    assert run("start", "--mode", "hid-only").returncode == 0
    assert tree(root)["bcdDevice"] == b"0x0623\n"
    (root / "sys/class/udc/sim-udc").rmdir()
    failed = run("restart")
    assert failed.returncode == 1
    assert "no UDC" in failed.stderr
    assert run("bogus").returncode == 2
