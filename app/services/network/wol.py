"""Wake-on-LAN (spec 4.7, 7.6): the app sends the magic packet itself and keeps the saved MAC list.

NanoKVM shells out to ``ether-wake -b <MAC>``; here the packet (6 x 0xFF, then the MAC 16 times) goes
out of a UDP socket with SO_BROADCAST to ``network.wolAddress`` (255.255.255.255:9 on a board; the
sim board and tests aim at a port on 127.0.0.1). The list lives in ``/etc/kvm/cache/wol``, one
``MAC[ name]`` per line.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading

from app import validators
from app.errors import Failed, NotFound
from app.paths import DeviceRoot, atomic_write

HISTORY = "/etc/kvm/cache/wol"
NAME_MAX = 32
MAC_INPUT_MAX = 64  # longer input is refused before any parsing
_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")


def normalise_mac(text: str) -> str:
    """``AA:BB:CC:DD:EE:FF`` from any of NanoKVM's spellings (``app.validators.mac``); -2 otherwise."""
    return validators.mac(text, code=-2)


def magic_packet(mac: str) -> bytes:
    raw = bytes.fromhex(normalise_mac(mac).replace(":", ""))
    return b"\xff" * 6 + raw * 16


def clean_name(name: str) -> str:
    """A device name for the list (``app.validators.one_line_name``)."""
    return validators.one_line_name(name, limit=NAME_MAX)


def parse_address(address: str) -> tuple[str, int]:
    return validators.wol_address(address)


class WakeOnLan:
    def __init__(self, root: DeviceRoot, address: str) -> None:
        self.path = root(HISTORY)
        self.address = parse_address(address)
        self._lock = threading.Lock()

    def wake(self, mac: str) -> None:
        packet = magic_packet(mac)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.sendto(packet, self.address)
        except OSError as err:
            raise Failed(f"send failed: {err.strerror or err}", code=-3) from None
        self._remember(normalise_mac(mac))

    # --- the saved list --------------------------------------------------------------------

    def _read(self) -> list[str]:
        """The list's lines; [] when there is none yet. OSError if it cannot be read."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _write(self, lines: list[str]) -> None:
        try:
            atomic_write(self.path, "".join(f"{line}\n" for line in lines).encode())
        except OSError:
            raise Failed("write failed", code=-3) from None

    @staticmethod
    def _mac_of(line: str) -> str:
        return line.split(" ", 1)[0].upper()

    def _remember(self, mac: str) -> None:
        with self._lock:
            try:
                lines = self._read()
            except OSError:
                return  # the packet went out; an unreadable list is not the caller's failure
            if all(self._mac_of(line) != mac for line in lines):
                with contextlib.suppress(Failed):
                    self._write([*lines, mac])

    def macs(self) -> list[str]:
        """Every saved entry, ``MAC`` or ``MAC name``. A missing list is an empty one ([]): NanoKVM
        HEAD answers so, and clients read the older -2 ``open file error`` as empty too."""
        try:
            return self._read()
        except OSError:
            raise Failed("open file error", code=-2) from None

    def delete(self, mac: str) -> None:
        mac = normalise_mac(mac)
        with self._lock:
            try:
                lines = self._read()
            except OSError:
                raise Failed("read failed", code=-2) from None
            kept = [line for line in lines if self._mac_of(line) != mac]
            if kept != lines:
                self._write(kept)

    def rename(self, mac: str, name: str) -> None:
        mac = normalise_mac(mac)
        name = clean_name(name)
        with self._lock:
            try:
                lines = self._read()
            except OSError:
                raise Failed("read failed", code=-2) from None
            if all(self._mac_of(line) != mac for line in lines):
                raise NotFound("MAC address not found", code=-3)
            entry = f"{mac} {name}" if name else mac
            self._write([entry if self._mac_of(line) == mac else line for line in lines])
