"""Raw USB gadget smoke tests: a composite gadget built directly in configfs (not through
the app) on dummy_hcd, checked from the same kernel's USB host side.

Gadget: hid.usb0 boot keyboard (63-byte standard descriptor, LED output report),
hid.usb1 absolute pointer (6-byte report), mass_storage.usb0 (4 MiB file LUN), ncm.usb0.
"""

from __future__ import annotations

import os
import pathlib
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import kt_usb
import pytest
from kt_usb import ABS_X, ABS_Y, BTN_LEFT, EV_ABS, EV_KEY, EV_REL, KEY_A, LED_CAPSL, REL_WHEEL, EvdevReader, UsbHost

KEY_A_DOWN = bytes([0, 0, 0x04, 0, 0, 0, 0, 0])  # usage 0x04 = a
KEYS_UP = bytes(8)
DISK_VENDOR, DISK_MODEL = "KT", "RawDisk"
INQUIRY = f"{DISK_VENDOR:<8}{DISK_MODEL:<16}0001"
NCM_DEV_MAC, NCM_HOST_MAC = "02:4b:54:00:00:01", "02:4b:54:00:00:02"
IMAGE_SIZE = 4 * 1024 * 1024


def keyboard(gadget: kt_usb.Gadget, instance: str = "usb0") -> pathlib.Path:
    return gadget.add_function(
        "hid", instance, protocol=1, subclass=1, report_length=8, report_desc=kt_usb.BOOT_KEYBOARD_DESC
    )


def pointer(gadget: kt_usb.Gadget, instance: str = "usb1") -> pathlib.Path:
    return gadget.add_function(
        "hid", instance, protocol=2, subclass=0, report_length=6, report_desc=kt_usb.ABS_POINTER_DESC
    )


def make_image(path: pathlib.Path, label: bytes) -> pathlib.Path:
    with path.open("wb") as f:
        f.write(label)
        f.truncate(IMAGE_SIZE)
    return path


def read_block(dev: str, size: int) -> bytes:
    fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


# --- these run first, each on its own gadget (function-scoped usb_host, UDC free) ----


def test_nonblocking_hidg_write_gets_eagain_when_host_stops_polling(usb_host: UsbHost) -> None:
    gadget = usb_host.gadget("kt-kbd", serial="kt-kbd")
    keyboard(gadget, "usb0")
    took = usb_host.bind(gadget)
    intf = usb_host.interface(0)
    usb_host.event_device(interface=intf)  # the kbd handler keeps it open: the host polls
    hidg = gadget.hidg("hid.usb0")
    print(f"keyboard gadget configured after {took:.1f} s; {hidg}, host interface {intf}")

    polled = []
    for report in (KEY_A_DOWN, KEYS_UP, KEYS_UP):
        polled += kt_usb.write_nonblocking(hidg, [report])
        time.sleep(0.05)
    print(f"non-blocking writes, host polling: {polled}")
    assert polled == ["ok", "ok", "ok"]

    usb_host.unbind_usbhid(intf)
    t0 = time.monotonic()
    stalled = kt_usb.write_nonblocking(hidg, [KEY_A_DOWN, KEYS_UP, KEYS_UP])
    took = time.monotonic() - t0
    print(f"non-blocking writes, usbhid unbound: {stalled} in {took * 1000:.0f} ms")
    assert "EAGAIN" in stalled and stalled[-1] == "EAGAIN", stalled
    assert took < 1.0

    usb_host.bind_usbhid(intf)
    usb_host.event_device(interface=intf)
    took = kt_usb.write_report(hidg, KEYS_UP, timeout=10)
    print(f"usbhid rebound: a write went through after {took * 1000:.0f} ms")


def test_rndis_gives_a_host_side_interface(usb_host: UsbHost) -> None:
    gadget = usb_host.gadget("kt-rndis", serial="kt-rndis")
    gadget.add_function("rndis", "usb0", dev_addr=NCM_DEV_MAC, host_addr=NCM_HOST_MAC)
    usb_host.bind(gadget)
    host_if = usb_host.netif(mac=NCM_HOST_MAC)
    driver = pathlib.Path("/sys/class/net", host_if, "device", "driver").resolve().name
    print(f"RNDIS: gadget {gadget.gadget_ifname('rndis.usb0')}, host {host_if} ({driver})")
    assert driver == "rndis_host"


# --- one composite gadget for the rest of the module ---------------------------------


@dataclass
class Composite:
    host: UsbHost
    gadget: kt_usb.Gadget
    kbd_hidg: str
    ptr_hidg: str
    kbd_intf: str
    ptr_intf: str
    image_one: pathlib.Path
    image_two: pathlib.Path


@pytest.fixture(scope="module")
def composite(gadget_modules: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Composite]:
    # The previous test's usb_host teardown must have left nothing behind.
    assert list(kt_usb.GADGETS.iterdir()) == [], "a gadget was left over"
    host = UsbHost()
    assert host.usb_devices() == [], "the host side still has a device"
    tmp = tmp_path_factory.mktemp("usb")
    image_one = make_image(tmp / "one.img", b"IMAGE-ONE")
    image_two = make_image(tmp / "two.img", b"IMAGE-TWO")
    try:
        gadget = host.gadget("kt-raw", serial="kt-raw")
        keyboard(gadget, "usb0")
        pointer(gadget, "usb1")
        gadget.add_function(
            "mass_storage",
            "usb0",
            **{"lun.0/removable": 1, "lun.0/inquiry_string": INQUIRY, "lun.0/file": image_one},
        )
        gadget.add_function("ncm", "usb0", dev_addr=NCM_DEV_MAC, host_addr=NCM_HOST_MAC)
        took = host.bind(gadget)
        comp = Composite(
            host,
            gadget,
            gadget.hidg("hid.usb0"),
            gadget.hidg("hid.usb1"),
            host.interface(0),
            host.interface(1),
            image_one,
            image_two,
        )
        print(f"\ncomposite gadget configured after {took:.1f} s: {sorted(gadget.functions)}")
        yield comp
    finally:
        host.cleanup()
    assert not (kt_usb.GADGETS / "kt-raw").exists()


def test_keyboard_report_arrives_as_key_a(composite: Composite) -> None:
    ev = composite.host.event_device(interface=composite.kbd_intf)
    phys = kt_usb.read_attr(pathlib.Path("/sys/class/input", pathlib.Path(ev).name, "device", "phys"))
    print(f"keyboard: {composite.kbd_hidg} -> {ev} (phys {phys})")
    assert phys == "usb-dummy_hcd.0-1/input0"
    assert composite.host.event_device(phys="usb-dummy_hcd.0-1/input0") == ev
    with EvdevReader(ev) as reader:
        reader.drain()
        kt_usb.write_report(composite.kbd_hidg, KEY_A_DOWN)
        kt_usb.write_report(composite.kbd_hidg, KEYS_UP)
        events = reader.read(10, until=lambda evs: (KEY_A, 0) in kt_usb.key_events(evs), types=(EV_KEY,))
    print(f"EV_KEY events: {kt_usb.key_events(events)}")
    assert kt_usb.key_events(events) == [(KEY_A, 1), (KEY_A, 0)]


def test_caps_lock_led_arrives_as_output_report(composite: Composite) -> None:
    ev = composite.host.event_device(interface=composite.kbd_intf)
    with EvdevReader(ev) as reader:
        reader.set_led(LED_CAPSL, True)
        on = kt_usb.read_hidg(composite.kbd_hidg, 8, 10, until=lambda r: b"\x02" in r)
        reader.set_led(LED_CAPSL, False)
        off = kt_usb.read_hidg(composite.kbd_hidg, 8, 10, until=lambda r: b"\x00" in r)
    print(f"output reports on {composite.kbd_hidg}: on {[r.hex() for r in on]}, off {[r.hex() for r in off]}")
    assert on[-1] == b"\x02"
    assert off[-1] == b"\x00"


def test_absolute_pointer_arrives_as_ev_abs(composite: Composite) -> None:
    ev = composite.host.event_device(interface=composite.ptr_intf)
    with EvdevReader(ev) as reader:  # opening it makes usbhid poll the interface
        reader.drain()
        kt_usb.write_report(composite.ptr_hidg, struct.pack("<BHHb", 0, 16384, 8192, 0))
        kt_usb.write_report(composite.ptr_hidg, struct.pack("<BHHb", 1, 16384, 8192, 0))
        kt_usb.write_report(composite.ptr_hidg, struct.pack("<BHHb", 0, 32767, 0, -1))
        events = reader.read(
            10,
            until=lambda evs: any(e.tcv == (EV_REL, REL_WHEEL, -1) for e in evs),
            types=(EV_ABS, EV_KEY, EV_REL),
        )
    print(f"pointer {composite.ptr_hidg} -> {ev}: {[e.tcv for e in events]}")
    tcv = [e.tcv for e in events]
    assert (EV_ABS, ABS_X, 16384) in tcv
    assert (EV_ABS, ABS_Y, 8192) in tcv
    assert (EV_KEY, BTN_LEFT, 1) in tcv
    assert (EV_KEY, BTN_LEFT, 0) in tcv
    assert (EV_ABS, ABS_X, 32767) in tcv
    assert (EV_ABS, ABS_Y, 0) in tcv


def test_mass_storage_lun_and_medium_swap(composite: Composite) -> None:
    dev = composite.host.block_device(DISK_VENDOR, DISK_MODEL)
    sectors = int(kt_usb.read_attr(pathlib.Path("/sys/block", pathlib.Path(dev).name, "size")) or 0)
    head = read_block(dev, 9)
    print(f"host disk {dev}: {head!r}, {sectors} sectors")
    assert head == b"IMAGE-ONE"
    assert sectors == IMAGE_SIZE // 512

    lun = composite.gadget.function_dir("mass_storage.usb0") / "lun.0"
    (lun / "forced_eject").write_text("1")
    assert kt_usb.read_attr(lun / "file") == ""
    (lun / "file").write_text(str(composite.image_two))
    swapped = kt_usb.wait_for(
        "the new medium's bytes", lambda: head if (head := read_block(dev, 9)) == b"IMAGE-TWO" else None, 20, 0.2
    )
    print(f"after forced_eject + new file: {swapped!r}")


def test_ncm_gives_a_host_side_interface(composite: Composite) -> None:
    gadget_if = composite.gadget.gadget_ifname("ncm.usb0")
    host_if = composite.host.netif(mac=NCM_HOST_MAC)
    driver = pathlib.Path("/sys/class/net", host_if, "device", "driver").resolve().name
    print(f"NCM: gadget {gadget_if}, host {host_if} ({driver})")
    assert driver == "cdc_ncm"
    assert gadget_if != host_if
