"""``/api/stream/h264`` (WebRTC signalling, spec 6.2) and ``/api/stream/h264/direct`` (spec 6.3).

Both are WebSockets of a session (viewers may watch), refused to other sites' pages (Origin), with
inbound messages capped, and closed with 4401 within a second of the session's end. ASGI gives an
app no WebSocket pings, so the direct stream's read deadline (30 s) is refreshed by any message
from the viewer or by its TCP acknowledgements advancing (the kernel's answer where NanoKVM asks
for a pong); a frame that cannot be handed on within 2 s ends the connection (write deadline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import PermissionDeniedException

from app.api.access import current_session
from app.api.routing import services as app_services
from app.api.ws import origin_allowed, run_session
from app.services.auth.accounts import Role
from app.services.video.direct import DirectQueue, flow_window
from app.services.video.h264 import H264Pipeline
from app.services.video.pacing import TcpPacer
from app.services.video.stats import H264_ENCODER, ViewerStats, no_rtt

log = logging.getLogger(__name__)

Socket = WebSocket[Any, Any, Any]

DIRECT_READ_LIMIT = 64  # bytes per client message, as NanoKVM
SIGNAL_READ_LIMIT = 64 * 1024  # an SDP offer is a few kB
READ_DEADLINE = 30.0
WRITE_DEADLINE = 2.0
TOO_BIG = (1009, "message too big")
UNAVAILABLE = 1011  # "internal error": this board cannot stream the mode (PyAV or aiortc missing)


class Signal(msgspec.Struct):
    event: str
    data: str = ""


async def _receive(socket: Socket, limit: int) -> bytes | str | None:
    """The next message (None when the client went away); a message over ``limit`` closes with 1009."""
    received: dict[str, Any] = dict(await socket.receive())
    if received["type"] == "websocket.disconnect":
        return None
    payload: bytes | str | None = received.get("bytes")
    if payload is None:
        payload = received.get("text") or ""
    if len(payload) > limit:
        await socket.close(*TOO_BIG)
        return None
    return payload


async def _refuse(socket: Socket, missing: str) -> None:
    """This install cannot stream the mode: close 1011 with the reason (pages then fall back to MJPEG)."""
    log.warning("%s (pip install 'nanokvm-py[h264]')", missing)
    await socket.close(UNAVAILABLE, missing)


# --- direct ------------------------------------------------------------------------------------


class _Heard:
    """When the viewer last showed it is there."""

    def __init__(self) -> None:
        self.at = time.monotonic()


async def _direct_read(socket: Socket, queue: DirectQueue, heard: _Heard) -> None:
    while True:
        payload = await _receive(socket, DIRECT_READ_LIMIT)
        if payload is None:
            return
        heard.at = time.monotonic()
        if isinstance(payload, bytes):
            queue.control(payload)


async def _direct_deadline(heard: _Heard, queue: DirectQueue, pacer: TcpPacer | None, deadline: float) -> None:
    """Returns (ending the stream) after ``deadline`` seconds without a message or a TCP acknowledgement
    while frames sent are still unacknowledged. A viewer that was sent nothing (the encoder not up yet,
    no signal from NanoKVM's library) has nothing to acknowledge: it is not dead for that."""
    acked = 0
    while True:
        await asyncio.sleep(1.0)
        now_acked = pacer.acked() if pacer is not None else 0
        # Acknowledged bytes include the WebSocket framing, so all sent when they reach the payloads.
        if now_acked != acked or now_acked >= queue.sent_bytes:
            acked, heard.at = now_acked, time.monotonic()
        if time.monotonic() - heard.at > deadline:
            return


async def _direct_write(socket: Socket, queue: DirectQueue, stats: ViewerStats) -> None:
    while True:
        message = queue.pop()
        if message is None:
            await queue.wake.wait()
            continue
        try:
            async with asyncio.timeout(WRITE_DEADLINE):
                began = time.perf_counter()
                await socket.send_bytes(message)
                stats.unit_sent(len(message), time.perf_counter() - began)
        except TimeoutError:
            return


@websocket("/api/stream/h264/direct", role=Role.VIEWER)
async def h264_direct(socket: Socket) -> None:
    if not origin_allowed(socket):
        raise PermissionDeniedException()
    pipeline: H264Pipeline = app_services(socket).h264
    window = flow_window(socket.query_params.get("flow"))
    await socket.accept()
    if (missing := pipeline.unavailable("direct")) is not None:
        await _refuse(socket, missing)
        return
    pacer = TcpPacer.for_scope(socket.scope)
    stats = _viewer_stats(socket, pipeline, pacer)
    queue = DirectQueue(window, lambda recovery: pipeline.request_key_frame(recovery=recovery), stats)
    heard = _Heard()
    viewer = pipeline.add_viewer("direct", queue.offer, queue.can_advance)
    try:
        await run_session(
            socket,
            lambda _: (
                _direct_read(socket, queue, heard),
                _direct_write(socket, queue, stats),
                _direct_deadline(heard, queue, pacer, READ_DEADLINE),
            ),
        )
    finally:
        pipeline.remove_viewer(viewer)
        pipeline.capture.stats.remove_viewer(stats)
        if pacer is not None:
            pacer.close()


def _viewer_stats(socket: Socket, pipeline: H264Pipeline, pacer: TcpPacer | None) -> ViewerStats:
    """This viewer in the pipeline's statistics (KasmVNC's get_frame_stats, get_bottleneck_stats)."""
    client = socket.scope.get("client") or ("", 0)
    username = current_session(socket).username
    rtt = pacer.rtt if pacer is not None else no_rtt
    return pipeline.capture.stats.add_viewer(
        "h264-direct", username, str(client[0]), rtt, by_seq=False, encoder=H264_ENCODER
    )


# --- WebRTC ------------------------------------------------------------------------------------


async def _signal(socket: Socket, session: Any) -> None:
    await session.start()
    while True:
        payload = await _receive(socket, SIGNAL_READ_LIMIT)
        if payload is None:
            return
        try:
            message = msgspec.json.decode(payload, type=Signal)
            await session.handle(message.event, message.data)
        except (msgspec.DecodeError, ValueError, KeyError, StopIteration) as err:
            log.warning("WebRTC signalling message refused: %s", err)  # as NanoKVM: logged, no answer


@websocket("/api/stream/h264", role=Role.VIEWER)
async def h264_webrtc(socket: Socket) -> None:
    if not origin_allowed(socket):
        raise PermissionDeniedException()
    from app.services.video.webrtc import WebRtcSession, ice_servers, load_aiortc

    services = app_services(socket)
    config = services.config
    servers = ice_servers(config.stun, config.turn.turn_addr, config.turn.turn_user, config.turn.turn_cred)
    await socket.accept()
    if (missing := services.h264.unavailable("webrtc")) is not None:
        await _refuse(socket, missing)
        return
    await asyncio.to_thread(load_aiortc)

    async def send(event: str, data: str) -> None:
        await socket.send_text(msgspec.json.encode({"event": event, "data": data}).decode())

    client = socket.scope.get("client") or ("", 0)
    session = WebRtcSession(services.h264, servers, send, current_session(socket).username, str(client[0]))
    try:
        await run_session(socket, lambda _: (_signal(socket, session),))
    finally:
        await session.close()
