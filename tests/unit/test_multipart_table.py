"""The streaming multipart parser's edge cases, each body cut into two chunks at every offset and fed
byte by byte: the events (data joined) or the error must not depend on where the chunks end.

(tests/unit/test_media.py has the chunkings of one larger body and the zero-copy check.)
"""

from __future__ import annotations

import pytest

from app.services.media.multipart import Data, Event, MultipartError, MultipartParser, Part, PartEnd

B = b"----WebKitFormBoundaryx7KpQ2mZ9vLs4TbN"
FILE = b'Content-Disposition: form-data; name="file"; filename="a.iso"'
NOTE = b'Content-Disposition: form-data; name="note"'


def feed(raw: bytes, cuts: list[int]) -> list[Event]:
    """The events for ``raw`` fed in pieces ending at ``cuts``, adjacent data joined; raises on an error."""
    parser = MultipartParser(B)
    events: list[Event] = []
    start = 0
    for end in [*cuts, len(raw)]:
        events += parser.feed(raw[start:end])
        start = end
    parser.close()
    joined: list[Event] = []
    for event in events:
        if isinstance(event, Data):
            if not event.data:
                continue
            if joined and isinstance(joined[-1], Data):
                joined[-1] = Data(bytes(joined[-1].data) + bytes(event.data))
                continue
            event = Data(bytes(event.data))
        joined.append(event)
    return joined


def chunkings(raw: bytes) -> list[list[int]]:
    """One chunk, two chunks cut at every offset, and one byte at a time."""
    return [[], *([cut] for cut in range(1, len(raw))), list(range(1, len(raw)))]


FILE_PART = [Part("file", "a.iso"), Data(b"payload"), PartEnd()]

# (case, body, the events; None: the body must be refused)
CASES: list[tuple[str, bytes, list[Event] | None]] = [
    ("plain", b"--" + B + b"\r\n" + FILE + b"\r\n\r\npayload\r\n--" + B + b"--\r\n", FILE_PART),
    (
        "preamble with a near miss",  # a boundary counts only at the start of a line
        b"preamble --" + B + b"\r\nmore\r\n--" + B[:-1] + b"\r\n--" + B + b"\r\n" + FILE + b"\r\n\r\npayload"
        b"\r\n--" + B + b"--\r\n",
        FILE_PART,
    ),
    (
        "epilogue ignored",
        b"--" + B + b"\r\n" + FILE + b"\r\n\r\npayload\r\n--" + B + b"--\r\nepilogue\r\n--" + B + b"\r\nx",
        FILE_PART,
    ),
    (
        "no CRLF after the closing boundary",
        b"--" + B + b"\r\n" + FILE + b"\r\n\r\npayload\r\n--" + B + b"--",
        FILE_PART,
    ),
    (
        "transport padding after a boundary",
        b"--" + B + b" \t \r\n" + FILE + b"\r\n\r\npayload\r\n--" + B + b"--\r\n",
        FILE_PART,
    ),
    (
        "CR, LF and CRLF at the data's end",  # only the CRLF right before the delimiter is framing
        b"--" + B + b"\r\n" + FILE + b"\r\n\r\n\r\n\r\r\n\n\r\n\r\n--" + B + b"--\r\n",
        [Part("file", "a.iso"), Data(b"\r\n\r\r\n\n\r\n"), PartEnd()],
    ),
    (
        "near misses in the data",
        b"--" + B + b"\r\n" + FILE + b"\r\n\r\n--" + B + b"\r\n-" + B + b"\n--" + B + b"\r--" + B[:-1] + b"X"
        b"\r\n--" + B + b"--\r\n",
        [Part("file", "a.iso"), Data(b"--" + B + b"\r\n-" + B + b"\n--" + B + b"\r--" + B[:-1] + b"X"), PartEnd()],
    ),
    (
        "two parts and an empty one",
        b"--" + B + b"\r\n" + NOTE + b"\r\n\r\nhi\r\n--" + B + b"\r\n" + FILE + b"\r\n\r\n\r\n--" + B + b"--\r\n",
        [Part("note", None), Data(b"hi"), PartEnd(), Part("file", "a.iso"), PartEnd()],
    ),
    ("empty body", b"", None),
    ("preamble only", b"just text\r\n", None),
    ("missing final boundary", b"--" + B + b"\r\n" + FILE + b"\r\n\r\npayload", None),
    ("cut after a delimiter", b"--" + B + b"\r\n" + FILE + b"\r\n\r\npayload\r\n--" + B, None),
    ("cut after a delimiter's CRLF", b"--" + B + b"\r\n" + FILE + b"\r\n\r\npayload\r\n--" + B + b"\r\n", None),
    ("cut in the headers", b"--" + B + b"\r\n" + FILE + b"\r\n", None),
    ("garbage after a boundary", b"--" + B + b"xyz\r\n" + FILE + b"\r\n\r\npayload\r\n--" + B + b"--", None),
    ("a part without headers", b"--" + B + b"\r\n\r\npayload\r\n--" + B + b"--\r\n", None),
    ("a part without a name", b"--" + B + b"\r\nContent-Type: x/y\r\n\r\npayload\r\n--" + B + b"--\r\n", None),
]


@pytest.mark.parametrize(("case", "raw", "expected"), CASES, ids=[case for case, _, _ in CASES])
def test_every_chunking(case: str, raw: bytes, expected: list[Event] | None) -> None:
    for cuts in chunkings(raw):
        if expected is None:
            with pytest.raises(MultipartError):
                feed(raw, cuts)
        else:
            assert feed(raw, cuts) == expected, (case, cuts)


def test_three_chunks_around_the_closing_delimiter() -> None:
    """The held-back tail and the next chunk: every pair of cuts across the delimiter and its CRLF."""
    raw = b"--" + B + b"\r\n" + FILE + b"\r\n\r\n" + b"x" * 100 + b"\r\n--" + B + b"--\r\n"
    expected = [Part("file", "a.iso"), Data(b"x" * 100), PartEnd()]
    start = raw.index(b"x" * 100) + 100 - len(B)
    for first in range(start, len(raw)):
        for second in range(first + 1, len(raw)):
            assert feed(raw, [first, second]) == expected, (first, second)


def test_a_body_that_never_ends_its_headers_is_refused_early() -> None:
    parser = MultipartParser(B)
    parser.feed(b"--" + B + b"\r\n")
    with pytest.raises(MultipartError, match="headers too long"):
        for _ in range(40):
            parser.feed(b"X-Filler: " + b"y" * 1000 + b"\r\n")
