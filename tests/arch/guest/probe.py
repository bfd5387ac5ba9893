"""What the architecture tier looks at inside the guest (standard library only; runs under TCG).

    probe.py make-iso PATH LABEL     an ISO 9660-looking image (CD001 + volume label) of 320 sectors
    probe.py keys TIMEOUT READY      the NanoKVM keyboard's key events on the USB host side, as JSON;
                                     READY is written once the event device is open
    probe.py block LABEL TIMEOUT     the host-side block device of the gadget's LUN whose medium is
                                     labelled LABEL, as JSON
    probe.py rss PIDFILE             VmRSS (kB) of the process in PIDFILE
    probe.py gadget TIMEOUT          the NanoKVM device (3346:1009) as the USB host side enumerated it

The USB host side is dummy_hcd's: the same kernel enumerates the app's gadget. The event-device
helpers are the kernel tier's (tests/kernel/guest/kt_usb.py).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "kernel" / "guest"))

import kt_usb

ISO_SECTORS = 320  # f_mass_storage refuses a CD-ROM image under 300 sectors
PVD = 16 * 2048  # ISO 9660's primary volume descriptor


def make_iso(path: str, label: str) -> None:
    unit = f"<{label}>".encode()
    size = ISO_SECTORS * 2048
    data = bytearray((unit * (size // len(unit) + 1))[:size])
    data[PVD : PVD + 7] = b"\x01CD001\x01"
    data[PVD + 40 : PVD + 72] = label.encode().ljust(32)
    pathlib.Path(path).write_bytes(bytes(data))


def keys(timeout: float, ready: str) -> None:
    host = kt_usb.UsbHost()
    keyboard = host.event_device(interface=host.interface(0), timeout=timeout)
    with kt_usb.EvdevReader(keyboard) as reader:  # an open event device makes usbhid poll the keyboard
        reader.drain()
        pathlib.Path(ready).write_text(keyboard)
        events = reader.read(timeout, until=lambda ev: len(kt_usb.key_events(ev)) >= 2, types=(kt_usb.EV_KEY,))
    print(json.dumps({"device": keyboard, "keys": kt_usb.key_events(events)}))


def block(label: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        for blk in sorted([*pathlib.Path("/sys/block").glob("sd*"), *pathlib.Path("/sys/block").glob("sr*")]):
            if kt_usb.read_attr(blk / "device" / "vendor") != "NanoKVM":
                continue
            node = f"/dev/{blk.name}"
            try:
                with pathlib.Path(node).open("rb") as f:
                    f.seek(PVD)
                    head = f.read(72)
            except OSError as exc:
                seen[node] = str(exc)
                continue
            found = head[40:72].decode(errors="replace").strip()
            seen[node] = found
            if head[1:6] == b"CD001" and found == label:
                size = int(kt_usb.read_attr(blk / "size") or 0) * 512
                print(
                    json.dumps(
                        {
                            "device": node,
                            "label": found,
                            "bytes": size,
                            "model": kt_usb.read_attr(blk / "device" / "model"),
                        }
                    )
                )
                return
        time.sleep(0.5)
    print(json.dumps({"device": None, "seen": seen}))
    sys.exit(1)


def rss(pidfile: str) -> None:
    pid = pathlib.Path(pidfile).read_text().strip()
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            print(json.dumps({"pid": int(pid), "rss_kb": int(line.split()[1])}))
            return
    sys.exit(1)


def gadget(timeout: float) -> None:
    def configured() -> pathlib.Path | None:
        for dev in kt_usb.UsbHost.usb_devices():
            ids = (kt_usb.read_attr(dev / "idVendor"), kt_usb.read_attr(dev / "idProduct"))
            if ids == ("3346", "1009") and kt_usb.read_attr(dev / "bConfigurationValue"):
                return dev
        return None

    dev = kt_usb.wait_for("the NanoKVM gadget configured on the USB host side", configured, timeout)
    classes = [kt_usb.read_attr(intf / "bInterfaceClass") for intf in sorted(dev.glob(f"{dev.name}:*"))]
    print(json.dumps({"device": dev.name, "product": kt_usb.read_attr(dev / "product"), "classes": classes}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "make-iso":
        make_iso(args[0], args[1])
    elif cmd == "keys":
        keys(float(args[0]), args[1])
    elif cmd == "block":
        block(args[0], float(args[1]))
    elif cmd == "gadget":
        gadget(float(args[0]))
    elif cmd == "rss":
        rss(args[0])
    else:
        sys.exit(f"unknown command {cmd}")
