"""``/api/auth/login``, ``/check``, ``/logout`` as kvmd answers them."""

from __future__ import annotations

from urllib.parse import parse_qs

import msgspec
from litestar import Controller, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException

from app.api.access import current_session
from app.api.pikvm.auth import COOKIE, client_ip, cookie, credentials, login_account
from app.api.pikvm.envelope import answer, bad_request
from app.api.routing import Req, get, post, services
from app.runtime import Services
from app.services.auth.accounts import Role


def _secure(request: Req) -> bool:
    return request.url.scheme == "https" or services(request).config.proto == "https"


def _cookie(request: Req, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=COOKIE, value=value, path="/", max_age=max_age, httponly=True, samesite="strict", secure=_secure(request)
    )


async def _login_fields(request: Req) -> tuple[str, str]:
    """kvmd reads a form; aiopikvm sends JSON ``{"user", "passwd"}``: both are taken."""
    try:
        body = await request.body()
    except HTTPException:
        raise bad_request("Request body too large") from None
    fields: dict[str, object]
    if body.lstrip().startswith(b"{"):
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise bad_request("Invalid JSON body") from None
        fields = decoded if isinstance(decoded, dict) else {}
    elif request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        fields = dict((await request.form()).items())
    else:
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    user, passwd = fields.get("user"), fields.get("passwd")
    if user is None and passwd is None:
        pair = credentials(request)  # X-KVMD-* or Basic on the login itself
        if pair is not None:
            return pair
    if not isinstance(user, str) or not isinstance(passwd, str) or not user.strip():
        raise bad_request("Missing or invalid 'user' or 'passwd'")
    return user.strip(), passwd


def checked(_: Services) -> dict[str, object]:
    """The answer of a check that passed: nothing to say."""
    return {}


class KvmdAuthController(Controller):
    path = "/api/auth"

    @post("/login", role=Role.PUBLIC)
    async def login(self, request: Req) -> Response[bytes]:
        user, passwd = await _login_fields(request)
        auth = services(request).auth
        if not auth.enabled:
            return answer()
        account = await login_account(services(request), client_ip(request), user, passwd)
        token = auth.sessions.issue(account)
        response = answer()
        response.cookies.append(_cookie(request, token, auth.sessions.lifetime))
        return response

    @get("/check", role=Role.VIEWER, hot=checked)  # clients poll it (app/api/hot.py answers ahead)
    async def check(self, request: Req) -> Response[bytes]:
        return answer(checked(services(request)))

    @post("/logout", role=Role.VIEWER)
    async def logout(self, request: Req) -> Response[bytes]:
        # Only a session token is ended (with every session of its user, as NanoKVM's logout does);
        # a client sending its password with each request has nothing to end.
        if cookie(request.headers.get("cookie"), COOKIE) is not None and credentials(request) is None:
            services(request).auth.logout(current_session(request))
        response = answer()
        response.cookies.append(_cookie(request, "", 0))
        return response
