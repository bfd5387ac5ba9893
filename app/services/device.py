"""Device identity for ``/api/vm/info`` and ``/api/vm/hardware`` (spec 4.2, 8)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from app.board.atx import HARDWARE_NAMES
from app.board.network import Address
from app.paths import DeviceRoot, read_text

# /boot/ver image names -> the versions NanoKVM reports (spec 8).
IMAGE_VERSIONS = {
    "2024-06-23-20-59-2d2bfb.img": "v1.0.0",
    "2024-07-23-20-18-587710.img": "v1.1.0",
    "2024-08-08-19-44-bef2ca.img": "v1.2.0",
    "2024-11-13-09-59-9c961a.img": "v1.3.0",
    "2025-02-17-19-08-3649fe.img": "v1.4.0",
    "2025-04-17-14-21-98d17d.img": "v1.4.1",
    "2026-01-05-1_4_1.img": "v1.4.2",
}


class DeviceInfo(msgspec.Struct, rename="camel"):
    ips: list[Address] | None
    mdns: str
    image: str
    application: str
    device_key: str


class Hardware(msgspec.Struct):
    version: str


class DeviceService:
    def __init__(self, root: DeviceRoot, hardware: str, addresses: Callable[[], list[Address] | None]) -> None:
        self.root = root
        self.hardware = hardware
        self._addresses = addresses

    def info(self) -> DeviceInfo:
        mdns = ""
        if self.root("/run/avahi-daemon/pid").exists():
            hostname = read_text(self.root("/etc/hostname")).replace("\n", "")
            mdns = f"{hostname}.local" if hostname else ""
        image = read_text(self.root("/boot/ver"))
        return DeviceInfo(
            ips=self._addresses(),
            mdns=mdns,
            image=IMAGE_VERSIONS.get(image, image),
            application=read_text(self.root("/kvmapp/version")) or "1.0.0",
            device_key=read_text(self.root("/device_key")),
        )

    def hardware_info(self) -> Hardware:
        return Hardware(HARDWARE_NAMES[self.hardware])
