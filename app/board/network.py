"""The board's IPv4 addresses for ``/api/vm/info`` (spec 4.2) and DNS's interface details (4.7)."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

import msgspec

_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_IFF_UP = 0x1
_SIOCGIFNETMASK = 0x891B


class Address(msgspec.Struct):
    name: str
    addr: str
    version: str
    type: str


def _kind(name: str) -> str | None:
    if name.startswith(("eth", "en")):
        return "Wired"
    if name.startswith(("wlan", "wl")):
        return "Wireless"
    return None


def _ipv4(sock: socket.socket, name: str) -> str | None:
    packed = struct.pack("256s", name.encode()[:15])
    try:
        flags = struct.unpack("H", fcntl.ioctl(sock, _SIOCGIFFLAGS, packed)[16:18])[0]
        if not flags & _IFF_UP:
            return None
        return socket.inet_ntoa(fcntl.ioctl(sock, _SIOCGIFADDR, packed)[20:24])
    except OSError:  # no IPv4 address on this interface
        return None


def board_addresses() -> list[Address] | None:
    """Up interfaces named eth*/en* (Wired) or wlan*/wl* (Wireless) with an IPv4 address."""
    found: list[Address] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            kind = _kind(name)
            addr = _ipv4(sock, name) if kind else None
            if kind and addr:
                found.append(Address(name, addr, "IPv4", kind))
    return found or None  # Go's nil slice: null, not []


def interface_info(name: str) -> tuple[str, str]:
    """(address/prefix, netmask) of an interface's IPv4 address; ("", "") without one."""
    packed = struct.pack("256s", name.encode()[:15])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            address = socket.inet_ntoa(fcntl.ioctl(sock, _SIOCGIFADDR, packed)[20:24])
            mask = socket.inet_ntoa(fcntl.ioctl(sock, _SIOCGIFNETMASK, packed)[20:24])
    except OSError:
        return "", ""
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    return f"{address}/{prefix}", mask


def is_own_address(address: str) -> bool:
    """Whether ``address`` is bound to one of this machine's interfaces: the kernel lets a socket bind
    to exactly those (any interface, IPv4 and IPv6 alike, with no list to read and keep current)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def fallback_interface() -> str:
    """The first up interface with an IPv4 address (DNS reports it when no default route says)."""
    addresses = board_addresses() or []
    return addresses[0].name if addresses else ""
