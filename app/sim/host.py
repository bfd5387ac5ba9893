"""The simulated host PC: an ATX power model driven by the KVM's buttons, shown on its LEDs.

Off, a press of the power button boots it. On, a short press asks the OS to shut down (it goes off
a moment later); holding the button 5 s or more forces it off. Reset reboots it. The HDD LED
blinks while the machine boots or shuts down, and now and then while it runs. LED levels are
written to the GPIO value files the app's sysfs driver reads (active low, as on a NanoKVM).
"""

from __future__ import annotations

import enum
import threading
import time
from pathlib import Path

from app.paths import atomic_write


class PowerState(enum.Enum):
    OFF = "off"
    BOOTING = "booting"
    ON = "on"
    SHUTTING_DOWN = "shutting-down"


BOOT_SECONDS = 2.0
SHUTDOWN_SECONDS = 1.5
FORCE_OFF_SECONDS = 5.0
_TICK = 0.05


class SimHost:
    def __init__(self, power_led: Path, hdd_led: Path | None) -> None:
        self._led_files = {"power": power_led, "hdd": hdd_led}
        self._lock = threading.Lock()
        self.state = PowerState.OFF
        self._since = time.monotonic()
        self._power_pressed_at: float | None = None
        self._press_booted = False
        self._leds: dict[str, bool | None] = {"power": None, "hdd": None}
        # The console's clock and frame counter (off: a still console, as a real PC's, for tests of
        # "nothing changed on screen"; POST /api/sim/host/clock).
        self.clock = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-host", daemon=True)

    # --- wiring ----------------------------------------------------------------------------

    def start(self) -> None:
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)

    def button(self, button: str, pressed: bool) -> None:
        """Called with every level change of the KVM's button lines."""
        with self._lock:
            if button == "power":
                self._power_button(pressed, time.monotonic())
            elif button == "reset" and pressed and self.state is not PowerState.OFF:
                self._enter(PowerState.BOOTING)
        self._tick()

    def snapshot(self) -> tuple[PowerState, float]:
        """The power state and the seconds spent in it (what the screen shows)."""
        with self._lock:
            return self.state, time.monotonic() - self._since

    # --- the model -------------------------------------------------------------------------

    def _enter(self, state: PowerState) -> None:
        self.state = state
        self._since = time.monotonic()

    def _power_button(self, pressed: bool, now: float) -> None:
        if pressed:
            if self._power_pressed_at is None:
                self._power_pressed_at = now
                self._press_booted = self.state is PowerState.OFF
                if self._press_booted:
                    self._enter(PowerState.BOOTING)
            return
        if self._power_pressed_at is None:
            return
        held = now - self._power_pressed_at
        self._power_pressed_at = None
        if held >= FORCE_OFF_SECONDS:
            # Released right at the limit, perhaps before a tick saw the hold: still a forced off.
            self._enter(PowerState.OFF)
        elif not self._press_booted and self.state is PowerState.ON:
            self._enter(PowerState.SHUTTING_DOWN)

    def _advance(self, now: float) -> None:
        held = now - self._power_pressed_at if self._power_pressed_at is not None else 0.0
        if held >= FORCE_OFF_SECONDS and self.state is not PowerState.OFF:
            self._enter(PowerState.OFF)
        elif self.state is PowerState.BOOTING and now - self._since >= BOOT_SECONDS:
            self._enter(PowerState.ON)
        elif self.state is PowerState.SHUTTING_DOWN and now - self._since >= SHUTDOWN_SECONDS:
            self._enter(PowerState.OFF)

    def _hdd_active(self, now: float) -> bool:
        if self.state in (PowerState.BOOTING, PowerState.SHUTTING_DOWN):
            return int((now - self._since) / 0.15) % 2 == 0  # busy: fast blinking
        if self.state is PowerState.ON:
            return (now - self._since) % 3.0 < 0.2  # idle: a short flash every 3 s
        return False

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._advance(now)
            leds = {"power": self.state is not PowerState.OFF, "hdd": self._hdd_active(now)}
        for name, lit in leds.items():
            path = self._led_files[name]
            if path is not None and self._leds[name] != lit:
                atomic_write(path, b"0\n" if lit else b"1\n")  # active low
                self._leds[name] = lit

    def _run(self) -> None:
        while not self._stop.wait(_TICK):
            self._tick()
