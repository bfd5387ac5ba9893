"""Sessions: HS256 JWTs with NanoKVM's HEAD claims, verified once and then checked cheaply.

Decoding a JWT costs more than the rest of a request, so a token is verified with pyjwt the first
time it is seen and remembered; later requests only check its expiry and that the account still
exists, is enabled and carries the same ``tokenVersion``. Bumping the version (logout, password
change, role change, disable, delete) revokes every session of that user at once.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
import msgspec

from app.config import Jwt
from app.services.auth.accounts import Account, AccountStore, Role


class Session(msgspec.Struct, frozen=True):
    username: str
    role: Role
    token_version: int
    expires: float


_CACHE_LIMIT = 1024


class SessionManager:
    def __init__(self, store: AccountStore, settings: Jwt) -> None:
        self.store = store
        if settings.secret_key:
            self._secret = settings.secret_key.encode("utf-8")
            self.revoke_on_logout = settings.revoke_tokens_on_logout
        else:
            # As NanoKVM: a random secret per start, so every session dies with the process.
            self._secret = base64.urlsafe_b64encode(secrets.token_bytes(64))
            self.revoke_on_logout = True
        self.lifetime = settings.refresh_token_duration or 2_678_400
        self._verified: dict[str, tuple[str, int, float]] = {}
        self._revoke_listeners: list[Callable[[str], None]] = []

    def issue(self, account: Account) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "username": account.username,
            "tokenVersion": account.token_version,
            "sub": account.username,
            "exp": now + self.lifetime,
            "iat": now,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _verify(self, token: str) -> tuple[str, int, float] | None:
        known = self._verified.get(token)
        if known is not None:
            return known
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub", "iat"]})
        except jwt.PyJWTError:
            return None
        username, version = claims.get("username"), claims.get("tokenVersion")
        if not isinstance(username, str) or not username or claims.get("sub") != username:
            return None
        if not isinstance(version, int) or isinstance(version, bool) or version == 0:
            return None
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        entry = (username, version, float(claims["exp"]))
        self._verified[token] = entry
        return entry

    def authenticate(self, token: str | None) -> Session | None:
        if not token:
            return None
        entry = self._verify(token)
        if entry is None:
            return None
        username, version, expires = entry
        if expires <= time.time():
            self._verified.pop(token, None)
            return None
        account = self.store.cached(username)
        if account is None or not account.enabled or account.token_version != version:
            self._verified.pop(token, None)
            return None
        return Session(username, Role.from_wire(account.role), version, expires)

    def on_revoke(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(username)`` when that user's sessions are revoked (WebSockets close)."""
        self._revoke_listeners.append(listener)

    def revoked(self, username: str) -> None:
        """Tell listeners; the store has already bumped the user's token version."""
        for listener in self._revoke_listeners:
            listener(username)
