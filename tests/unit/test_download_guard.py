"""The download guard's rules (issue 13, finding 6): which addresses a download may reach, that the
address connected to is the one checked, and how a URL is shown."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.board.network import is_own_address
from app.errors import InvalidArgument
from app.paths import DeviceRoot
from app.services.media import download_guard
from app.services.media.download_guard import Refused, literal_refusal, redacted, refusal
from app.services.media.transfers import Transfers
from tests.lan import lan_address


def nothing_own(_: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.1.2", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64's well-known prefix
        ("169.254.169.254", "a link-local address"),  # cloud metadata
        ("fe80::1", "a link-local address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("0.1.2.3", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("255.255.255.255", "a reserved address"),
        ("240.0.0.1", "a reserved address"),
        # LAN ranges stay allowed: that is where users keep their ISOs.
        ("10.1.2.3", None),
        ("172.16.0.9", None),
        ("192.168.1.20", None),
        ("100.64.0.1", None),  # carrier-grade NAT, Tailscale
        ("fd00::5", None),  # unique local
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_refused_and_allowed_addresses(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address), nothing_own) == reason


def test_the_devices_own_addresses_are_refused() -> None:
    lan = lan_address()
    assert is_own_address(lan) and is_own_address("127.0.0.1")
    assert not is_own_address("198.51.100.7")  # TEST-NET-2: on no interface here
    assert refusal(ipaddress.ip_address(lan), is_own_address) == "this device's own address"
    assert refusal(ipaddress.ip_address(lan), nothing_own) is None


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "0x7f000001", "2130706433", "127.1", "0177.0.0.1", "::1", "169.254.169.254", "0"]
)
def test_addresses_in_any_form_the_resolver_takes(host: str) -> None:
    reason = literal_refusal(host, nothing_own)
    assert reason is not None and reason.startswith(f"refusing to download from {host}: ")


def test_names_are_left_to_the_connection() -> None:
    assert literal_refusal("localhost", nothing_own) is None  # no DNS lookup here
    assert literal_refusal("mirror.example", nothing_own) is None
    assert literal_refusal("192.168.1.20", nothing_own) is None


def test_a_transfer_service_refuses_its_own_lan_address(tmp_path: Path) -> None:
    """A board's Transfers (the bind-probe default) refuses the machine's own address at once."""
    transfers = Transfers(DeviceRoot(tmp_path))
    with pytest.raises(InvalidArgument, match="this device's own address"):
        transfers.start_download(f"http://{lan_address()}:8080/x.iso", "")
    assert transfers.status().status == "idle"


@pytest.fixture
def listener() -> Iterator[tuple[str, int, list[str]]]:
    """A TCP listener on the LAN address that records who connected."""
    server = socket.create_server((lan_address(), 0))
    seen: list[str] = []

    def accept() -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            seen.append(peer[0])
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield lan_address(), server.getsockname()[1], seen
    server.close()


def test_the_address_connected_to_is_the_one_checked(
    monkeypatch: pytest.MonkeyPatch, listener: tuple[str, int, list[str]]
) -> None:
    """DNS rebinding: the name is resolved once per connection; a loopback answer among the addresses
    is skipped and the socket connects to the allowed address that was checked."""
    lan, port, _ = listener
    lookups: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        first = real("127.0.0.1", port, *args, **kwargs)
        return first + real(lan, port, *args, **kwargs)

    monkeypatch.setattr(download_guard.socket, "getaddrinfo", rebinding)
    sock = download_guard.connect("rebind.example", port, 5.0, nothing_own)
    try:
        assert sock.getpeername()[0] == lan
    finally:
        sock.close()
    assert lookups == ["rebind.example"]


def test_a_name_with_only_refused_addresses_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    monkeypatch.setattr(
        download_guard.socket, "getaddrinfo", lambda host, port, *a, **k: real("169.254.169.254", port, *a, **k)
    )
    with pytest.raises(Refused, match=r"metadata\.example: 169\.254\.169\.254 is a link-local address"):
        download_guard.connect("metadata.example", 80, 5.0, nothing_own)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://mirror.lan/x.iso", "http://mirror.lan/x.iso"),
        ("http://alice:s3cret@mirror.lan:8080/x.iso", "http://***@mirror.lan:8080/x.iso"),
        ("https://tok@mirror.lan/x.iso", "https://***@mirror.lan/x.iso"),
        ("http://a:b@c@mirror.lan/x.iso", "http://***@mirror.lan/x.iso"),
        ("https://s3.example/x.iso?X-Amz-Signature=abc&v=2", "https://s3.example/x.iso?X-Amz-Signature=***&v=2"),
        ("http://m.lan/x.iso?token=abc&api_key=k&name=x", "http://m.lan/x.iso?token=***&api_key=***&name=x"),
        ("http://m.lan/x.iso?v=1&w", "http://m.lan/x.iso?v=1&w"),
    ],
)
def test_redacted(url: str, shown: str) -> None:
    assert redacted(url) == shown
