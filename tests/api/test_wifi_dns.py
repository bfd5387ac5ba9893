"""Wi-Fi (the file handshake with kvm_system, the AP-mode page's X-AP-Key) and DNS settings through
HTTP on the sim board: good requests land in the device root, bad ones change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningApp, start_app

AP_KEY = "Ap-Pass1"
FILES = ("/etc/kvm/wifi.ssid", "/etc/kvm/wifi.pass", "/kvmapp/kvm/wifi_try_connect", "/kvmapp/kvm/wifi_state")
DNS_FILES = (
    "/etc/kvm/network/dns.mode",
    "/etc/kvm/network/dns.servers",
    "/boot/resolv.conf",
    "/boot/resolv.conf.manual.bak",
    "/etc/resolv.conf",
    "/etc/resolv.conf.dhcp",
)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("wifi-dns"))
    yield app
    app.stop()


def touch(app: RunningApp, path: str, text: str = "") -> None:
    app.path(path).parent.mkdir(parents=True, exist_ok=True)
    app.path(path).write_text(text)


def remove(app: RunningApp, *paths: str) -> None:
    for path in paths:
        app.path(path).unlink(missing_ok=True)


def snapshot(app: RunningApp, paths: tuple[str, ...]) -> dict[str, bytes | None]:
    return {path: app.path(path).read_bytes() if app.path(path).exists() else None for path in paths}


def answer(response: httpx.Response) -> tuple[int, str]:
    assert response.status_code == 200, response.text
    return response.json()["code"], response.json()["msg"]


@pytest.fixture
def wifi_board(board: RunningApp) -> RunningApp:
    """A device with Wi-Fi, in AP mode, nothing configured yet."""
    remove(board, *FILES)
    touch(board, "/etc/kvm/wifi_exist")
    touch(board, "/tmp/wifiap")
    touch(board, "/kvmapp/kvm/ap.pass", AP_KEY + "\n")
    return board


def test_ap_page_needs_ap_mode_and_the_ap_password(wifi_board: RunningApp) -> None:
    page = wifi_board.client()  # no session: the AP-mode page has none
    remove(wifi_board, "/tmp/wifiap")
    assert answer(page.post("/api/network/wifi/verify", headers={"X-AP-Key": AP_KEY})) == (-1, "invalid mode")
    assert answer(page.post("/api/network/wifi", json={"ssid": "x"}, headers={"X-AP-Key": AP_KEY}))[0] == -1
    touch(wifi_board, "/tmp/wifiap")
    for key in (None, "", "wrong", AP_KEY + "x", AP_KEY[:-1], "k" * 10_000):
        headers = {"X-AP-Key": key} if key is not None else {}
        assert answer(page.post("/api/network/wifi/verify", headers=headers)) == (-4, "unauthorized")
        assert (
            answer(page.post("/api/network/wifi", json={"ssid": "lab", "password": "12345678"}, headers=headers))[0]
            == -4
        )
    assert answer(page.post("/api/network/wifi/verify", headers={"X-AP-Key": AP_KEY})) == (0, "success")
    touch(wifi_board, "/kvmapp/kvm/ap.pass", "")  # no AP password: nobody gets in
    assert answer(page.post("/api/network/wifi/verify", headers={"X-AP-Key": ""}))[0] == -4
    assert all(not wifi_board.path(path).exists() for path in FILES)


BAD_CREDENTIALS = [
    {"ssid": "", "password": "12345678"},
    {"ssid": "two\nlines", "password": "12345678"},
    {"ssid": "nul\x00", "password": "12345678"},
    {"ssid": "s" * 33, "password": "12345678"},
    {"ssid": "\u00e9" * 17, "password": "12345678"},  # 34 bytes
    {"ssid": "s" * 10_000, "password": "12345678"},
    {"ssid": "lab", "password": "short"},
    {"ssid": "lab", "password": "p" * 64},
    {"ssid": "lab", "password": "line\nbreak1"},
    {"ssid": "lab", "password": "p\u00e4ssword"},
    {"ssid": "lab", "password": "p" * 10_000},
    {"ssid": 5, "password": "12345678"},
    {"password": "12345678"},
]


@pytest.mark.parametrize("body", BAD_CREDENTIALS)
def test_bad_credentials_are_refused_and_nothing_is_written(wifi_board: RunningApp, body: dict[str, object]) -> None:
    page = wifi_board.client()
    assert answer(page.post("/api/network/wifi", json=body, headers={"X-AP-Key": AP_KEY}))[0] == -2
    admin = wifi_board.login()
    assert answer(admin.post("/api/network/wifi/connect", json=body))[0] == -1
    assert all(not wifi_board.path(path).exists() for path in FILES)
    assert wifi_board.path("/tmp/wifiap").exists()


def test_ap_page_hands_the_network_to_kvm_system(wifi_board: RunningApp) -> None:
    page = wifi_board.client()
    body = {"ssid": "Lab Wi-Fi \u2615", "password": "correct horse"}
    assert answer(page.post("/api/network/wifi", json=body, headers={"X-AP-Key": AP_KEY})) == (0, "success")
    assert wifi_board.path("/etc/kvm/wifi.ssid").read_text() == "Lab Wi-Fi \u2615"
    assert wifi_board.path("/etc/kvm/wifi.pass").read_text() == "correct horse"
    assert wifi_board.path("/etc/kvm/wifi.pass").stat().st_mode & 0o077 == 0  # the password is not world-readable
    # the sim board's kvm_system stand-in took the request, left AP mode and joined
    assert not wifi_board.path("/kvmapp/kvm/wifi_try_connect").exists()
    assert not wifi_board.path("/tmp/wifiap").exists()
    admin = wifi_board.login()
    assert admin.get("/api/network/wifi").json()["data"] == {
        "supported": True,
        "apMode": False,
        "connected": True,
        "ssid": "Lab Wi-Fi \u2615",
    }


def test_admin_connect_and_disconnect(wifi_board: RunningApp) -> None:
    admin = wifi_board.login()
    remove(wifi_board, "/etc/kvm/wifi_exist")  # no radio: the connection never comes up
    assert answer(admin.post("/api/network/wifi/connect", json={"ssid": "lab", "password": "12345678"})) == (
        -3,
        "failed to get wifi status",
    )
    touch(wifi_board, "/etc/kvm/wifi_exist")
    assert answer(admin.post("/api/network/wifi/connect", json={"ssid": "lab", "password": ""})) == (0, "success")
    assert admin.get("/api/network/wifi").json()["data"]["connected"] is True
    assert answer(admin.post("/api/network/wifi/disconnect")) == (0, "success")
    assert not wifi_board.path("/etc/kvm/wifi.ssid").exists()
    assert not wifi_board.path("/etc/kvm/wifi.pass").exists()
    assert admin.get("/api/network/wifi").json()["data"]["connected"] is False


def test_wifi_roles(board: RunningApp) -> None:
    anonymous = board.client()
    assert anonymous.post("/api/network/wifi/connect", json={"ssid": "x", "password": ""}).status_code == 401
    assert anonymous.post("/api/network/wifi/disconnect").status_code == 401
    assert anonymous.get("/api/network/wifi").status_code == 401
    assert anonymous.get("/api/network/dns").status_code == 401
    assert anonymous.post("/api/network/dns", json={"mode": "dhcp"}).status_code == 401


# --- DNS --------------------------------------------------------------------------------------


@pytest.fixture
def dns_board(board: RunningApp) -> RunningApp:
    remove(board, *DNS_FILES, "/proc/net/route")
    return board


def test_dns_defaults_on_the_sim_board(dns_board: RunningApp) -> None:
    admin = dns_board.login()
    assert admin.get("/api/network/dns").json() == {
        "code": 0,
        "msg": "success",
        "data": {
            "mode": "dhcp",
            "servers": None,
            "effective": None,
            "dhcp": None,
            "info": {
                "interface": "eth0",
                "type": "Wired",
                "address": "127.0.0.1/8",
                "subnetMask": "255.0.0.0",
                "gateway": "",
                "searchDomains": None,
            },
        },
    }


def test_manual_servers_are_checked_deduped_and_written(dns_board: RunningApp) -> None:
    admin = dns_board.login()
    servers = ["1.1.1.1", " 8.8.8.8 ", "1.1.1.1", "2606:4700:4700::1111", "2606:4700:4700:0:0::1111", ""]
    assert answer(admin.post("/api/network/dns", json={"mode": "manual", "servers": servers})) == (0, "success")
    expected = ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"]
    data = admin.get("/api/network/dns").json()["data"]
    assert (data["mode"], data["servers"], data["effective"]) == ("manual", expected, expected)
    resolv = "".join(f"nameserver {server}\n" for server in expected)
    assert dns_board.path("/etc/resolv.conf").read_text() == resolv
    assert dns_board.path("/boot/resolv.conf").read_text() == resolv
    assert dns_board.path("/etc/kvm/network/dns.servers").read_text() == "".join(f"{s}\n" for s in expected)
    hook = dns_board.path("/usr/share/udhcpc/default.script.d/99-nanokvm-dns")
    assert hook.read_text().startswith("#!/bin/sh") and hook.stat().st_mode & 0o111


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"mode": "manual", "servers": ["1.1.1.1\nnameserver 6.6.6.6"]}, -2),
        ({"mode": "manual", "servers": ["1.1.1.1 6.6.6.6"]}, -2),
        ({"mode": "manual", "servers": ["1.1.1.1; reboot"]}, -2),
        ({"mode": "manual", "servers": ["1.1.1.1 # comment"]}, -2),
        ({"mode": "manual", "servers": ["x" * 10_000]}, -2),
        ({"mode": "manual", "servers": ["fe80::1%eth0"]}, -2),
        ({"mode": "manual", "servers": ["fe80::1%eth0\nnameserver 6.6.6.6"]}, -2),
        ({"mode": "manual", "servers": ["999.1.1.1"]}, -2),
        ({"mode": "manual", "servers": ["01.1.1.1"]}, -2),
        ({"mode": "manual", "servers": ["0.0.0.0"]}, -2),
        ({"mode": "manual", "servers": ["224.0.0.1"]}, -2),
        ({"mode": "manual", "servers": ["dns.google"]}, -2),
        ({"mode": "manual", "servers": ["\uff11.1.1.1"]}, -2),
        ({"mode": "manual", "servers": [f"10.0.0.{n}" for n in range(1, 8)]}, -2),  # 7 servers
        ({"mode": "manual", "servers": ["1.1.1.1"] * 1000}, -2),
        ({"mode": "manual", "servers": []}, -2),
        ({"mode": "manual"}, -2),
        ({"mode": "manual", "servers": [5]}, -1),
        ({"mode": "manual", "servers": "1.1.1.1"}, -1),
        ({"mode": "manual", "servers": [["1.1.1.1"]]}, -1),
        ({"mode": "static", "servers": ["1.1.1.1"]}, -1),
        ({"mode": "x" * 10_000}, -1),
        ({"servers": ["1.1.1.1"]}, -1),
    ],
)
def test_junk_dns_is_refused_and_nothing_changes(dns_board: RunningApp, body: dict[str, object], code: int) -> None:
    admin = dns_board.login()
    assert answer(admin.post("/api/network/dns", json={"mode": "manual", "servers": ["9.9.9.9"]}))[0] == 0
    before = snapshot(dns_board, DNS_FILES)
    result = answer(admin.post("/api/network/dns", json=body))
    assert result[0] == code, result
    assert len(result[1]) < 200  # the 10 kB input is not echoed back
    assert snapshot(dns_board, DNS_FILES) == before


def test_switching_to_dhcp_and_back(dns_board: RunningApp) -> None:
    admin = dns_board.login()
    assert answer(admin.post("/api/network/dns", json={"mode": "manual", "servers": ["9.9.9.9"]}))[0] == 0
    assert answer(admin.post("/api/network/dns", json={"mode": "dhcp"})) == (-3, "no dhcp dns is currently available")
    touch(dns_board, "/etc/resolv.conf.dhcp", "search lan\nnameserver 192.168.1.1 # the router\nnameserver junk\n")
    # Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT; gateway 192.168.1.1 little-endian
    route = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
    route += "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    touch(dns_board, "/proc/net/route", route)
    assert answer(admin.post("/api/network/dns", json={"mode": "dhcp", "servers": None})) == (0, "success")
    data = admin.get("/api/network/dns").json()["data"]
    assert data["mode"] == "dhcp"
    assert data["servers"] == ["9.9.9.9"]  # the manual list is kept for a switch back
    assert data["effective"] == data["dhcp"] == ["192.168.1.1"]
    assert data["info"] == {
        "interface": "wlan0",
        "type": "Wireless",
        "address": "",
        "subnetMask": "",
        "gateway": "192.168.1.1",
        "searchDomains": ["lan"],
    }
    assert not dns_board.path("/boot/resolv.conf").exists()
    assert dns_board.path("/boot/resolv.conf.manual.bak").read_text() == "nameserver 9.9.9.9\n"
    assert dns_board.path("/etc/resolv.conf").read_text() == "search lan\nnameserver 192.168.1.1\n"
    assert answer(admin.post("/api/network/dns", json={"mode": "manual", "servers": ["9.9.9.9"]}))[0] == 0
    assert Path(dns_board.path("/etc/resolv.conf")).read_text() == "nameserver 9.9.9.9\n"
    assert admin.get("/api/network/dns").json()["data"]["dhcp"] == ["192.168.1.1"]
