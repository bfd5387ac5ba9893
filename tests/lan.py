"""A LAN address of this machine, for test servers that a download by URL must be allowed to reach.

Downloads refuse loopback (issue 13, finding 6), so a test's image server listens on the address the
machine has on its network instead; the sim board reports only loopback as its own address, so that
one counts as the LAN. Without one (a machine with no network at all) the test skips, a failure under
``CI=true``.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

from app.board.network import board_addresses


def _usable(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def lan_address() -> str:
    """The IPv4 address this machine would reach other hosts from, else any up interface's one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only routed, nothing is sent
            address = str(probe.getsockname()[0])
            if _usable(address):
                return address
        except OSError:
            pass
    for entry in board_addresses() or []:
        if _usable(entry.addr):
            return entry.addr
    message = "no LAN address on this machine: the download tests need one (downloads refuse loopback)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
