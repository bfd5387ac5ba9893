"""Fixtures for tests that run INSIDE the kernel-tier guest (real Debian kernel).

Only the standard library is imported here: Python runs ~20x slower under TCG, so
every import counts. Fixtures:

* ``modules``  -- modprobe/insmod helpers (session);
* ``gpio_sim`` -- a gpio-sim chip labelled ``kvm-atx`` with lines
  ``power_btn reset_btn power_led hdd_led`` (per test), with the "ATX board" side
  (``sim_gpioN/{value,pull}``) exposed as methods; ``atx`` -- the same chip for a whole
  module (an app started once keeps its lines open);
* ``start_app`` (module) -- ``with start_app(port, extra_config) as app:`` runs the app
  (``python -m app``, ``board: nanokvm`` on the ``atx`` lines, LEDs off) and gives a
  ``kt_app.App`` (``request``/``ok``/``call``, ``login``, ``stop``; see kt_app.py);
* ``gadget_modules`` (session) / ``usb_host`` (per test) -- dummy_hcd + libcomposite +
  the gadget functions and their host-side drivers; ``usb_host`` is a ``kt_usb.UsbHost``
  that builds configfs gadgets and finds their host-side nodes, and removes every gadget
  it made afterwards (see kt_usb.py);
* ``vivid_module`` (session) / ``vivid`` (per test) -- vivid with an HDMI input, a
  ``kt_v4l2.Vivid`` on ``/dev/videoN`` with input 3 selected and signal restored
  afterwards (see kt_v4l2.py); ``hdmi`` -- the same for a whole module.

Keep fixtures function- or session-scoped objects with no heavy imports at module
level; import cv2 & co. inside the test that needs them.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import kt_app
import kt_usb
import kt_v4l2
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

    def probe_available(self, *names: str) -> list[str]:
        """``modprobe -a`` what exists of ``names``; returns the ones that loaded (or are built in)."""
        if subprocess.run(["modprobe", "-a", *names], capture_output=True).returncode == 0:
            return list(names)
        return [n for n in names if subprocess.run(["modprobe", n], capture_output=True).returncode == 0]


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

    def __enter__(self) -> SimChip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def gpio_sim_module(modules: Modules) -> None:
    modules.probe("gpio-sim")  # pulls in irq_sim (built out of tree into extra/)


@pytest.fixture(scope="session")
def make_sim_chip(gpio_sim_module: None) -> type[SimChip]:
    """For fixtures of other scopes: ``with make_sim_chip(label, names) as chip:`` (or ``chip.close()`` after)."""
    return SimChip


@pytest.fixture
def gpio_sim(make_sim_chip: type[SimChip]) -> Iterator[SimChip]:
    with make_sim_chip(ATX_LABEL, ATX_LINES) as chip:
        yield chip


@pytest.fixture(scope="module")
def atx(make_sim_chip: type[SimChip]) -> Iterator[SimChip]:
    """The ``kvm-atx`` chip for a whole module: the app starts once (~10-35 s under TCG) and keeps its lines open."""
    with make_sim_chip(ATX_LABEL, ATX_LINES) as chip:
        yield chip


@pytest.fixture(scope="module")
def start_app(atx: SimChip, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., kt_app.App]]:
    """``start_app(port, extra_config="")``: a running ``kt_app.App`` on the ``atx`` lines (its LEDs pulled
    up = off first: they are active low). Use it as ``with start_app(...) as app: yield app`` so that the
    app stops before the module's other fixtures are restored; any still running stop with the module."""
    started: list[kt_app.App] = []

    def start(port: int, extra_config: str = "") -> kt_app.App:
        atx.set_pull("power_led", "pull-up")
        atx.set_pull("hdd_led", "pull-up")
        started.append(kt_app.App.start(tmp_path_factory.mktemp("app"), port, extra_config))
        return started[-1]

    try:
        yield start
    finally:
        for app in started:
            app.stop()


# --- USB gadget (dummy_hcd) --------------------------------------------------------


def _mount_configfs() -> None:
    with open("/proc/mounts") as mounts:  # noqa: PTH123
        if any(line.split()[1] == str(CONFIGFS) for line in mounts if len(line.split()) > 2):
            return
    subprocess.run(["modprobe", "configfs"], check=False)
    subprocess.run(["mount", "-t", "configfs", "configfs", str(CONFIGFS)], check=True)


@pytest.fixture(scope="session")
def gadget_modules(modules: Modules) -> list[str]:
    """Loads dummy_hcd, libcomposite, usb_f_{hid,mass_storage,ncm,rndis} and the host-side
    usbhid, hid_generic, evdev, usb_storage, sd_mod, cdc_ncm, rndis_host (whatever exists),
    mounts configfs if needed; yields the names that loaded. Fails without dummy_hcd."""
    _mount_configfs()
    loaded = modules.probe_available(*kt_usb.GADGET_MODULES)
    for required in ("dummy_hcd", "libcomposite"):
        if required not in loaded:
            pytest.fail(f"{required} did not load: {loaded}")
    kt_usb.wait_for("a UDC", lambda: kt_usb.UsbHost.udcs() or None, 10)
    return loaded


@pytest.fixture
def usb_host(gadget_modules: list[str]) -> Iterator[kt_usb.UsbHost]:
    """A ``kt_usb.UsbHost``: ``usb_host.gadget(name)`` makes a configfs gadget, ``bind(g)``,
    ``event_device(...)``, ``block_device(...)``, ``netif(...)``, ``unbind_usbhid(...)``.
    Afterwards usbhid is rebound where it was unbound and every gadget it made is removed."""
    host = kt_usb.UsbHost()
    try:
        yield host
    finally:
        host.cleanup()


# --- video (vivid) ----------------------------------------------------------------


@pytest.fixture(scope="session")
def vivid_module(modules: Modules) -> Iterator[str]:
    """``modprobe vivid n_devs=1 node_types=0x1 input_types=0xe4``: one capture node whose
    input 3 is an HDMI receiver; yields its ``/dev/videoN``; unloads vivid afterwards."""
    modules.probe_with("vivid", *kt_v4l2.VIVID_PARAMS)
    try:
        yield kt_usb.wait_for("vivid's /dev/video*", kt_v4l2.find_vivid, 10)
    finally:
        subprocess.run(["modprobe", "-r", "vivid"], check=False)


@contextlib.contextmanager
def _hdmi_input(node: str) -> Iterator[kt_v4l2.Vivid]:
    dev = kt_v4l2.Vivid(node)
    try:
        dev.set_input(kt_v4l2.VIVID_HDMI_INPUT)
        dev.frames_dropped(0)
        dev.set_signal_mode("current")
        dev.set_dv_timings(1280, 720)
        yield dev
    finally:
        try:
            dev.frames_dropped(0)
            dev.set_signal_mode("current")
            dev.set_dv_timings(1280, 720)  # EBUSY if a test left a capture streaming
        finally:
            dev.close()


@pytest.fixture
def vivid(vivid_module: str) -> Iterator[kt_v4l2.Vivid]:
    """A ``kt_v4l2.Vivid`` on the vivid node with input 3 (HDMI) selected, 1280x720 timings,
    the signal on and no dropped frames; restored to that afterwards."""
    with _hdmi_input(vivid_module) as dev:
        yield dev


@pytest.fixture(scope="module")
def hdmi(vivid_module: str) -> Iterator[kt_v4l2.Vivid]:
    """The same as ``vivid`` for a whole module (an app started once keeps the node open): restore
    it only after the app has stopped."""
    with _hdmi_input(vivid_module) as dev:
        yield dev
