"""The recordings directory: list, find (for download) and delete recordings, never outside it."""

from __future__ import annotations

from pathlib import Path

import msgspec

from app.errors import Conflict, InvalidArgument, NotFound
from app.services.recording.options import CONTAINERS, inside
from app.services.recording.recorder import Recorder

MEDIA_TYPES = {".flv": "video/x-flv", ".mp4": "video/mp4", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo"}
LIST_LIMIT = 1000


class RecordingFile(msgspec.Struct):
    name: str  # relative to the recordings directory ("sub/out.mp4")
    size: int
    modified: float
    active: bool  # being written now


def files(recorder: Recorder) -> list[RecordingFile]:
    """Newest first (blocking: walks the directory)."""
    base = recorder.directory
    if not base.is_dir():
        return []
    found = []
    for path in base.rglob("*"):
        if path.suffix.lower() not in CONTAINERS or path.is_symlink() or not path.is_file():
            continue
        stat = path.stat()
        name = str(path.relative_to(base))
        found.append(RecordingFile(name, stat.st_size, stat.st_mtime, recorder.recording(path)))
    found.sort(key=lambda f: f.modified, reverse=True)
    return found[:LIST_LIMIT]


def find(recorder: Recorder, name: str) -> Path:
    """The recording called ``name`` (relative); NotFound, or InvalidArgument for names outside."""
    if not name:
        raise InvalidArgument("name is required")
    path = inside(recorder.directory, name)
    if path.suffix.lower() not in CONTAINERS or not path.is_file():
        raise NotFound(f"no recording {name}")
    return path


def delete(recorder: Recorder, name: str) -> None:
    path = find(recorder, name)
    if recorder.recording(path):
        raise Conflict("this recording is being written; stop it first (DELETE /recording)")
    path.unlink()


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
