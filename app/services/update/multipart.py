"""Streaming multipart/form-data for update uploads: each part's bytes go to a sink as they arrive.

(Litestar's form parser reads the whole body first; an update bundle may be 1 GiB on a 256 MB board.)
The parsing is the image uploads' incremental parser; this adds what the update route needs: a
callback per part and a limit on the number of parts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from app.services.file_writer import Chunk
from app.services.media import multipart
from app.services.media.multipart import Data, MultipartError, Part, PartEnd

__all__ = ["MultipartError", "Part", "Sink", "boundary_of", "read_multipart"]

PARTS_MAX = 8

# (the part) -> a writer for its bytes; the writer raises to refuse (e.g. over its size limit). The bytes
# are views of the body's chunks, not copies: a writer keeps them as they are or copies what it keeps.
Sink = Callable[[Chunk], None]


def boundary_of(content_type: str) -> bytes:
    boundary = multipart.boundary_of(content_type)
    if boundary is None:
        raise MultipartError("expected multipart/form-data with a boundary")
    return boundary


async def read_multipart(
    stream: AsyncIterator[bytes],
    boundary: bytes,
    open_part: Callable[[Part], Sink],
    after_chunk: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Feed the body to the parts' sinks; ``after_chunk`` is awaited after each chunk of the body (the
    caller writes what its sinks gathered, off the event loop)."""
    parser = multipart.MultipartParser(boundary)
    sink: Sink | None = None
    parts = 0
    async for chunk in stream:
        for event in parser.feed(chunk):
            if isinstance(event, Part):
                parts += 1
                if parts > PARTS_MAX:
                    raise MultipartError("too many multipart parts")
                sink = open_part(event)
            elif isinstance(event, Data) and sink is not None:
                sink(event.data)
            elif isinstance(event, PartEnd):
                sink = None
        if after_chunk is not None:
            await after_chunk()
        if parser.done:
            return
    parser.close()  # raises: the body ended inside the multipart data
