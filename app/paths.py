"""The device root: every device path the app touches resolves under one directory.

On a board the root is ``/``; the sim board and tests use a sandbox directory, so the same
drivers run unchanged against plain files standing in for device nodes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path


class DeviceRoot:
    """Maps absolute device paths (``/etc/kvm/pwd``) to paths under the configured root."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def __call__(self, device_path: str) -> Path:
        if not device_path.startswith("/"):
            raise ValueError(f"device paths are absolute, got {device_path!r}")
        return self.root / device_path.lstrip("/")

    def __repr__(self) -> str:
        return f"DeviceRoot({str(self.root)!r})"


def read_text(path: Path, default: str = "") -> str:
    """The file's text with surrounding whitespace stripped, or ``default`` if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return default


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Remove what an ``atomic_write`` of ``path`` killed mid-write left (``.<name>-*``); call it only
    when no write can be under way (at start). Returns what was removed."""
    removed = []
    for stale in path.parent.glob(f".{glob.escape(path.name)}-*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed.append(stale)
    return removed


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` so that readers (and a crash at any instant) see the old or the new file, never half.

    Temp file in the same directory, fsync, rename over the target, fsync the directory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
