"""Login, password changes, logout and user administration (spec 2.3, 4.1, HEAD behaviour)."""

from __future__ import annotations

import asyncio
import contextlib

from app.config import Config
from app.errors import DomainError, Failed, Forbidden, InvalidArgument, NotFound, Unavailable, recoded
from app.services.auth import transport
from app.services.auth.accounts import Account, AccountStore, Role, StoreError
from app.services.auth.lockout import Lockout
from app.services.auth.sessions import Session, SessionManager
from app.services.auth.tokens import TokenService
from app.services.auth.totp import DIGITS, TotpError, TotpService

# Login answers of ours (NanoKVM's clients treat any non-zero code as a failed login).


class CodeRequired(Forbidden):
    """The password was right; the account has TOTP and no code came (not a failed attempt)."""

    def __init__(self) -> None:
        super().__init__("two-factor code required", code=-6)


class CodeInvalid(Forbidden):
    def __init__(self) -> None:
        super().__init__("invalid two-factor code", code=-7)


class AuthService:
    def __init__(self, config: Config, store: AccountStore) -> None:
        self.enabled = config.authentication == "enable"
        self.store = store
        # Our stores sit beside the account file (/etc/kvm): one device root, one place to back up.
        self.sessions = SessionManager(store, config.jwt, store.path.with_name("sessions-ended.json"))
        self.tokens = TokenService(store.path.with_name("tokens.json"), store, self.sessions)
        self.totp = TotpService(store.path.with_name("totp.json"))
        self.lockout = Lockout(config.security.login_lockout_duration, config.security.login_max_failures)
        # The Wi-Fi set-up page's X-AP-Key is a password too: its own count, the same limits.
        self.ap_key_lockout = Lockout(config.security.login_lockout_duration, config.security.login_max_failures)
        self.delay = config.security.login_failure_delay

    async def pause(self, factor: float = 1.0) -> None:
        """NanoKVM slows every failed login down (3 s bad input, 2 s bad credentials)."""
        await asyncio.sleep(self.delay * factor)

    async def refuse_if_locked(self, ip: str) -> None:
        if self.lockout.is_locked(ip):
            await self._refuse_locked()

    async def _refuse_locked(self) -> None:
        await self.pause(1.5)
        raise Forbidden("Account locked due to too many failed attempts, please try again later", code=-5)

    async def login(
        self, ip: str, username: str, wire_password: str, code: str | None = None, client: str = ""
    ) -> tuple[str, Account]:
        """A token for the account, or a DomainError with NanoKVM's code (ours, -6/-7, for the second factor).

        The attempt is counted before the password is checked, so concurrent guesses cannot outrun
        the lock-out (see ``Lockout``); a right password (with its code, when the account has
        TOTP) forgets the count: a bare right password (-6) does not, or guesses at the code could
        reset it."""
        if not self.lockout.reserve(ip):
            await self._refuse_locked()
        try:
            password = transport.decrypt(wire_password)
        except transport.TransportError:
            password = None
        try:
            account = await asyncio.to_thread(self.store.authenticate, username, password) if password else None
            if password:
                account = await self._second_factor(username, password, account, code)
        except (StoreError, TotpError):
            await self.pause()
            raise Unavailable("authentication unavailable", code=-3) from None
        except CodeInvalid:
            await self.pause()
            raise
        if account is None:
            await self.pause()
            raise Forbidden("invalid username or password", code=-2)
        self.lockout.success(ip)
        return self.sessions.issue(account, client, ip), account

    async def _second_factor(
        self, username: str, password: str, account: Account | None, code: str | None
    ) -> Account | None:
        """The account if its TOTP code is good too. Clients that cannot prompt append the code to
        the password (PiKVM's convention); the web page sends it as ``totp`` after a -6."""
        if not self.totp.enabled(username):
            return account
        if account is None:
            if code or len(password) <= DIGITS or not password[-DIGITS:].isdigit():
                return None
            account = await asyncio.to_thread(self.store.authenticate, username, password[:-DIGITS])
            if account is None:
                return None
            code = password[-DIGITS:]
        if not code:
            raise CodeRequired
        if not await asyncio.to_thread(self.totp.verify, username, code):
            raise CodeInvalid
        return account

    async def password_login(self, username: str, password: str) -> Account | None:
        """For clients that send a password and nothing else (VNC's VeNCrypt Plain, PiKVM's API):
        the account if the password is right and, when the account has TOTP, a current code is
        appended to it. The caller counts the attempt (lock-out). Raises StoreError, TotpError."""
        account = await asyncio.to_thread(self.store.authenticate, username, password)
        try:
            return await self._second_factor(username, password, account, None)
        except (CodeRequired, CodeInvalid):
            return None

    def split_second_factor(self, account: Account, password: str) -> str | None:
        """kvmd's clients append the TOTP code to the password (blocking: bcrypt). Without TOTP the
        password as it is; with it, the password without its code when both are right (the code is
        consumed), else None. The password is checked first, so a stranger cannot use up codes."""
        try:
            if not self.totp.enabled(account.username):
                return password
            if len(password) <= DIGITS or not password[-DIGITS:].isdigit():
                return None
            if self.store.authenticate(account.username, password[:-DIGITS]) is None:
                return None
            return password[:-DIGITS] if self.totp.verify(account.username, password[-DIGITS:]) else None
        except (StoreError, TotpError):
            return None

    def authenticate_bearer(self, bearer: str, address: str = "") -> Session | None:
        """An API token (``nkt_...``) or a login's own token sent as ``Authorization: Bearer``."""
        if bearer.startswith("nkt_"):
            return self.tokens.authenticate(bearer)
        return self.sessions.authenticate(bearer, address)

    def account(self, session: Session) -> Account:
        try:
            account = self.store.get(session.username)
        except StoreError:
            raise Unavailable("get account failed") from None
        if account is None:
            raise NotFound("get account failed")
        return account

    def revoke(self, username: str) -> None:
        """End every session of ``username`` now."""
        self.store.bump_token_version(username)
        self.sessions.revoked(username)

    def logout(self, session: Session) -> None:
        if not self.enabled or not self.sessions.revoke_on_logout or session.kind == "token":
            return
        try:
            self.revoke(session.username)
        except (DomainError, StoreError):
            raise Failed("failed to revoke session") from None

    async def change_own_password(self, session: Session, current_wire: str, new_wire: str) -> None:
        if not current_wire:
            raise InvalidArgument("current password is required", code=-3)
        try:
            current = transport.decrypt(current_wire)
            new = transport.decrypt(new_wire)
        except transport.TransportError:
            raise InvalidArgument("invalid password", code=-5) from None
        try:
            account = await asyncio.to_thread(self.store.authenticate, session.username, current)
        except StoreError:
            raise Unavailable("authentication unavailable", code=-4) from None
        if account is None:
            await self.pause()
            raise Forbidden("current password is incorrect", code=-3)
        try:
            await asyncio.to_thread(self.store.set_password, session.username, new)
        except DomainError as err:
            raise recoded(err, -5) from None
        self.sessions.revoked(session.username)

    async def set_user_password(self, username: str, new_wire: str) -> None:
        """An admin resets another user's password; the owner must change its own."""
        try:
            new = transport.decrypt(new_wire)
        except transport.TransportError:
            raise InvalidArgument("invalid password", code=-4) from None
        target = self.store.get(username)
        if target is None:
            raise NotFound("user not found", code=-2)
        if target.system_account:
            raise Forbidden("the device owner must change its own password", code=-3)
        try:
            await asyncio.to_thread(self.store.set_password, username, new)
        except DomainError as err:
            raise recoded(err, -4) from None
        self.sessions.revoked(username)

    async def create_user(self, username: str, password_wire: str, role: str) -> None:
        try:
            password = transport.decrypt(password_wire)
        except transport.TransportError:
            raise InvalidArgument("invalid password", code=-2) from None
        try:
            await asyncio.to_thread(self.store.create, username, password, role)
        except DomainError as err:
            raise recoded(err, -2 if "password" in err.msg else -3) from None

    async def update_user(self, actor: Session, username: str, role: str | None, enabled: bool | None) -> None:
        try:  # the account file is written and fsync'd: in a thread, off the event loop
            changed = await asyncio.to_thread(self.store.update, actor.username, username, role, enabled)
        except DomainError as err:
            raise recoded(err, -2) from None
        if changed:
            self.sessions.revoked(username)

    async def delete_user(self, actor: Session, username: str) -> None:
        await asyncio.to_thread(self._delete_user, actor, username)
        self.sessions.revoked(username)

    def _delete_user(self, actor: Session, username: str) -> None:
        """The account, then its tokens and second factor (blocking: three files written)."""
        try:
            self.store.delete(actor.username, username)
        except DomainError as err:
            raise recoded(err, -1) from None
        # A later account of the same name must not inherit its tokens or second factor.
        self.tokens.purge_owner(username)
        with contextlib.suppress(TotpError):  # unreadable: every login needs a code anyway
            self.totp.remove(username)


__all__ = ["AuthService", "Role"]
