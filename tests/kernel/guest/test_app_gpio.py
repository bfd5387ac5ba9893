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
