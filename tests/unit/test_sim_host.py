"""The sim host's ATX power model, driven through its button callback, read from its LED files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sim import host as sim
from app.sim.host import PowerState, SimHost


@pytest.fixture
def pc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimHost]:
    # Shorter phases, same model.
    monkeypatch.setattr(sim, "BOOT_SECONDS", 0.3)
    monkeypatch.setattr(sim, "SHUTDOWN_SECONDS", 0.3)
    monkeypatch.setattr(sim, "FORCE_OFF_SECONDS", 0.6)
    host = SimHost(tmp_path / "power", tmp_path / "hdd")
    host.start()
    yield host
    host.stop()


def wait_for(host: SimHost, state: PowerState, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while host.state is not state:
        assert time.monotonic() < deadline, f"still {host.state}, wanted {state}"
        time.sleep(0.01)


def press(host: SimHost, button: str, seconds: float) -> None:
    host.button(button, True)
    time.sleep(seconds)
    host.button(button, False)


def led(path: Path) -> bool:
    return path.read_text().strip() == "0"  # active low


def test_power_cycle(pc: SimHost, tmp_path: Path) -> None:
    assert not led(tmp_path / "power")
    press(pc, "power", 0.05)
    assert pc.state is PowerState.BOOTING and led(tmp_path / "power")
    wait_for(pc, PowerState.ON)
    press(pc, "power", 0.05)  # short press: graceful shutdown after a moment
    assert pc.state is PowerState.SHUTTING_DOWN and led(tmp_path / "power")
    wait_for(pc, PowerState.OFF)
    time.sleep(0.1)
    assert not led(tmp_path / "power")


def test_long_press_forces_off_while_held(pc: SimHost) -> None:
    press(pc, "power", 0.05)
    wait_for(pc, PowerState.ON)
    pc.button("power", True)
    wait_for(pc, PowerState.OFF, timeout=2)  # off before the button is released
    pc.button("power", False)
    time.sleep(0.1)
    assert pc.state is PowerState.OFF


def test_reset_reboots_only_when_on(pc: SimHost) -> None:
    press(pc, "reset", 0.05)
    assert pc.state is PowerState.OFF
    press(pc, "power", 0.05)
    wait_for(pc, PowerState.ON)
    press(pc, "reset", 0.05)
    assert pc.state is PowerState.BOOTING
    wait_for(pc, PowerState.ON)


def test_hdd_blinks_while_booting(pc: SimHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim, "BOOT_SECONDS", 2.0)  # long enough to see blinks on a busy machine
    press(pc, "power", 0.01)
    seen = set()
    deadline = time.monotonic() + 1.8
    while time.monotonic() < deadline:
        seen.add(led(tmp_path / "hdd"))
        time.sleep(0.02)
    assert seen == {True, False}


def test_release_exactly_at_the_limit_forces_off(pc: SimHost, monkeypatch: pytest.MonkeyPatch) -> None:
    press(pc, "power", 0.05)
    wait_for(pc, PowerState.ON)
    monkeypatch.setattr(pc, "_tick", lambda: None)  # no tick sees the hold: only the release can
    press(pc, "power", sim.FORCE_OFF_SECONDS)
    assert pc.state is PowerState.OFF
