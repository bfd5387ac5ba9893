"""``/api/download/*``: images into /data by browser upload or by URL (spec 4.6). All admin."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
from litestar import Controller

from app.api.audit import audit_note
from app.api.envelope import Envelope, ok
from app.api.routing import Req, get, post, services
from app.api.storage import body_or_error
from app.services.auth.accounts import Role
from app.services.media.download_guard import redacted
from app.services.media.transfers import TransferStatus

# Uploads stream to disk; this only bounds what one request may write.
MAX_UPLOAD_BYTES = 16 << 30
# After a refusal, this much of the rest of the body is read so the client gets the answer cleanly
# (Go's server does the same with 256 KiB); a client still sending beyond it sees the connection close.
DRAIN_BYTES = 4 << 20


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    read = 0
    with contextlib.suppress(Exception):
        async for chunk in chunks:
            read += len(chunk)
            if read > DRAIN_BYTES:
                break


class DownloadRequest(msgspec.Struct):
    file: str = ""
    sha256sum: str = ""


class Enabled(msgspec.Struct):
    enabled: bool


class DownloadController(Controller):
    path = "/api/download"

    @post("/image", role=Role.ADMIN, body=DownloadRequest)
    async def download(self, request: Req) -> Envelope[TransferStatus]:
        body = await body_or_error(request, DownloadRequest)
        audit_note(request, url=redacted(body.file))
        # The transfer's lock file is written first: in a thread, off the event loop.
        transfers = services(request).transfers
        return ok(await asyncio.to_thread(transfers.start_download, body.file, body.sha256sum))

    @post("/image/cancel", role=Role.ADMIN)
    async def cancel(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(services(request).transfers.cancel)
        return ok()

    @get("/image/status", role=Role.ADMIN)
    async def status(self, request: Req) -> Envelope[TransferStatus]:
        return ok(services(request).transfers.status())

    @get("/image/enabled", role=Role.ADMIN)
    async def enabled(self, request: Req) -> Envelope[Enabled]:
        return ok(Enabled(await asyncio.to_thread(services(request).transfers.enabled)))

    @post("/file", role=Role.ADMIN, request_max_body_size=MAX_UPLOAD_BYTES)
    async def upload(self, request: Req) -> Envelope[TransferStatus]:
        """Multipart field ``file`` (an .iso), optional header ``X-SHA256-Sum``; streamed, never held in memory."""
        transfers = services(request).transfers
        chunks = request.stream()
        try:
            await transfers.upload(
                request.headers.get("content-type", ""),
                request.content_length,
                request.headers.get("x-sha256-sum"),
                chunks,
            )
        finally:
            await _drain(chunks)
        return ok(TransferStatus("idle", "", ""))
