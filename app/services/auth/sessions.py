"""Sessions: HS256 JWTs with NanoKVM's HEAD claims, verified once and then checked cheaply.

Decoding a JWT costs more than the rest of a request, so a token is verified with pyjwt the first
time it is seen and remembered; later requests only check its expiry and that the account still
exists, is enabled and carries the same ``tokenVersion``. Bumping the version (logout, password
change, role change, disable, delete) revokes every session of that user at once.

Each login also gets a session id (the ``sid`` claim; NanoKVM's clients ignore extra claims) and an
entry in a table of live sessions (client, address, started, last seen), so one session can be
listed and ended on its own. Ended ids are remembered until their token would have expired anyway.
A valid token whose id the table does not know (issued before a restart, with a configured
``jwt.secretKey``) is taken back in on first sight.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import msgspec

from app.config import Jwt
from app.paths import atomic_write
from app.services.auth.accounts import Account, AccountStore, Role


class Session(msgspec.Struct, frozen=True):
    """Who a request acts as: a login's session (``kind="session"``) or an API token (``"token"``)."""

    username: str
    role: Role
    token_version: int
    expires: float
    sid: str = ""  # the session's id, or ``token:<id>`` for an API token
    kind: str = "session"


@dataclass
class SessionInfo:
    """One live login session, as ``GET /api/security/sessions`` shows it."""

    sid: str
    username: str
    token_version: int
    client: str
    address: str
    started: float
    last_seen: float
    expires: float


_CACHE_LIMIT = 1024
_TABLE_LIMIT = 4096
# One account's logins beyond this end its own least recently seen one, so logging in over and
# over cannot push other accounts' sessions out of the table.
_PER_USER_LIMIT = 256
# (username, tokenVersion, exp, sid, iat)
_Verified = tuple[str, int, float, str, float]


class SessionManager:
    def __init__(self, store: AccountStore, settings: Jwt, ended_path: Path | None = None) -> None:
        self.store = store
        if settings.secret_key:
            self._secret = settings.secret_key.encode("utf-8")
            self.revoke_on_logout = settings.revoke_tokens_on_logout
        else:
            # As NanoKVM: a random secret per start, so every session dies with the process.
            self._secret = base64.urlsafe_b64encode(secrets.token_bytes(64))
            self.revoke_on_logout = True
        self.lifetime = settings.refresh_token_duration or 2_678_400
        self._verified: dict[str, _Verified] = {}
        self._revoke_listeners: list[Callable[[str], None]] = []
        self._end_listeners: list[Callable[[str], None]] = []
        self._live: dict[str, SessionInfo] = {}
        self._ended: dict[str, float] = {}  # sid -> when its token expires anyway
        # Only a configured secret lets tokens outlive a restart, and only then must ended ids too.
        self._ended_path = ended_path if settings.secret_key else None
        if self._ended_path is not None:
            self._ended = _load_ended(self._ended_path)

    def issue(self, account: Account, client: str = "", address: str = "") -> str:
        now = int(time.time())
        sid = secrets.token_urlsafe(12)
        claims: dict[str, Any] = {
            "username": account.username,
            "tokenVersion": account.token_version,
            "sub": account.username,
            "exp": now + self.lifetime,
            "iat": now,
            "sid": sid,
        }
        started = time.time()
        expires = now + self.lifetime
        self._register(
            SessionInfo(sid, account.username, account.token_version, client[:200], address, started, started, expires)
        )
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _register(self, info: SessionInfo) -> None:
        own = [i for i in self._live.values() if i.username == info.username]
        if len(own) >= _PER_USER_LIMIT:
            self._end(min(own, key=lambda i: i.last_seen).sid)
        if len(self._live) >= _TABLE_LIMIT:
            self._prune()
            if len(self._live) >= _TABLE_LIMIT:  # still full of valid sessions: the oldest goes
                self._end(min(self._live.values(), key=lambda i: i.last_seen).sid)
        self._live[info.sid] = info

    def _verify(self, token: str) -> _Verified | None:
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
        sid = claims.get("sid")
        if not isinstance(sid, str) or not sid:
            # A token from before session ids: its own digest names it.
            sid = hashlib.sha256(token.encode()).hexdigest()[:16]
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        entry = (username, version, float(claims["exp"]), sid, float(claims["iat"]))
        self._verified[token] = entry
        return entry

    def authenticate(self, token: str | None, address: str | None = None) -> Session | None:
        """The session ``token`` stands for, or None; ``address`` (the client's) marks it seen."""
        if not token:
            return None
        entry = self._verify(token)
        if entry is None:
            return None
        username, version, expires, sid, issued = entry
        now = time.time()
        if expires <= now or sid in self._ended:
            self._verified.pop(token, None)
            return None
        account = self.store.cached(username)
        if account is None or not account.enabled or account.token_version != version:
            self._verified.pop(token, None)
            return None
        info = self._live.get(sid)
        if info is None:
            info = SessionInfo(sid, username, version, "", address or "", issued, now, expires)
            self._register(info)
        info.last_seen = now
        if address is not None:
            info.address = address
        return Session(username, Role.from_wire(account.role), version, expires, sid)

    # --- the table of live sessions ----------------------------------------------------------

    def _valid(self, info: SessionInfo, now: float) -> bool:
        account = self.store.cached(info.username)
        return (
            info.expires > now
            and account is not None
            and account.enabled
            and account.token_version == info.token_version
        )

    def _prune(self) -> None:
        now = time.time()
        self._live = {sid: i for sid, i in self._live.items() if self._valid(i, now)}
        self._ended = {sid: exp for sid, exp in self._ended.items() if exp > now}

    def live(self, username: str | None = None) -> list[SessionInfo]:
        """Live sessions (of ``username``, or everyone's), most recently seen first."""
        self._prune()
        found = [i for i in self._live.values() if username is None or i.username == username]
        return sorted(found, key=lambda i: i.last_seen, reverse=True)

    def get(self, sid: str) -> SessionInfo | None:
        info = self._live.get(sid)
        return info if info is not None and self._valid(info, time.time()) else None

    def end(self, sid: str) -> bool:
        """End one session now (its token is refused, its streams and sockets close)."""
        if self.get(sid) is None:
            return False
        self._end(sid)
        return True

    def _end(self, sid: str) -> None:
        info = self._live.pop(sid, None)
        self._ended[sid] = info.expires if info is not None else time.time() + self.lifetime
        for token in [t for t, e in self._verified.items() if e[3] == sid]:
            del self._verified[token]
        self.ended(sid)

    def save_ended(self) -> None:
        """Write the ended ids (blocking: call it in a thread after ``end``)."""
        if self._ended_path is not None:
            now = time.time()
            ended = {sid: exp for sid, exp in self._ended.copy().items() if exp > now}
            atomic_write(self._ended_path, msgspec.json.encode(ended), mode=0o600)

    def on_end(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(sid)`` when one session (or API token) ends: its connections close."""
        self._end_listeners.append(listener)

    def ended(self, sid: str) -> None:
        """Tell listeners that ``sid`` ended (API token revocation uses this too)."""
        for listener in self._end_listeners:
            listener(sid)

    def on_revoke(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(username)`` when that user's sessions are revoked (WebSockets close)."""
        self._revoke_listeners.append(listener)

    def revoked(self, username: str) -> None:
        """Tell listeners; the store has already bumped the user's token version."""
        self._live = {sid: i for sid, i in self._live.items() if i.username != username}
        for listener in self._revoke_listeners:
            listener(username)


def _load_ended(path: Path) -> dict[str, float]:
    try:
        ended = msgspec.json.decode(path.read_bytes(), type=dict[str, float])
    except (OSError, msgspec.DecodeError):
        return {}
    now = time.time()
    return {sid: exp for sid, exp in ended.items() if exp > now}
