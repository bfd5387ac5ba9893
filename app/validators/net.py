"""Network names and addresses: hostnames, MAC addresses, IP addresses, URLs."""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse

from app.errors import InvalidArgument

HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAC_INPUT_MAX = 64  # longer input is refused before any parsing
_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")
DNS_ENTRY_MAX = 64
URL_MAX = 2048


def hostname(name: str, *, code: int = -1) -> str:
    """One DNS label (what ``/etc/hostname`` holds): 1-63 letters, digits or '-', no '-' at either end."""
    if not HOSTNAME_RE.fullmatch(name):
        raise InvalidArgument(
            "invalid arguments: a hostname is 1-63 letters, digits or '-', not starting or ending with '-'", code=code
        )
    return name


def mac(text: str, *, code: int = -1) -> str:
    """``aa-bb-cc-dd-ee-ff``, ``aabb.ccdd.eeff``, ``AABBCCDDEEFF``... -> ``AA:BB:CC:DD:EE:FF``.

    As NanoKVM: the separators ``-``, ``:`` and ``.`` are dropped wherever they are; what is left must
    be exactly 12 ASCII hex digits. Anything else (spaces, newlines, other letters) is refused.
    """
    if len(text) > MAC_INPUT_MAX:
        raise InvalidArgument("invalid MAC address", code=code)
    digits = re.sub(r"[-:.]", "", text)
    if not _HEX12.fullmatch(digits):
        raise InvalidArgument("invalid MAC address", code=code)
    digits = digits.upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def dns_server(entry: str, *, code: int = -1) -> str:
    """One DNS server's IPv4 or IPv6 address in canonical form (no zone, not unspecified or multicast)."""
    text = entry.strip()
    try:
        if len(text) > DNS_ENTRY_MAX or not text.isascii() or "%" in text:
            raise ValueError("not an IP address")
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid dns server: {_shown(entry)}", code=code) from None
    if address.is_unspecified or address.is_multicast:
        raise InvalidArgument(f"invalid dns server: {_shown(entry)}", code=code)
    return str(address)


def _shown(entry: str) -> str:
    """The input, quoted back only when it is short and printable."""
    return entry if len(entry) <= DNS_ENTRY_MAX and entry.isprintable() else "(not an IP address)"


def wol_address(address: str) -> tuple[str, int]:
    """``IPv4:port`` where Wake-on-LAN packets go; ValueError (a config error, not a request's)."""
    host, _, port = address.rpartition(":")
    try:
        socket.inet_aton(host)
    except OSError:
        raise ValueError(f"{address!r} is not an IPv4 address and port") from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{address!r}: the port is not 1-65535")
    return host, int(port)


def http_url(url: str, *, code: int = -1, message: str = "invalid url") -> urllib.parse.SplitResult:
    """An absolute http(s) URL with a host; ``message`` is the refusal's text."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise InvalidArgument(message, code=code) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(message, code=code)
    return parts


def update_server_url(url: str, *, code: int = -1) -> str:
    """An update server's base: http(s), no query or fragment, at most 2048 characters, no trailing
    ``/``, not ``.../latest.json``."""
    url = url.strip()
    if len(url) > URL_MAX:
        raise InvalidArgument(f"the URL is longer than {URL_MAX} characters", code=code)
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise InvalidArgument("the URL has spaces or control characters", code=code)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument("the URL must be http:// or https:// with a host", code=code)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise InvalidArgument("the URL must not have a query or a fragment", code=code)
    url = url.rstrip("/")
    if url.endswith("/latest.json"):
        raise InvalidArgument("the URL is the server's base, without /latest.json", code=code)
    return url
