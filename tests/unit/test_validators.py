"""Table tests for ``app.validators``: what each rule accepts (and how it is written back) and refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app import validators
from app.errors import DomainError, InvalidArgument

ACCEPTED: list[tuple[Callable[..., Any], str, Any]] = [
    (validators.hostname, "kvm", "kvm"),
    (validators.hostname, "a", "a"),
    (validators.hostname, "NanoKVM-2", "NanoKVM-2"),
    (validators.hostname, "x" * 63, "x" * 63),
    (validators.mac, "aa-bb-cc-0d-0e-0f", "AA:BB:CC:0D:0E:0F"),
    (validators.mac, "aabb.ccdd.eeff", "AA:BB:CC:DD:EE:FF"),
    (validators.mac, "AABBCCDDEEFF", "AA:BB:CC:DD:EE:FF"),
    (validators.mac, "a:a:b:b:c:c:d:d:e:e:f:f", "AA:BB:CC:DD:EE:FF"),
    (validators.dns_server, "1.1.1.1", "1.1.1.1"),
    (validators.dns_server, " 9.9.9.9 ", "9.9.9.9"),
    (validators.dns_server, "2001:4860:4860:0:0:0:0:8888", "2001:4860:4860::8888"),
    (validators.wifi_ssid, "home", "home"),
    (validators.wifi_ssid, "Café ☕", "Café ☕"),
    (validators.wifi_ssid, "x" * 32, "x" * 32),
    (validators.wifi_password, "", ""),
    (validators.wifi_password, "12345678", "12345678"),
    (validators.wifi_password, "p" * 63, "p" * 63),
    (validators.wifi_password, "a b~c!d@", "a b~c!d@"),
    (validators.wifi_password, "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789", None),
    (validators.web_title, "", ""),
    (validators.web_title, "Rack 3 \u2013 KVM", "Rack 3 \u2013 KVM"),
    (validators.web_title, "t" * 64, "t" * 64),
    (validators.one_line_name, "  my   NAS\tbox ", "my NAS box"),
    (validators.one_line_name, "n" * 32, "n" * 32),
    (validators.update_server_url, "https://updates.example.com/kvm/", "https://updates.example.com/kvm"),
    (validators.update_server_url, " http://10.0.0.2:8080 ", "http://10.0.0.2:8080"),
    (validators.username, "ops", "ops"),
    (validators.username, "a", "a"),
    (validators.username, "Ops.team_2-b", "Ops.team_2-b"),
    (validators.username, "u" * 32, "u" * 32),
    (validators.new_password, "eight ch", "eight ch"),
    (validators.new_password, "p" * 72, "p" * 72),
    (validators.new_password, "\u00e9" * 36, "\u00e9" * 36),  # 72 bytes of UTF-8
    (validators.role_name, "viewer", "viewer"),
    (validators.role_name, "admin", "admin"),
]

REFUSED: list[tuple[Callable[..., Any], str, str]] = [
    (validators.hostname, "", "a hostname is 1-63"),
    (validators.hostname, "-kvm", "a hostname is 1-63"),
    (validators.hostname, "kvm-", "a hostname is 1-63"),
    (validators.hostname, "kvm.local", "a hostname is 1-63"),
    (validators.hostname, "kvm host", "a hostname is 1-63"),
    (validators.hostname, "x" * 64, "a hostname is 1-63"),
    (validators.hostname, "kvm\n", "a hostname is 1-63"),
    (validators.hostname, "kvm_1", "a hostname is 1-63"),
    (validators.mac, "", "invalid MAC address"),
    (validators.mac, "aa:bb:cc:dd:ee", "invalid MAC address"),
    (validators.mac, "aa:bb:cc:dd:ee:ff:00", "invalid MAC address"),
    (validators.mac, "gg:bb:cc:dd:ee:ff", "invalid MAC address"),
    (validators.mac, "aa bb cc dd ee ff", "invalid MAC address"),
    (validators.mac, "aa:bb:cc:dd:ee:ff\n", "invalid MAC address"),
    (validators.mac, "-" * 100 + "aabbccddeeff", "invalid MAC address"),
    (validators.mac, "\uff41\uff41bbccddeeff", "invalid MAC address"),  # fullwidth letters are not ASCII hex
    (validators.dns_server, "0.0.0.0", "invalid dns server: 0.0.0.0"),
    (validators.dns_server, "224.0.0.1", "invalid dns server: 224.0.0.1"),
    (validators.dns_server, "fe80::1%eth0", "invalid dns server: fe80::1%eth0"),
    (validators.dns_server, "dns.google", "invalid dns server: dns.google"),
    (validators.dns_server, "1.1.1", "invalid dns server: 1.1.1"),
    (validators.dns_server, "1" * 100, "invalid dns server: (not an IP address)"),
    (validators.dns_server, "1.1.1.1\n8.8.8.8", "invalid dns server: (not an IP address)"),
    (validators.wifi_ssid, "", "an SSID is 1-32 bytes"),
    (validators.wifi_ssid, "x" * 33, "an SSID is 1-32 bytes"),
    (validators.wifi_ssid, "é" * 17, "an SSID is 1-32 bytes"),  # 17 characters, 34 bytes
    (validators.wifi_ssid, "home\nnet", "an SSID is one line"),
    (validators.wifi_ssid, "home\u200bnet", "an SSID is one line"),
    (validators.wifi_password, "1234567", "a password is 8-63 printable ASCII"),
    (validators.wifi_password, "p" * 64, "a password is 8-63 printable ASCII"),  # 64 characters, not all hex
    (validators.wifi_password, "pässwort", "a password is 8-63 printable ASCII"),
    (validators.wifi_password, "pass\tword", "a password is 8-63 printable ASCII"),
    (validators.web_title, "t" * 65, "a title is at most 64 printable characters"),
    (validators.web_title, "two\nlines", "a title is at most 64 printable characters"),
    (validators.one_line_name, "n" * 33, "a name is one line of at most 32 characters"),
    (validators.one_line_name, "a\nb", "a name is one line of at most 32 characters"),
    (validators.one_line_name, "a\u2028b", "a name is one line of at most 32 characters"),
    (validators.update_server_url, "ftp://example.com", "must be http:// or https:// with a host"),
    (validators.update_server_url, "https://", "must be http:// or https:// with a host"),
    (validators.update_server_url, "https://example.com/?a=1", "must not have a query or a fragment"),
    (validators.update_server_url, "https://example.com/#top", "must not have a query or a fragment"),
    (validators.update_server_url, "https://example.com/latest.json", "without /latest.json"),
    (validators.update_server_url, "https://exa mple.com", "spaces or control characters"),
    (validators.update_server_url, "https://example.com/" + "a" * 2048, "longer than 2048 characters"),
    (validators.username, "", "invalid username"),
    (validators.username, "../etc", "invalid username"),
    (validators.username, ".hidden", "invalid username"),
    (validators.username, "u" * 33, "invalid username"),
    (validators.username, "bob smith", "invalid username"),
    (validators.username, "bob\n", "invalid username"),
    (validators.username, "j\u00f6rg", "invalid username"),
    (validators.new_password, "seven c", "between 8 and 72 bytes"),
    (validators.new_password, "p" * 73, "between 8 and 72 bytes"),
    (validators.new_password, "\u00e9" * 37, "between 8 and 72 bytes"),  # 37 characters, 74 bytes
    (validators.new_password, "pass\x00word", "invalid password"),
    (validators.role_name, "root", "invalid role"),
    (validators.role_name, "Admin", "invalid role"),
    (validators.role_name, "", "invalid role"),
]


@pytest.mark.parametrize(("validator", "value", "expected"), ACCEPTED)
def test_accepted(validator: Callable[..., Any], value: str, expected: Any) -> None:
    assert validator(value) == (value if expected is None else expected)


@pytest.mark.parametrize(("validator", "value", "reason"), REFUSED)
def test_refused(validator: Callable[..., Any], value: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validator(value)
    assert reason in refused.value.msg
    assert "\n" not in refused.value.msg  # one line, whatever the input
    assert refused.value.code == -1


def test_refusals_carry_the_callers_code_and_are_value_errors() -> None:
    with pytest.raises(InvalidArgument) as refused:
        validators.mac("nope", code=-2)
    assert (refused.value.code, refused.value.msg) == (-2, "invalid MAC address")
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, DomainError)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/images/debian.iso", True),
        ("http://[::1]:8080/a.iso", True),
        ("file:///etc/passwd", False),
        ("https:///no-host.iso", False),
        ("http://[::1/a.iso", False),  # unbalanced bracket: urlsplit refuses it
        ("gopher://example.com/a.iso", False),
    ],
)
def test_http_url(url: str, ok: bool) -> None:
    if ok:
        assert validators.http_url(url).geturl() == url
    else:
        with pytest.raises(InvalidArgument, match="invalid url"):
            validators.http_url(url)


def test_wol_address() -> None:
    assert validators.wol_address("255.255.255.255:9") == ("255.255.255.255", 9)
    for bad in ("255.255.255.255:0", "example.com:9", "1.2.3.4:70000", "999.1.1.1:9", "1.2.3.4:x"):
        with pytest.raises(ValueError):
            validators.wol_address(bad)
