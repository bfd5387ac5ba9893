"""The virtual network card and disk toggles (spec 7.4): a ``/boot`` flag and a gadget rebuild."""

from __future__ import annotations

from typing import Literal

import msgspec

from app.board.gadget import GadgetError
from app.errors import Failed, InvalidArgument
from app.services.media.images import ImageLibrary

Device = Literal["network", "disk"]
FLAGS: dict[str, str] = {"network": "/boot/usb.rndis0", "disk": "/boot/usb.disk0"}


class VirtualState(msgspec.Struct):
    network: bool
    media: bool  # NanoKVM always answers false (quirk 12)
    disk: bool


class VirtualDevices:
    def __init__(self, images: ImageLibrary) -> None:
        self.images = images
        self.root = images.root
        self.gadget = images.gadget

    def state(self) -> VirtualState:
        return VirtualState(
            network=self.root(FLAGS["network"]).exists(), media=False, disk=self.root(FLAGS["disk"]).exists()
        )

    def toggle(self, device: str) -> bool:
        """Flip one device; answers whether it is now on."""
        if device not in FLAGS:
            raise InvalidArgument("invalid arguments", code=-2)
        flag = self.root(FLAGS[device])
        with self.images.lock:
            turn_on = not flag.exists()
            try:
                with self.images.hid_detached():
                    if turn_on:
                        flag.parent.mkdir(parents=True, exist_ok=True)
                        flag.touch()
                        self.gadget.stop()
                    else:
                        self.gadget.stop()  # the rebuild drops the function and its link
                        flag.unlink(missing_ok=True)
                    self.gadget.start()
            except (OSError, GadgetError):
                raise Failed("operation failed", code=-3) from None
        return turn_on
