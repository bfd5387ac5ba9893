"""``/api/streamer``, ``/api/streamer/snapshot`` (JPEG, ``allow_offline``, ``preview``, ``save``/``load``)
and ``/api/streamer/ocr``."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response

from app.api.pikvm import state
from app.api.pikvm.envelope import KvmdError, answer
from app.api.pikvm.params import flag, listed, number
from app.api.routing import Req, delete, get, services
from app.services.auth.accounts import Role
from app.services.video import ocr, snapshot

JPEG = "image/jpeg"
OCR_BOX = ("left", "top", "right", "bottom")


async def snapshot_response(request: Req) -> Response[bytes]:
    svc = services(request)
    kvmd = state.kvmd_state(svc)
    want_ocr = flag(request, "ocr", False)
    langs = listed(request, "ocr_langs") or list(ocr.DEFAULT_LANGS)
    if want_ocr and not ocr.available():
        raise KvmdError(503, "UnavailableError", "OCR is not available on this device (no tesseract)")
    if flag(request, "load", False):
        if kvmd.saved_snapshot is None:
            raise KvmdError(503, "UnavailableError", "No snapshot saved")
        jpeg = kvmd.saved_snapshot[0]
    else:
        try:
            shot = await snapshot.take(svc.capture)
        except TimeoutError:
            raise KvmdError(503, "UnavailableError", "No frame from the video source") from None
        if not shot.online and not flag(request, "allow_offline", False):
            raise KvmdError(503, "UnavailableError", "No signal from the host")
        jpeg = shot.jpeg
        if flag(request, "save", False):
            kvmd.saved_snapshot = (jpeg, shot.captured)
    if want_ocr:
        # kvmd's crop box: any side given (>= 0) crops, the others are the frame's edges.
        left, top, right, bottom = (int(number(request, f"ocr_{side}", -1, -(2**31), 2**31)) for side in OCR_BOX)
        try:
            text = await asyncio.to_thread(ocr.recognize, jpeg, langs, (left, top, right, bottom))
        except ocr.OcrError as err:
            raise KvmdError(400, "OcrError", str(err)) from None
        return Response(text.encode(), media_type="text/plain; charset=utf-8", headers={"cache-control": "no-store"})
    if flag(request, "preview", False):
        max_width = int(number(request, "preview_max_width", 0, 0, 7680))
        max_height = int(number(request, "preview_max_height", 0, 0, 4320))
        quality = int(number(request, "preview_quality", 80, 1, 100))
        jpeg = await asyncio.to_thread(snapshot.preview, jpeg, max_width, max_height, quality)
    return Response(jpeg, media_type=JPEG, headers={"cache-control": "no-store"})


# Where kvmd's web page (ustreamer behind nginx) asks for it.
@get("/streamer/snapshot", role=Role.VIEWER)
async def streamer_snapshot(request: Req) -> Response[bytes]:
    return await snapshot_response(request)


class KvmdStreamerController(Controller):
    path = "/api/streamer"

    @get(["", "/"], role=Role.VIEWER, hot=state.streamer)  # polled (app/api/hot.py answers ahead)
    async def streamer(self, request: Req) -> Response[bytes]:
        return answer(state.streamer(services(request)))

    @get("/snapshot", role=Role.VIEWER)
    async def snapshot(self, request: Req) -> Response[bytes]:
        return await snapshot_response(request)

    @delete("/snapshot", role=Role.USER)
    async def delete_snapshot(self, request: Req) -> Response[bytes]:
        state.kvmd_state(services(request)).saved_snapshot = None
        return answer()

    @get("/ocr", role=Role.VIEWER)
    async def ocr(self, request: Req) -> Response[bytes]:
        return answer(await asyncio.to_thread(state.ocr))
