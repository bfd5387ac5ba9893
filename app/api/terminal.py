"""``/api/vm/terminal``: a shell over a WebSocket (spec 5.3), administrators only.

Client text frames are typed into the terminal verbatim; binary frames carry the size as JSON
``{rows, cols}`` (anything else is dropped, as NanoKVM does). Output goes back as binary frames of at
most 1024 bytes. Refused before the upgrade: no session (401), not an administrator or another site's
page (403). The shell ends when the socket closes, and the socket closes (4401) when the session ends
or stops being an administrator's; it closes normally when the shell exits.

The shell is the board's (on the sim board ``SimShell``, which executes nothing; see its module).
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import PermissionDeniedException

from app.api.routing import services as app_services
from app.api.ws import origin_allowed, run_session
from app.services.auth.accounts import Role
from app.services.system.terminal import MAX_SIZE, Terminal
from app.validation import InvalidInput, convert

Socket = WebSocket[Any, Any, Any]
Dimension = Annotated[int, msgspec.Meta(ge=1, le=MAX_SIZE)]


class Size(msgspec.Struct):
    rows: Dimension
    cols: Dimension


def parse_size(data: bytes) -> Size | None:
    try:
        return convert(msgspec.json.decode(data), Size)
    except (msgspec.DecodeError, InvalidInput, RecursionError):
        return None


async def _input(socket: Socket, shell: Terminal) -> None:
    while True:
        frame: dict[str, Any] = dict(await socket.receive())
        if frame["type"] == "websocket.disconnect":
            return
        if frame.get("text") is not None:
            await shell.write(frame["text"].encode())
        elif frame.get("bytes") is not None:
            size = parse_size(frame["bytes"])
            if size is not None:
                shell.resize(size.rows, size.cols)


async def _output(socket: Socket, shell: Terminal) -> None:
    while data := await shell.read():
        await socket.send_bytes(data)


@websocket("/api/vm/terminal", role=Role.ADMIN)
async def terminal(socket: Socket) -> None:
    if not origin_allowed(socket):
        raise PermissionDeniedException()
    shell = app_services(socket).board.shell()
    await socket.accept()
    try:
        await shell.start()
    except OSError as err:
        with contextlib.suppress(Exception):
            await socket.send_bytes(f"cannot start a shell: {err.strerror or err}\r\n".encode())
            await socket.close(1011)
        return
    try:
        await run_session(
            socket,
            lambda revoked: (_input(socket, shell), _output(socket, shell)),
            Role.ADMIN,
        )
    finally:
        await shell.close()
