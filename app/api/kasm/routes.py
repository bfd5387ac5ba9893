"""KasmVNC's API (seeds/kasmvnc-api.txt) under ``/api/``: screenshots and users, for the owner (admin).

Plain JSON as KasmVNC answers, errors as ``{"error": ...}`` with a 4xx status. Credentials: HTTP
Basic with one of our accounts, or our session cookie / ``Authorization: Bearer`` token. The user
calls change state on GET too (KasmVNC's query-string form), so those refuse cross-site requests
whatever the method (the global guard covers only POST and friends).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response
from litestar.exceptions import HTTPException

from app.api.access import current_session
from app.api.crosssite import from_another_site
from app.api.kasm.auth import basic_session
from app.api.routing import Req, get, post, services
from app.errors import Conflict, DomainError, InvalidArgument, NotFound
from app.services.auth.accounts import Role
from app.services.kasm import stats as kasm_stats
from app.services.kasm.screenshots import DEFAULT_LEVEL, ScreenshotRequest
from app.services.kasm.users import UserChange, UserInfo

ADMIN: dict[str, Any] = {"role": Role.ADMIN, "credentials": basic_session}
MAX_BULK = 256
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def answer(value: object, status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def status_of(err: DomainError) -> int:
    return 404 if isinstance(err, NotFound) else 409 if isinstance(err, Conflict) else 400


def refused(err: DomainError) -> Response[bytes]:
    return answer({"error": err.msg}, status_of(err))


def flag(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise InvalidArgument(f"{name} must be true or false")


def number(value: str | None, name: str, default: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a whole number") from None


def client_key(request: Req) -> str:
    session = current_session(request)
    address = request.client.host if request.client else ""
    return f"{session.username}|{session.sid}|{address}"


def cross_site(request: Req) -> bool:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return from_another_site(headers, request.scope.get("scheme", "http"))


def _from_query(request: Req) -> UserChange:
    query = request.query_params
    return UserChange(
        user=query.get("user") or "",
        name=query.get("name") or "",
        password=query.get("password"),
        read=flag(query.get("read"), "read"),
        write=flag(query.get("write"), "write"),
        owner=flag(query.get("owner"), "owner"),
    )


async def changes(request: Req) -> list[UserChange]:
    """POST: a JSON list (bulk) or one object, or a form; GET (or an empty POST): the query string."""
    try:
        body = (await request.body()).strip()
    except HTTPException as exc:
        raise InvalidArgument(str(exc.detail).lower()) from None
    if not body:
        return [_from_query(request)]
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" and not body.startswith((b"[", b"{")):
        form = await request.form()
        return [
            UserChange(
                user=str(form.get("user") or ""),
                name=str(form.get("name") or ""),
                password=None if form.get("password") is None else str(form.get("password")),
                read=flag(form.get("read"), "read"),
                write=flag(form.get("write"), "write"),
                owner=flag(form.get("owner"), "owner"),
            )
        ]
    if content_type not in ("application/json", "application/x-www-form-urlencoded"):
        raise InvalidArgument("send the body as application/json (a list for bulk operations)")
    try:
        value = msgspec.json.decode(body)
        entries = value if isinstance(value, list) else [value]
        if len(entries) > MAX_BULK:
            raise InvalidArgument(f"at most {MAX_BULK} users per request")
        return msgspec.convert(entries, list[UserChange])
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as err:
        raise InvalidArgument(f"invalid body: {err}") from None


async def _each(request: Req, action: str) -> Response[bytes]:
    """Apply ``action`` to every entry; 200 when all succeeded, else the first failure's status with
    every entry's outcome (entries before it are done: KasmVNC's bulk calls are not transactions)."""
    if cross_site(request):
        return answer({"error": "cross-site request refused"}, 403)
    users = services(request).kasm_users
    actor = current_session(request)
    try:
        entries = await changes(request)
    except DomainError as err:
        return refused(err)
    done: list[dict[str, object]] = []
    for entry in entries:
        try:
            result: UserInfo | None
            if action == "create":
                result = await users.create(entry)
            elif action == "update":
                result = await users.update(actor, entry)
            else:
                await users.remove(actor, entry.username)
                result = None
        except DomainError as err:
            done.append({"user": entry.username, "error": err.msg})
            return answer(done, status_of(err))
        done.append({"user": entry.username, "ok": True, **({} if result is None else msgspec.to_builtins(result))})
    return answer(done)


@get("/api/get_screenshot", **ADMIN)
async def get_screenshot(request: Req) -> Response[bytes]:
    query = request.query_params
    try:
        shot = ScreenshotRequest(
            width=number(query.get("width"), "width", 0),
            height=number(query.get("height"), "height", 0),
            quality=number(query.get("quality"), "quality", DEFAULT_LEVEL),
            deduplicate=bool(flag(query.get("deduplicate"), "deduplicate")),
        )
        jpeg = await services(request).screenshots.take(client_key(request), shot)
    except DomainError as err:
        return refused(err)
    except TimeoutError:
        return answer({"error": "no picture from the capture"}, 503)
    if jpeg is None:  # unchanged since this client's last screenshot: KasmVNC answers nothing
        return Response(b"", media_type="image/jpeg")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@get("/api/get_frame_stats", **ADMIN)
async def get_frame_stats(request: Req) -> Response[bytes]:
    client = request.query_params.get("client") or "auto"
    stats = services(request).capture.stats
    await kasm_stats.refresh(stats)
    return answer(kasm_stats.frame_stats(stats, current_session(request).username, client))


@get("/api/get_bottleneck_stats", **ADMIN)
async def get_bottleneck_stats(request: Req) -> Response[bytes]:
    stats = services(request).capture.stats
    await kasm_stats.refresh(stats)
    return answer(kasm_stats.bottleneck_stats(stats))


@get("/api/get_users", **ADMIN)
async def get_users(request: Req) -> Response[bytes]:
    return answer(services(request).kasm_users.list())


@get("/api/create_user", **ADMIN)
async def create_user(request: Req) -> Response[bytes]:
    return await _each(request, "create")


@post("/api/create_user", **ADMIN)
async def create_users(request: Req) -> Response[bytes]:
    return await _each(request, "create")


@get("/api/update_user", **ADMIN)
async def update_user(request: Req) -> Response[bytes]:
    return await _each(request, "update")


@post("/api/update_user", **ADMIN)
async def update_users(request: Req) -> Response[bytes]:
    return await _each(request, "update")


@get("/api/remove_user", **ADMIN)
async def remove_user(request: Req) -> Response[bytes]:
    return await _each(request, "remove")


@post("/api/remove_user", **ADMIN)
async def remove_users(request: Req) -> Response[bytes]:
    return await _each(request, "remove")


HANDLERS = [
    get_screenshot,
    get_frame_stats,
    get_bottleneck_stats,
    get_users,
    create_user,
    create_users,
    update_user,
    update_users,
    remove_user,
    remove_users,
]
