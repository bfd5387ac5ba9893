"""kvmd's ``/api/ws``: state events out, key and mouse events in (JSON and kvmd's binary ops).

On connect: every subsystem's state, then ``loop``; afterwards a state is sent again whenever it
changes. States go out under kvmd's current names (``atx``, ``hid``...) and the older ``*_state``
ones of PiKVM's published API, so clients of either generation find theirs. ``stream=1`` makes the
connection a video viewer (the capture runs while it is open), as kvmd's streamer does for its
WebSocket clients; ``stream=0`` does not. Input from a viewer account is dropped. The connection
ends with 4401 when its user's sessions are revoked, as NanoKVM's ``/api/ws``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import PermissionDeniedException

from app.api.access import current_session
from app.api.pikvm import state
from app.api.pikvm.live import held
from app.api.pikvm.params import as_bool
from app.api.routing import services as app_services
from app.api.ws import REVOKED, origin_allowed
from app.runtime import Services
from app.services.auth.accounts import Role
from app.services.auth.live import SessionEnded
from app.services.hid.events import EventInput, UnknownInput

Socket = WebSocket[Any, Any, Any]

POLL_SECONDS = 0.5
SLOW_POLL_EVERY = 4  # the storage listing is read every 4th poll
MAX_FRAME = 64 << 10
VERSION = {"major": 4, "minor": 49}
LEGACY = {name: f"{name}_state" for name in ("atx", "hid", "msd", "gpio", "streamer")}


def event(kind: str, payload: Any) -> str:
    return msgspec.json.encode({"event_type": kind, "event": payload}).decode()


def _states(svc: Services, with_msd: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "atx": state.atx(svc),
        "hid": state.hid(svc),
        "gpio": state.gpio(svc),
        "streamer": state.streamer(svc),
    }
    if with_msd:
        found["msd"] = state.msd(svc)
    return found


async def _send_state(socket: Socket, kind: str, payload: Any) -> None:
    await socket.send_text(event(kind, payload))
    if kind in LEGACY:
        await socket.send_text(event(LEGACY[kind], payload))


async def _push(socket: Socket, svc: Any, looped: asyncio.Event) -> None:
    first = await asyncio.to_thread(_states, svc, True)
    info = await asyncio.to_thread(state.info, svc, False)  # kvmd's web page reads the current layout
    legacy_info = await asyncio.to_thread(state.info, svc, True)
    model = state.gpio_model(svc)
    await socket.send_text(event("gpio_model", model))
    await socket.send_text(event("gpio_model_state", model))
    for kind, payload in first.items():
        await _send_state(socket, kind, payload)
    await socket.send_text(event("info", info))
    for category, payload in legacy_info.items():
        await socket.send_text(event(f"info_{category}_state", payload))
    await socket.send_text(event("hid_keymaps", state.keymaps()))
    await socket.send_text(event("ocr", await asyncio.to_thread(state.ocr)))
    await socket.send_text(event("loop", {"version": VERSION}))
    looped.set()
    last = first
    polls = 0
    while True:
        await asyncio.sleep(POLL_SECONDS)
        polls += 1
        current = await asyncio.to_thread(_states, svc, polls % SLOW_POLL_EVERY == 0)
        for kind, payload in current.items():
            if last.get(kind) != payload:
                await _send_state(socket, kind, payload)
        last = {**last, **current}


def _int(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a number")
    return max(low, min(high, int(float(value))))


def _delta(value: Any) -> tuple[int, int]:
    """kvmd's ``{"x", "y"}``, a list of them (summed), or pikvm-lib's bare int (a vertical step)."""
    if isinstance(value, list):
        pairs = [_delta(item) for item in value]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    if isinstance(value, dict):
        return _int(value.get("x", 0), -127, 127), _int(value.get("y", 0), -127, 127)
    return 0, _int(value, -127, 127)


def handle_json(inputs: EventInput | None, kind: str, payload: Any) -> None:
    """One input event (unknown names and bad values are ignored, as kvmd logs and drops them)."""
    if inputs is None or not isinstance(payload, dict):
        return
    with contextlib.suppress(UnknownInput, ValueError, TypeError, KeyError):
        if kind == "key":
            inputs.key(str(payload["key"]), as_bool("state", payload["state"]))
        elif kind == "mouse_button":
            inputs.button(str(payload["button"]), as_bool("state", payload["state"]))
        elif kind == "mouse_move":
            to = payload["to"]
            inputs.move(_int(to["x"], -32768, 32767), _int(to["y"], -32768, 32767))
        elif kind == "mouse_relative":
            inputs.relative(*_delta(payload["delta"]))
        elif kind == "mouse_wheel":
            inputs.wheel(*_delta(payload["delta"]))


def handle_binary(inputs: EventInput | None, frame: bytes) -> bytes | None:
    """kvmd's binary ops: 0 ping (answered 255), 1 key, 2 button, 3 move, 4 relative, 5 wheel."""
    if not frame:
        return None
    op, data = frame[0], frame[1:]
    if op == 0:
        return bytes([255])
    if inputs is None or not data:
        return None
    with contextlib.suppress(UnknownInput, ValueError, struct.error):
        if op == 1:
            inputs.key(data[1:].decode("ascii"), bool(data[0] & 1))
        elif op == 2:
            inputs.button(data[1:].decode("ascii"), bool(data[0] & 1))
        elif op == 3:
            x, y = struct.unpack(">hh", data[:4])
            inputs.move(x, y)
        elif op in (4, 5):
            deltas = [struct.unpack(">bb", data[i : i + 2]) for i in range(1, len(data) - 1, 2)]
            dx, dy = sum(d[0] for d in deltas), sum(d[1] for d in deltas)
            (inputs.relative if op == 4 else inputs.wheel)(dx, dy)
    return None


async def _read(
    socket: Socket, inputs: EventInput | None, connected: Callable[[], bool], looped: asyncio.Event
) -> None:
    while True:
        received: dict[str, Any] = dict(await socket.receive())
        if received["type"] == "websocket.disconnect":
            return
        await looped.wait()  # as kvmd: the client's events are handled once the state bundle is out
        usable = inputs if connected() else None
        raw = received.get("bytes")
        if isinstance(raw, bytes):
            if len(raw) <= MAX_FRAME:
                reply = handle_binary(usable, raw)
                if reply is not None:
                    await socket.send_bytes(reply)
            continue
        text = received.get("text")
        if not isinstance(text, str) or len(text) > MAX_FRAME:
            continue
        try:
            message = msgspec.json.decode(text)
            kind, payload = message["event_type"], message.get("event", {})
        except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
            continue
        if kind == "ping":
            await socket.send_text(event("pong", {}))
        else:
            handle_json(usable, str(kind), payload)


async def _run(socket: Socket, parts: tuple[Coroutine[Any, Any, None], ...]) -> None:
    """Until one part ends or the session does; then close, with 4401 when the session ended."""
    tasks = {asyncio.create_task(part) for part in parts}
    ended = False
    try:
        async with held(socket, Role.VIEWER):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except SessionEnded:
        ended = True
    finally:
        for task in tasks:  # stop reading and writing before the close frame goes
            task.cancel()
    with contextlib.suppress(Exception):  # the client may already be gone
        await socket.close(*REVOKED) if ended else await socket.close()


@contextlib.asynccontextmanager
async def _viewer(svc: Services, stream: bool) -> AsyncIterator[None]:
    if not stream:
        yield
        return
    async with svc.capture.viewer():
        yield


@websocket("/api/ws", role=Role.VIEWER)
async def kvmd_ws(socket: Socket) -> None:
    if not origin_allowed(socket):
        raise PermissionDeniedException()
    svc = app_services(socket)
    session = current_session(socket)
    stream = as_bool("stream", socket.query_params.get("stream", "1"))
    kvmd = state.kvmd_state(svc)
    inputs = EventInput(svc.hid, kvmd.mouse_absolute) if session.role >= Role.USER else None
    await socket.accept()
    looped = asyncio.Event()
    try:
        async with _viewer(svc, stream):
            await _run(socket, (_read(socket, inputs, lambda: kvmd.hid_connected, looped), _push(socket, svc, looped)))
    finally:
        if inputs is not None:
            inputs.release()
