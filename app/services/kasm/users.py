"""KasmVNC's user permissions on our account store: ``read``/``write``/``owner`` and our roles.

owner -> admin (manages users), write -> user (keyboard and mouse), read -> viewer. An account with
none of the three is kept but disabled (KasmVNC's user that may not even watch). Changes go through
the same ``AuthService`` as the NanoKVM API's user routes: the same store, the same rules (the last
admin stays, nobody demotes or deletes themselves), and a changed account's sessions end.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec

from app.errors import InvalidArgument, NotFound
from app.services.auth.accounts import Account, Role
from app.services.auth.service import AuthService
from app.services.auth.sessions import Session


@dataclass(frozen=True, slots=True)
class Permissions:
    read: bool
    write: bool
    owner: bool

    @classmethod
    def of(cls, account: Account) -> Permissions:
        if not account.enabled:
            return cls(False, False, False)
        role = Role.from_wire(account.role)
        return cls(role >= Role.VIEWER, role >= Role.USER, role >= Role.ADMIN)

    def role(self) -> Role | None:
        """Our role, or None for no access at all (a disabled account)."""
        if self.owner:
            return Role.ADMIN
        if self.write:
            return Role.USER
        return Role.VIEWER if self.read else None

    @property
    def letters(self) -> str:
        return "r" * self.read + "w" * self.write + "o" * self.owner


class UserChange(msgspec.Struct, forbid_unknown_fields=False):
    """One entry of a bulk request (or the query of a single one). ``name`` and ``user`` are synonyms:
    KasmVNC's query strings say ``name``, its JSON bodies ``user``."""

    user: str = ""
    name: str = ""
    password: str | None = None
    read: bool | None = None
    write: bool | None = None
    owner: bool | None = None

    @property
    def username(self) -> str:
        return self.user or self.name


class UserInfo(msgspec.Struct):
    user: str
    permissions: str  # KasmVNC's letters: "rwo", "rw", "r", ""
    read: bool
    write: bool
    owner: bool
    role: str  # ours


def info(account: Account) -> UserInfo:
    perms = Permissions.of(account)
    return UserInfo(account.username, perms.letters, perms.read, perms.write, perms.owner, account.role)


class KasmUsers:
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    def list(self) -> list[UserInfo]:
        return [info(account) for account in self._auth.store.users()]

    async def create(self, change: UserChange) -> UserInfo:
        """Read defaults to true (KasmVNC's ``read`` is optional); write and owner to false."""
        perms = Permissions(change.read if change.read is not None else True, bool(change.write), bool(change.owner))
        role = perms.role()
        if not change.username:
            raise InvalidArgument("name is required")
        if change.password is None:
            raise InvalidArgument("password is required")
        store = self._auth.store
        await asyncio.to_thread(store.create, change.username, change.password, (role or Role.VIEWER).wire)
        if role is None:
            await self._set(Session("", Role.ADMIN, 0, 0), change.username, None, False)
        return self._info(change.username)

    async def update(self, actor: Session, change: UserChange) -> UserInfo:
        """Only what the change names is changed; a new password or permissions end the user's sessions."""
        account = self._account(change.username)
        now = Permissions.of(account)
        wanted = Permissions(
            now.read if change.read is None else change.read,
            now.write if change.write is None else change.write,
            now.owner if change.owner is None else change.owner,
        )
        if change.password is not None:
            await asyncio.to_thread(self._auth.store.set_password, account.username, change.password)
            self._auth.sessions.revoked(account.username)
        if wanted != now:
            role = wanted.role()
            await self._set(actor, account.username, role, role is not None)
        return self._info(account.username)

    async def remove(self, actor: Session, username: str) -> None:
        self._account(username)
        await self._auth.delete_user(actor, username)  # refusals are Conflicts (itself, the owner, the last admin)

    async def _set(self, actor: Session, username: str, role: Role | None, enabled: bool) -> None:
        wire = role.wire if role else None
        changed = await asyncio.to_thread(self._auth.store.update, actor.username, username, wire, enabled)
        if changed:
            self._auth.sessions.revoked(username)

    def _account(self, username: str) -> Account:
        if not username:
            raise InvalidArgument("name is required")
        account = self._auth.store.get(username)
        if account is None:
            raise NotFound(f"user {username} not found")
        return account

    def _info(self, username: str) -> UserInfo:
        return info(self._account(username))
