"""An incremental multipart/form-data parser: bytes in, events out, nothing buffered beyond a few KiB.

Uploads of many GiB stream through it: part data is handed on as it arrives, only the last
``len(delimiter) - 1`` bytes are held back (they might be the start of the next boundary). Inside a
part's body the common case (a large chunk, a few held-back bytes) copies nothing: the chunk is
searched in place and its data handed on as memoryviews of it, so a chunk fed must not change after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart data."""


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None


@dataclass(frozen=True)
class Data:
    data: bytes | memoryview  # a view of a chunk fed in, or bytes when it spans two chunks


@dataclass(frozen=True)
class PartEnd:
    pass


Event = Part | Data | PartEnd

_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


def boundary_of(content_type: str) -> bytes | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for match in _PARAM.finditer(";" + params):
        if match.group(1).lower() == "boundary":
            value = match.group(2) if match.group(2) is not None else match.group(3)
            if value and len(value) <= 70:
                return value.encode("latin-1", errors="replace")
    return None


def _disposition(headers: bytes) -> Part:
    name: str | None = None
    filename: str | None = None
    for line in headers.decode("utf-8", errors="replace").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() != "content-disposition":
            continue
        for match in _PARAM.finditer(value[value.find(";") :] if ";" in value else ""):
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            raw = re.sub(r"\\(.)", r"\1", raw)
            if match.group(1).lower() == "name":
                name = raw
            elif match.group(1).lower() == "filename":
                filename = raw
    if name is None:
        raise MultipartError("a part without a name")
    return Part(name, filename)


class MultipartParser:
    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")  # the first boundary has no CRLF before it
        self._state = "preamble"

    @property
    def done(self) -> bool:
        return self._state == "end"

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        if self._state == "end":
            return events
        if self._state == "body" and len(self._buffer) < len(self._delimiter):
            rest = self._body(chunk, events)
            if rest is None:
                return events
            self._state = "delimiter"
            self._buffer += rest  # what follows the part: a few bytes, unless more parts come
        else:
            self._buffer += chunk
        return self._parse(events)

    def _body(self, chunk: bytes, events: list[Event]) -> memoryview | None:
        """Inside a body with only the held-back bytes buffered: ``chunk``'s data as views of it, without
        copying it into the buffer. The rest of ``chunk`` after the delimiter when the part ends there."""
        delimiter, buffer = self._delimiter, self._buffer
        keep = len(delimiter) - 1
        view = memoryview(chunk)
        if buffer:  # a delimiter may start in the held-back bytes and end in this chunk
            held = len(buffer)
            joined = bytes(buffer) + chunk[:keep]
            index = joined.find(delimiter)
            if index >= 0:
                if index:
                    events.append(Data(joined[:index]))
                events.append(PartEnd())
                buffer.clear()
                return view[index + len(delimiter) - held :]
        index = chunk.find(delimiter)
        if index >= 0:
            if buffer:
                events.append(Data(bytes(buffer)))
            if index:
                events.append(Data(view[:index]))
            events.append(PartEnd())
            buffer.clear()
            return view[index + len(delimiter) :]
        if len(chunk) < keep:  # a tiny chunk: hold back the last ``keep`` bytes of both
            buffer += chunk
            if len(buffer) > keep:
                events.append(Data(bytes(buffer[:-keep])))
                del buffer[:-keep]
            return None
        if buffer:
            events.append(Data(bytes(buffer)))
        if len(chunk) > keep:
            events.append(Data(view[: len(chunk) - keep]))
        buffer[:] = view[len(chunk) - keep :]
        return None

    def _parse(self, events: list[Event]) -> list[Event]:
        """The general case, on the buffer: preamble, boundaries, headers, and bodies that began in it."""
        buffer, delimiter = self._buffer, self._delimiter
        while True:
            if self._state in ("preamble", "body"):
                index = buffer.find(delimiter)
                if index < 0:
                    keep = len(delimiter) - 1
                    if self._state == "body" and len(buffer) > keep:
                        events.append(Data(bytes(buffer[:-keep])))
                        del buffer[:-keep]
                    elif self._state == "preamble" and len(buffer) > keep:
                        del buffer[:-keep]
                    return events
                if self._state == "body":
                    if index:
                        events.append(Data(bytes(buffer[:index])))
                    events.append(PartEnd())
                del buffer[: index + len(delimiter)]
                self._state = "delimiter"
            elif self._state == "delimiter":
                if len(buffer) < 2:
                    return events
                if buffer[:2] == b"--":
                    self._state = "end"
                    buffer.clear()
                    return events
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > 256:
                        raise MultipartError("garbage after a boundary")
                    return events
                if buffer[:end].strip(b" \t"):
                    raise MultipartError("garbage after a boundary")
                del buffer[: end + 2]
                self._state = "headers"
            elif self._state == "headers":
                if buffer.startswith(b"\r\n"):  # a part with no headers at all
                    raise MultipartError("a part without a name")
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEADER_BYTES:
                        raise MultipartError("part headers too long")
                    return events
                events.append(_disposition(bytes(buffer[:end])))
                del buffer[: end + 4]
                self._state = "body"
            else:
                return events

    def close(self) -> None:
        if self._state != "end":
            raise MultipartError("the body ended inside the multipart data")
