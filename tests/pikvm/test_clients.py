"""PiKVM's client libraries from PyPI (aiopikvm 0.2.1, pikvm-lib 0.5.0, pikvm-aio 0.1.5), each run by the
kvmd client venv (Python 3.13: aiopikvm needs it; `task test` creates .venv-clients/kvmd) against the sim
board: login, info, an ATX click, an MSD upload and mount, a key over HTTP and the WebSocket, a snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import BASE_CONFIG, REPO, RunningApp, free_port, merge, past_first_login
from tests.pikvm.conftest import ADMIN, sim_host, wait_until

PYTHON = REPO / ".venv-clients" / "kvmd" / "bin" / "python"
HERE = Path(__file__).parent


def client_python() -> Path:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} missing: run `task test` (it creates the kvmd client venv with Python 3.13)")
    return PYTHON


def run(*args: str, cwd: Path) -> dict[str, object]:
    out = subprocess.run(
        [str(client_python()), *args], capture_output=True, text=True, timeout=180, check=False, cwd=cwd
    )
    assert out.returncode == 0, out.stderr[-4000:]
    seen: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return seen


def iso_file(path: Path) -> Path:
    data = bytearray(96 * 1024)
    data[0x8001:0x8006] = b"CD001"
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def https_app(tmp_path: Path) -> Iterator[RunningApp]:
    """The app on HTTPS with a self-signed certificate (pikvm-lib's WebSocket is always wss://)."""
    crt, key = tmp_path / "cert.crt", tmp_path / "cert.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-keyout", str(key), "-out", str(crt)),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    past_first_login(tmp_path / "root")  # admin/admin already changed, as the other fixtures' devices
    config = tmp_path / "server.yaml"
    extra = {"proto": "https", "port": {"https": port}, "cert": {"crt": str(crt), "key": str(key)}}
    config.write_text(yaml.safe_dump(merge(BASE_CONFIG, extra)))
    log = tmp_path / "app.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--config", str(config), "--root", str(tmp_path / "root")],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    app = RunningApp(f"https://127.0.0.1:{port}", tmp_path / "root", process, log)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(f"{app.url}/api/auth/check", verify=False, timeout=1)  # noqa: S501 (self-signed)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    yield app
    app.stop()


def test_aiopikvm(board: RunningApp, tmp_path: Path) -> None:
    fresh = board
    with httpx.Client(base_url=board.url, headers=ADMIN, timeout=30) as kvmd:
        if kvmd.get("/api/atx").json()["result"]["leds"]["power"]:
            kvmd.post("/api/atx/click", params={"button": "power_long", "wait": 1}).raise_for_status()
    wait_until(lambda: sim_host(board)["power"] == "off")
    board.login().post("/api/sim/host/clear").raise_for_status()
    seen = run(str(HERE / "drive_aiopikvm.py"), fresh.url, str(iso_file(tmp_path / "a.iso")), cwd=tmp_path)
    assert seen == {
        "check": True,
        "info": ["hw", "system"],
        "atx_enabled": True,
        "msd_images": ["aio.iso"],
        "hid_online": True,
        "streamer_features": True,
        "ws_events": ["atx", "hid", "loop", "msd", "pong"],
        "snapshot": "ffd8",
        "metrics": True,
        "switch": ["", []],
    }
    assert fresh.path("/data/aio.iso").stat().st_size == 96 * 1024
    # The click booted the PC; the key over HTTP and the one over the WebSocket reached it.
    host = sim_host(board)
    assert host["power"] in ("booting", "on") and host["text"] == "ab"


def test_pikvm_lib(https_app: RunningApp, tmp_path: Path) -> None:
    host_port = https_app.url.removeprefix("https://")
    seen = run(
        str(HERE / "drive_pikvm_lib.py"), host_port, str(iso_file(tmp_path / "l.iso")), str(tmp_path), cwd=tmp_path
    )
    assert seen["info"] == ["extras", "fan", "hw", "meta", "system"]
    assert seen["atx"] is True
    assert seen["msd_connected"] is True and seen["msd_image"] == "lib.iso"
    assert seen["snapshot_size"] == [1920, 1080]
    assert sim_host_over(https_app)["text"] == "c"


def sim_host_over(app: RunningApp) -> dict[str, object]:
    from app.services.auth.transport import encrypt

    with httpx.Client(base_url=app.url, verify=False, timeout=30) as client:  # noqa: S501
        client.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")}).raise_for_status()
        data: dict[str, object] = client.get("/api/sim/host").json()["data"]
        return data


def test_pikvm_aio(board: RunningApp, tmp_path: Path) -> None:
    with httpx.Client(base_url=board.url, headers=ADMIN, timeout=30) as kvmd:
        if kvmd.get("/api/atx").json()["result"]["leds"]["power"]:
            kvmd.post("/api/atx/click", params={"button": "power_long", "wait": 1}).raise_for_status()
    wait_until(lambda: sim_host(board)["power"] == "off")
    seen = run(str(HERE / "drive_pikvm_aio.py"), board.url, cwd=tmp_path)
    assert seen["name"] == "kvm-sim" and seen["kvmd_version"]
    assert seen["diagnostics"] == ["atx", "gpio", "hid", "info", "msd", "streamer"]
    # Its "click" power action pressed the power button: the PC boots.
    wait_until(lambda: sim_host(board)["power"] in ("booting", "on"))
