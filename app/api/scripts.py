"""User scripts and autostart files (spec 4.2), administrators only as upstream.

``/api/vm/script*`` lists, uploads (multipart field ``file``), runs and deletes ``.sh``/``.py`` files;
``/api/vm/autostart*`` lists, reads, writes and deletes the files the firmware runs at boot. Names are
plain file names (see ``app.services.system.scripts``); anything else is refused with the route's
own code before a path is built from it.
"""

from __future__ import annotations

import asyncio
from typing import Literal, TypeVar

import msgspec
from litestar import Controller
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException

from app.api.envelope import Envelope, ok, read_body
from app.api.routing import Req, delete, get, post, services
from app.errors import InvalidArgument
from app.services.auth.accounts import Role
from app.services.system.scripts import Files, Scripts
from app.validation import InvalidInput

S = TypeVar("S", bound=msgspec.Struct)


class UploadedScript(msgspec.Struct):
    file: str


class RunScript(msgspec.Struct):
    name: str
    type: Literal["foreground", "background"]


class RunLog(msgspec.Struct):
    log: str


class ScriptName(msgspec.Struct):
    name: str


class AutostartContent(msgspec.Struct):
    content: str


async def _body(request: Req, struct: type[S]) -> S:
    try:
        return await read_body(request, struct)
    except InvalidInput as err:
        raise InvalidArgument(f"invalid arguments: {err}") from None


def _scripts(request: Req) -> Scripts:
    scripts: Scripts = services(request).scripts
    return scripts


class ScriptsController(Controller):
    path = "/api/vm"

    @get("/script", role=Role.ADMIN)
    async def scripts(self, request: Req) -> Envelope[Files]:
        return ok(await asyncio.to_thread(_scripts(request).scripts))

    @post("/script/upload", role=Role.ADMIN)
    async def upload(self, request: Req) -> Envelope[UploadedScript]:
        try:
            form = await request.form()
        except HTTPException:
            raise InvalidArgument("bad request") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidArgument("bad request")
        data = await upload.read()
        name = await asyncio.to_thread(_scripts(request).upload, upload.filename or "", data)
        return ok(UploadedScript(name))

    @post("/script/run", role=Role.ADMIN, body=RunScript)
    async def run(self, request: Req) -> Envelope[RunLog]:
        body = await _body(request, RunScript)
        return ok(RunLog(await asyncio.to_thread(_scripts(request).run, body.name, body.type)))

    @delete("/script", role=Role.ADMIN, body=ScriptName)
    async def delete_script(self, request: Req) -> Envelope[None]:
        body = await _body(request, ScriptName)
        await asyncio.to_thread(_scripts(request).delete, body.name)
        return ok()

    @get("/autostart", role=Role.ADMIN)
    async def autostart(self, request: Req) -> Envelope[Files]:
        return ok(await asyncio.to_thread(_scripts(request).autostart))

    @get("/autostart/{name:str}", role=Role.ADMIN)
    async def read_autostart(self, request: Req, name: str) -> Envelope[str]:
        return ok(await asyncio.to_thread(_scripts(request).read_autostart, name))

    @post("/autostart/{name:str}", role=Role.ADMIN, body=AutostartContent)
    async def write_autostart(self, request: Req, name: str) -> Envelope[str]:
        body = await _body(request, AutostartContent)
        return ok(await asyncio.to_thread(_scripts(request).write_autostart, name, body.content))

    @delete("/autostart/{name:str}", role=Role.ADMIN)
    async def delete_autostart(self, request: Req, name: str) -> Envelope[None]:
        await asyncio.to_thread(_scripts(request).delete_autostart, name)
        return ok()
