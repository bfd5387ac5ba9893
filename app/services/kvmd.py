"""What PiKVM's kvmd API keeps that NanoKVM's has no place for: the HID's connected switch and mouse
mode, the drive's chosen image and kind until it is connected, the saved snapshot, and the one input
source kvmd's HTTP event routes share."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.services.atx_actions import AtxActions
from app.services.gpio_channels import GpioChannels
from app.services.hid.events import EventInput
from app.services.hid.service import HidService
from app.services.power import PowerService


@dataclass
class Drive:
    image: str = ""  # a name in /data
    cdrom: bool = True
    rw: bool = False


@dataclass
class KvmdState:
    http_input: EventInput
    atx: AtxActions
    channels: GpioChannels  # gpio.channels: kvmd's GPIO beside the ATX lines
    hid_connected: bool = True
    mouse_absolute: bool = True
    drive: Drive = field(default_factory=Drive)
    saved_snapshot: tuple[bytes, float] | None = None  # JPEG, capture time

    @classmethod
    def create(cls, hid: HidService, power: PowerService, channels: GpioChannels) -> KvmdState:
        return cls(EventInput(hid), AtxActions(power), channels)
