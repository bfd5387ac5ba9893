"""The account store: ``/etc/kvm/pwd`` in NanoKVM's HEAD JSON format (spec 2.7), bcrypt hashes.

The file is the single source of truth and is written atomically (0600) so a kill -9 mid-write
leaves the old or the new file. It is kept in memory and re-read when its mtime changes, so an
edit by another process (the BOOT-button reset deletes the file) takes effect.
"""

from __future__ import annotations

import enum
import secrets
import threading
from pathlib import Path

import msgspec
from Crypto.Protocol.KDF import bcrypt, bcrypt_check

from app import validators
from app.errors import Conflict, NotFound
from app.paths import atomic_write
from app.services.auth import transport

BCRYPT_COST = 10  # as NanoKVM


class Role(enum.IntEnum):
    """Ordered: a route that needs USER admits USER and ADMIN. PUBLIC marks routes open to all."""

    PUBLIC = 0
    VIEWER = 1
    USER = 2
    ADMIN = 3

    @property
    def wire(self) -> str:
        return self.name.lower()

    @classmethod
    def from_wire(cls, name: str) -> Role:
        return {"viewer": cls.VIEWER, "user": cls.USER, "admin": cls.ADMIN}[validators.role_name(name)]


class Account(msgspec.Struct, rename="camel", omit_defaults=True):
    username: str
    password: str
    role: str
    enabled: bool
    token_version: int
    must_change_password: bool = False
    system_account: bool = False


class _StoreFile(msgspec.Struct, omit_defaults=True):
    version: int = 0
    users: list[Account] = []
    # Legacy mirror of the owner account, so a downgraded single-user server still works.
    username: str = ""
    password: str = ""


class StoreError(Exception):
    """The account file cannot be read or is invalid: authentication is unavailable."""


# A refused change to the accounts raises a domain error (app.errors), its message shown to the client:
# InvalidArgument (a name, password or role breaks its rule), NotFound (no such user), Conflict (the
# change would leave no enabled admin, or touch the actor itself or the device owner).


def _hash(password: str) -> str:
    return bcrypt(password.encode("utf-8"), BCRYPT_COST).decode("ascii")


def _new_token_version() -> int:
    return secrets.randbits(64) or 1


_DUMMY_HASH = _hash("timing-equaliser")


def check_password(account: Account | None, password: str) -> bool:
    """Constant-ish time: an unknown user costs one bcrypt check too, so names cannot be probed."""
    stored = account.password if account is not None else _DUMMY_HASH
    if stored.startswith("$2"):
        try:
            bcrypt_check(password.encode("utf-8"), stored.encode("ascii"))
        except ValueError:
            return False
        return account is not None
    # Pre-2.1.6 firmware stored the URL-encoded AES string; accepted once, then upgraded.
    try:
        return transport.decrypt(stored) == password
    except transport.TransportError:
        return False


class AccountStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._users: list[Account] = []
        self._loaded_mtime: float | None = None
        self._error: str | None = None

    # --- loading ---------------------------------------------------------------------------

    def _default(self) -> list[Account]:
        return [
            Account(
                username="admin",
                password=_hash("admin"),
                role="admin",
                enabled=True,
                token_version=_new_token_version(),
                must_change_password=True,
                system_account=True,
            )
        ]

    def _parse(self, data: bytes) -> list[Account]:
        try:
            doc = msgspec.json.decode(data, type=_StoreFile)
        except msgspec.DecodeError as err:
            raise StoreError(f"{self.path}: {err}") from None
        if doc.version == 0:
            if not doc.username or not doc.password:
                raise StoreError(f"{self.path}: no accounts")
            # Legacy single-account file: migrate to one owner admin.
            must_change = check_password(Account(doc.username, doc.password, "admin", True, 1), "admin")
            return [Account(doc.username, doc.password, "admin", True, _new_token_version(), must_change, True)]
        if doc.version != 1 or not doc.users:
            raise StoreError(f"{self.path}: unsupported version or no users")
        for user in doc.users:
            if user.token_version == 0:
                user.token_version = 1
        return doc.users

    def _refresh(self) -> None:
        """Re-read the file if it changed; create it with the default account if it is missing."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._users = self._default()
            self._save()
            return
        if mtime == self._loaded_mtime:
            return
        try:
            self._users = self._parse(self.path.read_bytes())
            self._error = None
        except (StoreError, OSError) as err:
            self._users = []
            self._error = str(err)
        self._loaded_mtime = mtime

    def _save(self) -> None:
        owner = next((u for u in self._users if u.system_account), None) or next(
            (u for u in self._users if u.role == "admin" and u.enabled), None
        )
        doc = _StoreFile(
            version=1,
            users=self._users,
            username=owner.username if owner else "",
            password=owner.password if owner else "",
        )
        data = msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"
        atomic_write(self.path, data, mode=0o600)
        self._loaded_mtime = self.path.stat().st_mtime_ns

    def _snapshot(self) -> list[Account]:
        with self._lock:
            self._refresh()
            if self._error is not None:
                raise StoreError(self._error)
            return self._users

    # --- reading ---------------------------------------------------------------------------

    def users(self) -> list[Account]:
        return list(self._snapshot())

    def get(self, username: str) -> Account | None:
        return next((u for u in self._snapshot() if u.username == username), None)

    def cached(self, username: str) -> Account | None:
        """The in-memory account without touching the disk (the per-request fast path)."""
        return next((u for u in self._users if u.username == username), None)

    def refresh(self) -> None:
        """Pick up outside edits of the file (called periodically, not per request)."""
        with self._lock:
            self._refresh()

    # --- authentication --------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> Account | None:
        """The enabled account whose password matches, upgrading legacy hashes; else None."""
        account = self.get(username)
        if not check_password(account, password) or account is None or not account.enabled:
            return None
        if not account.password.startswith("$2"):
            new_hash = _hash(password)
            with self._lock:
                account.password = new_hash
                self._save()
        return account

    # --- changes ---------------------------------------------------------------------------

    def _require(self, username: str) -> Account:
        account = self.get(username)
        if account is None:
            raise NotFound("user not found")
        return account

    def _check_invariants(self, users: list[Account]) -> None:
        if not any(u.role == "admin" and u.enabled for u in users):
            raise Conflict("at least one enabled admin is required")

    def set_password(self, username: str, password: str) -> None:
        validators.new_password(password)
        new_hash = _hash(password)
        with self._lock:
            account = self._require(username)
            account.password = new_hash
            account.must_change_password = False
            account.token_version = _new_token_version()
            self._save()

    def create(self, username: str, password: str, role: str) -> None:
        validators.username(username)
        validators.role_name(role)
        validators.new_password(password)
        new_hash = _hash(password)
        with self._lock:
            if self.get(username) is not None:
                raise Conflict("username already exists")
            self._users.append(Account(username, new_hash, role, True, _new_token_version()))
            self._save()

    def update(self, actor: str, username: str, role: str | None, enabled: bool | None) -> bool:
        """Change role and/or enabled; True if something changed (the user's sessions then end)."""
        if role is not None:
            validators.role_name(role)
        with self._lock:
            account = self._require(username)
            new_role = role if role is not None else account.role
            new_enabled = enabled if enabled is not None else account.enabled
            if (new_role, new_enabled) == (account.role, account.enabled):
                return False
            if username == actor:
                raise Conflict("administrators cannot disable or demote themselves")
            if account.system_account:
                raise Conflict("the device owner account must remain an enabled administrator")
            trial = [
                msgspec.structs.replace(u, role=new_role, enabled=new_enabled) if u is account else u
                for u in self._users
            ]
            self._check_invariants(trial)
            account.role, account.enabled = new_role, new_enabled
            account.token_version = _new_token_version()
            self._save()
            return True

    def delete(self, actor: str, username: str) -> None:
        with self._lock:
            account = self._require(username)
            if username == actor:
                raise Conflict("administrators cannot delete themselves")
            if account.system_account:
                raise Conflict("the device owner account cannot be deleted")
            trial = [u for u in self._users if u is not account]
            self._check_invariants(trial)
            self._users = trial
            self._save()

    def bump_token_version(self, username: str) -> None:
        with self._lock:
            account = self._require(username)
            account.token_version = _new_token_version()
            self._save()
