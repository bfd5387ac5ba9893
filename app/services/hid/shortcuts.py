"""Saved keyboard shortcuts and the leader key (spec 4.3, files of spec 8)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import msgspec

from app.errors import Failed, InvalidArgument, NotFound
from app.paths import DeviceRoot, atomic_write, read_text


class Key(msgspec.Struct):
    code: str
    label: str


class Shortcut(msgspec.Struct):
    id: str
    keys: list[Key]


class Shortcuts(msgspec.Struct):
    shortcuts: list[Shortcut] = []


MAX_SHORTCUTS = 100
MAX_KEYS = 10


class ShortcutStore:
    def __init__(self, root: DeviceRoot) -> None:
        self._file = root("/etc/kvm/shortcuts.json")
        self._leader: Path = root("/etc/kvm/leader-key")
        # Changes run in worker threads (the writes fsync): one read-modify-write at a time.
        self._writing = threading.Lock()

    def all(self) -> Shortcuts:
        try:
            data = self._file.read_bytes()
        except FileNotFoundError:
            return Shortcuts()
        if not data.strip():
            return Shortcuts()
        try:
            return msgspec.json.decode(data, type=Shortcuts)
        except msgspec.DecodeError:
            raise Failed("failed to read shortcuts") from None

    def _save(self, shortcuts: Shortcuts) -> None:
        atomic_write(self._file, msgspec.json.encode(shortcuts))

    def add(self, keys: list[Key]) -> None:
        if not keys or len(keys) > MAX_KEYS or any(not k.code or len(k.code) > 32 or len(k.label) > 32 for k in keys):
            raise InvalidArgument("invalid arguments")
        with self._writing:
            self._add(keys)

    def _add(self, keys: list[Key]) -> None:
        current = self.all()
        if len(current.shortcuts) >= MAX_SHORTCUTS:
            raise InvalidArgument("too many shortcuts", code=-2)
        current.shortcuts.append(Shortcut(str(uuid.uuid4()), keys))
        self._save(current)

    def delete(self, shortcut_id: str) -> None:
        with self._writing:
            self._delete(shortcut_id)

    def _delete(self, shortcut_id: str) -> None:
        current = self.all()
        kept = [s for s in current.shortcuts if s.id != shortcut_id]
        if len(kept) == len(current.shortcuts):
            raise NotFound("shortcut not found", code=-2)
        self._save(Shortcuts(kept))

    def leader_key(self) -> str:
        return read_text(self._leader)

    def set_leader_key(self, key: str) -> None:
        if len(key) > 32 or any(not (c.isalnum() or c in "_-") for c in key):
            raise InvalidArgument("invalid arguments")
        if key:
            atomic_write(self._leader, key.encode())
        else:
            self._leader.unlink(missing_ok=True)
