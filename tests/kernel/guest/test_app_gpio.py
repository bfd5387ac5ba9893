"""End to end: the app (``python -m app``) on a real kernel drives gpio-sim through HTTP.

The app runs in the guest with ``board: nanokvm`` and ``gpio.driver: cdev`` and line specs
``kvm-atx:<line name>``; the test talks to it over loopback with the standard library
and watches the lines from the "ATX board" side (gpio-sim's sysfs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from kt_app import App

if TYPE_CHECKING:
    from conftest import SimChip

PORT = 8089


@pytest.fixture(scope="module")
def app(start_app: Callable[..., App]) -> Iterator[App]:
    with start_app(PORT, "authentication: disable\n") as app:
        yield app


def test_power_press_via_http_reaches_the_board(atx: SimChip, app: App) -> None:
    assert atx.value("power_btn") == 0
    result: dict[str, Any] = {}

    def press() -> None:
        result["reply"] = app.request("POST", "/api/vm/gpio", {"type": "power", "duration": 300})

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


def test_leds_via_http_follow_the_board(atx: SimChip, app: App) -> None:
    assert app.request("GET", "/api/vm/gpio")["data"] == {"pwr": False, "hdd": False}
    atx.set_pull("power_led", "pull-down")  # active low: lit
    assert app.request("GET", "/api/vm/gpio")["data"] == {"pwr": True, "hdd": False}
    atx.set_pull("hdd_led", "pull-down")
    assert app.request("GET", "/api/vm/gpio")["data"] == {"pwr": True, "hdd": True}


def pulse_width(atx: SimChip, line: str, call: Callable[[], Any]) -> float:
    """Seconds ``line`` was high on the board while ``call()`` runs in a thread (its answer must be ok)."""
    result: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: result.setdefault("reply", call()))
    caller.start()
    try:
        rise = atx.wait_value(line, 1, timeout=30)
        fall = atx.wait_value(line, 0, timeout=15)
    finally:
        caller.join(timeout=30)
    assert result.get("reply") == {}, result  # kvmd answers an action with an empty result
    return fall - rise


def test_kvmd_atx_and_gpio_reach_the_board(atx: SimChip, app: App) -> None:
    """PiKVM's API on the same lines: ``/api/atx`` reads the LEDs, ``/api/atx/click`` and
    ``/api/atx/power`` press the buttons (kvmd's 0.1 s click), ``/api/gpio/pulse`` for its ``delay``."""
    atx.set_pull("power_led", "pull-up")  # active low: off
    atx.set_pull("hdd_led", "pull-down")
    assert app.kvmd_ok("GET", "/api/atx")["leds"] == {"power": False, "hdd": True}
    assert app.kvmd_ok("GET", "/api/gpio")["state"]["inputs"]["hdd_led"]["state"] is True

    width = pulse_width(atx, "reset_btn", lambda: app.kvmd_ok("POST", "/api/atx/click?button=reset&wait=1"))
    print(f"kvmd reset click seen by the board: {width * 1000:.0f} ms")
    assert 0.08 <= width <= 0.6, f"reset click {width:.3f} s, kvmd's is 0.1 s"
    assert atx.value("power_btn") == 0

    # the host is off (power LED dark): "on" clicks power; once the LED is lit, "on" does nothing.
    width = pulse_width(atx, "power_btn", lambda: app.kvmd_ok("POST", "/api/atx/power?action=on&wait=1"))
    print(f"kvmd power on seen by the board: {width * 1000:.0f} ms")
    assert 0.08 <= width <= 0.6, f"power click {width:.3f} s"
    atx.set_pull("power_led", "pull-down")
    assert app.kvmd_ok("GET", "/api/atx")["leds"]["power"] is True
    assert app.kvmd_ok("POST", "/api/atx/power?action=on&wait=1") == {}
    assert atx.value("power_btn") == 0

    query = "/api/gpio/pulse?channel=power_button&delay=0.4&wait=1"
    width = pulse_width(atx, "power_btn", lambda: app.kvmd_ok("POST", query))
    print(f"kvmd gpio pulse (delay 0.4) seen by the board: {width * 1000:.0f} ms")
    assert 0.35 <= width <= 1.2, f"gpio pulse {width:.3f} s, asked 0.4 s"
    atx.set_pull("hdd_led", "pull-up")
