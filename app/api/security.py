"""``/api/security/*`` (ours): API tokens, live sessions, per-user TOTP and the audit log.

NanoKVM's envelope; codes: -1 invalid parameters, -2 refused (the reason in ``msg``), -3 not found,
-4 needs a login session (an API token cannot mint tokens, enrol or turn off a second factor),
-5 authentication is disabled. Each account manages its own; admins see and end everyone's.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from litestar import Controller
from litestar.params import Parameter

from app.api.access import current_session
from app.api.audit import audit_note
from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, delete, get, post, services
from app.errors import Conflict, Forbidden, NotFound, Unavailable, recoded
from app.services.audit import AuditEntry
from app.services.auth.accounts import Role
from app.services.auth.sessions import Session, SessionInfo
from app.services.auth.tokens import ApiToken, TokenError, TokenNotFound, token_sid
from app.services.auth.totp import Enrolment, TotpError

# --- bodies and answers ---------------------------------------------------------------------


class CreateTokenRequest(msgspec.Struct, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    role: str = "viewer"
    # Seconds until the token expires; 0 or absent: never.
    expires_in: Annotated[int, msgspec.Meta(ge=0)] = 0


class TokenData(msgspec.Struct, rename="camel"):
    id: str
    name: str
    owner: str
    role: str
    created: float
    expires: float  # 0: never
    last_used: float  # 0: not since the server started


class CreatedToken(msgspec.Struct, rename="camel"):
    token: str  # the secret: shown this once
    info: TokenData


class TokensData(msgspec.Struct):
    tokens: list[TokenData]


class SessionData(msgspec.Struct, rename="camel"):
    id: str
    username: str
    client: str
    address: str
    started: float
    last_seen: float
    expires: float
    current: bool


class SessionsData(msgspec.Struct):
    sessions: list[SessionData]


class TotpState(msgspec.Struct, rename="camel"):
    enabled: bool
    recovery_codes_left: int


class CodeRequest(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class RecoveryCodes(msgspec.Struct, rename="camel"):
    recovery_codes: list[str]


class AuditData(msgspec.Struct):
    entries: list[AuditEntry]
    dropped: int  # records lost since the start because the writer fell behind


# --- helpers ---------------------------------------------------------------------------------


def _session(request: Req) -> Session:
    if not services(request).auth.enabled:
        raise Unavailable("authentication is disabled", code=-5)
    return current_session(request)


def _login_session(request: Req) -> Session:
    session = _session(request)
    if session.kind != "session":
        raise Forbidden("an API token cannot do this: log in", code=-4)
    return session


def _token_data(request: Req, token: ApiToken) -> TokenData:
    last = services(request).auth.tokens.last_used.get(token.id, 0.0)
    return TokenData(token.id, token.name, token.owner, token.role, token.created, token.expires, last)


def _session_data(info: SessionInfo, current: Session) -> SessionData:
    return SessionData(
        info.sid,
        info.username,
        info.client,
        info.address,
        info.started,
        info.last_seen,
        info.expires,
        info.sid == current.sid,
    )


def _mine(session: Session) -> str | None:
    """Whose entries a caller may see and end: its own, or (None) everyone's for an admin."""
    return None if session.role >= Role.ADMIN else session.username


class SecurityController(Controller):
    path = "/api/security"

    # --- API tokens -----------------------------------------------------------------------

    @get("/tokens", role=Role.VIEWER)
    async def tokens(self, request: Req) -> Envelope[TokensData]:
        """Your tokens (an admin: everyone's), never their secrets."""
        session = _session(request)
        found = services(request).auth.tokens.tokens(_mine(session))
        return ok(TokensData([_token_data(request, t) for t in found]))

    @post("/tokens", role=Role.VIEWER, body=CreateTokenRequest)
    async def create_token(self, request: Req) -> Envelope[CreatedToken]:
        """A token acting as you with ``role`` (at most yours); the secret is in this answer only."""
        session = _login_session(request)
        body = await parse_body(request, CreateTokenRequest, message="invalid parameters")
        auth = services(request).auth
        try:
            token, secret = await asyncio.to_thread(
                auth.tokens.create, session.username, body.name, body.role, body.expires_in
            )
        except TokenError as err:
            raise recoded(err, -2) from None
        audit_note(request, token=token.id, name=token.name, role=token.role)
        return ok(CreatedToken(secret, _token_data(request, token)))

    @delete("/tokens/{token_id:str}", role=Role.VIEWER)
    async def revoke_token(self, request: Req, token_id: str) -> Envelope[None]:
        """Revoke a token now: it is refused from the next request, its streams and sockets end."""
        session = _session(request)
        auth = services(request).auth
        try:
            await asyncio.to_thread(auth.tokens.revoke, token_id, _mine(session))
        except TokenNotFound as err:
            raise recoded(err, -3) from None
        except TokenError as err:
            raise recoded(err, -2) from None
        auth.sessions.ended(token_sid(token_id))
        return ok()

    # --- sessions -------------------------------------------------------------------------

    @get("/sessions", role=Role.VIEWER)
    async def sessions(self, request: Req) -> Envelope[SessionsData]:
        """Your live login sessions (an admin: everyone's), most recently seen first."""
        session = _session(request)
        live = services(request).auth.sessions.live(_mine(session))
        return ok(SessionsData([_session_data(info, session) for info in live]))

    @delete("/sessions/{sid:str}", role=Role.VIEWER)
    async def end_session(self, request: Req, sid: str) -> Envelope[None]:
        """End a session now (yours, or anyone's for an admin): its cookie stops working and its
        streams and sockets close."""
        session = _session(request)
        sessions = services(request).auth.sessions
        info = sessions.get(sid)
        owner = _mine(session)
        if info is None or (owner is not None and info.username != owner):
            raise NotFound("session not found", code=-3)
        sessions.end(sid)
        await asyncio.to_thread(sessions.save_ended)
        audit_note(request, user=info.username)
        return ok()

    # --- TOTP -----------------------------------------------------------------------------

    @get("/totp", role=Role.VIEWER)
    async def totp_state(self, request: Req) -> Envelope[TotpState]:
        session = _session(request)
        totp = services(request).auth.totp
        return ok(TotpState(totp.enabled(session.username), totp.recovery_left(session.username)))

    @post("/totp/enrol", role=Role.VIEWER)
    async def totp_enrol(self, request: Req) -> Envelope[Enrolment]:
        """A new secret, its otpauth:// URI and a QR code (SVG); confirm it with one code."""
        session = _login_session(request)
        try:
            enrolment = await asyncio.to_thread(services(request).auth.totp.begin, session.username)
        except TotpError as err:
            raise recoded(err, -2) from None
        return ok(enrolment)

    @post("/totp/confirm", role=Role.VIEWER, body=CodeRequest)
    async def totp_confirm(self, request: Req) -> Envelope[RecoveryCodes]:
        """Turn two-factor login on with the first code; the recovery codes are in this answer only."""
        session = _login_session(request)
        body = await parse_body(request, CodeRequest, message="invalid parameters")
        try:
            codes = await asyncio.to_thread(services(request).auth.totp.confirm, session.username, body.code)
        except TotpError as err:
            raise recoded(err, -2) from None
        return ok(RecoveryCodes(codes))

    @post("/totp/disable", role=Role.VIEWER, body=CodeRequest)
    async def totp_disable(self, request: Req) -> Envelope[None]:
        """Turn your two-factor login off, with a current code or a recovery code."""
        session = _login_session(request)
        body = await parse_body(request, CodeRequest, message="invalid parameters")
        try:
            await asyncio.to_thread(services(request).auth.totp.disable, session.username, body.code)
        except TotpError as err:
            raise recoded(err, -2) from None
        return ok()

    @delete("/users/{username:str}/totp", role=Role.ADMIN)
    async def totp_reset(self, request: Req, username: str) -> Envelope[None]:
        """An admin turns off another account's two-factor login (a lost phone)."""
        session = _login_session(request)
        if username == session.username:
            raise Conflict("turn your own two-factor login off with a code", code=-2)
        try:
            removed = await asyncio.to_thread(services(request).auth.totp.remove, username)
        except TotpError as err:
            raise recoded(err, -2) from None
        if not removed:
            raise Conflict("two-factor login is not on for this user", code=-3)
        return ok()

    # --- audit log ------------------------------------------------------------------------

    @get("/audit", role=Role.ADMIN)
    async def audit(
        self, request: Req, limit: Annotated[int, Parameter(ge=1, le=1000)] = 200, before: float | None = None
    ) -> Envelope[AuditData]:
        """The newest records first: logins (and failures), power and reset, media, user and
        setting changes; ``before`` (a record's ``time``) pages back."""
        log = services(request).audit
        entries = await asyncio.to_thread(log.entries, limit, before)
        return ok(AuditData(entries, log.dropped))
