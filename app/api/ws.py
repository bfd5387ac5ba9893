"""``/api/ws``: keyboard and mouse in, status out (spec 5.1).

Authenticated by the session cookie on the upgrade; a browser's Origin must match the Host it
connects to. Input from a viewer is dropped. The server closes after 90 s without a message, and
with code 4401 when the session ends (logout, revocation, expiry).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import PermissionDeniedException

from app.api.access import current_session, held
from app.api.crosssite import request_scheme, same_origin
from app.api.routing import services as app_services
from app.services.auth.accounts import Role
from app.services.auth.live import SessionEnded
from app.services.events import Event
from app.services.hid.input import InputSession

Socket = WebSocket[Any, Any, Any]

REVOKED = (4401, "session expired or revoked")


def origin_allowed(socket: Socket) -> bool:
    origin = socket.headers.get("origin")
    if not origin:
        return True  # not a browser: nothing to forge
    scheme = request_scheme(socket.headers.get("x-forwarded-proto"), socket.url.scheme)
    return same_origin(origin, socket.headers.get("host", ""), scheme)


def message(event: Event) -> str:
    """NanoKVM double-encodes: ``data`` is a JSON document inside a string."""
    return msgspec.json.encode({"type": event.type, "data": msgspec.json.encode(event.data).decode()}).decode()


def _snapshot(socket: Socket) -> list[Event]:
    services = app_services(socket)
    captures = sorted((k, e) for k, e in services.bus.last.items() if k.startswith("capture-status:"))
    return [
        *(event for _, event in captures),
        Event("h264-mode-status", services.h264.mode_status()),
        Event("hid-led-status", services.hid.led_event()),
    ]


async def _read(socket: Socket, session: InputSession | None, idle: float) -> None:
    """Until the client goes or falls silent for ``idle`` seconds."""
    while True:
        try:
            async with asyncio.timeout(idle):  # unlike wait_for, no Task per frame
                received = await socket.receive()
        except TimeoutError:
            return
        frame: dict[str, Any] = dict(received)
        if frame["type"] == "websocket.disconnect":
            return
        if session is None:
            continue  # a viewer: status only
        if frame.get("bytes") is not None:
            session.binary(frame["bytes"])
        elif frame.get("text") is not None:
            session.text(frame["text"])


async def _push(socket: Socket) -> None:
    services = app_services(socket)
    with services.bus.subscribe() as events:
        for event in _snapshot(socket):
            await socket.send_text(message(event))
        while True:
            event = await events.get()
            if event.type in ("capture-status", "h264-mode-status", "hid-led-status"):
                await socket.send_text(message(event))


async def run_session(
    socket: Socket,
    work: Callable[[asyncio.Event], tuple[Coroutine[Any, Any, None], ...]],
    role: Role = Role.VIEWER,
) -> None:
    """Run an accepted WebSocket's ``work`` until one part ends or the session does (logout,
    revocation, expiry, credentials below ``role``; see ``access.held``): then close, with 4401 when
    the session ended. ``work`` gets an event that also ends the session, for parts that find out
    themselves."""
    revoked = asyncio.Event()
    tasks: set[asyncio.Task[Any]] = {asyncio.create_task(part) for part in work(revoked)}
    tasks.add(asyncio.create_task(revoked.wait()))
    ended = False
    try:
        async with held(socket, role):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except SessionEnded:
        ended = True
    finally:
        for task in tasks:  # stop reading and writing before the close frame goes
            task.cancel()
    ended = ended or revoked.is_set()
    with contextlib.suppress(Exception):  # the client may already be gone
        await socket.close(*REVOKED) if ended else await socket.close()


@websocket("/api/ws", role=Role.VIEWER)
async def input_channel(socket: Socket) -> None:
    if not origin_allowed(socket):
        raise PermissionDeniedException()
    services = app_services(socket)
    session = current_session(socket)
    await socket.accept()
    inputs = InputSession(services.hid) if session.role >= Role.USER else None
    try:
        await run_session(
            socket,
            lambda revoked: (
                _read(socket, inputs, services.config.hid.ws_idle_seconds),
                _push(socket),
            ),
        )
    finally:
        if inputs is not None:
            inputs.release()
