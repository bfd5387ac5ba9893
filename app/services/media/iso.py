"""ISO 9660 facts read from an image: is it one, and its volume label."""

from __future__ import annotations

from pathlib import Path

SECTOR = 2048
# The volume descriptors start at sector 16: type byte, then the standard identifier "CD001".
DESCRIPTOR = 16 * SECTOR
MAGIC_OFFSET = DESCRIPTOR + 1  # 32769, where NanoKVM looks for "CD001"
MAGIC = b"CD001"
# In the primary volume descriptor (type 1): the volume identifier, 32 d-characters, space padded.
LABEL_OFFSET = DESCRIPTOR + 40
LABEL_LENGTH = 32


def has_iso_magic(head: bytes) -> bool:
    """Whether the first bytes of a file (at least 32774 of them) carry the ISO 9660 magic."""
    return head[MAGIC_OFFSET : MAGIC_OFFSET + len(MAGIC)] == MAGIC


def is_iso9660(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.seek(MAGIC_OFFSET)
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def volume_label(path: Path) -> str | None:
    """The primary volume descriptor's volume identifier (trailing spaces dropped), or None if the
    file is not an ISO 9660 image (or cannot be read)."""
    try:
        with path.open("rb") as f:
            f.seek(DESCRIPTOR)
            descriptor = f.read(SECTOR)
    except OSError:
        return None
    if len(descriptor) < LABEL_OFFSET - DESCRIPTOR + LABEL_LENGTH or descriptor[1:6] != MAGIC or descriptor[0] != 1:
        return None
    raw = descriptor[40 : 40 + LABEL_LENGTH]
    return raw.decode("ascii", errors="replace").rstrip(" \x00")


def make_iso(label: str, size: int = 64 * 1024) -> bytes:
    """A minimal file that passes both checks above (tests and the sim use it; not a mountable ISO)."""
    data = bytearray(max(size, DESCRIPTOR + SECTOR))
    data[DESCRIPTOR] = 1
    data[DESCRIPTOR + 1 : DESCRIPTOR + 6] = MAGIC
    data[DESCRIPTOR + 6] = 1
    data[LABEL_OFFSET : LABEL_OFFSET + LABEL_LENGTH] = label.encode("ascii")[:LABEL_LENGTH].ljust(LABEL_LENGTH)
    return bytes(data)
