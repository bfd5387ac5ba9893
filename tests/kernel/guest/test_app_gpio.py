"""End to end: the app (``python -m app``) on a real kernel drives gpio-sim through HTTP.

The app runs in the guest with ``board: nanokvm`` and ``gpio.driver: cdev`` and line specs
``kvm-atx:<line name>``; the test talks to it over loopback with the standard library
and watches the lines from the "ATX board" side (gpio-sim's sysfs).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import SimChip

SRC = pathlib.Path(os.environ.get("KT_SRC", str(pathlib.Path.cwd())))
PORT = 8089
STARTUP_TIMEOUT = 180.0  # importing litestar/granian under TCG is ~20x slower than natively

pytestmark = pytest.mark.skipif(
    not (SRC / "app" / "__main__.py").is_file() or not (SRC / "app" / "board" / "gpio.py").is_file(),
    reason="the app (python -m app) is not in this checkout yet",
)

CONFIG = """\
board: nanokvm
authentication: disable
logger:
  level: warn
port:
  http: {port}
gpio:
  driver: cdev
  powerButton: "kvm-atx:power_btn"
  resetButton: "kvm-atx:reset_btn"
  powerLed: "kvm-atx:power_led"
  hddLed: "kvm-atx:hdd_led"
"""


def request(method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        assert resp.status == 200, f"{method} {path}: HTTP {resp.status} {payload[:300]!r}"
        return json.loads(payload)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def atx(make_sim_chip: type[SimChip]) -> Iterator[SimChip]:
    """One chip for the module: the app starts once (~10 s under TCG) and keeps its lines open."""
    chip = make_sim_chip("kvm-atx", ("power_btn", "reset_btn", "power_led", "hdd_led"))
    try:
        yield chip
    finally:
        chip.close()


@pytest.fixture(scope="module")
def app_server(atx: SimChip, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    tmp_path = tmp_path_factory.mktemp("app")
    # LEDs are active low: pull both up (= off) before the app opens them as inputs.
    atx.set_pull("power_led", "pull-up")
    atx.set_pull("hdd_led", "pull-up")
    config = tmp_path / "server.yaml"
    config.write_text(CONFIG.format(port=PORT))
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--config", str(config), "--root", "/"],
        cwd=SRC,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app exited with {proc.returncode}:\n{(tmp_path / 'app.log').read_text()}")
            try:
                request("GET", "/api/vm/gpio", timeout=5)
                break
            except (ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"app did not answer within {STARTUP_TIMEOUT} s")
                time.sleep(0.5)
        print(f"app answered after {STARTUP_TIMEOUT - (deadline - time.monotonic()):.1f} s")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if proc.returncode not in (0, -15):
            print((tmp_path / "app.log").read_text())


def test_power_press_via_http_reaches_the_board(atx: SimChip, app_server: object) -> None:
    assert atx.value("power_btn") == 0
    result: dict[str, Any] = {}

    def press() -> None:
        result["reply"] = request("POST", "/api/vm/gpio", {"type": "power", "duration": 300})

    presser = threading.Thread(target=press)
    presser.start()
    try:
        rise = atx.wait_value("power_btn", 1, timeout=30)
        fall = atx.wait_value("power_btn", 0, timeout=10)
    finally:
        presser.join(timeout=30)
    assert result["reply"]["code"] == 0, result
    width = fall - rise
    print(f"power pulse via HTTP seen by the board: {width * 1000:.0f} ms")
    assert 0.25 <= width <= 1.0, f"pulse width {width:.3f} s, expected ~0.3 s"
    assert atx.value("reset_btn") == 0


def test_leds_via_http_follow_the_board(atx: SimChip, app_server: object) -> None:
    assert request("GET", "/api/vm/gpio")["data"] == {"pwr": False, "hdd": False}
    atx.set_pull("power_led", "pull-down")  # active low: lit
    assert request("GET", "/api/vm/gpio")["data"] == {"pwr": True, "hdd": False}
    atx.set_pull("hdd_led", "pull-down")
    assert request("GET", "/api/vm/gpio")["data"] == {"pwr": True, "hdd": True}
