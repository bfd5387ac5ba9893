"""The MCP server's API key and the role it acts with (``/etc/kvm/mcp.json``).

NanoKVM keeps ``{"apiKey": "<key>"}`` in the clear and shows it on every read. Here the key is shown
once, when it is made, and the file keeps its SHA-256 only; a key in NanoKVM's form (a device that ran
NanoKVM's firmware) is still accepted. The role (viewer, user or admin; default user) gates the tools.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable

import msgspec

from app.paths import DeviceRoot, atomic_write
from app.services.auth.accounts import Role
from app.validation import InvalidInput

FILE = "/etc/kvm/mcp.json"
PREFIX = "nag_mcp_"  # NanoKVM's key format: prefix + 32 random bytes, base64url
DEFAULT_ROLE = Role.USER


class StoredKey(msgspec.Struct, rename="camel", omit_defaults=True):
    api_key: str = ""  # NanoKVM's plain key (read, never written here)
    api_key_sha256: str = ""
    role: str = DEFAULT_ROLE.wire


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class McpKeys:
    def __init__(self, root: DeviceRoot) -> None:
        self.path = root(FILE)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def on_revoke(self, listener: Callable[[], None]) -> None:
        """Called when the key or its role changes: requests made with the old grant end."""
        self._listeners.append(listener)

    def _load(self) -> StoredKey:
        try:
            return msgspec.json.decode(self.path.read_bytes(), type=StoredKey)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return StoredKey()

    def _save(self, stored: StoredKey) -> None:
        atomic_write(self.path, msgspec.json.encode(stored) + b"\n", 0o600)
        for listener in self._listeners:
            listener()

    def exists(self) -> bool:
        stored = self._load()
        return bool(stored.api_key or stored.api_key_sha256)

    def role(self) -> Role:
        try:
            return Role.from_wire(self._load().role)
        except InvalidInput:
            return DEFAULT_ROLE

    def ensure(self) -> str:
        """A new key if there is none (returned once), else ``""``."""
        with self._lock:
            if self.exists():
                return ""
            return self._new_key(self._load())

    def regenerate(self) -> str:
        with self._lock:
            return self._new_key(self._load())

    def set_role(self, role: Role) -> None:
        with self._lock:
            stored = self._load()
            if stored.role != role.wire:
                stored.role = role.wire
                self._save(stored)

    def _new_key(self, stored: StoredKey) -> str:
        key = PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        self._save(StoredKey(api_key_sha256=_digest(key), role=stored.role))
        return key

    def check(self, presented: str) -> Role | None:
        """The key's role when ``presented`` is the key, else None (constant-time)."""
        stored = self._load()
        if not presented:
            return None
        if stored.api_key_sha256:
            ok = hmac.compare_digest(_digest(presented), stored.api_key_sha256)
        else:
            ok = bool(stored.api_key) and hmac.compare_digest(presented, stored.api_key)
        return self.role() if ok else None
