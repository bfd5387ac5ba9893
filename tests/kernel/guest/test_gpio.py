"""GPIO through the character device, against a real kernel's gpio-sim chip.

The app side is app.board.gpio_cdev.CdevGpioLine (found by chip label + line name);
the "ATX board" side is gpio-sim's sim_gpioN/{value,pull} in sysfs.
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from app.board.gpio_cdev import CdevGpioLine

if TYPE_CHECKING:
    from conftest import SimChip

ROOT = pathlib.Path("/")
Opener = Callable[[str, bool], CdevGpioLine]


@pytest.fixture
def lines() -> Iterator[Opener]:
    opened: list[CdevGpioLine] = []

    def open_line(spec: str, output: bool) -> CdevGpioLine:
        line = CdevGpioLine(ROOT, spec, output)
        opened.append(line)
        return line

    yield open_line
    for line in opened:
        line.close()


def test_output_line_drives_the_board(gpio_sim: SimChip, lines: Opener) -> None:
    power = lines("kvm-atx:power_btn", True)
    assert gpio_sim.value("power_btn") == 0, "an output line must start released (0)"
    power.write(True)
    assert gpio_sim.value("power_btn") == 1
    assert power.read() is True
    assert gpio_sim.value("reset_btn") == 0, "only the addressed line may move"
    power.write(False)
    assert gpio_sim.value("power_btn") == 0
    assert power.read() is False


def test_chip_path_and_line_offset(gpio_sim: SimChip, lines: Opener) -> None:
    reset = lines(f"{gpio_sim.dev_path}:1", True)
    assert reset.offset == 1
    reset.write(True)
    assert gpio_sim.value("reset_btn") == 1
    reset.write(False)
    assert gpio_sim.value("reset_btn") == 0


def test_input_line_follows_the_board(gpio_sim: SimChip, lines: Opener) -> None:
    gpio_sim.set_pull("power_led", "pull-up")
    led = lines("kvm-atx:power_led", False)
    assert led.read() is True
    gpio_sim.set_pull("power_led", "pull-down")
    assert led.read() is False
    gpio_sim.set_pull("power_led", "pull-up")
    assert led.read() is True


def test_unknown_chip_or_line_is_a_clear_error(gpio_sim: SimChip) -> None:
    with pytest.raises(ValueError, match=r"no GPIO line named 'nope'.*power_btn"):
        CdevGpioLine(ROOT, "kvm-atx:nope", True)
    with pytest.raises(ValueError, match=r"no GPIO chip labelled 'no-such-chip'.*kvm-atx"):
        CdevGpioLine(ROOT, "no-such-chip:power_btn", True)
    with pytest.raises(ValueError, match="out of range"):
        CdevGpioLine(ROOT, "kvm-atx:4", True)
    with pytest.raises(ValueError, match="does not exist"):
        CdevGpioLine(ROOT, "/dev/gpiochip999:0", True)


def test_busy_line_is_refused(gpio_sim: SimChip, lines: Opener) -> None:
    lines("kvm-atx:hdd_led", False)
    with pytest.raises(OSError, match="busy"):
        CdevGpioLine(ROOT, "kvm-atx:hdd_led", False)


def test_300ms_pulse_seen_from_the_board(gpio_sim: SimChip, lines: Opener) -> None:
    power = lines("kvm-atx:power_btn", True)

    def press() -> None:
        power.write(True)
        time.sleep(0.3)
        power.write(False)

    presser = threading.Thread(target=press)
    presser.start()
    try:
        rise = gpio_sim.wait_value("power_btn", 1, timeout=5)
        fall = gpio_sim.wait_value("power_btn", 0, timeout=5)
    finally:
        presser.join()
    width = fall - rise
    print(f"pulse width seen by the board: {width * 1000:.0f} ms")
    # TCG is slow and the poller shares the GIL with the presser: generous upper bound.
    assert 0.25 <= width <= 1.0, f"pulse width {width:.3f} s, expected ~0.3 s"
