"""Where download-by-URL may connect, and how its URL is shown (issue 13, finding 6).

An admin's "download this ISO" must not become a way to reach what only the device can reach: its
own services on loopback (the API itself, kvm_system, the terminal), a cloud's metadata service on
link-local ``169.254.169.254``, or its own addresses. So a connection is refused to:

- loopback (``127.0.0.0/8``, ``::1``), link-local (``169.254.0.0/16``, ``fe80::/10``), unspecified
  (``0.0.0.0/8``, ``::``; Linux connects ``0.0.0.0`` to the machine itself), multicast, broadcast and
  the other reserved ranges;
- any address of the device itself (the board says which: on a board every address bound to one of
  its interfaces; on the sim board the addresses it reports);
- an IPv4 address wrapped in IPv6 (``::ffff:127.0.0.1``, NAT64's ``64:ff9b::7f00:1``) by the address
  it wraps.

Private ranges (RFC 1918, ``100.64.0.0/10``, IPv6 ULA) stay allowed: a LAN mirror or a NAS is where
users keep their ISOs, and NanoKVM downloads from them.

The check is made on the address actually connected to: the host is resolved once, each address is
checked, and the socket connects to that checked address (never a second lookup that DNS rebinding
could answer differently). Every redirect opens a new connection through the same check.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
OwnAddress = Callable[[str], bool]  # whether an address (text) is one of the device's own

_UNSPECIFIED_V4 = ipaddress.IPv4Network("0.0.0.0/8")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SECRET_QUERY = re.compile(r"token|key|sig|secret|pass|auth|credential|session", re.IGNORECASE)


class Refused(Exception):
    """The URL's host is (or resolves only to) an address downloads may not reach."""


def _unwrapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress, own_address: OwnAddress) -> str | None:
    """Why a download may not connect to ``address``, or None when it may."""
    address = _unwrapped(address)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in _UNSPECIFIED_V4):
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved or address == ipaddress.IPv4Address("255.255.255.255"):
        return "a reserved address"
    if own_address(str(address)):
        return "this device's own address"
    return None


def literal_refusal(host: str, own_address: OwnAddress) -> str | None:
    """The refusal for a host written as an address (any form the resolver takes: ``0x7f000001``,
    ``2130706433``, ``127.1``), without a DNS lookup; None for a name or an allowed address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None  # a name: checked when it is resolved
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        reason = refusal(address, own_address)
        if reason is not None:
            return f"refusing to download from {host}: {reason}"
    return None


def connect(host: str, port: int, timeout: float | None, own_address: OwnAddress) -> socket.socket:
    """A TCP connection to the first allowed address ``host`` resolves to; Refused if it has none."""
    refused: list[str] = []
    failure: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = refusal(address, own_address)
        if reason is not None:
            refused.append(f"{address} is {reason}")
            continue
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)  # the address just checked, not the name again
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:
            sock.close()
            failure = err
            continue
        return sock
    if failure is not None:
        raise failure
    raise Refused(f"refusing to download from {host}: {'; '.join(refused) or 'no address'}")


class GuardedHTTPConnection(http.client.HTTPConnection):
    """``http.client``'s connection, connecting only through ``connect`` above."""

    def __init__(self, host: str, port: int | None, timeout: float, own_address: OwnAddress) -> None:
        super().__init__(host, port, timeout=timeout)
        self.own_address = own_address

    def connect(self) -> None:
        self.sock = connect(self.host, self.port, self.timeout, self.own_address)


class GuardedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS; the certificate is checked against the URL's host name as usual."""

    def __init__(self, host: str, port: int | None, timeout: float, own_address: OwnAddress) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.own_address = own_address

    def connect(self) -> None:
        sock = connect(self.host, self.port, self.timeout, self.own_address)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def basic_auth(url: str) -> str | None:
    """The ``Authorization`` value for a URL's ``user:password@`` (as NanoKVM's Go client sends it)."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def redacted(url: str) -> str:
    """``url`` as status replies, logs and the audit log show it: no ``user:password@``, and the values
    of query parameters that look like secrets (``token``, ``key``, ``sig``...) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
        if "@" in parts.netloc:
            host = "***@" + host
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_SECRET_QUERY.search(name) for name, _ in pairs):
                query = urlencode(
                    [(name, "***" if _SECRET_QUERY.search(name) else value) for name, value in pairs],
                    quote_via=quote,
                    safe="*",
                )
        return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))
    except ValueError:
        return "(an unreadable URL)"
