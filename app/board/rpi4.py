"""Raspberry Pi 4 with an HDMI-to-CSI bridge (a PiKVM-style build).

- ATX: lines of the SoC's GPIO chip, found by its label (``pinctrl-bcm2711``) and the BCM offset, in
  PiKVM's v2/v3 wiring: power button GPIO23, reset button GPIO27, power LED GPIO24, HDD LED GPIO22.
  ``CHIP:OFFSET`` works with both drivers (``gpio.driver: cdev`` is the one to use: the kernel's
  sysfs numbers move between versions). The LED inputs are read active low like NanoKVM's (an
  optocoupler pulling the line down while the LED is lit); ``gpio.*`` in the config overrides a line.
- USB gadget: the USB-C port's ``dwc2`` controller, UDC ``fe980000.usb`` (``dtoverlay=dwc2`` in
  config.txt and ``modules-load=dwc2`` / libcomposite), HID nodes /dev/hidg0..2 as on NanoKVM.
- Video: the CSI bridge (Toshiba TC358743) through V4L2 at /dev/video0, which reports DV timings;
  a hardware H.264 stream would use the SoC's V4L2 memory-to-memory encoder (``h264_v4l2m2m``).
- No kvm_system: Wi-Fi keeps NanoKVM's file hand-over, which something on the image must answer.
"""

from __future__ import annotations

from app.board import network
from app.board.atx import Atx, Pins, hardware_version, with_overrides
from app.board.base import HID_PATHS, Board, hardware_video, pty_shell
from app.board.gadget import Gadget
from app.board.hid import HidPaths
from app.board.system import BoardRunner
from app.config import Config
from app.paths import DeviceRoot
from app.services.network.wifi import Timing
from app.services.system.tailscale_control import board_installer

CHIP = "pinctrl-bcm2711"
PINS = Pins(power_button=f"{CHIP}:23", reset_button=f"{CHIP}:27", power_led=f"{CHIP}:24", hdd_led=f"{CHIP}:22")
UDC = "fe980000.usb"
VIDEO_DEVICE = "/dev/video0"
H264_ENCODER = "h264_v4l2m2m"


def build(config: Config, root: DeviceRoot) -> Board:
    return Board(
        kind="rpi4",
        root=root,
        hardware=hardware_version(root),
        atx=Atx(root, config.gpio.driver, with_overrides(config.gpio, PINS)),
        hid_paths=HidPaths(*(root(str(path)) for path in HID_PATHS)),
        gadget=Gadget(root, rebind_delay=1.0, udc=UDC),
        runner=BoardRunner(),
        addresses=network.board_addresses,
        interface_info=network.interface_info,
        fallback_interface=network.fallback_interface,
        video=hardware_video(config.video, root),
        shell=pty_shell,
        tailscale_installer=board_installer,
        wifi_timing=Timing(),
        h264_encoder=H264_ENCODER,
    )
