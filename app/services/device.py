"""Device identity for ``/api/vm/info`` and ``/api/vm/hardware`` (spec 4.2, 8)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

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


# A file changed less than this long ago is read again on every request: within a timestamp tick
# a rewrite can keep the same mtime and size, so only a settled file's stat proves it unchanged.
_SETTLED_NS = 1_000_000_000


class StatCachedText:
    """``read_text(path)`` that re-reads the file only when its stat changes (one stat per call).

    The answer is what a fresh read would give: a replaced, rewritten, touched or deleted file
    changes the signature, and a file modified in the last second is not cached at all.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int, int] | None = None  # inode, size, mtime, ctime
        self._text = ""

    def read(self) -> str:
        try:
            st = self.path.stat()
        except OSError:
            self._signature = None
            return read_text(self.path)
        signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if signature == self._signature:
            return self._text
        text = read_text(self.path)
        settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS
        self._signature, self._text = (signature if settled else None), text
        return text


class DeviceService:
    def __init__(self, root: DeviceRoot, hardware: str, addresses: Callable[[], list[Address] | None]) -> None:
        self.root = root
        self.hardware = hardware
        self._addresses = addresses
        # /api/vm/info needs these on every request: a stat each instead of an open and a read.
        self._avahi_pid = root("/run/avahi-daemon/pid")
        self._hostname = StatCachedText(root("/etc/hostname"))
        self._image = StatCachedText(root("/boot/ver"))
        self._application = StatCachedText(root("/kvmapp/version"))
        self._device_key = StatCachedText(root("/device_key"))

    def info(self) -> DeviceInfo:
        mdns = ""
        if self._avahi_pid.exists():
            hostname = self._hostname.read().replace("\n", "")
            mdns = f"{hostname}.local" if hostname else ""
        image = self._image.read()
        return DeviceInfo(
            ips=self._addresses(),
            mdns=mdns,
            image=IMAGE_VERSIONS.get(image, image),
            application=self._application.read() or "1.0.0",
            device_key=self._device_key.read(),
        )

    def hardware_info(self) -> Hardware:
        return Hardware(HARDWARE_NAMES[self.hardware])
