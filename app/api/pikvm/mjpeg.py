"""``/streamer/stream``: the MJPEG stream kvmd's web page shows (ustreamer's place behind kvmd's nginx),
the same capture loop and pacing as NanoKVM's ``/api/stream/mjpeg``, inside a kvmd session."""

from __future__ import annotations

import asyncio

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.types import Receive, Scope, Send

from app.api.pikvm.live import held
from app.api.routing import asgi
from app.api.stream import _cancel_on_disconnect, _end, _Response, _stream
from app.services.auth.accounts import Role
from app.services.auth.live import SessionEnded
from app.services.video.capture import Capture


@asgi("/streamer/stream", role=Role.VIEWER)
async def kvmd_mjpeg(scope: Scope, receive: Receive, send: Send) -> None:
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
