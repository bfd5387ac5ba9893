"""``/api/msd`` and its actions over the image library, the gadget's LUN and the transfer rules of
NanoKVM's media routes (one transfer at a time, temp file renamed when complete, paths kept in /data)."""

from __future__ import annotations

import asyncio
import contextlib

from litestar import Controller, Response

from app.api.pikvm import state
from app.api.pikvm.envelope import KvmdError, answer, bad_request
from app.api.pikvm.params import number, optional_flag, text
from app.api.routing import Req, get, post, services
from app.services.auth.accounts import Role
from app.services.kvmd import Drive
from app.services.media.download_guard import redacted

DATA = state.DATA
MAX_UPLOAD_BYTES = 16 << 30
DRAIN_BYTES = 4 << 20
POLL_SECONDS = 0.2


def _image_name(request: Req, name: str) -> str:
    """An image in the library by kvmd's name (relative to the storage), refused if it is not there."""
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise bad_request(f"Invalid image name {name!r}")
    if not services(request).root(f"{DATA}/{name}").is_file():
        raise KvmdError(400, "MsdUnknownImageError", f"The image {name!r} is not in the storage")
    return name


def _connected(request: Req) -> bool:
    return bool(services(request).images.mounted())


class KvmdMsdController(Controller):
    path = "/api/msd"

    @get(["", "/"], role=Role.VIEWER)
    async def msd(self, request: Req) -> Response[bytes]:
        return answer(await asyncio.to_thread(state.msd, services(request)))

    @post("/set_params", role=Role.ADMIN)
    async def set_params(self, request: Req) -> Response[bytes]:
        drive = state.kvmd_state(services(request)).drive
        if _connected(request):
            raise KvmdError(400, "MsdConnectedError", "The drive is connected; disconnect it first")
        image = request.query_params.get("image")
        cdrom = optional_flag(request, "cdrom")
        rw = optional_flag(request, "rw")
        if image is not None:
            drive.image = _image_name(request, image) if image else ""
        if cdrom is not None:
            drive.cdrom = cdrom
        if rw is not None:
            drive.rw = rw
        return answer()

    @post("/set_connected", role=Role.ADMIN)
    async def set_connected(self, request: Req) -> Response[bytes]:
        svc = services(request)
        drive = state.kvmd_state(svc).drive
        connected = optional_flag(request, "connected")
        if connected is None:
            raise bad_request("Missing parameter 'connected'")
        if connected:
            if _connected(request):
                raise KvmdError(400, "MsdConnectedError", "The drive is already connected")
            if not drive.image:
                raise KvmdError(400, "MsdImageNotSelected", "No image selected")
            _image_name(request, drive.image)
            # kvmd: a CD-ROM is always read-only, a flash drive only writable with rw=1.
            await asyncio.to_thread(svc.images.mount, f"{DATA}/{drive.image}", drive.cdrom, not drive.rw)
        else:
            if not _connected(request):
                raise KvmdError(400, "MsdDisconnectedError", "The drive is already disconnected")
            await asyncio.to_thread(svc.images.mount, "", False)
        return answer()

    @post("/write", role=Role.ADMIN, request_max_body_size=MAX_UPLOAD_BYTES)
    async def write(self, request: Req) -> Response[bytes]:
        name = text(request, "image")
        prefix = request.query_params.get("prefix", "")
        full = f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name
        if "/" in full:
            raise bad_request("Images live at the top of the storage: no prefix")
        chunks = request.stream()
        try:
            size = await services(request).transfers.upload_raw(full, request.content_length, chunks)
        finally:
            read = 0
            with contextlib.suppress(Exception):  # what the client still sends after a refusal
                async for chunk in chunks:
                    read += len(chunk)
                    if read > DRAIN_BYTES:
                        break
        return answer({"image": {"name": full, "size": size, "written": size}})

    @post("/write_remote", role=Role.ADMIN)
    async def write_remote(self, request: Req) -> Response[bytes]:
        """A long poll: answers when the download has ended (kvmd: the client must not interrupt it)."""
        url = text(request, "url")
        name = request.query_params.get("image", "")
        timeout = number(request, "timeout", 10, 1, 3600)
        del timeout  # the transfer service's own network timeouts apply
        transfers = services(request).transfers
        await asyncio.to_thread(transfers.start_download, url, "", name)  # writes the lock file
        while transfers.kind == "download":  # noqa: ASYNC110 (the download runs in a thread)
            await asyncio.sleep(POLL_SECONDS)
        final = transfers.status().status
        if final != "success":
            raise KvmdError(400, "MsdDownloadError", f"The download of {redacted(url)} ended: {final}")
        return answer()

    @post("/remove", role=Role.ADMIN)
    async def remove(self, request: Req) -> Response[bytes]:
        svc = services(request)
        name = _image_name(request, text(request, "image"))
        await asyncio.to_thread(svc.images.delete, f"{DATA}/{name}")
        drive = state.kvmd_state(svc).drive
        if drive.image == name:
            drive.image = ""
        return answer()

    @post("/reset", role=Role.ADMIN)
    async def reset(self, request: Req) -> Response[bytes]:
        svc = services(request)
        if _connected(request):
            await asyncio.to_thread(svc.images.mount, "", False)
        state.kvmd_state(svc).drive = Drive()
        return answer()
