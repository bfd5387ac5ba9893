"""USB gadget helpers for the kernel-tier guest: configfs gadgets on dummy_hcd, and
finding/driving what the *same* kernel's USB host side makes of them.

dummy_hcd is both a UDC (``dummy_udc.0``) and a host controller (``usb1``, root port
``1-1``): a gadget bound to it is enumerated by usbhid/usb-storage/cdc_ncm in the same
guest. Standard library only (lean imports under TCG).

* ``Gadget``      -- a configfs gadget (functions, one config, bind/unbind, teardown in
  reverse order); ``remove_gadget(path)`` tears down any gadget, also one made by the app.
* ``UsbHost``     -- the host side: UDC name/state, wait for the event device / block
  device / network interface of a bound gadget, unbind/rebind usbhid.
* ``EvdevReader`` -- a tiny non-blocking evdev reader/writer (``struct input_event``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import select
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

CONFIGFS = pathlib.Path("/sys/kernel/config")
GADGETS = CONFIGFS / "usb_gadget"
SYS = pathlib.Path("/sys")
DEV = pathlib.Path("/dev")

GADGET_MODULES = (
    "dummy_hcd",
    "libcomposite",
    "usb_f_hid",
    "usb_f_mass_storage",
    "usb_f_ncm",
    "usb_f_rndis",
    "usbhid",
    "hid_generic",
    "evdev",
    "usb_storage",
    "sd_mod",
    "cdc_ncm",
    "rndis_host",
)

# --- report descriptors -------------------------------------------------------------

# The standard 63-byte boot keyboard (HID 1.11 appendix B.1; NanoKVM's hidg0): 8-byte
# input report [modifiers, reserved, 6 key codes], 1-byte LED output report (bit 1 = Caps).
BOOT_KEYBOARD_DESC = bytes.fromhex(
    "05010906a101"  # Usage Page (Generic Desktop), Usage (Keyboard), Collection (Application)
    "050719e029e7150025017501950881 02"  # modifiers: 8 x 1 bit, Data,Var,Abs
    "9501750881 03"  # reserved byte: Const
    "950575010508190129059102"  # LEDs: 5 x 1 bit, Output Data,Var,Abs
    "9501750391 03"  # LED padding: Output Const
    "95067508150025650507190029658100"  # 6 key codes 0..101, Data,Array
    "c0"
)

# Absolute pointer, 6-byte report: buttons (3 bits + 5 padding), X LE16 and Y LE16 in
# 0..32767, wheel int8 (relative).
ABS_POINTER_DESC = bytes.fromhex(
    "05010902a101"  # Usage Page (Generic Desktop), Usage (Mouse), Collection (Application)
    "0901a100"  # Usage (Pointer), Collection (Physical)
    "05091901290315002501950375018102"  # buttons 1..3
    "950175058103"  # padding
    "050109300931150026ff7f751095028102"  # X, Y: 0..32767, 16 bit, Data,Var,Abs
    "0938158125 7f750895018106"  # wheel: -127..127, Data,Var,Rel
    "c0c0"
)

# --- linux/input-event-codes.h ------------------------------------------------------

EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_MSC, EV_LED = 0x00, 0x01, 0x02, 0x03, 0x04, 0x11
SYN_REPORT = 0
KEY_A, KEY_CAPSLOCK = 30, 58
LED_NUML, LED_CAPSL, LED_SCROLLL = 0, 1, 2
ABS_X, ABS_Y = 0x00, 0x01
REL_WHEEL = 0x08
BTN_LEFT = 0x110

EVENT = struct.Struct("llHHi")  # struct input_event: timeval, type, code, value (24 bytes)


@dataclass(frozen=True)
class InputEvent:
    sec: int
    usec: int
    type: int
    code: int
    value: int

    @property
    def tcv(self) -> tuple[int, int, int]:
        return (self.type, self.code, self.value)


T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something not None; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not there after {timeout} s")
        time.sleep(interval)


def read_attr(path: pathlib.Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


# --- evdev ------------------------------------------------------------------------


class EvdevReader:
    """``/dev/input/eventN`` opened read-write and non-blocking (no python-evdev)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._buf = b""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> EvdevReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_some(self, timeout: float) -> list[InputEvent]:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        try:
            self._buf += os.read(self.fd, EVENT.size * 64)
        except BlockingIOError:
            return []
        n = len(self._buf) // EVENT.size
        chunk, self._buf = self._buf[: n * EVENT.size], self._buf[n * EVENT.size :]
        return [InputEvent(*EVENT.unpack_from(chunk, i * EVENT.size)) for i in range(n)]

    def drain(self) -> list[InputEvent]:
        """Everything queued right now."""
        out: list[InputEvent] = []
        while batch := self._read_some(0):
            out += batch
        return out

    def read(
        self,
        timeout: float,
        until: Callable[[list[InputEvent]], bool] | None = None,
        types: tuple[int, ...] | None = None,
    ) -> list[InputEvent]:
        """Events (only ``types`` if given) until ``until(events)`` is true or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        events: list[InputEvent] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return events
            events += [e for e in self._read_some(min(left, 0.2)) if types is None or e.type in types]
            if until is not None and until(events):
                return events

    def write_event(self, type_: int, code: int, value: int) -> None:
        os.write(self.fd, EVENT.pack(0, 0, type_, code, value))

    def set_led(self, led: int, on: bool) -> None:
        """EV_LED + SYN_REPORT: the kernel sends the HID output report to the device."""
        self.write_event(EV_LED, led, int(on))
        self.write_event(EV_SYN, SYN_REPORT, 0)


def key_events(events: list[InputEvent]) -> list[tuple[int, int]]:
    """(code, value) of the EV_KEY events, auto-repeat (value 2) dropped."""
    return [(e.code, e.value) for e in events if e.type == EV_KEY and e.value != 2]


# --- configfs gadget ----------------------------------------------------------------


def _rmdir_quiet(path: pathlib.Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.rmdir()


def remove_gadget(gadget: pathlib.Path) -> None:
    """Tear a configfs gadget down in reverse order (works for any gadget layout):
    unbind, config symlinks, config strings, configs, functions, gadget strings, os_desc link, gadget."""
    if not gadget.is_dir():
        return
    udc = gadget / "UDC"
    if read_attr(udc):
        udc.write_text("\n")
    for config in gadget.glob("configs/*"):
        for entry in config.iterdir():
            if entry.is_symlink():
                entry.unlink()
        for strings in config.glob("strings/*"):
            _rmdir_quiet(strings)
        _rmdir_quiet(config)
    for link in gadget.glob("os_desc/*"):
        if link.is_symlink():
            link.unlink()
    for function in gadget.glob("functions/*"):
        # mass_storage: lun.0 goes with the function, extra luns must go first
        for lun in function.glob("lun.*"):
            if lun.name != "lun.0":
                _rmdir_quiet(lun)
        _rmdir_quiet(function)
    for strings in gadget.glob("strings/*"):
        _rmdir_quiet(strings)
    gadget.rmdir()


class Gadget:
    """A configfs gadget with one configuration ``c.1``; functions are linked as added.

    ``add_function("hid", "usb0", protocol=1, subclass=1, report_length=8, report_desc=b"...")``
    writes each attribute (bytes as-is, everything else as ``str``); keys with a "/" go
    to sub-directories (``**{"lun.0/file": path}``).
    """

    def __init__(
        self,
        name: str,
        *,
        vendor: int = 0x1D6B,
        product: int = 0x0104,
        manufacturer: str = "kernel-tier",
        product_name: str = "KT Test IP-KVM",
        serial: str = "kt0001",
        max_power: int = 250,
    ) -> None:
        self.name = name
        self.dir = GADGETS / name
        self.config = self.dir / "configs" / "c.1"
        self.functions: list[str] = []
        self.udc: str | None = None
        self.product_name = product_name
        self.serial = serial
        self.dir.mkdir()
        try:
            (self.dir / "idVendor").write_text(f"0x{vendor:04x}")
            (self.dir / "idProduct").write_text(f"0x{product:04x}")
            (self.dir / "bcdDevice").write_text("0x0100")
            (self.dir / "bcdUSB").write_text("0x0200")
            strings = self.dir / "strings" / "0x409"
            strings.mkdir()
            (strings / "manufacturer").write_text(manufacturer)
            (strings / "product").write_text(product_name)
            (strings / "serialnumber").write_text(serial)
            self.config.mkdir()
            (self.config / "MaxPower").write_text(str(max_power))
            cstrings = self.config / "strings" / "0x409"
            cstrings.mkdir()
            (cstrings / "configuration").write_text("c1")
        except BaseException:
            remove_gadget(self.dir)
            raise

    def function_dir(self, function: str) -> pathlib.Path:
        return self.dir / "functions" / function

    def add_function(self, kind: str, instance: str, **attrs: object) -> pathlib.Path:
        """Create ``functions/<kind>.<instance>``, write its attributes, link it into c.1."""
        function = f"{kind}.{instance}"
        fdir = self.function_dir(function)
        fdir.mkdir()
        for key, value in attrs.items():
            self.write(fdir / key, value)
        (self.config / function).symlink_to(fdir)
        self.functions.append(function)
        return fdir

    @staticmethod
    def write(path: pathlib.Path, value: object) -> None:
        if isinstance(value, bytes):
            path.write_bytes(value)
        else:
            path.write_text(str(value))

    def bind(self, udc: str) -> None:
        (self.dir / "UDC").write_text(udc)
        self.udc = udc

    def unbind(self) -> None:
        (self.dir / "UDC").write_text("\n")
        self.udc = None

    def hidg(self, function: str) -> str:
        """``/dev/hidgN`` of a hid function (matched through the function's ``dev`` major:minor)."""
        devnum = read_attr(self.function_dir(function) / "dev")
        for node in SYS.glob("class/hidg/hidg*"):
            if read_attr(node / "dev") == devnum:
                return str(DEV / node.name)
        raise AssertionError(f"no /dev/hidg* for {function} (dev {devnum})")

    def gadget_ifname(self, function: str) -> str:
        """The gadget-side network interface of an ncm/rndis/ecm function (``usb0``...)."""
        return wait_for(f"{function} ifname", lambda: self._ifname(function), 5)

    def _ifname(self, function: str) -> str | None:
        name = read_attr(self.function_dir(function) / "ifname")
        return name if name and not name.startswith("(") else None  # "(unnamed net_device)" until bound

    def host_mac(self, function: str) -> str:
        """The MAC the host side's interface gets (``host_addr``)."""
        return (read_attr(self.function_dir(function) / "host_addr") or "").lower()

    def remove(self) -> None:
        remove_gadget(self.dir)


# --- host side ----------------------------------------------------------------------


class UsbHost:
    """What the guest's USB host side (dummy_hcd's root hub ``usb1``) sees."""

    USBHID = SYS / "bus" / "usb" / "drivers" / "usbhid"

    def __init__(self) -> None:
        self._gadgets: list[Gadget] = []
        self._unbound: list[str] = []

    # UDC
    @staticmethod
    def udcs() -> list[str]:
        return sorted(p.name for p in (SYS / "class" / "udc").glob("*"))

    def udc(self) -> str:
        """The (first) UDC name: ``dummy_udc.0``."""
        names = self.udcs()
        if not names:
            raise AssertionError("no UDC in /sys/class/udc (is dummy_hcd loaded?)")
        return names[0]

    def udc_state(self, udc: str | None = None) -> str:
        """``not attached`` / ``default`` / ``addressed`` / ``configured`` / ``suspended``."""
        return read_attr(SYS / "class" / "udc" / (udc or self.udc()) / "state") or ""

    # gadgets
    def gadget(self, name: str = "kt", **kwargs: object) -> Gadget:
        """A new configfs gadget, removed by ``cleanup()`` (the fixtures call it) if still there."""
        g = Gadget(name, **kwargs)  # type: ignore[arg-type]
        self._gadgets.append(g)
        return g

    def bind(self, gadget: Gadget, timeout: float = 30) -> float:
        """Bind to the UDC and wait until the host side has the device configured (its
        ``bConfigurationValue`` set); returns the seconds it took. (The UDC ``state`` is no
        use for this on dummy_hcd: it stays "configured" after an unbind.)"""
        t0 = time.monotonic()
        gadget.bind(self.udc())
        wait_for(f"host side of gadget {gadget.name} configured", lambda: self.host_device(gadget), timeout)
        return time.monotonic() - t0

    def host_device(self, gadget: Gadget) -> pathlib.Path | None:
        """The host side's ``/sys/bus/usb/devices/1-1`` of a bound gadget (by serial), once configured."""
        for dev in self.usb_devices():
            if read_attr(dev / "serial") == gadget.serial and read_attr(dev / "bConfigurationValue"):
                return dev
        return None

    def remove(self, gadget: Gadget, timeout: float = 10) -> None:
        """Remove a gadget (unbind, configfs in reverse order) and wait until the host saw it go."""
        gadget.remove()
        if gadget in self._gadgets:
            self._gadgets.remove(gadget)
        wait_for(
            f"host side of gadget {gadget.name} gone",
            lambda: True if not any(read_attr(d / "serial") == gadget.serial for d in self.usb_devices()) else None,
            timeout,
        )

    def cleanup(self) -> None:
        for intf in self._unbound:
            with contextlib.suppress(OSError):
                self.bind_usbhid(intf)
        self._unbound.clear()
        while self._gadgets:
            self.remove(self._gadgets[-1])

    # USB devices and interfaces on the host side
    @staticmethod
    def usb_devices(product: str | None = None) -> list[pathlib.Path]:
        """``/sys/bus/usb/devices/1-1`` etc. (not root hubs, not interfaces), optionally by product string."""
        out = []
        for dev in sorted((SYS / "bus" / "usb" / "devices").glob("*")):
            if ":" in dev.name or dev.name.startswith("usb"):
                continue
            if product is None or read_attr(dev / "product") == product:
                out.append(dev)
        return out

    def interface(self, number: int, product: str | None = None, timeout: float = 20) -> str:
        """The host-side interface name (``1-1:1.0``) of ``bInterfaceNumber`` ``number``."""

        def probe() -> str | None:
            for dev in self.usb_devices(product):
                for intf in dev.glob(f"{dev.name}:*"):
                    if read_attr(intf / "bInterfaceNumber") == f"{number:02x}":
                        return intf.name
            return None

        return wait_for(f"USB interface {number}", probe, timeout)

    @staticmethod
    def _event_nodes() -> Iterator[tuple[str, pathlib.Path, pathlib.Path]]:
        """(eventN, the input device's sysfs dir, its real path) for every event device."""
        for ev in sorted((SYS / "class" / "input").glob("event*")):
            inputdev = ev / "device"
            yield ev.name, inputdev, inputdev.resolve()

    def event_device(
        self,
        *,
        interface: str | None = None,
        phys: str | None = None,
        name: str | None = None,
        timeout: float = 20,
        need_node: bool = True,
    ) -> str:
        """Wait for ``/dev/input/eventN`` of a USB HID interface: by host interface name
        (``1-1:1.0``), by input ``phys`` (``usb-dummy_hcd.0-1/input0``) or by input ``name``."""

        def probe() -> str | None:
            for evname, inputdev, real in self._event_nodes():
                if interface is not None and interface not in real.parts:
                    continue
                if phys is not None and read_attr(inputdev / "phys") != phys:
                    continue
                if name is not None and read_attr(inputdev / "name") != name:
                    continue
                node = DEV / "input" / evname
                if need_node and not node.exists():
                    continue
                return str(node)
            return None

        return wait_for(f"event device (interface={interface} phys={phys} name={name})", probe, timeout)

    def hidraw_device(self, interface: str, timeout: float = 20) -> str:
        def probe() -> str | None:
            for node in sorted((SYS / "class" / "hidraw").glob("hidraw*")):
                if interface in (node / "device").resolve().parts and (DEV / node.name).exists():
                    return str(DEV / node.name)
            return None

        return wait_for(f"hidraw of {interface}", probe, timeout)

    @staticmethod
    def block_device(vendor: str, model: str, timeout: float = 30, with_medium: bool = True) -> str:
        """Wait for the ``/dev/sdX`` whose SCSI vendor/model match (stripped); with a medium (size > 0)."""

        def probe() -> str | None:
            for blk in sorted((SYS / "block").glob("sd*")):
                if read_attr(blk / "device" / "vendor") != vendor or read_attr(blk / "device" / "model") != model:
                    continue
                if with_medium and (read_attr(blk / "size") or "0") == "0":
                    continue
                if (DEV / blk.name).exists():
                    return str(DEV / blk.name)
            return None

        return wait_for(f"block device {vendor!r} {model!r}", probe, timeout)

    @staticmethod
    def netif(
        *, mac: str | None = None, drivers: tuple[str, ...] = ("cdc_ncm", "rndis_host"), timeout: float = 20
    ) -> str:
        """Wait for the host-side network interface made by cdc_ncm/rndis_host (optionally by MAC)."""

        def probe() -> str | None:
            for net in sorted((SYS / "class" / "net").glob("*")):
                driver = (net / "device" / "driver").resolve().name if (net / "device" / "driver").exists() else None
                if driver not in drivers:
                    continue
                if mac is not None and (read_attr(net / "address") or "").lower() != mac.lower():
                    continue
                return net.name
            return None

        return wait_for(f"host network interface ({drivers}, mac={mac})", probe, timeout)

    # usbhid
    def unbind_usbhid(self, interface: str) -> None:
        """Detach usbhid from an interface: the host stops polling it (a PC that is off)."""
        (self.USBHID / "unbind").write_text(interface)
        self._unbound.append(interface)

    def bind_usbhid(self, interface: str) -> None:
        (self.USBHID / "bind").write_text(interface)
        if interface in self._unbound:
            self._unbound.remove(interface)

    @contextlib.contextmanager
    def usbhid_unbound(self, interface: str) -> Iterator[None]:
        self.unbind_usbhid(interface)
        try:
            yield
        finally:
            self.bind_usbhid(interface)


def read_hidg(path: str, size: int, timeout: float, until: Callable[[list[bytes]], bool]) -> list[bytes]:
    """Reports read from ``/dev/hidgN`` (output reports from the host) until ``until`` or timeout."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    reports: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while not until(reports):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                try:
                    reports.append(os.read(fd, size))
                except BlockingIOError:
                    continue
    finally:
        os.close(fd)
    return reports


def write_nonblocking(path: str, reports: list[bytes]) -> list[str]:
    """Write each report with O_NONBLOCK; per report "ok" or the errno name (``EAGAIN``)."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    out = []
    try:
        for report in reports:
            try:
                os.write(fd, report)
                out.append("ok")
            except OSError as exc:
                out.append(errno.errorcode.get(exc.errno or 0, str(exc.errno)))
    finally:
        os.close(fd)
    return out


def write_report(path: str, report: bytes, timeout: float = 5.0) -> float:
    """Write one report to ``/dev/hidgN`` without ever blocking forever: O_NONBLOCK, retried
    on EAGAIN until ``timeout`` (then AssertionError: the host is not polling). Returns the
    seconds it took."""
    t0 = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            try:
                os.write(fd, report)
                return time.monotonic() - t0
            except BlockingIOError:
                if time.monotonic() - t0 > timeout:
                    raise AssertionError(f"{path}: EAGAIN for {timeout} s (host not polling?)") from None
                time.sleep(0.01)
    finally:
        os.close(fd)
