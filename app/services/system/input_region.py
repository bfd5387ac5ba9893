"""The input region (NanoKVM >= 2.5.1, ``/etc/kvm/input-region.json``): which part of the captured
frame the host's screen fills, kept for the page that maps the pointer into it. Off when unset."""

from __future__ import annotations

import threading
from typing import Literal

import msgspec

from app.errors import Failed, InvalidArgument
from app.paths import DeviceRoot, atomic_write

FILE = "/etc/kvm/input-region.json"
Mode = Literal["off", "auto", "manual"]


class Resolution(msgspec.Struct, frozen=True):
    width: int
    height: int


class Region(msgspec.Struct, rename="camel"):
    frame_width: int
    frame_height: int
    left: int
    top: int
    width: int
    height: int


class InputRegion(msgspec.Struct, rename="camel"):
    mode: Mode = "off"
    frame_width: int = 0
    frame_height: int = 0
    left: int = 0
    top: int = 0
    width: int = 0
    height: int = 0
    resolutions: list[Resolution] = msgspec.field(default_factory=list)
    selected_resolution: str = ""
    regions: list[Region] = msgspec.field(default_factory=list)
    selected_region: str = ""


class InputRegionUpdate(msgspec.Struct, rename="camel"):
    """Absent fields keep their stored value (the nanokvm client leaves unset ones out)."""

    mode: Mode
    frame_width: int | None = None
    frame_height: int | None = None
    left: int | None = None
    top: int | None = None
    width: int | None = None
    height: int | None = None
    resolutions: list[Resolution] | None = None
    selected_resolution: str | None = None
    regions: list[Region] | None = None
    selected_region: str | None = None


def _region_ok(r: Region) -> bool:
    return (
        r.frame_width > 0
        and r.frame_height > 0
        and r.left >= 0
        and r.top >= 0
        and r.width > 0
        and r.height > 0
        and r.left <= r.frame_width - r.width
        and r.top <= r.frame_height - r.height
    )


def _key(resolution: Resolution) -> str:
    return f"{resolution.width}x{resolution.height}"


class InputRegions:
    def __init__(self, root: DeviceRoot) -> None:
        self.path = root(FILE)
        self._lock = threading.Lock()

    def get(self) -> InputRegion:
        """The stored region; a missing or unusable file reads as off (as NanoKVM)."""
        try:
            return msgspec.json.decode(self.path.read_bytes(), type=InputRegion)
        except FileNotFoundError:
            return InputRegion()
        except OSError:
            raise Failed("failed to read input region") from None
        except (msgspec.DecodeError, msgspec.ValidationError):
            return InputRegion()

    def set(self, update: InputRegionUpdate) -> None:
        with self._lock:
            region = self.get()
            region.mode = update.mode
            geometry = (update.frame_width, update.frame_height, update.left, update.top, update.width, update.height)
            if update.mode == "manual" and any(value is not None for value in geometry):
                if any(value is None for value in geometry):
                    raise InvalidArgument("invalid input region")
                manual = Region(*(int(v or 0) for v in geometry))
                if not _region_ok(manual):
                    raise InvalidArgument("invalid input region")
                region.frame_width, region.frame_height = manual.frame_width, manual.frame_height
                region.left, region.top, region.width, region.height = (
                    manual.left,
                    manual.top,
                    manual.width,
                    manual.height,
                )
            if update.resolutions is not None:
                sizes = update.resolutions
                if any(r.width <= 0 or r.height <= 0 for r in sizes) or len(set(sizes)) != len(sizes):
                    raise InvalidArgument("invalid original resolutions")
                region.resolutions = sizes
            if update.selected_resolution is not None:
                region.selected_resolution = update.selected_resolution
            if region.selected_resolution and region.selected_resolution not in map(_key, region.resolutions):
                raise InvalidArgument("invalid selected resolution")
            if update.regions is not None:
                if not all(map(_region_ok, update.regions)):
                    raise InvalidArgument("invalid input region")
                region.regions = update.regions
            if update.selected_region is not None:
                region.selected_region = update.selected_region
            try:
                atomic_write(self.path, msgspec.json.encode(region))
            except OSError:
                raise Failed("failed to save input region", code=-2) from None
