"""The sim board: a sandboxed device tree and a simulated PC, on a laptop or in a test.

Everything that differs from a real board is here (or in ``app/sim``, which this module wires): the
device root is filled on first start, the GPIO lines are plain files the sim PC watches, the HID
nodes are FIFOs the sim PC reads, the gadget is built at start on a fake UDC, the runner emulates
commands instead of running them, the terminal and Tailscale are stand-ins, and the network is
loopback only (never the laptop's own interfaces).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.board.atx import Atx, hardware_version, pins_for
from app.board.base import Board, hardware_video
from app.board.gadget import Gadget
from app.board.gpio import sysfs_number
from app.board.hid import HidPaths
from app.board.network import Address
from app.board.system import SimRunner
from app.board.video import FrameSource
from app.config import Config
from app.paths import DeviceRoot, read_text
from app.services.media.hostview import host_view
from app.services.system.terminal import Terminal
from app.sim.gpio_channels import prepare_channels
from app.sim.host import SimHost
from app.sim.input import SimInput
from app.sim.shell import SimShell
from app.sim.state import prepare_sim_root
from app.sim.tailscale import SimTailscale, sim_installer
from app.sim.wifi import SIM_TIMING, sim_kvm_system

# FIFOs, with a second one for the keyboard's LED answers (a board's /dev/hidg0 carries both ways).
HID_PATHS = HidPaths(Path("/dev/hidg0"), Path("/dev/hidg1"), Path("/dev/hidg2"), Path("/dev/hidg0-leds"))


def addresses() -> list[Address] | None:
    """The sim board is on the laptop's loopback; it never reports the laptop's own interfaces."""
    return [Address("eth0", "127.0.0.1", "IPv4", "Wired")]


def own_address(address: str) -> bool:
    """Only what the sim board reports: the laptop's own interfaces are the LAN it sits on."""
    return address in {entry.addr for entry in addresses() or []}


def interface_info(name: str) -> tuple[str, str]:
    return ("127.0.0.1/8", "255.0.0.0") if name == "eth0" else ("", "")


def build(config: Config, root: DeviceRoot) -> Board:
    hid_paths = HidPaths(*(root(str(path)) for path in HID_PATHS))
    pins = pins_for(config.gpio, hardware_version(root))
    prepare_sim_root(root, pins, hid_paths)
    prepare_channels(root, config.gpio.channels)
    hardware = hardware_version(root)
    pins = pins_for(config.gpio, hardware)

    def led(spec: str) -> Path | None:
        return root(f"/sys/class/gpio/gpio{sysfs_number(root, spec)}/value") if spec else None

    host = SimHost(power_led=led(pins.power_led) or root("/dev/null"), hdd_led=led(pins.hdd_led))
    sim_input = SimInput(host, hid_paths, usb_view=lambda: host_view(root))
    gadget = Gadget(root, rebind_delay=0.1)
    gadget.start()  # a board's init script builds it (python -m app gadget start); here the app does
    runner = SimRunner(root, _power_cycle(host))
    SimTailscale(root).attach(runner)

    def shell() -> Terminal:
        return SimShell(read_text(root("/etc/hostname")) or "kvm-sim")

    board = Board(
        kind="sim",
        root=root,
        hardware=hardware,
        atx=Atx(root, config.gpio.driver, pins, on_button=host.button),
        hid_paths=hid_paths,
        gadget=gadget,
        runner=runner,
        addresses=addresses,
        own_address=own_address,
        interface_info=interface_info,
        fallback_interface=lambda: "eth0",
        video=_video(config, root, sim_input),
        shell=shell,
        tailscale_installer=sim_installer,
        wifi_timing=SIM_TIMING,
        kvm_system=sim_kvm_system,
        restarts_itself=False,  # the runner records "S95nanokvm restart" and does nothing
        sandbox=True,
        sim_host=host,
        sim_input=sim_input,
    )
    board.on_start(host.start, host.stop)
    board.on_start(sim_input.start, sim_input.stop)
    return board


def _power_cycle(host: SimHost) -> Callable[[], None]:
    """What ``reboot`` does on the sim board: the simulated PC restarts (the laptop does not)."""

    def reset() -> None:
        host.button("reset", True)
        host.button("reset", False)

    return reset


def _video(config: Config, root: DeviceRoot, sim_input: SimInput) -> Callable[[], FrameSource]:
    """The sim PC's screen by default; a file or a V4L2 device when the config names one."""
    video = config.video
    if video.source not in ("", "sim"):
        return hardware_video(video, root)

    def open_source() -> FrameSource:
        from app.sim.screen import SimScreenSource

        return SimScreenSource(sim_input.host, video.width, video.height, sim_input)

    return open_source
