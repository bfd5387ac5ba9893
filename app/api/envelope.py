"""NanoKVM's response envelope and error mapping (spec 1.4, 1.5, 11).

Regular answers are HTTP 200 ``{"code", "msg", "data"}`` in that key order, failures carry a
negative code. Only authentication (401 ``"unauthorized"``), roles (403 ``"forbidden"``) and unknown
paths (404 text) use other statuses.
"""

from __future__ import annotations

import logging
from typing import Any, Generic, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.status_codes import HTTP_405_METHOD_NOT_ALLOWED
from litestar.types import ExceptionHandlersMap

from app.api.access import PasswordChangeRequired
from app.errors import DomainError, InvalidArgument
from app.validation import InvalidInput, convert

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)


class Envelope(msgspec.Struct, Generic[T]):
    code: int
    msg: str
    data: T


def ok(data: T = None) -> Envelope[T]:  # type: ignore[assignment]
    return Envelope(0, "success", data)


_JSON_MEDIA = "application/json; charset=utf-8"


def _domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[Envelope[None]]:
    """Every service refusal, in NanoKVM's terms: HTTP 200, the step's code and the message."""
    return Response(Envelope(exc.code, exc.msg, None), status_code=200, media_type=_JSON_MEDIA)


def _unauthorized(_: Request[Any, Any, Any], __: Exception) -> Response[bytes]:
    return Response(b'"unauthorized"', status_code=401, media_type=_JSON_MEDIA)


def _forbidden(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, PasswordChangeRequired):  # say what to do, in the envelope clients show
        return Response(Envelope(-1, exc.MESSAGE, None), status_code=403, media_type=_JSON_MEDIA)
    return Response(b'"forbidden"', status_code=403, media_type=_JSON_MEDIA)


def _not_found(_: Request[Any, Any, Any], __: Exception) -> Response[bytes]:
    return Response(b"404 page not found", status_code=404, media_type="text/plain")


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's refusals (and the access middleware's) in NanoKVM's terms."""
    if exc.status_code in (404, HTTP_405_METHOD_NOT_ALLOWED):  # gin answers a wrong method with 404
        return _not_found(request, exc)
    if exc.status_code == 401:
        return _unauthorized(request, exc)
    if exc.status_code == 403:
        return _forbidden(request, exc)
    # Anything else Litestar refuses (an oversized body, a malformed path parameter) is bad input.
    return Response(Envelope(-1, f"invalid request: {exc.detail}", None), status_code=200, media_type=_JSON_MEDIA)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Envelope[None]]:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return Response(Envelope(-1, "internal error", None), status_code=500, media_type=_JSON_MEDIA)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain_error,
    NotAuthorizedException: _unauthorized,
    PermissionDeniedException: _forbidden,
    NotFoundException: _not_found,
    HTTPException: http_error,
    Exception: _internal,
}


class WrongBodyType(InvalidInput):
    """The body came as a type NanoKVM's clients never send (the reason is always shown)."""


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# How NanoKVM's clients send a body: JSON (its web page, the nanokvm client, curl -H), or a form (curl -d).
BODY_TYPES = ("application/json", *FORM_TYPES)


async def read_body(request: Request[Any, Any, Any], struct: type[S]) -> S:
    """Parse the body as gin's ShouldBind would: JSON or form, keys case-insensitive.

    Raises InvalidInput (the caller answers with its endpoint's own "invalid arguments" code).
    """
    try:
        body = await request.body()
    except HTTPException as exc:  # over the size limit
        raise InvalidInput(str(exc.detail).lower()) from None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body.strip() and content_type not in BODY_TYPES:
        # text/plain and friends are what another site's page can send without asking (CORS "simple").
        raise WrongBodyType("send the body as application/json (or a form)")
    if content_type in FORM_TYPES and not body.lstrip().startswith(b"{"):
        # curl scripts send JSON with curl's default form content type; gin would fail them.
        form = await request.form()
        return convert(dict(form.items()), struct, strict=False)
    if not body.strip():
        raise InvalidInput("empty body")
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nesting deeper than msgspec allows
        raise InvalidInput("body is not valid JSON") from None
    return convert(value, struct)


async def parse_body(
    request: Request[Any, Any, Any],
    struct: type[S],
    code: int = -1,
    message: str = "invalid arguments",
    detail: bool = True,
) -> S:
    """``read_body``, answering bad input with the endpoint's own code and message (plus the reason,
    unless the endpoint's message is NanoKVM's exact text)."""
    try:
        return await read_body(request, struct)
    except InvalidInput as err:
        shown = detail or isinstance(err, WrongBodyType)
        raise InvalidArgument(f"{message}: {err}" if shown else message, code=code) from None
