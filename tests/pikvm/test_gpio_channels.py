"""Extra GPIO channels (``gpio.channels``) on kvmd's ``/api/gpio``: in the model and the state beside
the ATX lines, switched and pulsed on the line (the sim board's sysfs files), inverted lines, an input's
level, an offline channel, busy while pulsing, and the config's refusal of a taken name."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import ConfigError, load_config
from tests.conftest import RunningApp, start_app
from tests.pikvm.conftest import ADMIN, wait_until

CHANNELS = [
    {"name": "relay1", "line": "600"},
    {"name": "beeper", "line": "601", "switch": False, "inverted": True, "pulseDelay": 0.2, "maxPulseDelay": 2},
    {"name": "sensor", "line": "602", "mode": "input"},
    {"name": "ghost", "line": "nochip:3"},  # no such chip: offline
]


@pytest.fixture(scope="module")
def gpio_board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(Path(tmp_path_factory.mktemp("gpio")), {"gpio": {"channels": CHANNELS}})
    yield app
    app.stop()


@pytest.fixture
def kvmd(gpio_board: RunningApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gpio_board.url, headers=ADMIN, timeout=30) as client:
        yield client


def level(board: RunningApp, line: str) -> str:
    return board.path(f"/sys/class/gpio/gpio{line}/value").read_text().strip()


def result(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert body["ok"] is True, body
    return body["result"]  # type: ignore[return-value]


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    name: str = body["result"]["error"]
    return name


def test_model_and_state(gpio_board: RunningApp, kvmd: httpx.Client) -> None:
    gpio = result(kvmd.get("/api/gpio"))
    scheme = gpio["model"]["scheme"]  # type: ignore[index]
    assert set(scheme["inputs"]) == {"power_led", "hdd_led", "sensor"}
    assert set(scheme["outputs"]) == {"power_button", "reset_button", "relay1", "beeper", "ghost"}
    assert scheme["outputs"]["relay1"] == {
        "switch": True,
        "pulse": {"delay": 0.1, "min_delay": 0.1, "max_delay": 10.0},
        "hw": {"driver": "gpio", "pin": "600"},
    }
    assert scheme["outputs"]["beeper"]["switch"] is False
    state = gpio["state"]  # type: ignore[index]
    assert state["outputs"]["relay1"] == {"online": True, "state": False, "busy": False}
    assert state["outputs"]["ghost"]["online"] is False
    assert state["inputs"]["sensor"] == {"online": True, "state": False}
    assert level(gpio_board, "601") == "1", "an inverted output is off at level 1 from the start"

    gpio_board.path("/sys/class/gpio/gpio602/value").write_text("1\n")  # the sensor's line goes high
    assert result(kvmd.get("/api/gpio"))["state"]["inputs"]["sensor"]["state"] is True  # type: ignore[index]
    gpio_board.path("/sys/class/gpio/gpio602/value").write_text("0\n")


def test_switch_drives_the_line(gpio_board: RunningApp, kvmd: httpx.Client) -> None:
    result(kvmd.post("/api/gpio/switch", params={"channel": "relay1", "state": 1, "wait": 1}))
    assert level(gpio_board, "600") == "1"
    assert result(kvmd.get("/api/gpio"))["state"]["outputs"]["relay1"]["state"] is True  # type: ignore[index]
    result(kvmd.post("/api/gpio/switch", params={"channel": "relay1", "state": "false", "wait": 1}))
    assert level(gpio_board, "600") == "0"

    assert error(kvmd.post("/api/gpio/switch", params={"channel": "beeper", "state": 1}), 400) == "OperationError"
    assert error(kvmd.post("/api/gpio/switch", params={"channel": "sensor", "state": 1}), 400) == "OperationError"
    assert error(kvmd.post("/api/gpio/switch", params={"channel": "ghost", "state": 1}), 400) == "OperationError"
    assert error(kvmd.post("/api/gpio/switch", params={"channel": "nope", "state": 1}), 400) == "ValidatorError"
    assert error(kvmd.post("/api/gpio/switch", params={"channel": "relay1"}), 400) == "ValidatorError"


def test_pulse_and_busy(gpio_board: RunningApp, kvmd: httpx.Client) -> None:
    """beeper is inverted: on is level 0. Its 0.2 s default pulse, then a 0.6 s one that a second
    request meets busy (409)."""
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(level(gpio_board, "601"))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        started = time.monotonic()
        result(kvmd.post("/api/gpio/pulse", params={"channel": "beeper", "wait": 1}))
        took = time.monotonic() - started
    finally:
        stop.set()
        watcher.join()
    assert "0" in seen, "the line went on (level 0)"
    assert level(gpio_board, "601") == "1", "and back off when the answer came"
    assert took >= 0.2, took

    result(kvmd.post("/api/gpio/pulse", params={"channel": "beeper", "delay": 0.6}))  # in the background
    assert result(kvmd.get("/api/gpio"))["state"]["outputs"]["beeper"]["busy"] is True  # type: ignore[index]
    assert error(kvmd.post("/api/gpio/pulse", params={"channel": "beeper"}), 409) == "IsBusyError"
    wait_until(lambda: level(gpio_board, "601") == "1", 5)
    wait_until(lambda: not result(kvmd.get("/api/gpio"))["state"]["outputs"]["beeper"]["busy"], 5)  # type: ignore[index]

    assert error(kvmd.post("/api/gpio/pulse", params={"channel": "beeper", "delay": 5}), 400) == "ValidatorError"
    assert error(kvmd.post("/api/gpio/pulse", params={"channel": "sensor"}), 400) == "OperationError"
    assert error(kvmd.post("/api/gpio/pulse", params={"channel": "ghost"}), 400) == "OperationError"


def test_viewer_cannot_switch(gpio_board: RunningApp) -> None:
    with httpx.Client(base_url=gpio_board.url, timeout=30) as anonymous:
        assert error(anonymous.post("/api/gpio/switch", params={"channel": "relay1", "state": 1}), 401)
    assert level(gpio_board, "600") == "0"


def test_taken_name_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text('gpio:\n  channels:\n    - {name: relay1, line: "1"}\n    - {name: relay1, line: "2"}\n')
    with pytest.raises(ConfigError, match=r"gpio\.channels\.1\.name: 'relay1' is already a channel"):
        load_config(config)
    config.write_text('gpio:\n  channels:\n    - {name: power_button, line: "1"}\n')
    with pytest.raises(ConfigError, match="power_button"):
        load_config(config)
