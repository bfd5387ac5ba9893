"""Sipeed NanoKVM (LicheeRV Nano, SG2002): sysfs GPIO numbers per hardware version, its own UDC, the
HDMI capture chip behind V4L2, kvm_system owning the radio."""

from __future__ import annotations

from app.board import network
from app.board.atx import Atx, hardware_version, pins_for
from app.board.base import HID_PATHS, Board, hardware_video, pty_shell
from app.board.gadget import Gadget
from app.board.hid import HidPaths
from app.board.system import BoardRunner
from app.config import Config
from app.paths import DeviceRoot
from app.services.network.wifi import Timing
from app.services.system.tailscale_control import board_installer


def build(config: Config, root: DeviceRoot) -> Board:
    hardware = hardware_version(root)
    return Board(
        kind="nanokvm",
        root=root,
        hardware=hardware,
        atx=Atx(root, config.gpio.driver, pins_for(config.gpio, hardware)),
        hid_paths=HidPaths(*(root(str(path)) for path in HID_PATHS)),
        # On a board the init script has built the gadget (python -m app gadget start).
        gadget=Gadget(root, rebind_delay=1.0),
        runner=BoardRunner(),
        addresses=network.board_addresses,
        interface_info=network.interface_info,
        fallback_interface=network.fallback_interface,
        video=hardware_video(config.video, root),
        shell=pty_shell,
        tailscale_installer=board_installer,
        wifi_timing=Timing(),
    )
