"""``/api/auth/*``: login, account, password, logout, users (spec 4.1, HEAD)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response
from litestar.datastructures import Cookie

from app.api.access import COOKIE, current_session
from app.api.audit import audit_note
from app.api.envelope import Envelope, ok, parse_body, read_body
from app.api.routing import Req, delete, get, post, put, services
from app.api.schemas import Required
from app.errors import Conflict, InvalidArgument, NotFound, Unavailable
from app.services.auth.accounts import Role, StoreError
from app.validation import InvalidInput


class LoginRequest(msgspec.Struct):
    username: Required
    password: Required
    # Ours: the TOTP (or recovery) code, for accounts with two-factor login; -6 asks for it.
    totp: str | None = None


class TokenData(msgspec.Struct):
    token: str


class AccountData(msgspec.Struct):
    username: str
    role: str


class PasswordState(msgspec.Struct, rename="camel"):
    is_updated: bool


class ChangePasswordRequest(msgspec.Struct, rename="camel"):
    password: Required
    current_password: str = ""


class UserData(msgspec.Struct, rename="camel", omit_defaults=True):
    username: str
    role: str
    enabled: bool
    system_account: bool = False


class UsersData(msgspec.Struct):
    users: list[UserData]


class CreateUserRequest(msgspec.Struct):
    username: Required
    password: Required
    role: Required


class UpdateUserRequest(msgspec.Struct):
    role: str | None = None
    enabled: bool | None = None


class SetPasswordRequest(msgspec.Struct):
    password: Required


def _secure(request: Req) -> bool:
    return (
        services(request).config.proto == "https"
        or request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto", "").split(",")[0].strip() == "https"
    )


def _cookie(request: Req, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


class AuthController(Controller):
    path = "/api/auth"

    @post("/login", role=Role.PUBLIC, body=LoginRequest)
    async def login(self, request: Req) -> Response[Envelope[TokenData]]:
        auth = services(request).auth
        if not auth.enabled:
            return Response(ok(TokenData("disabled")))
        ip = request.client.host if request.client else ""
        await auth.refuse_if_locked(ip)
        try:
            body = await read_body(request, LoginRequest)
        except InvalidInput:
            await auth.pause(1.5)
            raise InvalidArgument("invalid parameters") from None
        audit_note(request, username=body.username)
        client = request.headers.get("user-agent", "")
        token, _ = await auth.login(ip, body.username, body.password, body.totp, client)
        # Cookie for the web page and nanokvm >= 1.4; the body token for curl scripts and nanokvm 1.2.
        return Response(ok(TokenData(token)), cookies=[_cookie(request, token, auth.sessions.lifetime)])

    @get("/account", role=Role.VIEWER, before_password_change=True)
    async def account(self, request: Req) -> Envelope[AccountData]:
        session = current_session(request)
        if not services(request).auth.enabled:
            return ok(AccountData("admin", "admin"))
        account = services(request).auth.account(session)
        return ok(AccountData(account.username, account.role))

    @get("/password", role=Role.VIEWER, before_password_change=True)
    async def password_state(self, request: Req) -> Envelope[PasswordState]:
        auth = services(request).auth
        if not auth.enabled:
            return ok(PasswordState(True))
        try:
            account = auth.store.get(current_session(request).username)
        except StoreError:
            raise Unavailable("failed to get password state", code=-2) from None
        if account is None:
            raise NotFound("invalid session")
        return ok(PasswordState(not account.must_change_password))

    @post("/password", role=Role.VIEWER, body=ChangePasswordRequest, before_password_change=True)
    async def change_password(self, request: Req) -> Response[Envelope[None]]:
        body = await parse_body(request, ChangePasswordRequest, message="invalid parameters", detail=False)
        auth = services(request).auth
        if not auth.enabled:
            raise Conflict("invalid session", code=-2)  # authentication is off: no password to change
        await auth.change_own_password(current_session(request), body.current_password, body.password)
        return Response(ok(), cookies=[_cookie(request, "", 0)])

    @post("/logout", role=Role.VIEWER, before_password_change=True)
    async def logout(self, request: Req) -> Response[Envelope[None]]:
        services(request).auth.logout(current_session(request))
        return Response(ok(), cookies=[_cookie(request, "", 0)])

    @get("/users", role=Role.ADMIN)
    async def users(self, request: Req) -> Envelope[UsersData]:
        try:
            accounts = services(request).auth.store.users()
        except StoreError:
            raise Unavailable("failed to load users") from None
        return ok(UsersData([UserData(a.username, a.role, a.enabled, a.system_account) for a in accounts]))

    @post("/users", role=Role.ADMIN, body=CreateUserRequest)
    async def create_user(self, request: Req) -> Envelope[None]:
        body = await parse_body(request, CreateUserRequest, message="invalid parameters", detail=False)
        await services(request).auth.create_user(body.username, body.password, body.role)
        return ok()

    @put("/users/{username:str}", role=Role.ADMIN, body=UpdateUserRequest)
    async def update_user(self, request: Req, username: str) -> Envelope[None]:
        body = await parse_body(request, UpdateUserRequest, message="invalid parameters", detail=False)
        if body.role is None and body.enabled is None:
            raise InvalidArgument("invalid parameters")
        await services(request).auth.update_user(current_session(request), username, body.role, body.enabled)
        return ok()

    @delete("/users/{username:str}", role=Role.ADMIN)
    async def delete_user(self, request: Req, username: str) -> Envelope[None]:
        await services(request).auth.delete_user(current_session(request), username)
        return ok()

    @post("/users/{username:str}/password", role=Role.ADMIN, body=SetPasswordRequest)
    async def set_user_password(self, request: Req, username: str) -> Envelope[None]:
        body = await parse_body(request, SetPasswordRequest, message="invalid parameters", detail=False)
        await services(request).auth.set_user_password(username, body.password)
        return ok()
