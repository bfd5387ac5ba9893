"""The real ``nanokvm`` PyPI client (1.4.1, and 1.2.0 that Home Assistant pins) against our server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, RunningApp

CLIENTS = REPO / ".venv-clients"
NEW_PASSWORD = "home-assistant-42"


@pytest.mark.parametrize("client_version", ["1.4.1", "1.2.0"])
def test_home_assistant_login_and_power(app_factory: Callable[..., RunningApp], client_version: str) -> None:
    kvm = app_factory(first_boot=True)  # as shipped: the default password must be changed first
    python = CLIENTS / client_version / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} missing: run `task test` (it creates the client venvs)")
    out = subprocess.run(
        [str(python), str(Path(__file__).with_name("drive_nanokvm.py")), f"{kvm.url}/api/", NEW_PASSWORD],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    device_key = kvm.path("/device_key").read_text().strip()
    assert seen == {
        "version": client_version,
        "wrong_password": "refused",
        "before_change": seen["before_change"],
        "token": True,
        "info": {"application": "2.5.1", "image": "v1.4.2", "device_key": device_key},
        "ips": ["127.0.0.1"],
        "hardware": "Alpha",
        "gpio_before": {"pwr": False, "hdd": False},
        "poll": {
            "hostname": "kvm-sim",
            "ssh": False,
            "mdns": False,
            "hid_mode": seen["poll"]["hid_mode"],
            "oled": False,
            "wifi": False,
            "jiggler": False,
            "tailscale": seen["poll"]["tailscale"],
        },
        "gpio_after": True,
        "after_logout": seen["after_logout"],
    }
    assert seen["poll"]["hid_mode"].lower().endswith("normal")
    assert seen["poll"]["tailscale"].lower().endswith(("notinstall", "not_install"))
    # Logout revoked the session: the next call was refused, not answered.
    assert seen["after_logout"] != "answered"
    # What the simulated PC received from the library's paste and mouse calls.
    assert seen["before_change"] != "answered"  # the default password allowed no GPIO read
    pc = kvm.login("admin", NEW_PASSWORD).get("/api/sim/host").json()["data"]
    assert pc["text"] == "Hello from HA 42"
    assert abs(pc["pointer"]["x"] - 16384) <= 2 and abs(pc["pointer"]["y"] - 8192) <= 2
    assert pc["clicks"] == 1 and pc["buttons"] == 0


def test_newer_calls_of_1_4_1(kvm: RunningApp) -> None:
    python = CLIENTS / "1.4.1" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} missing: run `task test` (it creates the client venvs)")
    out = subprocess.run(
        [str(python), str(Path(__file__).with_name("drive_nanokvm_ai.py")), f"{kvm.url}/api/"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {
        "region": seen["region"],
        "region_after": [seen["region_after"][0], 60, 960],
        "resolution": [1920, 1080],
        "ai": seen["ai"],
        "mcp": [True, True, seen["mcp"][2]],
        "mcp_read": "",
        "regenerated": True,
        "mode_off": seen["mode_off"],
    }
    assert seen["region"].lower().endswith("off") and seen["region_after"][0].lower().endswith("manual")
    assert seen["ai"].lower().endswith("off") and seen["mcp"][2].lower().endswith("mcp")
    assert seen["mode_off"].lower().endswith("off")
