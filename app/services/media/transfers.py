"""Image transfers into /data (spec 4.6): browser upload and download by URL.

One transfer at a time, held by the lock file ``/run/nanokvm-transfer-in-progress`` (shared with
offline updates; removed at server start). Every transfer writes a temp file in /data, named so
that the image list never shows it, and renames it to its name only once it is complete and
verified. A failed, cancelled or refused transfer deletes its temp file; one interrupted by a crash
or power loss leaves a temp file that the next start deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import http.client
import logging
import os
import re
import socket
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

import msgspec

from app import validators
from app.board.network import is_own_address
from app.errors import Busy, Conflict, DomainError, Failed, InvalidArgument
from app.paths import DeviceRoot
from app.services.file_writer import Chunk, FileWriter
from app.services.media import iso
from app.services.media.download_guard import (
    GuardedHTTPConnection,
    GuardedHTTPSConnection,
    OwnAddress,
    Refused,
    basic_auth,
    literal_refusal,
    redacted,
)
from app.services.media.multipart import Data, MultipartError, MultipartParser, Part, PartEnd, boundary_of

log = logging.getLogger(__name__)

DATA = "/data"
LOCK = "/run/nanokvm-transfer-in-progress"
DOWNLOAD_PREFIX = ".nanokvm-download-"
UPLOAD_PREFIX = ".nanokvm-upload-"
NAME = re.compile(r"^[A-Za-z0-9._-]+$")
SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")
IOV_MAX = 1024  # buffers per writev (Linux's limit)
HEAD_BYTES = iso.MAGIC_OFFSET + len(iso.MAGIC)  # what the ISO 9660 check needs of the start
READ_CHUNK = 1 << 20
HTTP_TIMEOUT_SECONDS = 30.0
MAX_REDIRECTS = 5
CANCEL_WAIT_SECONDS = 10.0

Status = Literal["idle", "in_progress", "success", "failed", "checksum_failed"]


class TransferStatus(msgspec.Struct):
    status: Status
    file: str
    percentage: str


class _Cancelled(Exception):
    pass


class _Failed(Exception):
    pass


def _disk_error(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on device"
    return err.strerror or str(err)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _TempImage:
    """A temp file in /data, hashed and counted as it is written; ``commit`` renames it into place.

    Writes (an upload's writer thread, or the download's), the commit and the discard run off the event
    loop and take turns (``_turn``): a discard while a batch is still being written waits for it, and
    nothing is written after the discard.
    """

    def __init__(self, directory: Path, prefix: str, want_sha256: str | None) -> None:
        self.fd, name = tempfile.mkstemp(prefix=prefix, dir=directory)
        self.path = Path(name)
        self.sha256 = hashlib.sha256() if want_sha256 else None
        self.want_sha256 = want_sha256.lower() if want_sha256 else None
        self.head = bytearray()  # the first bytes, up to the ISO 9660 magic
        self.size = 0
        self._turn = threading.Lock()
        self._closed = False

    def write(self, data: Chunk) -> None:
        self.write_all([data])

    def write_all(self, parts: list[Chunk]) -> None:
        """Hash and write ``parts`` in one pass: one writev per IOV_MAX parts, no joining copy."""
        with self._turn:
            if self._closed:
                raise OSError(errno.EBADF, "the upload was discarded")
            for part in parts:
                if len(self.head) < HEAD_BYTES:
                    self.head += part[: HEAD_BYTES - len(self.head)]
                if self.sha256 is not None:
                    self.sha256.update(part)  # hashlib lets go of the GIL for large buffers
            _write_all(self.fd, parts)
            self.size += sum(map(len, parts))

    def checksum_ok(self) -> bool:
        return self.sha256 is None or self.sha256.hexdigest() == self.want_sha256

    def commit(self, target: Path) -> None:
        with self._turn:
            os.fsync(self.fd)
            self._close()
            self.path.replace(target)
        _fsync_dir(target.parent)

    def discard(self) -> None:
        with self._turn:
            self._close()
            self.path.unlink(missing_ok=True)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True  # first: a failing close must not leave the number open to a later write
            with contextlib.suppress(OSError):
                os.close(self.fd)


def _write_all(fd: int, parts: list[Chunk]) -> None:
    """Write every byte of ``parts``: writev may stop short (a full disk says ENOSPC on the next call)."""
    views = [memoryview(part) for part in parts]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + IOV_MAX])
        if written == 0:
            raise OSError(errno.EIO, "the disk took no bytes")
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


async def _discard(temp: _TempImage | None, writer: FileWriter | None) -> None:
    """After a failure: the writer thread stops and the temp file goes (once a write in hand is done)."""
    if writer is not None:
        writer.close()
    if temp is not None:
        await asyncio.to_thread(temp.discard)


@dataclass
class _Upload:
    """One browser upload's progress through its body."""

    sha256sum: str | None
    state: Literal["skip", "file", "done"] = "skip"  # skip: parts before the first ``file`` part
    target: Path | None = None
    temp: _TempImage | None = None
    writer: FileWriter | None = None


class Transfers:
    def __init__(self, root: DeviceRoot, own_address: OwnAddress = is_own_address) -> None:
        self.root = root
        self.own_address = own_address  # downloads never connect to the board's own addresses
        self.data = root(DATA)
        self.lock_file = root(LOCK)
        self._mutex = threading.Lock()
        self._status: Status = "idle"
        self._file = ""
        self._done = 0
        self._total: int | None = None
        self._kind: Literal["", "upload", "download"] = ""
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._cleanup()

    def _cleanup(self) -> None:
        """At start: nothing can be in progress, so the lock and any temp file are left-overs."""
        self.lock_file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            for entry in self.data.iterdir():
                if entry.name.startswith((DOWNLOAD_PREFIX, UPLOAD_PREFIX)) and entry.is_file():
                    entry.unlink(missing_ok=True)

    # --- state -----------------------------------------------------------------------------

    def status(self) -> TransferStatus:
        with self._mutex:
            percentage = ""
            if self._status == "in_progress" and self._total:
                percentage = f"{min(self._done / self._total, 1.0) * 100:.2f}%"
            return TransferStatus(self._status, self._file, percentage)

    @property
    def kind(self) -> str:
        """ "upload", "download" or "" (none running)."""
        return self._kind

    @property
    def done(self) -> int:
        return self._done

    @property
    def total(self) -> int | None:
        return self._total

    def enabled(self) -> bool:
        """Whether /data takes new files (NanoKVM creates /data/.testfile)."""
        probe = self.data / ".testfile"
        try:
            probe.open("wb").close()
        except OSError:
            return False
        probe.unlink(missing_ok=True)
        return True

    def _acquire(self, label: str) -> None:
        try:
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise Busy("download in progress") from None
        except OSError:
            raise Failed("failed to create lock file") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(label)

    def _release(self) -> None:
        self.lock_file.unlink(missing_ok=True)

    def _progress(self, count: int) -> None:
        # One writer at a time (the transfer lock); an int add under the GIL, read by status().
        self._done += count

    def _begin(self, kind: Literal["upload", "download"], file: str, total: int | None) -> None:
        with self._mutex:
            self._kind, self._status, self._file, self._done, self._total = kind, "in_progress", file, 0, total

    def _finish(self, status: Status) -> None:
        with self._mutex:
            self._kind, self._status, self._file, self._done, self._total = "", status, "", 0, None

    # --- browser upload --------------------------------------------------------------------

    async def upload(
        self,
        content_type: str,
        content_length: int | None,
        sha256sum: str | None,
        chunks: AsyncIterator[bytes],
    ) -> None:
        """Stream a multipart upload to /data/<filename>; disk work runs in worker threads."""
        sha256sum = (sha256sum or "").strip() or None  # NanoKVM's page always sends the header, empty = none
        if sha256sum is not None and not SHA256.match(sha256sum):
            raise InvalidArgument("invalid sha256sum")
        boundary = boundary_of(content_type)
        if boundary is None:
            raise InvalidArgument("invalid multipart data")
        await asyncio.to_thread(self._acquire, "upload")  # the lock file is written: not on the loop
        self._cancel.clear()
        upload = _Upload(sha256sum)
        try:
            self._begin("upload", "", content_length)
            await self._receive(MultipartParser(boundary), chunks, upload)
            temp = upload.temp
            if upload.writer is None or temp is None or upload.target is None:
                raise InvalidArgument("no filename")
            await upload.writer.finish()
            if not iso.has_iso_magic(bytes(temp.head)):
                raise InvalidArgument("file is not a valid ISO image")
            if not temp.checksum_ok():
                raise InvalidArgument("checksum mismatch")
            await asyncio.to_thread(self._commit, temp, upload.target)
            upload.temp = None
        except DomainError:
            raise
        except OSError as err:
            raise Failed(f"write failed: {_disk_error(err)}") from None
        except Exception as err:  # the client went away, the body was cut short or too large
            raise Failed(f"failed to read part: {err}") from None
        finally:
            await _discard(upload.temp, upload.writer)
            self._finish("idle")
            self._release()

    async def upload_raw(self, filename: str, content_length: int | None, chunks: AsyncIterator[bytes]) -> int:
        """Stream a raw request body (kvmd's ``/api/msd/write``) to /data/<filename>; the size written.

        The same rules as the browser upload: a plain file name, never over an existing image, a temp
        file renamed only when complete (an .iso must carry the ISO 9660 magic; an .img is a raw disk)."""
        target = self._raw_target(filename)
        await asyncio.to_thread(self._acquire, "upload")  # the lock file is written: not on the loop
        self._cancel.clear()
        temp: _TempImage | None = None
        writer: FileWriter | None = None
        try:
            self._begin("upload", target.name, content_length)
            temp = await asyncio.to_thread(_TempImage, self.data, UPLOAD_PREFIX, None)
            writer = FileWriter(temp.write_all, "upload-writer")
            async for chunk in chunks:
                if self._cancel.is_set():
                    raise Failed("upload cancelled")
                self._progress(len(chunk))
                writer.add(chunk)
                if writer.full:
                    await writer.send()
            await writer.finish()
            if content_length is not None and temp.size != content_length:
                raise Failed(f"upload cut short: got {temp.size} of {content_length} bytes")
            if target.name.lower().endswith(".iso") and not iso.has_iso_magic(bytes(temp.head)):
                raise InvalidArgument("file is not a valid ISO image")
            await asyncio.to_thread(self._commit, temp, target)
            size, temp = temp.size, None
            return size
        except DomainError:
            raise
        except OSError as err:
            raise Failed(f"write failed: {_disk_error(err)}") from None
        except Exception as err:  # the client went away, the body was cut short or too large
            raise Failed(f"failed to read the body: {err}") from None
        finally:
            await _discard(temp, writer)
            self._finish("idle")
            self._release()

    def _raw_target(self, filename: str) -> Path:
        if not filename or ".." in filename or not NAME.match(filename):
            raise InvalidArgument("invalid filename")
        if not filename.lower().endswith((".iso", ".img")):
            raise InvalidArgument("only .iso and .img files allowed")
        target = self.data / filename
        if target.exists():
            raise Conflict("an image of that name exists already")
        return target

    async def _receive(self, parser: MultipartParser, chunks: AsyncIterator[bytes], upload: _Upload) -> None:
        """Feed the body to the parser and the first ``file`` part's data to the writer, to the body's end."""
        async for chunk in chunks:
            if self._cancel.is_set():  # POST /api/download/image/cancel: a browser's abort may lag
                raise Failed("upload cancelled")
            self._progress(len(chunk))
            try:
                events = parser.feed(chunk)
            except MultipartError:
                raise InvalidArgument("invalid multipart data") from None
            for event in events:
                if isinstance(event, Data):
                    if upload.state == "file" and upload.writer is not None:
                        upload.writer.add(event.data)
                elif isinstance(event, Part):
                    if event.name == "file" and upload.state == "skip":
                        await self._open_upload(upload, event.filename)
                elif isinstance(event, PartEnd) and upload.state == "file":
                    upload.state = "done"
            if upload.writer is not None and upload.writer.full:
                await upload.writer.send()
            if parser.done:
                return
        raise Failed("failed to read part")

    async def _open_upload(self, upload: _Upload, filename: str | None) -> None:
        upload.target = self._upload_target(filename)
        with self._mutex:
            self._file = upload.target.name
        upload.temp = await asyncio.to_thread(_TempImage, self.data, UPLOAD_PREFIX, upload.sha256sum)
        upload.writer = FileWriter(upload.temp.write_all, "upload-writer")
        upload.state = "file"

    def _upload_target(self, filename: str | None) -> Path:
        if not filename:
            raise InvalidArgument("no filename")
        if ".." in filename or not NAME.match(filename):
            raise InvalidArgument("invalid filename")
        if not filename.lower().endswith(".iso"):
            raise InvalidArgument("only .iso files allowed")
        return self.data / filename

    @staticmethod
    def _commit(temp: _TempImage, target: Path) -> None:
        try:
            temp.commit(target)
        except OSError as err:
            raise Failed(f"write failed: {_disk_error(err)}") from None

    # --- download by URL -------------------------------------------------------------------

    def start_download(self, url: str, sha256sum: str, name: str = "") -> TransferStatus:
        """``name``: the image's name in /data (kvmd's ``image=``); "" = the URL's last path segment."""
        if not url:
            raise InvalidArgument("invalid arguments")
        sha = sha256sum.strip()
        if sha and not SHA256.match(sha):
            raise InvalidArgument("invalid sha256sum")
        target = self._download_target(url)
        if name:
            target = self._raw_target(name)
        shown = redacted(url)  # what the status, the lock file and the log say: no credentials
        self._acquire(shown)
        try:
            self._cancel.clear()
            self._begin("download", shown, None)
            self._thread = threading.Thread(
                target=self._download, args=(url, target, sha or None), name="image-download", daemon=True
            )
            self._thread.start()
        except BaseException:
            self._finish("idle")
            self._release()
            raise
        return TransferStatus("in_progress", shown, "")

    def _download_target(self, url: str) -> Path:
        parts = validators.http_url(url, message="invalid url")
        name = unquote(parts.path.rsplit("/", 1)[-1])
        if not name or name in (".", "..") or not NAME.match(name):
            raise InvalidArgument("invalid url")
        # A host written as a refused address is told at once; a name is checked when it resolves.
        reason = literal_refusal(parts.hostname or "", self.own_address)
        if reason is not None:
            raise InvalidArgument(reason)
        return self.data / name

    def cancel(self) -> None:
        """Ends the running download, or an upload at its next chunk (ours: NanoKVM cancels downloads only)."""
        thread = self._thread
        with self._mutex:
            if self._kind == "upload":
                self._cancel.set()
                return
            running = self._kind == "download" and thread is not None and thread.is_alive()
        if not running or thread is None:
            raise Conflict("no cancellable download in progress")
        self._cancel.set()
        connection = self._connection
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on a stalled server
        thread.join(CANCEL_WAIT_SECONDS)
        if thread.is_alive():
            raise Failed("cancel download timed out")

    def _open(self, url: str) -> http.client.HTTPResponse:
        """The answer to GET ``url``, after redirects; every hop connects through the download guard."""
        first = urlsplit(url)
        authorization = basic_auth(url)
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _Failed(f"refusing to follow {parts.scheme or 'a relative'} URL")
            guarded = GuardedHTTPSConnection if parts.scheme == "https" else GuardedHTTPConnection
            connection = guarded(parts.hostname, parts.port, HTTP_TIMEOUT_SECONDS, self.own_address)
            self._connection = connection
            if self._cancel.is_set():
                raise _Cancelled
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers = {"User-Agent": "nanokvm-py", "Accept-Encoding": "identity"}
            # The URL's credentials go to its own origin only, never to where a redirect points.
            if authorization and (parts.scheme, parts.hostname, parts.port) == (
                first.scheme,
                first.hostname,
                first.port,
            ):
                headers["Authorization"] = authorization
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("location"):
                url = urljoin(url, response.getheader("location", ""))
                response.close()
                connection.close()
                continue
            if response.status != 200:
                raise _Failed(f"HTTP {response.status}")
            return response
        raise _Failed("too many redirects")

    def _download(self, url: str, target: Path, sha256sum: str | None) -> None:
        temp: _TempImage | None = None
        status: Status = "failed"
        try:
            response = self._open(url)
            length = response.getheader("content-length")
            with self._mutex:
                self._total = int(length) if length and length.isdigit() and int(length) > 0 else None
            temp = _TempImage(self.data, DOWNLOAD_PREFIX, sha256sum)
            while True:
                if self._cancel.is_set():
                    raise _Cancelled
                chunk = response.read1(READ_CHUNK)
                if not chunk:
                    break
                temp.write(chunk)
                self._progress(len(chunk))
            if self._cancel.is_set():
                raise _Cancelled
            total = self._total
            if total is not None and temp.size != total:
                raise _Failed(f"got {temp.size} of {total} bytes")
            if target.name.lower().endswith(".iso") and not iso.has_iso_magic(bytes(temp.head)):
                raise _Failed("not an ISO 9660 image")  # an error page or a JSON reply, as uploads check
            if not temp.checksum_ok():
                status = "checksum_failed"
                return
            temp.commit(target)
            temp = None
            status = "success"
        except _Cancelled:
            status = "idle"
        except Refused as err:
            log.warning("download of %s refused: %s", redacted(url), err)
        except OSError as err:
            status = "idle" if self._cancel.is_set() else "failed"
            if status == "failed":
                log.warning("download of %s failed: %s", redacted(url), _disk_error(err))
        except (_Failed, http.client.HTTPException, ValueError) as err:
            status = "idle" if self._cancel.is_set() else "failed"
            log.warning("download of %s failed: %s", redacted(url), err)
        finally:
            if temp is not None:
                temp.discard()
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()
            self._finish(status)
            self._release()
