"""The image library in ``/data`` and the mass-storage LUN (spec 4.5, 7.5).

Paths on the wire are device paths (``/data/x.iso``), as NanoKVM's. A path is only ever used after
it was resolved, symlinks included, to a place inside ``/data``: ``../``, absolute paths elsewhere
and symlinks that point out are refused before anything is touched.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from app.board.gadget import (
    BCD_DEVICE,
    GADGET,
    INQUIRY_CDROM,
    INQUIRY_DISK,
    LUN,
    NO_IMAGE,
    Gadget,
    GadgetError,
)
from app.errors import Conflict, Failed, InvalidArgument
from app.paths import DeviceRoot

DATA = "/data"
IMAGE_SUFFIXES = (".iso", ".img")
# NanoKVM's pauses around the rebind that makes the host see the new medium.
REBIND_PAUSE_SECONDS = 0.1


@dataclass(frozen=True)
class DataPath:
    device: str  # /data/... with the directories resolved: what the LUN is given
    entry: Path  # the named entry (a symlink stays a symlink), under the root
    real: Path  # where it finally points, inside /data


NAME_MAX = 255  # bytes in one path part (Linux)


def resolve_in_data(root: DeviceRoot, device_path: str, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> DataPath | None:
    """The path if it names an image inside /data once every symlink is resolved, else None."""
    if not device_path.startswith("/") or "\x00" in device_path:
        return None
    if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in device_path.split("/")):
        # The file system would say ENAMETOOLONG deep inside a check; say it here, plainly.
        raise InvalidArgument(f"invalid arguments: a file or directory name is longer than {NAME_MAX} bytes")
    if suffixes and not device_path.lower().endswith(suffixes):
        return None
    data = Path(os.path.realpath(root(DATA)))
    candidate = root(device_path)
    parent = Path(os.path.realpath(candidate.parent))
    entry = parent / candidate.name
    real = Path(os.path.realpath(entry))
    if candidate.name in ("", ".", "..") or not parent.is_relative_to(data):
        return None
    if real == data or not real.is_relative_to(data):
        return None
    return DataPath("/" + DATA.strip("/") + "/" + str(real.relative_to(data)), entry, real)


class ImageLibrary:
    def __init__(
        self,
        root: DeviceRoot,
        gadget: Gadget,
        hid_detached: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self.root = root
        self.gadget = gadget
        self.lun = root(LUN)
        # Closes the HID nodes around every unbind/rebuild (see app/board/hid.py for why).
        self.hid_detached = hid_detached
        self.lock = threading.Lock()  # mounts and gadget rebuilds, one at a time

    # --- library ---------------------------------------------------------------------------

    def images(self) -> list[str] | None:
        """Every .iso/.img under /data, as full device paths, in Go's filepath.Walk order."""
        data = self.root(DATA)
        real_data = Path(os.path.realpath(data))
        if not data.is_dir():
            raise Failed("get images failed", code=-2)
        found: list[str] = []

        def walk(directory: Path, prefix: str) -> None:
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                raise Failed("get images failed", code=-2) from None
            for entry in entries:
                path = f"{prefix}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), path)
                # A symlink out of /data is not offered (it could not be mounted anyway).
                elif entry.name.lower().endswith(IMAGE_SUFFIXES) and Path(os.path.realpath(entry.path)).is_relative_to(
                    real_data
                ):
                    found.append(path)

        walk(data, DATA)
        return found or None

    def mounted(self) -> str:
        """The LUN's backing file, ``""`` for none (the data partition) and in hid-only mode."""
        mode = self._read(f"{GADGET}/bcdDevice")
        if mode is None or mode.strip().lower() not in BCD_DEVICE.values():
            raise Failed("get HID mode failed", code=-2)
        if mode.strip().lower() == BCD_DEVICE["hid-only"]:
            return ""
        content = self._read(f"{LUN}/file")
        if content is None:
            raise Failed("read failed", code=-2)
        image = content.replace("\n", "")
        return "" if image == NO_IMAGE else image

    def cdrom(self) -> int:
        content = self._read(f"{LUN}/cdrom")
        if content is None:
            raise Failed("read failed")
        try:
            return int(content.replace("\n", ""), 10)
        except ValueError:
            raise Failed("parse failed", code=-2) from None

    # --- mount -----------------------------------------------------------------------------

    def mount(self, file: str, cdrom: bool, read_only: bool = False) -> None:
        """Spec 7.5. ``file == ""`` unmounts (the host sees the data partition again). ``read_only``: a
        flash drive the host cannot write (kvmd's ``rw=0``; NanoKVM's flash drives are writable)."""
        target = NO_IMAGE
        if file:
            resolved = resolve_in_data(self.root, file)
            if resolved is None:
                raise InvalidArgument("invalid arguments")
            if not resolved.real.is_file():  # the kernel would refuse to open it
                raise Failed("mount image failed", code=-2)
            target = resolved.device
        with self.lock:
            if not file or cdrom or read_only:  # ro and cdrom change only while the LUN is empty
                self._write("file", b"\n", "unmount image failed")
                self._write("ro", b"1" if file and (cdrom or read_only) else b"0", "set ro flag failed")
                self._write("cdrom", b"1" if file and cdrom else b"0", "set cdrom flag failed")
            self._write("inquiry_string", (INQUIRY_CDROM if cdrom else INQUIRY_DISK).encode(), "set inquiry failed")
            self._write("file", target.encode(), "mount image failed")
            try:
                with self.hid_detached():
                    self.gadget.unbind()
                    time.sleep(REBIND_PAUSE_SECONDS)
                    self.gadget.bind()
                    time.sleep(REBIND_PAUSE_SECONDS)
            except GadgetError:
                raise Failed("execute command failed", code=-2) from None

    def delete(self, file: str) -> None:
        resolved = resolve_in_data(self.root, file)
        if resolved is None:
            raise InvalidArgument("invalid arguments", code=-2)
        with self.lock:
            current = self._read(f"{LUN}/file")
            if current is not None:
                mounted = resolve_in_data(self.root, current.replace("\n", ""), ())
                if mounted is not None and mounted.real == resolved.real:
                    raise Conflict("remove file failed: the image is mounted", code=-3)
            try:
                resolved.entry.unlink()
            except OSError:
                raise Failed("remove file failed", code=-3) from None

    # --- helpers ---------------------------------------------------------------------------

    def _read(self, device_path: str) -> str | None:
        try:
            return self.root(device_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def _write(self, attribute: str, data: bytes, message: str) -> None:
        """Write a LUN attribute that must already exist (no mass-storage function = an error)."""
        try:
            fd = os.open(self.lun / attribute, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError:
            raise Failed(message, code=-2) from None
