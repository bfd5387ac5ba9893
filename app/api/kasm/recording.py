"""vncrecordingserver's ``/recording`` (and the seed's misspelt ``/recodring``), and our recordings
list, download (with byte ranges) and delete under ``/api/recordings``.

``/recording`` answers plain JSON as vncrecordingserver: ``{active, config}`` plus the progress
(file, duration, frames, bytes, why it stopped); errors as ``{"error"}`` with a 4xx/5xx status.
Admins only (a recording fills the disk and may connect to other hosts), with HTTP Basic besides
our sessions and tokens. ``/api/recordings`` is ours, in NanoKVM's envelope like the rest of /api.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

import msgspec
from litestar import Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotFoundException
from litestar.types import Receive, Scope, Send

from app.api.access import held
from app.api.envelope import Envelope, ok
from app.api.kasm.auth import basic_session
from app.api.kasm.routes import answer, status_of
from app.api.routing import Req, asgi, delete, get, post, services
from app.errors import DomainError, InvalidArgument
from app.services.auth.accounts import Role
from app.services.auth.live import SessionEnded
from app.services.recording import library
from app.services.recording.library import RecordingFile
from app.services.recording.options import RecordingConfig
from app.services.recording.recorder import RecordingStatus
from app.validation import InvalidInput, convert

ADMIN: dict[str, Any] = {"role": Role.ADMIN, "credentials": basic_session}
PATHS = ["/recording", "/recodring"]
CHUNK = 256 << 10
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def failed(err: DomainError) -> Response[bytes]:
    code = 502 if err.__class__.__name__ == "Failed" else 503 if err.__class__.__name__ == "Unavailable" else None
    return answer({"error": err.msg}, code or status_of(err))


async def config_of(request: Req) -> RecordingConfig:
    """JSON (vncrecordingserver's curl examples), a form, or nothing (every default)."""
    try:
        body = (await request.body()).strip()
    except HTTPException as exc:
        raise InvalidArgument(str(exc.detail).lower()) from None
    if not body:
        return RecordingConfig()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/x-www-form-urlencoded" and not body.startswith(b"{"):
            form = {k: v for k, v in (await request.form()).items() if k != "preferred_encoding"}
            cleaned = {k: None if v in ("", "null") else v for k, v in form.items()}
            return convert(cleaned, RecordingConfig, strict=False)
        if content_type not in ("application/json", "application/x-www-form-urlencoded"):
            raise InvalidArgument("send the options as application/json (or a form)")
        return convert(msgspec.json.decode(body), RecordingConfig)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidArgument("the body is not valid JSON") from None
    except InvalidInput as err:
        raise InvalidArgument(f"invalid options: {err}") from None


def _status(status: RecordingStatus, code: int = 200) -> Response[bytes]:
    return answer(status, code)


@post(PATHS, **ADMIN)
async def start_recording(request: Req) -> Response[bytes]:
    recorder = services(request).recorder
    try:
        return _status(await recorder.start(await config_of(request)))
    except DomainError as err:
        return failed(err)


@get(PATHS, **ADMIN)
async def recording_status(request: Req) -> Response[bytes]:
    return _status(services(request).recorder.status())


@delete(PATHS, **ADMIN)
async def stop_recording(request: Req) -> Response[bytes]:
    return _status(await services(request).recorder.stop())


class RecordingList(msgspec.Struct):
    files: list[RecordingFile]
    recording: RecordingStatus


@get("/api/recordings", role=Role.ADMIN)
async def list_recordings(request: Req) -> Envelope[RecordingList]:
    recorder = services(request).recorder
    found = await asyncio.to_thread(library.files, recorder)
    return ok(RecordingList(found, recorder.status()))


@delete("/api/recordings", role=Role.ADMIN)
async def delete_recording(request: Req) -> Envelope[None]:
    recorder = services(request).recorder
    await asyncio.to_thread(library.delete, recorder, request.query_params.get("name") or "")
    return ok()


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` of a single ``Range: bytes=`` request; None for the whole file.
    ValueError when it cannot be satisfied (416)."""
    if not header:
        return None
    found = _RANGE.match(header.strip())
    if found is None:
        return None  # several ranges or another unit: the whole file, as servers may
    first, last = found.groups()
    if not first:  # the last N bytes
        if not last or int(last) == 0:
            raise ValueError("empty suffix range")
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, end


def _read(path: Path, start: int, length: int) -> bytes:
    with path.open("rb") as file:
        file.seek(start)
        return file.read(length)


async def _send_file(path: Path, scope: Scope, send: Send) -> None:
    headers_in = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    size = (await asyncio.to_thread(path.stat)).st_size
    headers = [
        (b"content-type", library.media_type(path).encode()),
        (b"accept-ranges", b"bytes"),
        (b"content-disposition", f'attachment; filename="{path.name}"'.encode("latin-1", "replace")),
    ]
    try:
        wanted = byte_range(headers_in.get("range"), size)
    except ValueError:
        headers.append((b"content-range", f"bytes */{size}".encode()))
        await send({"type": "http.response.start", "status": 416, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    start, end = wanted if wanted is not None else (0, size - 1)
    status = 206 if wanted is not None else 200
    if wanted is not None:
        headers.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
    headers.append((b"content-length", str(max(0, end - start + 1)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    position = start
    while position <= end and scope.get("method") != "HEAD":
        chunk = await asyncio.to_thread(_read, path, position, min(CHUNK, end - position + 1))
        if not chunk:
            break
        position += len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


@asgi("/api/recordings/download", role=Role.ADMIN)
async def download_recording(scope: Scope, receive: Receive, send: Send) -> None:
    """``?name=<relative path>``; a single byte range answers 206. Held by the session: revoking it
    ends a download in progress within a second."""
    if scope.get("method") not in ("GET", "HEAD"):
        raise NotFoundException()
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    recorder = services(connection).recorder
    name = connection.query_params.get("name") or ""
    try:
        path = await asyncio.to_thread(library.find, recorder, name)
    except DomainError as err:
        body = msgspec.json.encode({"code": -1, "msg": err.msg, "data": None})
        await send({"type": "http.response.start", "status": 200 if status_of(err) == 404 else 400,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    with contextlib.suppress(SessionEnded, OSError):
        async with held(connection, Role.ADMIN):
            await _send_file(path, scope, send)


HANDLERS = [start_recording, recording_status, stop_recording, list_recordings, delete_recording, download_recording]
