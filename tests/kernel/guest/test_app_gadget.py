"""End to end: the app's USB gadget manager on a real kernel, seen from dummy_hcd's host side.

``python -m app gadget start|restart|stop`` builds NanoKVM's composite gadget ``g0`` in configfs
(spec 7.3.2) from the guest's ``/boot`` flags; the same kernel's USB host side enumerates it, and
the tests look only at what the host made of it: the three HID event devices (told apart by their
capabilities, not by the app's descriptors), the mass-storage LUN's ``/dev/sdX`` or ``/dev/srN``
(its bytes read back), and the cdc_ncm/rndis_host network interface (by the MAC spec 7.3.2 derives
from ``sha512(/device_key)``). Then the app itself runs on that gadget: image mount/swap/unmount
(``/api/storage/image/mount``, spec 4.5/7.5) and the network toggle (``/api/vm/device/virtual``,
spec 7.4), each checked on the host side again.

Everything the gadget reads or points at is made inside the guest only (tmpfs overlay, or the
guest's own devtmpfs): ``/boot/usb.*`` flags, ``/etc/kvm/hid-mode``, ``/device_key`` (there is no
``/sys/class/cvi-base/base_uid`` here), ``/data/kt-*.iso|img`` and a ``/dev/mmcblk0p3`` stand-in
for the data partition the host sees when no image is mounted.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import kt_usb
import pytest
from kt_app import SRC, App
from kt_usb import EV_KEY, LED_CAPSL, EvdevReader, read_attr, wait_for

PORT = 8093

G0 = kt_usb.GADGETS / "g0"
USB_DEVICES = pathlib.Path("/sys/bus/usb/devices")
VID, PID = "3346", "1009"
SERIAL = "0123456789ABCDEF"
BOOT = pathlib.Path("/boot")
FLAG_NAMES = ("usb.rndis0", "usb.ncm", "usb.disk0", "usb.disk0.ro", "disable_hid", "BIOS", "usb.notwakeup")
MODE_FILE = pathlib.Path("/etc/kvm/hid-mode")
DEVICE_KEY = pathlib.Path("/device_key")
DATA_PARTITION = pathlib.Path("/dev/mmcblk0p3")  # what the LUN holds when no image is mounted
DATA = pathlib.Path("/data")

# What the host reads from the LUN's SCSI INQUIRY (spec 7.5: vendor 8, product 16, revision 4).
VENDOR = "NanoKVM"
MODEL_DISK, MODEL_CDROM = "USB Mass Storage", "USB CD/DVD-ROM"

# f_mass_storage refuses a CD-ROM image under 300 sectors ("file too small"): 320 x 2048 bytes.
ISO_SIZE = 320 * 2048

# linux/input-event-codes.h
KEY_A, KEY_B, KEY_F13 = 30, 48, 183
BTN_LEFT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA = 0x110, 0x112, 0x113, 0x114
REL_X, REL_Y, REL_WHEEL = 0x00, 0x01, 0x08
ABS_X, ABS_Y = 0x00, 0x01


# --- the guest's device files -------------------------------------------------------------------


def host_mac(key: bytes) -> str:
    """Spec 7.3.2: host ``48:da:35:6d:XX:YY`` from the first 4 hex digits of ``sha512sum`` of the UID."""
    digits = hashlib.sha512(key).hexdigest()[:4]
    return f"48:da:35:6d:{digits[:2]}:{digits[2:]}"


def image_bytes(tag: str, size: int = ISO_SIZE) -> bytes:
    """``size`` bytes that say ``tag`` all over (so a read from the wrong medium is obvious), with
    ISO 9660's ``CD001`` at 32769 and a primary volume descriptor labelled ``tag``."""
    unit = f"<{tag}>".encode()
    data = bytearray((unit * (size // len(unit) + 1))[:size])
    pvd = 16 * 2048
    data[pvd : pvd + 7] = b"\x01CD001\x01"
    data[pvd + 40 : pvd + 72] = tag.encode().ljust(32)
    return bytes(data)


@dataclass
class DeviceFiles:
    key: bytes
    partition: bytes  # the /dev/mmcblk0p3 stand-in's content

    @property
    def mac(self) -> str:
        return host_mac(self.key)

    @staticmethod
    def flags(*names: str, disk0: bytes = b"") -> None:
        """Exactly these ``/boot`` flags (``usb.disk0`` gets ``disk0`` as content)."""
        for name in FLAG_NAMES:
            (BOOT / name).unlink(missing_ok=True)
        for name in names:
            (BOOT / name).write_bytes(disk0 if name == "usb.disk0" else b"")

    @staticmethod
    def hid_mode(mode: str | None) -> None:
        if mode is None:
            MODE_FILE.unlink(missing_ok=True)
        else:
            MODE_FILE.write_text(f"{mode}\n")


@pytest.fixture(scope="module")
def device_files() -> Iterator[DeviceFiles]:
    """The guest's ``/boot`` flags, ``/etc/kvm``, ``/device_key``, ``/data`` and the data-partition
    stand-in; everything made here is removed again (the guest runs more test modules)."""
    made: list[pathlib.Path] = []
    for directory in (BOOT, MODE_FILE.parent, DATA):
        if not directory.exists():
            directory.mkdir(parents=True)
            made.append(directory)
    saved = {name: (BOOT / name).read_bytes() for name in FLAG_NAMES if (BOOT / name).exists()}
    saved_mode = MODE_FILE.read_bytes() if MODE_FILE.exists() else None
    assert not DEVICE_KEY.exists() and not DATA_PARTITION.exists(), "a board's device files in the guest?"
    files = DeviceFiles(key=b"kt-gadget-device-key\n", partition=image_bytes("DATA-PARTITION", 256 * 1024))
    DEVICE_KEY.write_bytes(files.key)
    DATA_PARTITION.write_bytes(files.partition)
    try:
        yield files
    finally:
        DEVICE_KEY.unlink(missing_ok=True)
        DATA_PARTITION.unlink(missing_ok=True)
        for path in DATA.glob("kt-*"):
            path.unlink()
        DeviceFiles.flags()
        for name, content in saved.items():
            (BOOT / name).write_bytes(content)
        MODE_FILE.unlink(missing_ok=True)
        if saved_mode is not None:
            MODE_FILE.write_bytes(saved_mode)
        for directory in reversed(made):  # /etc/kvm: with what the app wrote there
            shutil.rmtree(directory)


@pytest.fixture(scope="module")
def host(gadget_modules: list[str], modules: object) -> Iterator[kt_usb.UsbHost]:
    """The USB host side, with sr_mod for the CD-ROM LUN; ``g0`` is removed afterwards whatever happened."""
    loaded = modules.probe_available("sr_mod")  # type: ignore[attr-defined]
    assert "sr_mod" in loaded, "sr_mod (SCSI CD-ROM) did not load"
    assert not G0.exists(), "a g0 gadget was left over"
    host = kt_usb.UsbHost()
    try:
        yield host
    finally:
        if G0.exists():
            remove_g0()
        wait_for("NanoKVM gone from the host", lambda: True if nanokvm() is None else None, 15)


def remove_g0() -> None:
    """Tear down the app's ``g0`` without the app: its ``os_desc/c.1`` link first (kt_usb.remove_gadget
    removes the config before that link, which configfs refuses with EBUSY)."""
    for link in G0.glob("os_desc/*"):
        if link.is_symlink():
            link.unlink()
    kt_usb.remove_gadget(G0)


# --- the host side ------------------------------------------------------------------------------


def nanokvm() -> pathlib.Path | None:
    """The host side's configured ``/sys/bus/usb/devices/1-1`` of the NanoKVM gadget (VID:PID), or None."""
    for dev in USB_DEVICES.glob("*"):
        if ":" in dev.name or dev.name.startswith("usb"):
            continue
        if (read_attr(dev / "idVendor"), read_attr(dev / "idProduct")) == (VID, PID) and read_attr(
            dev / "bConfigurationValue"
        ):
            return dev
    return None


def wait_nanokvm(timeout: float = 30) -> pathlib.Path:
    return wait_for("the NanoKVM gadget configured on the host side", nanokvm, timeout)


def wait_gone(timeout: float = 15) -> None:
    wait_for("the NanoKVM gadget gone from the host side", lambda: True if nanokvm() is None else None, timeout)


def interfaces(dev: pathlib.Path) -> dict[int, str]:
    """bInterfaceNumber -> bInterfaceClass (hex) of the host-side device's interfaces."""
    out = {}
    for intf in dev.glob(f"{dev.name}:*"):
        number, cls = read_attr(intf / "bInterfaceNumber"), read_attr(intf / "bInterfaceClass")
        if number is not None and cls is not None:
            out[int(number, 16)] = cls
    return dict(sorted(out.items()))


def endpoints(dev: pathlib.Path) -> dict[int, list[str]]:
    """bInterfaceNumber -> the host-side endpoints (``81 Interrupt``...)."""
    out = {}
    for intf in dev.glob(f"{dev.name}:*"):
        eps = [f"{read_attr(ep / 'bEndpointAddress')} {read_attr(ep / 'type')}" for ep in sorted(intf.glob("ep_*"))]
        out[int(read_attr(intf / "bInterfaceNumber") or "0", 16)] = eps
    return dict(sorted(out.items()))


def iads(dev: pathlib.Path) -> list[tuple[int, int, int, int, int]]:
    """The interface association descriptors the host read: (first interface, count, class, subclass,
    protocol), from ``descriptors`` (the device descriptor, then the raw configuration)."""
    raw = (dev / "descriptors").read_bytes()
    out, i = [], 18
    while i + 1 < len(raw) and raw[i] >= 2:
        if raw[i + 1] == 0x0B:
            out.append(tuple(raw[i + 2 : i + 7]))
        i += raw[i]
    return out  # type: ignore[return-value]


def net_with_mac(mac: str) -> list[str]:
    return [n.name for n in pathlib.Path("/sys/class/net").iterdir() if read_attr(n / "address") == mac]


def capabilities(event: str, kind: str) -> int:
    """``/sys/class/input/eventN/device/capabilities/<kind>`` as one bit set (words are longs, MSB first)."""
    caps = pathlib.Path("/sys/class/input", pathlib.Path(event).name, "device/capabilities", kind)
    words = (read_attr(caps) or "0").split()
    value = 0
    for word in words:
        value = (value << 64) | int(word, 16)
    return value


def has(bits: int, *codes: int) -> bool:
    return all(bits >> code & 1 for code in codes)


@dataclass
class HidNodes:
    keyboard: str
    mouse: str
    touchpad: str


def hid_nodes(host: kt_usb.UsbHost, dev: pathlib.Path) -> HidNodes:
    """The three HID interfaces' event devices, in interface order, each checked for what it is."""
    hid = [n for n, cls in interfaces(dev).items() if cls == "03"]
    assert len(hid) == 3, f"HID interfaces {hid} of {interfaces(dev)}"
    nodes = [host.event_device(interface=f"{dev.name}:1.{n}") for n in hid]
    keyboard, mouse, touchpad = nodes
    assert has(capabilities(keyboard, "key"), KEY_A, KEY_B), f"{keyboard} is no keyboard"
    assert has(capabilities(keyboard, "led"), 0, 1, 2), f"{keyboard} has no Num/Caps/Scroll LEDs"
    assert has(capabilities(mouse, "rel"), REL_X, REL_Y, REL_WHEEL), f"{mouse} is no relative mouse"
    assert has(capabilities(mouse, "key"), BTN_LEFT, BTN_MIDDLE), f"{mouse} has no buttons"
    assert not capabilities(mouse, "abs"), f"{mouse} is absolute"
    assert has(capabilities(touchpad, "abs"), ABS_X, ABS_Y), f"{touchpad} is no absolute pointer"
    assert has(capabilities(touchpad, "rel"), REL_WHEEL), f"{touchpad} has no wheel"
    return HidNodes(keyboard, mouse, touchpad)


def block_devices(model: str | None = None) -> list[pathlib.Path]:
    """The host's SCSI disks and CD-ROMs (``/sys/block/sd*``, ``sr*``) with NanoKVM's INQUIRY vendor."""
    out = []
    for blk in sorted([*pathlib.Path("/sys/block").glob("sd*"), *pathlib.Path("/sys/block").glob("sr*")]):
        if read_attr(blk / "device" / "vendor") == VENDOR and model in (None, read_attr(blk / "device" / "model")):
            out.append(blk)
    return out


def read_medium(model: str, size: int, timeout: float = 30) -> tuple[str, bytes, bool]:
    """(``/dev/sdX`` or ``/dev/srN``, its first ``size`` bytes read with a fresh open, read-only?) of the
    LUN whose INQUIRY model is ``model``, once it has a medium of ``size`` bytes and reads."""
    last: list[str] = []

    def probe() -> tuple[str, bytes, bool] | None:
        for blk in block_devices(model):
            sectors = int(read_attr(blk / "size") or 0)
            node = pathlib.Path("/dev", blk.name)
            if sectors * 512 != size or not node.exists():
                last[:] = [f"{blk.name}: {sectors} sectors"]
                continue
            try:
                fd = os.open(node, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as err:  # ENOMEDIUM while the host still has the unit attention pending
                last[:] = [f"{node}: {err}"]
                continue
            try:
                data = b""
                while len(data) < size and (chunk := os.read(fd, size - len(data))):
                    data += chunk
            finally:
                os.close(fd)
            return str(node), data, read_attr(blk / "ro") == "1"
        return None

    try:
        return wait_for(f"a {model!r} medium of {size} bytes", probe, timeout, interval=0.2)
    except AssertionError as err:
        raise AssertionError(f"{err}; last seen: {last or [b.name for b in block_devices()]}") from None


def label_of(data: bytes) -> str:
    return data[16 * 2048 + 40 : 16 * 2048 + 72].decode(errors="replace").strip()


# --- python -m app gadget -----------------------------------------------------------------------


def gadget_cli(verb: str) -> float:
    """``python -m app gadget VERB --root /``; fails with its output unless it exits 0; returns seconds."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "app", "gadget", verb, "--root", "/"],
        cwd=SRC,
        capture_output=True,
        text=True,
        timeout=180,
    )
    took = time.monotonic() - t0
    assert proc.returncode == 0, f"gadget {verb}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    print(f"gadget {verb}: {took:.1f} s")
    return took


@pytest.fixture
def gadget_off(host: kt_usb.UsbHost, device_files: DeviceFiles) -> Iterator[DeviceFiles]:
    """Per CLI test: no g0 before, none after (``gadget stop``, or a plain configfs tear-down)."""
    assert not G0.exists()
    try:
        yield device_files
    finally:
        if G0.exists():
            remove_g0()
        wait_gone()
        DeviceFiles.flags()
        DeviceFiles.hid_mode(None)


def test_start_restart_stop(host: kt_usb.UsbHost, gadget_off: DeviceFiles) -> None:
    """HID x3 + mass storage (``/boot/usb.disk0``, empty: the data partition), no network."""
    files = gadget_off
    files.flags("usb.disk0")
    gadget_cli("start")
    t0 = time.monotonic()
    dev = wait_nanokvm()
    print(f"host side configured {time.monotonic() - t0:.1f} s after start returned: {dev.name} {interfaces(dev)}")
    assert read_attr(dev / "bcdDevice") == "0510"
    assert read_attr(dev / "serial") == SERIAL
    assert (read_attr(dev / "manufacturer"), read_attr(dev / "product")) == ("sipeed", "NanoKVM")
    assert read_attr(dev / "bDeviceClass") == "ef"
    classes = interfaces(dev)
    assert list(classes.values()) == ["03", "03", "03", "08"], classes

    nodes = hid_nodes(host, dev)
    assert has(capabilities(nodes.keyboard, "key"), KEY_F13), "normal mode's keyboard declares usages up to 0xE7"
    assert has(capabilities(nodes.touchpad, "key"), BTN_LEFT, BTN_SIDE, BTN_EXTRA), "5 touchpad buttons"
    print(f"HID: {nodes}")
    node, data, ro = read_medium(MODEL_DISK, len(files.partition))
    assert data == files.partition, f"{node} does not read the data partition stand-in"
    assert not ro
    print(f"LUN: {node} = the data partition stand-in ({len(data)} bytes)")
    assert not net_with_mac(files.mac)

    # restart = unbind, 1 s, bind: the host sees the device go and come back (a new address).
    devnum = read_attr(dev / "devnum")
    seen_gone = threading.Event()
    stop_watch = threading.Event()

    def watch() -> None:
        while not stop_watch.is_set():
            if nanokvm() is None:
                seen_gone.set()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        gadget_cli("restart")
        dev = wait_nanokvm()
    finally:
        stop_watch.set()
        watcher.join()
    assert seen_gone.is_set(), "the host never saw the device unplugged during restart"
    assert read_attr(dev / "devnum") != devnum, "same USB address after restart: not re-enumerated"
    print(f"restart: devnum {devnum} -> {read_attr(dev / 'devnum')}")
    hid_nodes(host, dev)
    assert read_medium(MODEL_DISK, len(files.partition))[1] == files.partition

    gadget_cli("stop")
    assert not G0.exists(), "g0 is still in configfs after stop"
    wait_gone()
    wait_for("the LUN's block device gone", lambda: True if not block_devices() else None, 10)
    events = [p.name for p in pathlib.Path("/sys/class/input").glob("event*") if f"/{dev.name}:" in str(p.resolve())]
    assert not events, f"event devices of the gadget left: {events}"
    assert not list(pathlib.Path("/sys/class/hidg").glob("hidg*")), "hidg nodes left after stop"


def test_start_with_network(host: kt_usb.UsbHost, gadget_off: DeviceFiles) -> None:
    """``usb.ncm`` + ``usb.disk0``: NCM, HID x3, mass storage; then ``usb.rndis0`` alone: RNDIS, HID x3.

    On dummy_hcd a network function + 3 HID + mass storage need 5 OUT endpoints: the fifth is a
    generic ``ep-aout`` that epautoconf numbers 0x01, the same address as ``ep1out-bulk``, so the
    host skips the LUN's bulk-out endpoint ("duplicate endpoint with address 0x1") and usb-storage
    never scans it. The LUN is read in the tests without network (a real UDC has its own numbering)."""
    files = gadget_off
    files.flags("usb.ncm", "usb.disk0")
    gadget_cli("start")
    dev = wait_nanokvm()
    classes = interfaces(dev)
    print(f"NCM: {dev.name} interfaces {classes}, endpoints {endpoints(dev)}")
    # NCM = a communications (02) and a data (0a) interface, first; 3 HID (03); mass storage (08).
    assert list(classes.values()) == ["02", "0a", "03", "03", "03", "08"], classes
    assert iads(dev) == [(0, 2, 0x02, 0x0D, 0x00)], "NCM's interface association"
    hid_nodes(host, dev)
    netif = host.netif(mac=files.mac, drivers=("cdc_ncm",))
    print(f"network: {netif} {files.mac} (cdc_ncm)")
    gadget_cli("stop")
    wait_gone()
    wait_for("the host's cdc_ncm interface gone", lambda: None if net_with_mac(files.mac) else True, 10)

    files.flags("usb.rndis0")
    gadget_cli("start")
    dev = wait_nanokvm()
    classes = interfaces(dev)
    assert list(classes.values()) == ["02", "0a", "03", "03", "03"], classes
    # NanoKVM declares RNDIS as e0/01/03 (wireless controller, RNDIS) in its interface association.
    assert iads(dev) == [(0, 2, 0xE0, 0x01, 0x03)], "RNDIS's interface association"
    hid_nodes(host, dev)
    netif = host.netif(mac=files.mac, drivers=("rndis_host",))
    print(f"network: {netif} {files.mac} (rndis_host); interfaces {classes}")
    assert not block_devices()
    gadget_cli("stop")
    assert not G0.exists()
    wait_gone()
    wait_for("the host's rndis interface gone", lambda: None if net_with_mac(files.mac) else True, 10)


def test_hid_only_mode(host: kt_usb.UsbHost, gadget_off: DeviceFiles) -> None:
    files = gadget_off
    files.flags("usb.ncm", "usb.rndis0", "usb.disk0")  # all ignored in hid-only mode
    files.hid_mode("hid-only")
    gadget_cli("start")
    dev = wait_nanokvm()
    classes = interfaces(dev)
    assert list(classes.values()) == ["03", "03", "03"], f"hid-only: {classes}"
    assert read_attr(dev / "bcdDevice") == "0623"
    assert read_attr(dev / "serial") is None, "hid-only mode has no serial number"
    nodes = hid_nodes(host, dev)
    assert not has(capabilities(nodes.keyboard, "key"), KEY_F13), "hid-only keyboard declares usages up to 0x65"
    touch_keys = capabilities(nodes.touchpad, "key")
    assert has(touch_keys, BTN_LEFT, BTN_MIDDLE) and not has(touch_keys, BTN_SIDE), "3 touchpad buttons"
    assert not block_devices()
    print(f"hid-only: {dev.name} bcdDevice 0623, interfaces {classes}, {nodes}")
    gadget_cli("stop")
    assert not G0.exists()
    wait_gone()


# --- the app on that gadget ---------------------------------------------------------------------


@dataclass
class Rig:
    host: kt_usb.UsbHost
    files: DeviceFiles
    api: App
    images: dict[str, bytes]


@pytest.fixture(scope="module")
def rig(host: kt_usb.UsbHost, device_files: DeviceFiles, start_app: Callable[..., App]) -> Iterator[Rig]:
    """``gadget start`` with ``/boot/usb.disk0`` (empty: the data partition) and no network, then the app
    (``board: nanokvm``) on it, logged in as admin."""
    assert not G0.exists()
    images = {f"/data/kt-{tag}": image_bytes(tag.upper()) for tag in ("a.iso", "b.iso")}
    images["/data/kt-c.img"] = image_bytes("C.IMG", 64 * 1024)
    for path, content in images.items():
        pathlib.Path(path).write_bytes(content)
    DeviceFiles.flags("usb.disk0")
    DeviceFiles.hid_mode(None)
    try:
        gadget_cli("start")
        wait_nanokvm()
        with start_app(PORT) as app:
            app.login()
            yield Rig(host, device_files, app, images)
    finally:
        if G0.exists():
            remove_g0()
        wait_gone()
        DeviceFiles.flags()


def mount(rig: Rig, file: str, cdrom: bool) -> float:
    t0 = time.monotonic()
    assert rig.api.ok("POST", "/api/storage/image/mount", {"file": file, "cdrom": cdrom}, timeout=60) is None
    return time.monotonic() - t0


def test_image_mount_swap_unmount(rig: Rig) -> None:
    api, images, files = rig.api, rig.images, rig.files
    assert api.ok("GET", "/api/storage/image") == {"files": sorted(images)}
    assert api.ok("GET", "/api/storage/image/mounted") == {"file": ""}
    assert read_medium(MODEL_DISK, len(files.partition))[1] == files.partition

    for path in ("/data/kt-a.iso", "/data/kt-b.iso"):  # mount, then swap
        took = mount(rig, path, cdrom=True)
        node, data, ro = read_medium(MODEL_CDROM, len(images[path]))
        print(f"mount {path} (cdrom): {took:.1f} s; host reads {node} label {label_of(data)!r}, ro={ro}")
        assert data == images[path], f"{node} does not read {path}"
        assert node.startswith("/dev/sr") and ro, f"a CD-ROM is read-only on {node}"
        assert not block_devices(MODEL_DISK), "the disk LUN is still there next to the CD-ROM"
        assert api.ok("GET", "/api/storage/image/mounted") == {"file": path}
        assert api.ok("GET", "/api/storage/cdrom") == {"cdrom": 1}

    took = mount(rig, "", cdrom=False)
    node, data, ro = read_medium(MODEL_DISK, len(files.partition))
    print(f"unmount: {took:.1f} s; host reads {node} = the data partition stand-in, ro={ro}")
    assert data == files.partition and not ro
    assert not block_devices(MODEL_CDROM)
    assert api.ok("GET", "/api/storage/image/mounted") == {"file": ""}
    assert api.ok("GET", "/api/storage/cdrom") == {"cdrom": 0}

    took = mount(rig, "/data/kt-c.img", cdrom=False)  # a disk image: a writable USB disk
    node, data, ro = read_medium(MODEL_DISK, len(images["/data/kt-c.img"]))
    print(f"mount /data/kt-c.img (disk): {took:.1f} s; host reads {node}, ro={ro}")
    assert data == images["/data/kt-c.img"] and node.startswith("/dev/sd") and not ro
    assert api.ok("GET", "/api/storage/image/mounted") == {"file": "/data/kt-c.img"}

    mount(rig, "", cdrom=False)
    assert read_medium(MODEL_DISK, len(files.partition))[1] == files.partition
    assert api.ok("GET", "/api/storage/image/mounted") == {"file": ""}


def paste_reaches_keyboard(rig: Rig, keyboard: str, text: str = "ab") -> list[tuple[int, int]]:
    """POST /api/hid/paste while reading the host's keyboard: the app's HID nodes work on this gadget."""
    with EvdevReader(keyboard) as reader:
        reader.drain()
        rig.api.ok("POST", "/api/hid/paste", {"content": text, "langue": ""}, timeout=60)
        events = reader.read(10, until=lambda ev: len(kt_usb.key_events(ev)) >= 2 * len(text), types=(EV_KEY,))
    return kt_usb.key_events(events)


def caps_lock_reaches_api(rig: Rig, keyboard: str, timeout: float = 5) -> float:
    """The host turns Caps Lock on (the kernel sends the keyboard's LED output report) and off again:
    ``GET /api/hid/leds`` follows both ways within ``timeout``; returns the seconds until "on"."""
    with EvdevReader(keyboard) as reader:
        took = 0.0
        for on in (True, False):
            t0 = time.monotonic()
            reader.set_led(LED_CAPSL, on)
            while (leds := rig.api.ok("GET", "/api/hid/leds"))["capsLock"] is not on:
                assert time.monotonic() - t0 < timeout, f"Caps Lock {on} not in /api/hid/leds after {timeout} s: {leds}"
                time.sleep(0.1)
            took = took or time.monotonic() - t0
    return took


def test_caps_lock_led_after_image_rebinds(rig: Rig) -> None:
    """The image mounts above rebound the gadget (same functions): the LED output reports still arrive."""
    nodes = hid_nodes(rig.host, wait_nanokvm())
    print(f"Caps Lock in /api/hid/leds after {caps_lock_reaches_api(rig, nodes.keyboard):.2f} s")


def test_network_toggle(rig: Rig) -> None:
    api, files, host = rig.api, rig.files, rig.host
    assert api.ok("GET", "/api/vm/device/virtual") == {"network": False, "media": False, "disk": True}
    assert not net_with_mac(files.mac)

    t0 = time.monotonic()
    assert api.ok("POST", "/api/vm/device/virtual", {"device": "network"}, timeout=60) == {"on": True}
    took = time.monotonic() - t0
    netif = host.netif(mac=files.mac, drivers=("rndis_host",))
    dev = wait_nanokvm()
    print(f"network on: {took:.1f} s; host interface {netif} ({files.mac}, rndis_host), interfaces {interfaces(dev)}")
    assert api.ok("GET", "/api/vm/device/virtual") == {"network": True, "media": False, "disk": True}
    assert list(interfaces(dev).values()) == ["02", "0a", "03", "03", "03", "08"], interfaces(dev)
    nodes = hid_nodes(host, dev)  # (the LUN: see test_start_with_network, dummy_hcd cannot serve it here)
    keys = paste_reaches_keyboard(rig, nodes.keyboard)
    assert keys == [(KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0)], f"paste after the rebuild: {keys}"

    t0 = time.monotonic()
    assert api.ok("POST", "/api/vm/device/virtual", {"device": "network"}, timeout=60) == {"on": False}
    took = time.monotonic() - t0
    dev = wait_nanokvm()
    wait_for("the host's rndis interface gone", lambda: None if net_with_mac(files.mac) else True, 15)
    classes = interfaces(dev)
    print(f"network off: {took:.1f} s; interfaces {classes}")
    assert list(classes.values()) == ["03", "03", "03", "08"], classes
    assert api.ok("GET", "/api/vm/device/virtual") == {"network": False, "media": False, "disk": True}
    assert read_medium(MODEL_DISK, len(files.partition))[1] == files.partition
    nodes = hid_nodes(host, dev)
    keys = paste_reaches_keyboard(rig, nodes.keyboard)
    assert keys == [(KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0)], f"paste after the rebuild: {keys}"


def test_hid_mode_switch(rig: Rig) -> None:
    """``POST /api/hid/mode`` rebuilds ``g0`` in place: hid-only (bcdDevice 0x0623, only the HID
    functions, no LUN) and back to normal (the LUN with the data partition again)."""
    api, files = rig.api, rig.files
    t0 = time.monotonic()
    assert api.ok("POST", "/api/hid/mode", {"mode": "hid-only"}, timeout=60) is None
    took = time.monotonic() - t0
    dev = wait_for(
        "the hid-only gadget", lambda: d if (d := nanokvm()) and read_attr(d / "bcdDevice") == "0623" else None, 30
    )
    print(f"hid-only: {took:.1f} s; interfaces {interfaces(dev)}")
    assert list(interfaces(dev).values()) == ["03", "03", "03"]
    assert api.ok("GET", "/api/hid/mode") == {"mode": "hid-only"}
    assert api.ok("GET", "/api/storage/image/mounted") == {"file": ""}
    keys = paste_reaches_keyboard(rig, hid_nodes(rig.host, dev).keyboard)
    assert keys == [(KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0)], f"paste in hid-only mode: {keys}"

    assert api.ok("POST", "/api/hid/mode", {"mode": "normal"}, timeout=60) is None
    dev = wait_for(
        "the normal gadget", lambda: d if (d := nanokvm()) and read_attr(d / "bcdDevice") == "0510" else None, 30
    )
    assert list(interfaces(dev).values()) == ["03", "03", "03", "08"], interfaces(dev)
    assert api.ok("GET", "/api/hid/mode") == {"mode": "normal"}
    assert read_medium(MODEL_DISK, len(files.partition))[1] == files.partition
    hid_nodes(rig.host, dev)


def app_hidg_fds(app: App) -> list[str]:
    """What the app's open file descriptors on ``/dev/hidg*`` point at (``(deleted)``: a node that went)."""
    fds = pathlib.Path(f"/proc/{app.proc.pid}/fd")
    out = []
    for fd in fds.iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if "hidg" in target:
            out.append(f"fd {fd.name} -> {target}")
    return sorted(out)


def test_caps_lock_led_after_gadget_rebuild(rig: Rig) -> None:
    """The network toggles and mode switches above tore ``g0`` down and built it again (new hidg
    functions): the app's LED reader must follow to the new ``/dev/hidg0``, as its writers do."""
    nodes = hid_nodes(rig.host, wait_nanokvm())
    fds = app_hidg_fds(rig.api)
    print(f"the app's hidg descriptors: {fds}")
    try:
        took = caps_lock_reaches_api(rig, nodes.keyboard)
    except AssertionError as err:
        raise AssertionError(f"{err}; the app's hidg descriptors: {fds}") from None
    print(f"Caps Lock in /api/hid/leds after {took:.2f} s")


def test_kvmd_msd_upload_and_connect(rig: Rig) -> None:
    """PiKVM's API on the same gadget: ``/api/msd/write`` streams an image into the library,
    ``set_params`` + ``set_connected`` put it on the LUN (the host reads its bytes as a CD-ROM, then
    as a read-only flash drive), disconnecting gives the host the data partition again."""
    api, files = rig.api, rig.files
    name, content = "kt-kvmd.iso", image_bytes("KVMD-ISO")
    t0 = time.monotonic()
    written = api.kvmd_ok("POST", f"/api/msd/write?image={name}", content)
    print(f"kvmd write {len(content)} bytes: {time.monotonic() - t0:.1f} s")
    assert written["image"] == {"name": name, "size": len(content), "written": len(content)}
    assert pathlib.Path(DATA, name).read_bytes() == content
    msd = api.kvmd_ok("GET", "/api/msd")
    assert msd["storage"]["images"][name]["size"] == len(content)
    assert msd["drive"]["connected"] is False

    # A CD-ROM, then a flash drive left at kvmd's rw=0: read-only for the host too (a writable one is
    # NanoKVM's own mount, test_image_mount_swap_unmount).
    for cdrom, rw, model in ((1, 0, MODEL_CDROM), (0, 0, MODEL_DISK)):
        assert api.kvmd_ok("POST", f"/api/msd/set_params?image={name}&cdrom={cdrom}&rw={rw}") == {}
        t0 = time.monotonic()
        assert api.kvmd_ok("POST", "/api/msd/set_connected?connected=1") == {}
        took = time.monotonic() - t0
        node, data, ro = read_medium(model, len(content))
        print(f"kvmd connect (cdrom={cdrom}, rw={rw}): {took:.1f} s; host reads {node} {label_of(data)!r}, ro={ro}")
        assert data == content, f"{node} does not read the uploaded image"
        assert node.startswith("/dev/sr" if cdrom else "/dev/sd") and ro == (not rw)
        drive = api.kvmd_ok("GET", "/api/msd")["drive"]
        assert drive["connected"] is True and drive["image"]["name"] == name and drive["cdrom"] is bool(cdrom)
        assert api.ok("GET", "/api/storage/image/mounted") == {"file": f"/data/{name}"}  # one LUN, both APIs
        status, doc = api.kvmd("POST", "/api/msd/set_params?cdrom=0")
        assert status == 400 and doc["result"]["error"] == "MsdConnectedError", doc

        assert api.kvmd_ok("POST", "/api/msd/set_connected?connected=0") == {}
        assert read_medium(MODEL_DISK, len(files.partition))[1] == files.partition
        assert api.kvmd_ok("GET", "/api/msd")["drive"]["connected"] is False

    assert api.kvmd_ok("POST", f"/api/msd/remove?image={name}") == {}
    assert not pathlib.Path(DATA, name).exists()
