"""A streaming multipart/form-data reader: file parts go to disk as they arrive, never all in memory.

(Litestar's form parser reads the whole body first; an update bundle may be 1 GiB on a 256 MB board.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

HEADERS_MAX = 8 << 10
PARTS_MAX = 8


class MultipartError(Exception):
    pass


@dataclass
class Part:
    name: str
    filename: str | None


# (the part) -> a writer for its bytes; the writer raises to refuse (e.g. over its size limit).
Sink = Callable[[bytes], None]


def boundary_of(content_type: str) -> bytes:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise MultipartError("expected multipart/form-data")
    match = re.search(r'boundary="?([^";]+)"?', params)
    if match is None or len(match.group(1)) > 70:  # RFC 2046: 1-70 characters
        raise MultipartError("multipart boundary missing")
    return match.group(1).encode("latin-1")


def _part(headers: bytes) -> Part:
    text = headers.decode("utf-8", "replace")
    for line in text.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            params = dict(re.findall(r';\s*([A-Za-z*]+)="?([^";]*)"?', value))
            if "name" not in params:
                break
            return Part(params["name"], params.get("filename"))
    raise MultipartError("a part without a name")


async def read_multipart(stream: AsyncIterator[bytes], boundary: bytes, open_part: Callable[[Part], Sink]) -> None:
    delimiter = b"\r\n--" + boundary
    buffer = bytearray(b"\r\n")  # so the first boundary looks like every other one
    chunks = stream.__aiter__()
    ended = False

    async def fill() -> bool:
        nonlocal ended
        if ended:
            return False
        try:
            buffer.extend(await chunks.__anext__())
        except StopAsyncIteration:
            ended = True
            return False
        return True

    # the preamble, up to the first boundary
    while (start := buffer.find(delimiter)) < 0:
        if len(buffer) > HEADERS_MAX:
            raise MultipartError("no multipart boundary")
        if not await fill():
            raise MultipartError("no multipart boundary")
    del buffer[: start + len(delimiter)]
    parts = 0
    while True:
        while len(buffer) < 2 and await fill():
            pass
        if buffer[:2] == b"--":
            return  # the closing boundary
        if buffer[:2] != b"\r\n":
            raise MultipartError("malformed multipart boundary")
        del buffer[:2]
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > HEADERS_MAX or not await fill():
                raise MultipartError("malformed multipart part headers")
        parts += 1
        if parts > PARTS_MAX:
            raise MultipartError("too many multipart parts")
        sink = open_part(_part(bytes(buffer[:end])))
        del buffer[: end + 4]
        while True:
            found = buffer.find(delimiter)
            if found >= 0:
                sink(bytes(buffer[:found]))
                del buffer[: found + len(delimiter)]
                break
            keep = len(delimiter) - 1  # a delimiter may straddle two chunks
            if len(buffer) > keep:
                sink(bytes(buffer[:-keep]))
                del buffer[:-keep]
            if not await fill():
                raise MultipartError("the upload ended early")
