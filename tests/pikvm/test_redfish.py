"""Redfish with a real Redfish client from PyPI (DMTF's redfishtool): power the sim PC on and off."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import RunningApp
from tests.pikvm.conftest import sim_host, wait_until

REDFISHTOOL = Path(sys.executable).with_name("redfishtool")


def redfishtool(board: RunningApp, *args: str, password: str = "admin") -> subprocess.CompletedProcess[str]:
    tool = str(REDFISHTOOL) if REDFISHTOOL.exists() else shutil.which("redfishtool")
    assert tool, "redfishtool missing: pip install -e '.[dev]'"
    host = board.url.removeprefix("http://")
    return subprocess.run(
        [tool, "-r", host, "-S", "Never", "-u", "admin", "-p", password, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def power_state(board: RunningApp) -> str:
    out = redfishtool(board, "Systems", "-1", "get")
    assert out.returncode == 0, out.stderr
    state: str = json.loads(out.stdout)["PowerState"]
    return state


def test_redfishtool_powers_the_host_on_and_off(board: RunningApp) -> None:
    assert power_state(board) == "Off"
    on = redfishtool(board, "Systems", "-1", "reset", "On")
    assert on.returncode == 0, on.stderr
    wait_until(lambda: sim_host(board)["power"] == "on")
    assert power_state(board) == "On"
    off = redfishtool(board, "Systems", "-1", "reset", "GracefulShutdown")
    assert off.returncode == 0, off.stderr
    wait_until(lambda: sim_host(board)["power"] == "off")
    assert power_state(board) == "Off"


def test_redfish_refuses_bad_credentials_and_types(board: RunningApp) -> None:
    assert redfishtool(board, "Systems", "-1", "get", password="wrong").returncode != 0
    with httpx.Client(base_url=board.url, auth=("admin", "admin"), timeout=30) as client:
        root = client.get("/api/redfish/v1").json()
        assert root["Systems"]["@odata.id"] == "/api/redfish/v1/Systems"
        bad = client.post("/redfish/v1/Systems/0/Actions/ComputerSystem.Reset", json={"ResetType": "Explode"})
        assert bad.status_code == 400 and "error" in bad.json()
        assert client.post("/redfish/v1/Systems/0/Actions/ComputerSystem.Reset", content=b"{").status_code == 400
