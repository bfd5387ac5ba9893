"""Every public call of the ``nanokvm`` client library (1.4.1, and 1.2.0 that Home Assistant pins) against
our server, on a sim board prepared so each call has something real to do: a device in Wi-Fi AP mode, an
update server with a signed bundle and a trusted key, an ISO to download, a script and an ISO to upload.

The calls that cannot work are listed in ``CANNOT`` with their reason (README, "The nanokvm client");
each of them is still called and must fail the way the reason says, so the list cannot go stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC

from app.services.media.iso import make_iso
from app.services.update.signing import sign_file
from tests.api.test_update import make_bundle, publish
from tests.conftest import REPO, RunningApp, start_app
from tests.lan import lan_address

CLIENTS = REPO / ".venv-clients"
AP_KEY = "Ap-Pass1"
NEW_PASSWORD = "Every-call-42"
BUNDLE_VERSION = "2.6.0"

# Pro-only calls: the library itself refuses them on non-Pro hardware, before any request (these are
# NanoKVM Pro's screens, LCD, LED strip, EDID, H.265 stream settings, static IP and extensions).
PRO_ONLY = {
    "switch_to_pikvm", "refresh_virtual_device", "get_lcd_time_format", "set_lcd_time_format",
    "get_low_power", "set_low_power", "get_led_strip", "set_led_strip", "get_timezone", "set_timezone",
    "get_time_status", "sync_time", "get_menubar_config", "set_menubar_config", "get_hdmi_capture",
    "set_hdmi_capture", "get_hdmi_passthrough", "set_hdmi_passthrough", "get_edid", "switch_edid",
    "get_custom_edid_list", "upload_edid", "delete_edid", "get_static_ip", "set_static_ip", "scan_wifi",
    "set_rate_control_mode", "set_stream_mode", "set_stream_quality", "set_gop", "set_fps",
    "assistant_install", "assistant_start", "kvmadmin_install", "kvmadmin_uninstall", "kvmadmin_start",
    "kvmadmin_stop", "kvmadmin_status",
}  # fmt: skip
# 1.4.1 allows the HDMI calls on PCIe hardware only (the other NanoKVMs have no HDMI switch):
# refused on the Alpha board here, and run on a PCIe one in test_hdmi_calls_on_a_pcie_board.
PCIE_ONLY = {"get_hdmi_state", "reset_hdmi", "enable_hdmi", "disable_hdmi", "set_hdmi_idle_timeout"}

CANNOT: dict[str, dict[str, str]] = {
    "1.4.1": {
        **dict.fromkeys(PRO_ONLY | PCIE_ONLY, "NanoKVMNotSupportedError: "),
        # The library sends the package alone; this firmware installs only bundles whose Ed25519
        # signature verifies (README, Firmware), and the library has no way to send one.
        "update_application_offline": "NanoKVMApiError: API returned error (Code: -1) "
        "[update failed: the bundle is not signed]",
    },
    "1.2.0": {
        **dict.fromkeys(PRO_ONLY, "NanoKVMNotSupportedError: "),
        # No NanoKVM firmware has /api/vm/swap/enable|disable (swap is POST /api/vm/swap {size});
        # the library turns the 404 into NotSupported itself.
        "enable_swap": "NanoKVMNotSupportedError: enable_swap is unavailable",
        "disable_swap": "NanoKVMNotSupportedError: disable_swap is unavailable",
        # NanoKVM >= 2.5.1 changes a password only with the current one, which 1.2.0 does not send.
        "change_password": "NanoKVMApiError: API returned error: current password is required (Code: -3)",
    },
}


class Site(SimpleHTTPRequestHandler):
    """Files from a directory, and ``/slow.iso``: an image that trickles, for cancelling a download."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/slow.iso":
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(64 << 20))
        self.end_headers()
        deadline = time.monotonic() + 60
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline:
                self.wfile.write(b"\0" * 4096)
                time.sleep(0.05)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    directory = tmp_path_factory.mktemp("site")
    host = lan_address()  # downloads refuse loopback
    httpd = ThreadingHTTPServer((host, 0), partial(Site, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield directory, f"http://{host}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def prepared_board(tmp: Path, site: tuple[Path, str]) -> tuple[RunningApp, dict[str, str]]:
    """A sim board in Wi-Fi AP mode that trusts a test key, and what the driver needs to call with."""
    directory, url = site
    root = tmp / "root"
    for path, text in {"etc/kvm/wifi_exist": "", "tmp/wifiap": "", "kvmapp/kvm/ap.pass": AP_KEY + "\n"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    key = ECC.generate(curve="ed25519")
    keys = tmp / "keys"
    keys.mkdir()
    (keys / "test.pub").write_text(key.public_key().export_key(format="PEM"))
    bundle = make_bundle(BUNDLE_VERSION)
    (tmp / "to-sign").write_bytes(bundle)
    publish(directory, bundle, sign_file(key, tmp / "to-sign"), BUNDLE_VERSION)
    (directory / "downloaded.iso").write_bytes(make_iso("DOWNLOADED", 64 * 1024))
    iso = make_iso("UPLOADED", 64 * 1024)
    (tmp / "every-call.iso").write_bytes(iso)
    (directory / "every-call.iso").write_bytes(iso)  # 1.2.0 has no upload call: it downloads this one
    (tmp / "hello.sh").write_text("#!/bin/sh\necho hello from a script\n")
    (tmp / "nanokvm_2.6.1.tar.gz").write_bytes(make_bundle("2.6.1"))
    app = start_app(tmp, {"update": {"url": url, "keys": str(keys)}}, root=root)
    settings = {
        "password": "admin",
        "new_password": NEW_PASSWORD,
        "ap_key": AP_KEY,
        "iso": str(tmp / "every-call.iso"),
        "iso_sha256": hashlib.sha256(iso).hexdigest(),
        "script": str(tmp / "hello.sh"),
        "download_url": f"{url}/downloaded.iso",
        "slow_url": f"{url}/slow.iso",
        "update_url": url,
        "offline_bundle": str(tmp / "nanokvm_2.6.1.tar.gz"),
    }
    return app, settings


def drive(version: str, app: RunningApp, settings: dict[str, str]) -> dict[str, object]:
    python = CLIENTS / version / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} missing: run `task test` (it creates the client venvs)")
    driver = Path(__file__).with_name("drive_nanokvm_all.py")
    out = subprocess.run(
        [str(python), str(driver), f"{app.url}/api/", json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen: dict[str, object] = json.loads(out.stdout)
    return seen


def expected_checks(version: str, update_url: str) -> dict[str, object]:
    """What the calls read back on our server; 1.2.0 lacks the newer calls (None where it has no call)."""
    new = version == "1.4.1"
    return {
        "properties": {
            "token": True,
            "url": "<url>",
            "hw_version": "Alpha",
            "application_version": "2.5.1" if new else None,
            "image_version": "v1.4.2" if new else None,
        },
        "info": "2.5.1",
        "account": "admin",
        "powered": True,
        "hostname": "every-call",
        "web_title": "Every call",
        "ssh": [True, False],
        "mdns": [True, False],
        "virtual_network": [False, True],
        "swap": 64,
        "memory_limit": [True, 64],
        "jiggler": [True, "relative"],
        "hid_mode": "normal",
        "shortcuts": [["ControlLeft", "KeyL"]],
        "shortcuts_after": 0,
        "leader_key": "ControlRight",
        "input_region": "manual" if new else "None",
        # 1.2.0 runs the HDMI calls on any non-Pro board: disabled, then enabled again
        "hdmi": [None, None] if new else [False, True],
        "mjpeg_bytes": "ffd8" if new else None,
        "mjpeg_image": [1920, 1080],
        "h264_ws": "ice-servers" if new else None,
        "scripts": ["hello.sh"],
        "script_log": "[sim board] /etc/kvm/scripts/hello.sh was not executed on the sim board "
        "(the request is recorded)\n",
        "download_status_before": "idle",
        "download_enabled": True,
        **({"download_done": "success"} if new else {}),
        # 1.2.0's model knows only idle and in_progress; NanoKVM >= 2.5.0 reports success afterwards
        "download_status": "success" if new else "NanoKVMInvalidResponseError",
        "images_after_download": ["/data/downloaded.iso"],
        "images": ["/data/every-call.iso"],
        "mounted": ["/data/every-call.iso", 1],
        "unmounted": "",
        "images_after_delete": [],
        **({"slow_download": True, "after_cancel": "idle", "images_after_cancel": []} if new else {}),
        "wifi_ap_mode": True,
        "wifi_ssid": "Lab 2",
        "wifi_connected_after": False,
        "wol_macs": ["52:54:00:12:34:56 lab pc"],
        "wol_macs_after": [],
        "dns": ["manual", ["9.9.9.9", "1.1.1.1"]] if new else ["None", []],
        "tailscale_before": "notInstall",
        "tailscale_login_url": True,
        "tailscale_after": "notInstall",
        "update_server": [True, update_url] if new else [None, None],
        "preview": False,
        "versions": ["2.5.1", BUNDLE_VERSION],
        "version_after_update": BUNDLE_VERSION,
        **({"mcp_key_shown": True, "ai_mode": "off"} if new else {}),
        **({"users": ["admin:admin", "helper:admin"], "helper_login": True, "users_after": ["admin"]} if new else {}),
        "after_logout": "NanoKVMNotAuthenticatedError",
    }


@pytest.mark.parametrize("version", ["1.4.1", "1.2.0"])
def test_every_call(version: str, tmp_path: Path, site: tuple[Path, str]) -> None:
    app, settings = prepared_board(tmp_path, site)
    try:
        seen = drive(version, app, settings)
        password = NEW_PASSWORD if version == "1.4.1" else "admin"
        pc = app.login("admin", password).get("/api/sim/host").json()["data"]
    finally:
        app.stop()
    assert seen["version"] == version
    assert seen["untested"] == []  # the driver has a call for every public method of the library
    outcome = seen["outcome"]
    assert isinstance(outcome, dict)
    cannot = CANNOT[version]
    failed = {name: result for name, result in outcome.items() if result != "ok" and name not in cannot}
    assert failed == {}
    wrong = {name: outcome.get(name) for name, want in cannot.items() if not str(outcome.get(name)).startswith(want)}
    assert wrong == {}
    checks = seen["checks"]
    assert isinstance(checks, dict)
    checks["properties"]["url"] = "<url>"
    assert checks == expected_checks(version, settings["update_url"])
    # What the simulated PC received from paste_text and the mouse calls.
    assert pc["text"] == "Every call 42"
    assert pc["clicks"] >= 2 and pc["buttons"] == 0


def test_hdmi_calls_on_a_pcie_board(tmp_path: Path) -> None:
    """1.4.1 offers the HDMI switch, reset and idle timeout on NanoKVM-PCIe only: a PCIe sim board."""
    root = tmp_path / "root"
    (root / "etc/kvm").mkdir(parents=True)
    (root / "etc/kvm/hw").write_text("pcie\n")
    app = start_app(tmp_path, root=root)
    try:
        seen = drive("1.4.1", app, {"only": "hdmi", "password": "admin"})
        assert app.path("/etc/kvm/hdmi_idle_timeout").read_text().strip() == "30"
        assert not app.path("/etc/kvm/hdmi_disable").exists()
    finally:
        app.stop()
    assert seen["outcome"] == dict.fromkeys(PCIE_ONLY, "ok")
    assert seen["checks"] == {"hdmi": [False, True], "hdmi_timeout": 30}
