"""``/api/stream/mjpeg`` and frame detect (spec 4.4, 6.4).

The stream is a raw ASGI handler: NanoKVM sends no headers before the first frame, and each viewer
is paced by what its connection has delivered (see ``pacing``) so a slow viewer sees the present.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated

import msgspec
from litestar import Controller
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.types import Receive, Scope, Send

from app.api.access import current_session, held
from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, asgi, get, post, services
from app.services.auth.accounts import Role
from app.services.auth.live import SessionEnded
from app.services.video.capture import DETECT_INTERVAL, Capture
from app.services.video.pacing import TcpPacer
from app.services.video.stats import ViewerStats
from app.timefmt import rfc1123_local

# How many bytes may still be on the way to a viewer when the next frame is sent.
IN_FLIGHT_SLACK = 16 * 1024
PACE_POLL_MIN, PACE_POLL_MAX = 0.002, 0.01


class DetectRequest(msgspec.Struct):
    enabled: bool | None = None


class DetectState(msgspec.Struct):
    enabled: bool


class DetectStopRequest(msgspec.Struct):
    duration: Annotated[int, msgspec.Meta(ge=0, le=300)] = 10


def _headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"multipart/x-mixed-replace; boundary=frame"),
        (b"cache-control", b"no-cache"),
        (b"connection", b"keep-alive"),
        (b"pragma", b"no-cache"),
        (b"x-server-date", rfc1123_local().encode()),
    ]


async def _wait_delivered(pacer: TcpPacer, sent: int) -> None:
    """Until all but IN_FLIGHT_SLACK of ``sent`` bytes are acknowledged by the viewer."""
    delay = PACE_POLL_MIN
    while sent - pacer.acked() > IN_FLIGHT_SLACK:
        await asyncio.sleep(delay)
        delay = min(delay * 2, PACE_POLL_MAX)


async def _cancel_on_disconnect(receive: Receive, task: asyncio.Task[None]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


class _Response:
    """What has gone out, so an ended session can finish the response properly."""

    started = False


async def _stream(capture: Capture, scope: Scope, send: Send, response: _Response) -> None:
    async with capture.viewer():
        frame = await capture.next_frame(0)  # headers only go out with the first frame, as NanoKVM
        await send({"type": "http.response.start", "status": 200, "headers": _headers()})
        response.started = True
        pacer = TcpPacer.for_scope(scope)
        stats = _viewer_stats(capture, scope, pacer)
        sent = 0
        try:
            while True:
                began = time.perf_counter()
                await send({"type": "http.response.body", "body": frame.part, "more_body": True})
                stats.delivered(frame.seq, len(frame.part), time.perf_counter() - began)
                sent += len(frame.part)
                frame = await capture.next_frame(frame.seq)
                if pacer is not None:
                    await _wait_delivered(pacer, sent)
                    frame = capture.latest or frame  # what was waiting may be stale by now
        finally:
            capture.stats.remove_viewer(stats)
            if pacer is not None:
                pacer.close()


def _viewer_stats(capture: Capture, scope: Scope, pacer: TcpPacer | None) -> ViewerStats:
    """This viewer in the pipeline's statistics (KasmVNC's get_frame_stats, get_bottleneck_stats)."""
    client = scope.get("client") or ("", 0)
    username = current_session(ASGIConnection(scope)).username
    return capture.stats.add_viewer("mjpeg", username, str(client[0]), pacer.rtt if pacer else lambda: None)


@asgi("/api/stream/mjpeg", role=Role.VIEWER)
async def mjpeg_stream(scope: Scope, receive: Receive, send: Send) -> None:
    if scope.get("method") not in ("GET", "HEAD"):
        raise NotFoundException()
    capture: Capture = scope["app"].state.services.capture
    task = asyncio.current_task()
    assert task is not None
    watcher = asyncio.create_task(_cancel_on_disconnect(receive, task))
    response = _Response()
    try:
        async with held(ASGIConnection(scope), Role.VIEWER):
            await _stream(capture, scope, send, response)
    except SessionEnded:
        await _end(send, response)
    except asyncio.CancelledError:
        if not watcher.done():
            raise
    except OSError:
        pass  # the viewer went away mid-send
    finally:
        watcher.cancel()


async def _end(send: Send, response: _Response) -> None:
    """The session ended (revoked, expired): close the multipart body, or refuse if nothing went yet."""
    with contextlib.suppress(OSError):
        if response.started:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": b'"unauthorized"', "more_body": False})


class StreamController(Controller):
    path = "/api/stream"

    @get("/mjpeg/detect", role=Role.VIEWER)
    async def detect_state(self, request: Req) -> Envelope[DetectState]:
        return ok(DetectState(services(request).capture.detect_interval > 0))

    @post("/mjpeg/detect", role=Role.USER, body=DetectRequest)
    async def detect(self, request: Req) -> Envelope[DetectState]:
        capture: Capture = services(request).capture
        body = DetectRequest()
        if (await request.body()).strip():
            body = await parse_body(request, DetectRequest, message="invalid parameters", detail=False)
        enabled = body.enabled if body.enabled is not None else not capture.detect_interval  # no body: toggle
        capture.detect_interval = DETECT_INTERVAL if enabled else 0
        return ok(DetectState(enabled))

    @post("/mjpeg/detect/stop", role=Role.USER, body=DetectStopRequest)
    async def detect_stop(self, request: Req) -> Envelope[None]:
        """Detection off for ``duration`` seconds inside the request, then on (even if it was off)."""
        body = DetectStopRequest()
        if (await request.body()).strip():
            body = await parse_body(request, DetectStopRequest, message="invalid parameters", detail=False)
        capture: Capture = services(request).capture
        capture.detect_interval = 0
        await asyncio.sleep(body.duration or 10)
        capture.detect_interval = DETECT_INTERVAL
        return ok()
