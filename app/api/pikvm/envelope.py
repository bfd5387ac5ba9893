"""kvmd's envelope: ``{"ok": true, "result": ...}``; failures ``{"ok": false, "result": {"error", "error_msg"}}``.

Statuses as kvmd: 400 bad input or a refused operation, 401 no credentials, 403 bad credentials or
too low a role, 404 unknown path, 503 hardware unavailable. Services raise the kinds of
``app.errors``; they are mapped here by what they mean, never answered in NanoKVM's envelope.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.types import ExceptionHandlersMap

from app.errors import Busy, Conflict, DomainError, Forbidden, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

JSON = "application/json"


class KvmdError(Exception):
    """An answer in kvmd's error envelope: HTTP ``status``, exception name ``error``, text ``message``."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def bad_request(message: str) -> KvmdError:
    return KvmdError(400, "ValidatorError", message)


def encode(ok_: bool, result: Any) -> bytes:
    return msgspec.json.encode({"ok": ok_, "result": result})


def answer(result: Any = None, status: int = 200) -> Response[bytes]:
    return Response(encode(True, {} if result is None else result), status_code=status, media_type=JSON)


def failure(status: int, error: str, message: str) -> Response[bytes]:
    return Response(encode(False, {"error": error, "error_msg": message}), status_code=status, media_type=JSON)


def _busy(message: str) -> bool:
    return "busy" in message.lower() or "in progress" in message.lower()


# A service's refusal by kind -> kvmd's status and exception name.
KINDS: dict[type[DomainError], tuple[int, str]] = {
    Busy: (409, "IsBusyError"),
    Unavailable: (503, "UnavailableError"),
    NotFound: (404, "NotFoundError"),
    Forbidden: (403, "ForbiddenError"),
    InvalidArgument: (400, "ValidatorError"),
    Conflict: (400, "OperationError"),
}


def from_api_error(exc: DomainError) -> KvmdError:
    """By the error's kind; a plain ``Failed`` (or a bare ``DomainError``) by its message, which says
    whether the hardware could not be read (503) or the operation was refused (400)."""
    for kind, (status, name) in KINDS.items():
        if isinstance(exc, kind):
            return KvmdError(status, name, exc.msg)
    if _busy(exc.msg):
        return KvmdError(409, "IsBusyError", exc.msg)
    if "failed" in exc.msg.lower() and ("read" in exc.msg.lower() or "operation" in exc.msg.lower()):
        return KvmdError(503, "UnavailableError", exc.msg)
    return KvmdError(400, "OperationError", exc.msg)


def _kvmd(_: Request[Any, Any, Any], exc: KvmdError) -> Response[bytes]:
    return failure(exc.status, exc.error, exc.message)


def _api(_: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    mapped = from_api_error(exc)
    return failure(mapped.status, mapped.error, mapped.message)


def _unauthorized(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    detail = getattr(exc, "detail", "") or "No credentials"
    return failure(401, "UnauthorizedError", str(detail))


def _forbidden(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    detail = getattr(exc, "detail", "") or "Forbidden"
    return failure(403, "ForbiddenError", str(detail))


def _not_found(_: Request[Any, Any, Any], __: Exception) -> Response[bytes]:
    return failure(404, "NotFoundError", "Not found")


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 405:
        return failure(405, "HTTPMethodNotAllowed", "Method not allowed")
    if exc.status_code == 413:
        return failure(413, "RequestTooLarge", "Request body too large")
    return failure(400, "ValidatorError", str(exc.detail))


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return failure(500, "InternalError", "Internal error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    KvmdError: _kvmd,
    DomainError: _api,
    NotAuthorizedException: _unauthorized,
    PermissionDeniedException: _forbidden,
    NotFoundException: _not_found,
    HTTPException: _http,
    Exception: _internal,
}
