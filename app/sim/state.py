"""Lay out and fill the sim board's device root on first start (idempotent).

It holds what a NanoKVM image has on its filesystem: hardware and version files, a device key,
the exported GPIO lines, the data partition, a fake UDC for the gadget (which the runtime builds
under ``/sys/kernel/config`` with the board's own gadget manager).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from app.board.atx import Pins
from app.board.hid import HidPaths
from app.paths import DeviceRoot, atomic_write

# The NanoKVM API level this app implements (clients gate features on it).
API_LEVEL = "2.5.1"


def _ensure(root: DeviceRoot, path: str, content: str, mode: int = 0o644) -> None:
    target = root(path)
    if not target.exists():
        atomic_write(target, content.encode("utf-8"), mode)


def _fifo(path: Path) -> None:
    """A FIFO standing in for a gadget node (replacing whatever else is there)."""
    try:
        if stat.S_ISFIFO(path.stat().st_mode):
            return
        path.unlink()
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)


def prepare_sim_root(root: DeviceRoot, pins: Pins, hid: HidPaths) -> None:
    first_start = not root("/boot").exists()
    for directory in ("/etc/kvm", "/data", "/boot", "/kvmapp/kvm", "/run", "/dev", "/proc", "/sys/class/udc/sim-udc"):
        root(directory).mkdir(parents=True, exist_ok=True)
    if first_start:  # as a stock image: the virtual disk on (then toggled by /api/vm/device/virtual)
        _ensure(root, "/boot/usb.disk0", "")
    _ensure(root, "/etc/kvm/hw", "alpha\n")
    _ensure(root, "/kvmapp/version", f"{API_LEVEL}\n")
    _ensure(root, "/boot/ver", "2026-01-05-1_4_1.img\n")
    _ensure(root, "/device_key", secrets.token_hex(16) + "\n", 0o600)
    _ensure(root, "/etc/hostname", "kvm-sim\n")
    _ensure(root, "/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tkvm-sim\n")
    if not root("/etc/kvm/.initialised").exists():
        _ensure(root, "/etc/kvm/ssh_stop", "")  # SSH is off until the owner turns it on
        _ensure(root, "/etc/kvm/.initialised", "")
    for number in (pins.power_button, pins.reset_button):
        _ensure(root, f"/sys/class/gpio/gpio{number}/direction", "out\n")
        _ensure(root, f"/sys/class/gpio/gpio{number}/value", "0\n")
    for number in (pins.power_led, pins.hdd_led) if pins.hdd_led else (pins.power_led,):
        _ensure(root, f"/sys/class/gpio/gpio{number}/direction", "in\n")
        _ensure(root, f"/sys/class/gpio/gpio{number}/value", "1\n")  # LEDs off (active low)
    for node in hid:
        _fifo(node)
