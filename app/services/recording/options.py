"""vncrecordingserver's recording options, checked, and where the file goes.

Names and defaults are vncrecordingserver's (seeds/vncrecordingserver.md). ``output_path`` is taken
relative to the recordings directory (``/data/recordings``) and must stay inside it; ``filename`` is
expanded with strftime and its extension picks the container. ``blocksize``, ``preferred_encoding``
and ``debug`` are accepted for compatibility (vnc2flv's tuning knobs; our RFB client negotiates its
own encodings). ``max_size`` (bytes) is ours: the recording stops cleanly there.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec

from app.errors import InvalidArgument

CONTAINERS = {".flv": "flv", ".mp4": "mp4", ".mkv": "matroska", ".avi": "avi"}
CLIPPING = re.compile(r"^(\d{1,5})x(\d{1,5})\+(\d{1,5})\+(\d{1,5})$")
NAME_MAX = 200


class RecordingConfig(msgspec.Struct, forbid_unknown_fields=True):
    blocksize: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 32
    clipping: str | None = None
    debug: bool = False
    filename: str = "out%Y%m%d%H%M.flv"
    framerate: Annotated[int, msgspec.Meta(ge=1, le=60)] = 12
    host: str | None = "localhost"
    keyframe: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 120
    output_path: str = "."
    password: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 5900
    preferred_encoding: list[int] = msgspec.field(default_factory=lambda: [0, -232, -239])
    max_size: Annotated[int, msgspec.Meta(ge=0)] = 0  # ours: bytes, 0 = up to the free space


@dataclass(frozen=True, slots=True)
class Clip:
    width: int
    height: int
    left: int
    top: int


def clip_of(config: RecordingConfig) -> Clip | None:
    if not config.clipping:
        return None
    found = CLIPPING.match(config.clipping.strip())
    if found is None:
        raise InvalidArgument("clipping must be WIDTHxHEIGHT+LEFT+TOP, e.g. 400x300+120+0")
    width, height, left, top = (int(part) for part in found.groups())
    if width < 16 or height < 16:
        raise InvalidArgument("clipping must be at least 16x16")
    return Clip(width, height, left, top)


def container_of(filename: str) -> str:
    container = CONTAINERS.get(Path(filename).suffix.lower())
    if container is None:
        raise InvalidArgument(f"filename must end in one of {', '.join(CONTAINERS)}")
    return container


def target(recordings: Path, config: RecordingConfig, now: float | None = None) -> Path:
    """The file to write: ``output_path``/``filename`` (strftime) inside ``recordings``; a name that
    exists gets ``-1``, ``-2``... (never overwrite a recording). InvalidArgument for escapes."""
    try:
        name = time.strftime(config.filename, time.localtime(now))
    except ValueError:
        raise InvalidArgument("filename: invalid strftime pattern") from None
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        raise InvalidArgument("filename must be a plain file name (no directories)")
    if len(name.encode()) > NAME_MAX:
        raise InvalidArgument(f"filename longer than {NAME_MAX} bytes")
    container_of(name)
    directory = inside(recordings, config.output_path)
    path = directory / name
    stem, suffix = path.stem, path.suffix
    counter = 0
    while path.exists():
        counter += 1
        path = directory / f"{stem}-{counter}{suffix}"
    return path


def inside(recordings: Path, relative: str) -> Path:
    """``relative`` under ``recordings``, refusing absolute paths, ``..`` and symlinks out of it."""
    if "\x00" in relative or relative.startswith(("/", "\\")):
        raise InvalidArgument("output_path must be relative to the recordings directory")
    base = recordings.resolve()
    resolved = (base / relative).resolve()
    if resolved != base and base not in resolved.parents:
        raise InvalidArgument("output_path must stay inside the recordings directory")
    return resolved
