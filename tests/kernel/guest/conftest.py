"""Fixtures for tests that run INSIDE the kernel-tier guest (real Debian kernel).

Only the standard library is imported here: Python runs ~20x slower under TCG, so
every import counts. Fixtures:

* ``modules``  -- modprobe/insmod helpers (session);
* ``gpio_sim`` -- a gpio-sim chip labelled ``kvm-atx`` with lines
  ``power_btn reset_btn power_led hdd_led`` (per test), with the "ATX board" side
  (``sim_gpioN/{value,pull}``) exposed as methods.

Adding a fixture for another kernel facility (see tests/kernel/README.md):

* USB gadget: ``modules.probe("dummy_hcd", "libcomposite", "usb_f_hid", ...)``, build
  the gadget under ``CONFIGFS / "usb_gadget" / NAME``, write ``dummy_udc.0`` to ``UDC``,
  yield the gadget dir plus the host-side nodes (/dev/hidraw*, /dev/input/event*,
  /dev/sd*), and tear configfs down in reverse order;
* video: ``modules.probe("vivid", "n_devs=1", "node_types=0x1", "input_types=0xe4")``
  (one modprobe per module when passing parameters), yield ``/dev/video0`` (input 3 is
  HDMI), ``modules.remove("vivid")`` afterwards.

Keep such fixtures function- or session-scoped objects with no heavy imports at module
level; import cv2 & co. inside the test that needs them.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

SRC = os.environ.get("KT_SRC", str(pathlib.Path.cwd()))
if SRC not in sys.path:
    sys.path.insert(0, SRC)  # the checkout, for ``import app...``

CONFIGFS = pathlib.Path("/sys/kernel/config")
ATX_LABEL = "kvm-atx"
ATX_LINES = ("power_btn", "reset_btn", "power_led", "hdd_led")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("KT_GUEST") != "1":
        raise pytest.UsageError("tests/kernel/guest runs only inside the guest: use python tests/kernel/run.py")


class Modules:
    """Kernel module helpers; modules come from the extracted Debian kernel (+ extra/)."""

    def __init__(self) -> None:
        self.kver = os.uname().release

    def probe(self, *names: str) -> None:
        """``modprobe -a`` the given modules (no parameters)."""
        subprocess.run(["modprobe", "-a", *names], check=True)

    def probe_with(self, name: str, *params: str) -> None:
        """``modprobe NAME key=value...``."""
        subprocess.run(["modprobe", name, *params], check=True)

    def insmod(self, path: str | os.PathLike[str], *params: str) -> None:
        subprocess.run(["insmod", os.fspath(path), *params], check=True)

    def remove(self, *names: str) -> None:
        subprocess.run(["modprobe", "-r", "-a", *names], check=True)

    def loaded(self, name: str) -> bool:
        return pathlib.Path("/sys/module", name.replace("-", "_")).exists()


@pytest.fixture(scope="session")
def modules() -> Modules:
    return Modules()


class SimChip:
    """One live gpio-sim chip (one bank) made through configfs.

    The "board" side of line N is ``/sys/devices/platform/<dev_name>/<chip_name>/sim_gpioN``:
    ``value`` reads what the consumer drives on an output line (or the pull on an input
    line) and ``pull`` ("pull-up"/"pull-down") sets what an input line reads.
    """

    _seq = 0

    def __init__(self, label: str, names: tuple[str, ...]) -> None:
        SimChip._seq += 1
        self.label = label
        self.names = names
        self.dir = CONFIGFS / "gpio-sim" / f"kt{os.getpid()}-{SimChip._seq}"
        self.bank = self.dir / "bank0"
        self._fds: dict[int, int] = {}
        self.dir.mkdir()
        try:
            self.bank.mkdir()
            (self.bank / "label").write_text(label)
            (self.bank / "num_lines").write_text(str(len(names)))
            for offset, name in enumerate(names):
                line = self.bank / f"line{offset}"
                line.mkdir()
                (line / "name").write_text(name)
            (self.dir / "live").write_text("1")
        except BaseException:
            self._remove_configfs()
            raise
        self.dev_name = (self.dir / "dev_name").read_text().strip()  # gpio-sim.N
        self.chip_name = (self.bank / "chip_name").read_text().strip()  # gpiochipM
        self.dev_path = f"/dev/{self.chip_name}"
        self.sysfs = pathlib.Path("/sys/devices/platform", self.dev_name, self.chip_name)

    def offset(self, line: str | int) -> int:
        return line if isinstance(line, int) else self.names.index(line)

    def _attr(self, line: str | int, attr: str) -> pathlib.Path:
        return self.sysfs / f"sim_gpio{self.offset(line)}" / attr

    def value(self, line: str | int) -> int:
        """The level the board sees on a line (0/1)."""
        off = self.offset(line)
        fd = self._fds.get(off)
        if fd is None:
            fd = self._fds[off] = os.open(self._attr(off, "value"), os.O_RDONLY | os.O_CLOEXEC)
        return int(os.pread(fd, 8, 0))

    def set_pull(self, line: str | int, pull: str) -> None:
        """Drive an input line from the board side: "pull-up" or "pull-down"."""
        self._attr(line, "pull").write_text(pull)

    def wait_value(self, line: str | int, value: int, timeout: float = 5.0) -> float:
        """Poll until the board sees ``value``; returns the monotonic time it was seen."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self.value(line) == value:
                return now
            if now > deadline:
                raise AssertionError(f"line {line!r} did not reach {value} within {timeout} s")

    def _remove_configfs(self) -> None:
        live = self.dir / "live"
        if live.exists() and live.read_text().strip() == "1":
            live.write_text("0")
        if self.bank.exists():
            for line in sorted(self.bank.glob("line*")):
                for hog in line.glob("hog"):
                    hog.rmdir()
                line.rmdir()
            self.bank.rmdir()
        if self.dir.exists():
            self.dir.rmdir()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._remove_configfs()


@pytest.fixture(scope="session")
def gpio_sim_module(modules: Modules) -> None:
    modules.probe("gpio-sim")  # pulls in irq_sim (built out of tree into extra/)


@pytest.fixture(scope="session")
def make_sim_chip(gpio_sim_module: None) -> type[SimChip]:
    """For fixtures of other scopes: ``chip = make_sim_chip(label, names)``; ``chip.close()`` after."""
    return SimChip


@pytest.fixture
def gpio_sim(make_sim_chip: type[SimChip]) -> Iterator[SimChip]:
    chip = make_sim_chip(ATX_LABEL, ATX_LINES)
    try:
        yield chip
    finally:
        chip.close()
