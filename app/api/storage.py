"""``/api/storage/*``: the image library and the mounted image (spec 4.5, 7.5). All admin."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import msgspec
from litestar import Controller

from app.api.audit import audit_note
from app.api.envelope import Envelope, ok, read_body
from app.api.routing import Req, get, post, services
from app.errors import InvalidArgument
from app.services.auth.accounts import Role
from app.validation import InvalidInput

S = TypeVar("S", bound=msgspec.Struct)


async def body_or_error(request: Req, struct: type[S], code: int = -1, message: str = "invalid arguments") -> S:
    """The request body, or the endpoint's own "invalid arguments" answer (NanoKVM's exact text)."""
    try:
        return await read_body(request, struct)
    except InvalidInput:
        raise InvalidArgument(message, code=code) from None


class Images(msgspec.Struct):
    files: list[str] | None


class MountedImage(msgspec.Struct):
    file: str


class CdRom(msgspec.Struct):
    cdrom: int


class MountRequest(msgspec.Struct):
    # {} unmounts too (the nanokvm client and the MCP server send it).
    file: str = ""
    cdrom: bool = False


class DeleteRequest(msgspec.Struct):
    file: str = ""


class StorageController(Controller):
    path = "/api/storage"

    @get("/image", role=Role.ADMIN)
    async def images(self, request: Req) -> Envelope[Images]:
        files = await asyncio.to_thread(services(request).images.images)
        return ok(Images(files))

    # The plural form is what web builds before Oct 2024 and curl guides call (quirk 25).
    @get(["/image/mounted", "/images/mounted"], role=Role.ADMIN)
    async def mounted(self, request: Req) -> Envelope[MountedImage]:
        return ok(MountedImage(services(request).images.mounted()))

    @post("/image/mount", role=Role.ADMIN, body=MountRequest)
    async def mount(self, request: Req) -> Envelope[None]:
        body = await body_or_error(request, MountRequest)
        audit_note(request, file=body.file, cdrom=body.cdrom)
        await asyncio.to_thread(services(request).images.mount, body.file, body.cdrom)
        return ok()

    @get("/cdrom", role=Role.ADMIN)
    async def cdrom(self, request: Req) -> Envelope[CdRom]:
        return ok(CdRom(services(request).images.cdrom()))

    @post("/image/delete", role=Role.ADMIN, body=DeleteRequest)
    async def delete(self, request: Req) -> Envelope[None]:
        body = await body_or_error(request, DeleteRequest)
        audit_note(request, file=body.file)
        await asyncio.to_thread(services(request).images.delete, body.file)
        return ok()
