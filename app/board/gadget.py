"""NanoKVM's USB composite gadget in configfs (spec 7.3.2): build, bind, unbind, tear down.

The firmware's init script runs ``python -m app gadget start|stop|restart``; the sim board builds
the same tree under its device root at start, bound to a fake UDC.

On a real kernel, configfs creates the attribute files and default groups (``strings``,
``configs``, ``functions``, ``os_desc``, ``lun.0``, ``os_desc/interface.*``) on ``mkdir``; on a
plain directory tree they do not exist. So this module only ever writes attributes (one
``write()`` each, as configfs wants), creates directories that are missing, and links functions
with absolute targets: the same code builds both. Tear-down removes in the reverse order the
kernel requires (links, config, functions, strings, gadget); on a plain tree it deletes the
files too.

Values are written as NanoKVM's scripts write them (``echo`` adds a newline; ``/boot`` overrides
are copied verbatim), so a plain tree holds the same bytes a script-built one would.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.paths import DeviceRoot

log = logging.getLogger(__name__)

GADGET = "/sys/kernel/config/usb_gadget/g0"
UDC_CLASS = "/sys/class/udc"
OTG_ROLE = "/proc/cviusb/otg_role"
CHIP_UID = "/sys/class/cvi-base/base_uid"
DEVICE_KEY = "/device_key"
# Which gadget to build. NanoKVM swaps its init script instead (S03usbdev / S03usbhid); ours reads
# this file (content ``hid-only`` or ``normal``; missing = normal), written by POST /api/hid/mode.
MODE_FILE = "/etc/kvm/hid-mode"

MASS_STORAGE = "mass_storage.disk0"
LUN = f"{GADGET}/functions/{MASS_STORAGE}/lun.0"
# What the host sees when no image is mounted: the data partition itself.
NO_IMAGE = "/dev/mmcblk0p3"
INQUIRY_DISK = "NanoKVM USB Mass Storage0520"
INQUIRY_CDROM = "NanoKVM USB CD/DVD-ROM  0520"

Mode = Literal["normal", "hid-only"]
BCD_DEVICE: dict[Mode, str] = {"normal": "0x0510", "hid-only": "0x0623"}

# HID report descriptors (spec 7.3.1): keyboard (usages up to 0xE7, or 0x65 in hid-only mode),
# relative mouse (3 buttons, X/Y/wheel int8), absolute pointer (5 buttons, or 3 in hid-only mode,
# X/Y 0..32767, wheel int8).
_KEYBOARD = (
    "05 01 09 06 a1 01 05 07 19 e0 29 e7 15 00 25 01 75 01 95 08 81 02 95 01 75 08 81 03"
    " 95 05 75 01 05 08 19 01 29 05 91 02 95 01 75 03 91 03 95 06 75 08 15 00 25 {max} 05 07"
    " 19 00 29 {max} 81 00 c0"
)
_MOUSE = (
    "05 01 09 02 a1 01 09 01 a1 00 05 09 19 01 29 03 15 00 25 01 95 03 75 01 81 02 95 01 75 05"
    " 81 03 05 01 09 30 09 31 09 38 15 81 25 7f 75 08 95 03 81 06 c0 c0"
)
_TOUCHPAD = (
    "05 01 09 02 a1 01 09 01 a1 00 05 09 19 01 29 {buttons} 15 00 25 01 95 {buttons} 75 01 81 02"
    " 95 01 75 {pad} 81 01 05 01 09 30 09 31 15 00 26 ff 7f 35 00 46 ff 7f 75 10 95 02 81 02"
    " 05 01 09 38 15 81 25 7f 35 00 45 00 75 08 95 01 81 06 c0 c0"
)
REPORT_DESC: dict[Mode, dict[str, bytes]] = {
    "normal": {
        "hid.GS0": bytes.fromhex(_KEYBOARD.format(max="e7")),
        "hid.GS1": bytes.fromhex(_MOUSE),
        "hid.GS2": bytes.fromhex(_TOUCHPAD.format(buttons="05", pad="03")),
    },
    "hid-only": {
        "hid.GS0": bytes.fromhex(_KEYBOARD.format(max="65")),
        "hid.GS1": bytes.fromhex(_MOUSE),
        "hid.GS2": bytes.fromhex(_TOUCHPAD.format(buttons="03", pad="05")),
    },
}
# function -> (protocol, report length)
HID_FUNCTIONS: dict[str, tuple[int, int]] = {"hid.GS0": (1, 8), "hid.GS1": (2, 4), "hid.GS2": (2, 6)}


class GadgetError(Exception):
    """A configfs step failed (the message names it)."""


@dataclass(frozen=True)
class Flags:
    """The ``/boot`` files that shape the gadget (spec 7.3.2)."""

    rndis: bool = False
    ncm: bool = False
    disk: bytes | None = None  # content of /boot/usb.disk0 when present ("" = the data partition)
    disk_ro: bool = False
    disable_hid: bool = False
    bios: bool = False
    no_wakeup: bool = False
    vid: bytes | None = None
    pid: bytes | None = None
    serial: bytes | None = None
    manufacturer: bytes | None = None
    product: bytes | None = None

    @classmethod
    def read(cls, root: DeviceRoot) -> Flags:
        def has(name: str) -> bool:
            return root(f"/boot/{name}").exists()

        def content(name: str) -> bytes | None:
            try:
                return root(f"/boot/{name}").read_bytes()
            except OSError:
                return None

        return cls(
            rndis=has("usb.rndis0"),
            ncm=has("usb.ncm"),
            disk=content("usb.disk0") if has("usb.disk0") else None,
            disk_ro=has("usb.disk0.ro"),
            disable_hid=has("disable_hid"),
            bios=has("BIOS"),
            no_wakeup=has("usb.notwakeup"),
            vid=content("usb.vid"),
            pid=content("usb.pid"),
            serial=content("usb.serial"),
            manufacturer=content("usb.manufacturer"),
            product=content("usb.product"),
        )


def network_macs(root: DeviceRoot) -> tuple[str, str] | None:
    """(device, host) MACs from the first 4 hex digits of sha512(chip UID), or of the device key."""
    for source in (CHIP_UID, DEVICE_KEY):
        try:
            data = root(source).read_bytes()
        except OSError:
            continue
        digits = hashlib.sha512(data).hexdigest()[:4]
        return f"48:da:35:6e:{digits[:2]}:{digits[2:]}", f"48:da:35:6d:{digits[:2]}:{digits[2:]}"
    return None


def read_mode(root: DeviceRoot) -> Mode:
    try:
        text = root(MODE_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return "normal"
    return "hid-only" if text == "hid-only" else "normal"


def _on_configfs(path: Path) -> bool:
    """Whether ``path`` lies on a configfs mount (then attributes cannot and need not be deleted)."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    best, fstype = "", ""
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, fstype = point, fields[2]
    return fstype == "configfs"


class Gadget:
    """NanoKVM's gadget ``g0`` under a device root."""

    def __init__(self, root: DeviceRoot, *, rebind_delay: float = 1.0, udc: str = "") -> None:
        self.root = root
        self.path = root(GADGET)
        self.rebind_delay = rebind_delay
        self.preferred_udc = udc  # the board's device-mode controller, when it has several UDCs
        self._configfs: bool | None = None

    @property
    def configfs(self) -> bool:
        """Whether the gadget lives in a real configfs (decided once, on first use)."""
        if self._configfs is None:
            self._configfs = _on_configfs(self.path.parent)
        return self._configfs

    # --- queries ---------------------------------------------------------------------------

    def udc(self) -> str | None:
        """The board's own UDC when present, else the first (sorted by name) as ``ls /sys/class/udc`` lists it."""
        try:
            names = sorted(entry.name for entry in self.root(UDC_CLASS).iterdir())
        except OSError:
            return None
        if self.preferred_udc in names:
            return self.preferred_udc
        return names[0] if names else None

    def bound(self) -> str:
        try:
            return (self.path / "UDC").read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    # --- verbs -----------------------------------------------------------------------------

    def start(self, mode: Mode | None = None) -> None:
        """Build the gadget (replacing any existing one) and bind it to the first UDC."""
        self.build(mode or read_mode(self.root))
        self.bind()
        self._otg_role("device")

    def stop(self) -> None:
        """Unbind, hand the port back to host role, and remove the gadget."""
        if self.path.exists():
            self.unbind()
        self._otg_role("host")
        self.teardown()

    def restart(self) -> None:
        """Rebind: the host sees the device unplugged and plugged in again (medium or flags changed)."""
        self.unbind()
        time.sleep(self.rebind_delay)
        self.bind()

    def bind(self) -> None:
        udc = self.udc()
        if udc is None:
            raise GadgetError(f"no UDC in {UDC_CLASS}")
        self._write(self.path / "UDC", f"{udc}\n".encode())

    def unbind(self) -> None:
        try:
            self._write(self.path / "UDC", b"\n")
        except GadgetError:
            if self.bound():
                raise

    # --- building --------------------------------------------------------------------------

    def build(self, mode: Mode) -> None:
        flags = Flags.read(self.root)
        if self.path.exists():
            self.teardown()
        g = self.path
        self._mkdir(g)
        hid_only = mode == "hid-only"
        if hid_only:
            self._write(g / "bcdUSB", b"0x0101\n")
        # The normal gadget keeps the kernel's default bcdDevice, 0x0510 on NanoKVM's 5.10 kernel;
        # it is written so that GET /api/hid/mode (which reads it) works on any kernel and on a plain tree.
        self._write(g / "bcdDevice", f"{BCD_DEVICE[mode]}\n".encode())
        self._write(g / "idVendor", flags.vid if flags.vid is not None else b"0x3346\n")
        self._write(g / "idProduct", flags.pid if flags.pid is not None else b"0x1009\n")
        if not hid_only:
            self._write(g / "bDeviceClass", b"0xEF\n")
            self._write(g / "bDeviceSubClass", b"0x02\n")
            self._write(g / "bDeviceProtocol", b"0x01\n")
        strings = g / "strings/0x409"
        self._mkdir(strings)
        if not hid_only:
            self._write(strings / "serialnumber", flags.serial or b"0123456789ABCDEF\n")
        self._write(strings / "manufacturer", flags.manufacturer or b"sipeed\n")
        self._write(strings / "product", flags.product or b"NanoKVM\n")

        config = g / "configs/c.1"
        self._mkdir(config)
        self._write(config / "bmAttributes", b"0xA0\n" if hid_only else b"0xE0\n")
        self._write(config / "MaxPower", b"200\n" if hid_only else b"120\n")
        self._mkdir(config / "strings/0x409")
        self._write(config / "strings/0x409/configuration", b"NanoKVM\n")

        if not hid_only:
            self._network(flags)
        if hid_only or not flags.disable_hid:
            for name, (protocol, length) in HID_FUNCTIONS.items():
                function = g / "functions" / name
                self._mkdir(function)
                if hid_only or flags.bios:
                    self._write(function / "subclass", b"1\n")
                if not flags.no_wakeup:  # kernels without the attribute skip it, as NanoKVM's script does
                    self._write(function / "wakeup_on_write", b"1\n", optional=True)
                self._write(function / "protocol", f"{protocol}\n".encode())
                self._write(function / "report_length", f"{length}\n".encode())
                self._write(function / "report_desc", REPORT_DESC[mode][name])
                self._link(function, config / name)
        if not hid_only and flags.disk is not None:
            self._mass_storage(flags)

    def _network(self, flags: Flags) -> None:
        g = self.path
        if not (flags.ncm or flags.rndis):
            return
        macs = network_macs(self.root)
        name = "ncm.usb0" if flags.ncm else "rndis.usb0"
        function = g / "functions" / name
        self._mkdir(function)
        if macs is not None:
            self._write(function / "dev_addr", f"{macs[0]}\n".encode())
            self._write(function / "host_addr", f"{macs[1]}\n".encode())
        if flags.ncm:
            self._mkdir(function / "os_desc/interface.ncm")
            self._write(function / "os_desc/interface.ncm/compatible_id", b"WINNCM\n")
        else:
            self._write(function / "class", b"e0\n")
            self._write(function / "subclass", b"01\n")
            self._write(function / "protocol", b"03\n")
            self._mkdir(function / "os_desc/interface.rndis")
            self._write(function / "os_desc/interface.rndis/compatible_id", b"RNDIS\n")
            self._write(function / "os_desc/interface.rndis/sub_compatible_id", b"5162001\n")
        self._link(function, g / "configs/c.1" / name)
        # Microsoft OS descriptors, so Windows binds its RNDIS/NCM driver without an .inf.
        self._mkdir(g / "os_desc")
        self._write(g / "os_desc/use", b"1\n")
        self._write(g / "os_desc/b_vendor_code", b"0xCD\n")
        self._write(g / "os_desc/qw_sign", b"MSFT100\n")
        self._link(g / "configs/c.1", g / "os_desc/c.1")

    def _mass_storage(self, flags: Flags) -> None:
        function = self.path / "functions" / MASS_STORAGE
        lun = function / "lun.0"
        self._mkdir(function)
        self._mkdir(lun)
        self._link(function, self.path / "configs/c.1" / MASS_STORAGE)
        self._write(lun / "removable", b"1\n")
        self._write(lun / "ro", b"1\n" if flags.disk_ro else b"0\n")
        self._write(lun / "cdrom", b"0\n")
        self._write(lun / "inquiry_string", f"{INQUIRY_DISK}\n".encode())
        self._write(lun / "file", flags.disk if flags.disk else f"{NO_IMAGE}\n".encode())

    # --- tear-down -------------------------------------------------------------------------

    def teardown(self) -> None:
        g = self.path
        if not g.exists():
            return
        configfs = self.configfs
        for holder in (g / "os_desc", g / "configs/c.1"):
            if holder.is_dir():
                for entry in sorted(holder.iterdir()):
                    if entry.is_symlink():
                        entry.unlink()
        for directory in (g / "configs/c.1/strings/0x409", g / "configs/c.1"):
            self._rmdir(directory, configfs)
        functions = g / "functions"
        if functions.is_dir():
            for function in sorted(functions.iterdir(), reverse=True):
                self._rmdir(function, configfs)
        self._rmdir(g / "strings/0x409", configfs)
        self._rmdir(g, configfs)

    @staticmethod
    def _rmdir(path: Path, configfs: bool) -> None:
        try:
            path.rmdir()
        except FileNotFoundError:
            return
        except OSError as err:
            if configfs or err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise GadgetError(f"cannot remove {path}: {err.strerror}") from None
            shutil.rmtree(path)  # a plain tree: attribute files and default groups are ours to delete

    # --- primitives ------------------------------------------------------------------------

    @staticmethod
    def _mkdir(path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise GadgetError(f"cannot create {path}: {err.strerror}") from None

    def _write(self, path: Path, data: bytes, *, optional: bool = False) -> None:
        """One write(), as configfs attributes need; creates the file only on a plain tree."""
        flags = os.O_WRONLY | os.O_TRUNC | (0 if self.configfs else os.O_CREAT)
        try:
            fd = os.open(path, flags, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except FileNotFoundError:
            if not optional:
                raise GadgetError(f"cannot write {path}: no such attribute") from None
        except OSError as err:
            raise GadgetError(f"cannot write {path}: {err.strerror}") from None

    @staticmethod
    def _link(target: Path, link: Path) -> None:
        try:
            if link.is_symlink():
                return
            link.symlink_to(target)
        except OSError as err:
            raise GadgetError(f"cannot link {link}: {err.strerror}") from None

    def _otg_role(self, role: str) -> None:
        path = self.root(OTG_ROLE)
        if path.exists():
            try:
                path.write_text(f"{role}\n", encoding="utf-8")
            except OSError as err:
                raise GadgetError(f"cannot write {path}: {err.strerror}") from None


def main(argv: list[str]) -> int:
    """``python -m app gadget start|stop|restart [--config FILE] [--root DIR] [--mode MODE]``."""
    import argparse
    import sys

    from app.config import ConfigError, load_config, resolve_root

    parser = argparse.ArgumentParser(prog="python -m app gadget", description=main.__doc__)
    parser.add_argument("verb", choices=["start", "stop", "restart"])
    parser.add_argument("--config", type=Path, default=Path("/etc/kvm/server.yaml"), help="server.yaml")
    parser.add_argument("--root", type=Path, help="override the device root")
    parser.add_argument("--mode", choices=["normal", "hid-only"], help=f"override {MODE_FILE}")
    args = parser.parse_args(argv)
    root_path = args.root
    if root_path is None:
        try:
            config_path: Path = args.config
            root_path = resolve_root(load_config(config_path), config_path) if config_path.exists() else Path("/")
        except ConfigError as err:
            print(f"config error: {err}", file=sys.stderr)
            return 2
    gadget = Gadget(DeviceRoot(root_path))
    try:
        if args.verb == "start":
            gadget.start(args.mode)
        elif args.verb == "stop":
            gadget.stop()
        else:
            gadget.restart()
    except GadgetError as err:
        print(f"gadget {args.verb}: {err}", file=sys.stderr)
        return 1
    return 0
