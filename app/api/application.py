"""``/api/application/*`` (spec 4.8): version, preview channel, update server, signed updates. All admin."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import shutil
from pathlib import Path
from typing import BinaryIO

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, get, post, services
from app.errors import InvalidArgument
from app.services.auth.accounts import Role
from app.services.file_writer import Chunk, FileWriter
from app.services.update import signing
from app.services.update.bundle import NAME_RE, PACKED_MAX
from app.services.update.multipart import MultipartError, Part, Sink, boundary_of, read_multipart
from app.services.update.service import Enabled, UpdateServer, UpdateService, Version

UPLOAD_MAX = PACKED_MAX + (1 << 20)  # the bundle, its signature and the multipart framing


class PreviewRequest(msgspec.Struct):
    enable: bool


class UpdateServerRequest(msgspec.Struct):
    enabled: bool
    url: str = ""


def _updates(request: Req) -> UpdateService:
    return services(request).updates


class _Upload:
    """Where the offline upload's parts go: the bundle to a file (size-limited), the signature to memory.

    The bundle's bytes are hashed and written by a writer thread of the upload's own
    (app/services/file_writer.py): up to 1 GiB never touches the disk from the loop."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.name: str | None = None
        self.path: Path | None = None
        self.signature: bytes | None = None
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._out: BinaryIO | None = None
        self._writer: FileWriter | None = None

    def open_part(self, part: Part) -> Sink:
        if part.name == "file":
            if self.name is not None:
                raise MultipartError("more than one file")
            name = Path(part.filename or "").name
            if not NAME_RE.fullmatch(name):
                raise MultipartError("the file must be named nanokvm_X.Y.Z.tar.gz")
            self.name = name
            self.path = self.work / name
            writer = self._writer = FileWriter(self._write, "update-writer")

            def write(data: Chunk) -> None:
                self.size += len(data)
                if self.size > PACKED_MAX:
                    raise MultipartError("the bundle is larger than 1 GiB")
                writer.add(data)

            return write
        if part.name == "signature":
            self.signature = b""

            def keep(data: Chunk) -> None:
                assert self.signature is not None
                if len(self.signature) + len(data) > signing.SIGNATURE_MAX:
                    raise MultipartError("the signature is too large")
                self.signature += data

            return keep
        return lambda data: None  # other fields are ignored, as gin does

    def _write(self, batch: list[Chunk]) -> None:
        """In the writer thread: hash and write one batch (the file is opened by the first)."""
        if self._out is None:
            assert self.path is not None
            self._out = self.path.open("wb")
        for data in batch:
            self.sha256.update(data)
            self._out.write(data)

    async def flush(self, final: bool = False) -> None:
        """Have the writer write what it gathered once it is a batch (or the body has ended); a write's
        error is raised here. At the end the file exists, even when empty."""
        writer = self._writer
        if writer is None:
            return
        if not final:
            if writer.full:
                await writer.send()
            return
        await writer.finish()
        if self._out is None:  # an empty file is a file
            await asyncio.to_thread(self._write, [])

    async def close(self) -> None:
        writer = self._writer
        if writer is not None:  # after a failure: the write in hand ends first, its error is not news
            writer.close()
            await asyncio.to_thread(writer.join)
        if self._out is not None:
            await asyncio.to_thread(self._out.close)


class ApplicationController(Controller):
    path = "/api/application"

    @get("/version", role=Role.ADMIN)
    async def version(self, request: Req) -> Envelope[Version]:
        return ok(await asyncio.to_thread(_updates(request).version))

    @get("/preview", role=Role.ADMIN)
    async def preview(self, request: Req) -> Envelope[Enabled]:
        return ok(_updates(request).preview())

    @post("/preview", role=Role.ADMIN, body=PreviewRequest)
    async def set_preview(self, request: Req) -> Envelope[None]:
        enable = (await parse_body(request, PreviewRequest)).enable
        await asyncio.to_thread(_updates(request).set_preview, enable)
        return ok()

    @get("/update-server", role=Role.ADMIN)
    async def update_server(self, request: Req) -> Envelope[UpdateServer]:
        return ok(_updates(request).server())

    @post("/update-server", role=Role.ADMIN, body=UpdateServerRequest)
    async def set_update_server(self, request: Req) -> Envelope[UpdateServer]:
        body = await parse_body(request, UpdateServerRequest)
        return ok(await asyncio.to_thread(_updates(request).set_server, body.enabled, body.url))

    @post("/update", role=Role.ADMIN)
    async def update(self, request: Req) -> Envelope[None]:
        await asyncio.to_thread(_updates(request).update)
        return ok()

    @post("/update/offline", role=Role.ADMIN, request_max_body_size=UPLOAD_MAX)
    async def update_offline(self, request: Req) -> Envelope[None]:
        """Multipart: ``file`` (nanokvm_X.Y.Z.tar.gz) and ``signature`` (its .sig); optional header
        ``X-SHA256-Checksum``."""
        updates = _updates(request)
        checksum = request.headers.get("x-sha256-checksum", "").strip().lower()
        if checksum and not re.fullmatch(r"[0-9a-f]{64}", checksum):
            raise InvalidArgument("invalid X-SHA256-Checksum")
        try:
            boundary = boundary_of(request.headers.get("content-type", ""))
        except MultipartError as err:
            raise InvalidArgument(str(err)) from None
        with updates.exclusive(), updates.transfer():
            work = await asyncio.to_thread(updates.workspace)
            upload = _Upload(work)
            try:
                try:
                    await read_multipart(request.stream(), boundary, upload.open_part, upload.flush)
                    await upload.flush(final=True)
                except MultipartError as err:
                    raise InvalidArgument(str(err)) from None
                finally:
                    await upload.close()
                if upload.path is None or upload.name is None:
                    raise InvalidArgument("no file uploaded")
                if checksum and not hmac.compare_digest(checksum, upload.sha256.hexdigest()):
                    raise InvalidArgument("checksum mismatch")
                await asyncio.to_thread(updates.install, upload.path, upload.name, upload.signature)
            finally:
                await asyncio.to_thread(shutil.rmtree, work, True)
        return ok()
