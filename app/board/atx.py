"""The host's ATX front panel: power and reset buttons, power and HDD LEDs (spec 7.2)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from app.board.gpio import GpioLine, open_line
from app.config import Gpio
from app.paths import DeviceRoot, read_text


class Pins(msgspec.Struct, frozen=True):
    power_button: str
    reset_button: str
    power_led: str
    hdd_led: str  # "" = not wired on this hardware


# NanoKVM's sysfs numbers as its S15kvmhwd init script exports them.
NANOKVM_PINS = {
    "alpha": Pins("503", "507", "504", "505"),
    "beta": Pins("503", "505", "504", ""),
    "pcie": Pins("503", "505", "504", ""),
}

HARDWARE_NAMES = {"alpha": "Alpha", "beta": "Beta", "pcie": "PCIE"}


def hardware_version(root: DeviceRoot) -> str:
    """``/etc/kvm/hw``: alpha, beta or pcie; anything else is Alpha (spec 7.1)."""
    hw = read_text(root("/etc/kvm/hw")).lower()
    return hw if hw in NANOKVM_PINS else "alpha"


def pins_for(settings: Gpio, hardware: str) -> Pins:
    """NanoKVM's pins for its hardware version, each replaced by the config's when it names one."""
    return with_overrides(settings, NANOKVM_PINS[hardware])


def with_overrides(settings: Gpio, default: Pins) -> Pins:
    """A board's default lines, each replaced by the config's ``gpio.*`` when it names one."""
    return Pins(
        settings.power_button or default.power_button,
        settings.reset_button or default.reset_button,
        settings.power_led or default.power_led,
        settings.hdd_led or default.hdd_led,
    )


class Atx:
    """Buttons are driven high while pressed; LEDs read 0 when lit (active low)."""

    def __init__(
        self,
        root: DeviceRoot,
        driver: str,
        pins: Pins,
        on_button: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._buttons: dict[str, GpioLine] = {
            "power": open_line(driver, root, pins.power_button, output=True),
            "reset": open_line(driver, root, pins.reset_button, output=True),
        }
        self._power_led = open_line(driver, root, pins.power_led, output=False)
        self._hdd_led = open_line(driver, root, pins.hdd_led, output=False) if pins.hdd_led else None
        # The sim board listens to its buttons here; a real board's host is on the wire.
        self._on_button = on_button

    def set_button(self, button: str, pressed: bool) -> None:
        self._buttons[button].write(pressed)
        if self._on_button is not None:
            self._on_button(button, pressed)

    def power_led(self) -> bool:
        return not self._power_led.read()

    def hdd_led(self) -> bool:
        return self._hdd_led is not None and not self._hdd_led.read()

    def close(self) -> None:
        for line in (*self._buttons.values(), self._power_led, self._hdd_led):
            if line is not None:
                line.close()
