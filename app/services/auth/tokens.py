"""API tokens: named, scoped bearer secrets for automation (curl, Home Assistant, MCP, PiKVM clients).

A token is ``nkt_`` + 32 random bytes (base64url). Only its SHA-256 is stored (``/etc/kvm/tokens.json``,
0600, written atomically): a high-entropy secret needs no slow hash, and a lookup by digest costs
no more than a dictionary access. The secret is shown once, at creation.

A token acts as its owner with its own scope, which is never above the owner's role: it is refused
once its owner is deleted, disabled or demoted below its scope, or when it has expired. Revoking
one ends its streams and sockets as ending a session does (``SessionManager.ended``).

Other API surfaces authenticate a bearer value with ``TokenService.authenticate``, which answers the
same ``Session`` a login cookie gives (``kind="token"``, ``sid="token:<id>"``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from pathlib import Path

import msgspec

from app.errors import InvalidArgument, NotFound, Unavailable
from app.paths import atomic_write
from app.services.auth.accounts import AccountStore, Role
from app.services.auth.sessions import Session, SessionManager

log = logging.getLogger(__name__)

PREFIX = "nkt_"
MAX_TOKENS_PER_OWNER = 32
MAX_NAME_CHARS = 64
MAX_LIFETIME_SECONDS = 10 * 365 * 86400
MIN_LIFETIME_SECONDS = 60


class ApiToken(msgspec.Struct, rename="camel", omit_defaults=True):
    id: str
    name: str
    owner: str
    role: str
    digest: str  # SHA-256 of the secret, hex
    created: float
    expires: float = 0.0  # 0: never


class _TokenFile(msgspec.Struct):
    version: int = 1
    tokens: list[ApiToken] = []


class TokenError(InvalidArgument):
    """A refused token operation; the message is shown to the client."""


class TokenNotFound(NotFound, TokenError):
    pass


class TokenStoreUnavailable(Unavailable, TokenError):
    """The token file cannot be read: nothing is changed until it can."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def token_sid(token_id: str) -> str:
    return f"token:{token_id}"


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise TokenError(f"name must be 1-{MAX_NAME_CHARS} printable characters")
    return name


class TokenService:
    def __init__(self, path: Path, accounts: AccountStore, sessions: SessionManager) -> None:
        self.path = path
        self.accounts = accounts
        self.sessions = sessions
        self._lock = threading.Lock()
        self._by_digest: dict[str, ApiToken] = {}
        self.last_used: dict[str, float] = {}  # id -> time, since this start (not written to flash)
        self._error: str | None = None
        self._mtime: int | None = None
        self._checked = 0.0
        self._load()

    def _load(self) -> None:
        self._error = None
        try:
            self._mtime = self.path.stat().st_mtime_ns
            doc = msgspec.json.decode(self.path.read_bytes(), type=_TokenFile)
        except FileNotFoundError:
            self._by_digest = {}
            return
        except (OSError, msgspec.DecodeError) as err:
            # No token works, and the file is not overwritten: an admin can repair or delete it.
            self._error = f"{self.path}: {err}"
            log.error("API tokens unavailable: %s", self._error)
            return
        self._by_digest = {t.digest: t for t in doc.tokens}

    def _save(self, tokens: dict[str, ApiToken]) -> None:
        if self._error is not None:
            raise TokenStoreUnavailable(f"token store unreadable ({self._error})")
        doc = _TokenFile(tokens=sorted(tokens.values(), key=lambda t: t.created))
        atomic_write(self.path, msgspec.json.encode(doc), mode=0o600)
        self._by_digest = tokens
        self._mtime = self.path.stat().st_mtime_ns

    def _maybe_reload(self) -> None:
        """Pick up an outside edit of the file (a restore, a hand edit), looking at most once a second."""
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        self._checked = now
        try:
            mtime: int | None = self.path.stat().st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self._mtime:
            with self._lock:
                self._load()

    # --- authentication --------------------------------------------------------------------

    def authenticate(self, bearer: str) -> Session | None:
        """The identity a bearer token stands for, with its effective role; None if refused."""
        if not bearer.startswith(PREFIX) or len(bearer) > 100:
            return None
        self._maybe_reload()
        token = self._by_digest.get(digest(bearer))
        if token is None:
            return None
        now = time.time()
        if token.expires and token.expires <= now:
            return None
        owner = self.accounts.cached(token.owner)
        if owner is None or not owner.enabled:
            return None
        scope = Role.from_wire(token.role)
        if Role.from_wire(owner.role) < scope:
            return None  # demoted below the token's scope: the token no longer applies
        self.last_used[token.id] = now
        expires = token.expires or float("inf")
        return Session(token.owner, scope, owner.token_version, expires, token_sid(token.id), "token")

    # --- management (blocking: file writes; call in a thread) -------------------------------

    def create(self, owner: str, name: str, role: str, lifetime: int | None) -> tuple[ApiToken, str]:
        """A new token for ``owner``: the stored record and the secret (shown once)."""
        name = _valid_name(name)
        account = self.accounts.get(owner)
        if account is None or not account.enabled:
            raise TokenError("user not found")
        try:
            scope = Role.from_wire(role)
        except ValueError:
            raise TokenError("role must be viewer, user or admin") from None
        if scope > Role.from_wire(account.role):
            raise TokenError("a token's role cannot be above its owner's")
        now = time.time()
        expires = 0.0
        if lifetime:
            if not MIN_LIFETIME_SECONDS <= lifetime <= MAX_LIFETIME_SECONDS:
                raise TokenError(f"expiresIn must be {MIN_LIFETIME_SECONDS}-{MAX_LIFETIME_SECONDS} seconds, or 0")
            expires = now + lifetime
        secret = PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(secrets.token_hex(8), name, owner, scope.wire, digest(secret), now, expires)
        with self._lock:
            if sum(t.owner == owner for t in self._by_digest.values()) >= MAX_TOKENS_PER_OWNER:
                raise TokenError(f"at most {MAX_TOKENS_PER_OWNER} tokens per user")
            self._save({**self._by_digest, token.digest: token})
        return token, secret

    def tokens(self, owner: str | None = None) -> list[ApiToken]:
        """Tokens of ``owner`` (or everyone's), newest first."""
        found = [t for t in self._by_digest.values() if owner is None or t.owner == owner]
        return sorted(found, key=lambda t: t.created, reverse=True)

    def get(self, token_id: str) -> ApiToken | None:
        return next((t for t in self._by_digest.values() if t.id == token_id), None)

    def revoke(self, token_id: str, owner: str | None = None) -> ApiToken:
        """Delete a token (of ``owner`` only, unless None: an admin) and end its connections."""
        with self._lock:
            token = self.get(token_id)
            if token is None or (owner is not None and token.owner != owner):
                raise TokenNotFound("token not found")
            self._save({d: t for d, t in self._by_digest.items() if t.id != token_id})
        self.last_used.pop(token_id, None)
        return token

    def purge_owner(self, owner: str) -> list[ApiToken]:
        """Delete every token of a deleted account (so a new account of that name gets none)."""
        with self._lock:
            gone = [t for t in self._by_digest.values() if t.owner == owner]
            if gone:
                self._save({d: t for d, t in self._by_digest.items() if t.owner != owner})
        return gone
