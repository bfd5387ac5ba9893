"""Media building blocks: the streaming multipart parser, ISO 9660 facts, what the USB host sees."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from app.board.gadget import Gadget
from app.paths import DeviceRoot
from app.services.media import iso
from app.services.media.hostview import host_view
from app.services.media.multipart import Data, MultipartError, MultipartParser, Part, PartEnd, boundary_of

BOUNDARY = b"----formdata-abc"


def body(*parts: tuple[bytes, bytes]) -> bytes:
    out = b""
    for headers, data in parts:
        out += b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
    return b"preamble\r\n" + out + b"--" + BOUNDARY + b"--\r\nepilogue"


def parse(raw: bytes, sizes: list[int]) -> list[object]:
    parser = MultipartParser(BOUNDARY)
    events: list[object] = []
    position = 0
    for size in sizes:
        events += parser.feed(raw[position : position + size])
        position += size
    events += parser.feed(raw[position:])
    parser.close()
    merged: list[object] = []
    for event in events:  # data arrives in pieces; join them to compare
        if isinstance(event, Data) and merged and isinstance(merged[-1], Data):
            merged[-1] = Data(bytes(merged[-1].data) + bytes(event.data))
        else:
            merged.append(event)
    return merged


def test_parts_in_any_chunking() -> None:
    payload = bytes(random.Random(1).randrange(256) for _ in range(50_000)) + b"\r\n--" + BOUNDARY[:-1]
    raw = body(
        (b'Content-Disposition: form-data; name="note"', b"hello"),
        (b'Content-Disposition: form-data; name="file"; filename="a \\"b\\".iso"\r\nContent-Type: x/y', payload),
        (b'Content-Disposition: form-data; name="empty"', b""),
    )
    expected = [
        Part("note", None),
        Data(b"hello"),
        PartEnd(),
        Part("file", 'a "b".iso'),
        Data(payload),
        PartEnd(),
        Part("empty", None),
        PartEnd(),
    ]
    rng = random.Random(2)
    for sizes in ([], [1] * 300, [len(BOUNDARY) + 3] * 40, [rng.randrange(1, 5000) for _ in range(30)]):
        assert parse(raw, sizes) == expected


def test_every_split_near_the_delimiter() -> None:
    """Two and three chunks cut at every place around the closing delimiter and its near-misses."""
    payload = b"x\r\n--" + BOUNDARY[:-1] + b"y\r\n-\r\n--" + BOUNDARY[:5] + b"z" * 40
    raw = body((b'Content-Disposition: form-data; name="file"; filename="f.iso"', payload))
    expected = [Part("file", "f.iso"), Data(payload), PartEnd()]
    start = raw.index(payload)
    cuts = range(start - 2, len(raw) + 1)
    for first in cuts:
        assert parse(raw, [first]) == expected, first
        for second in range(first, min(first + len(BOUNDARY) + 8, len(raw) + 1)):
            assert parse(raw, [first, second - first]) == expected, (first, second)


def test_large_chunks_are_handed_on_without_a_copy() -> None:
    parser = MultipartParser(BOUNDARY)
    head = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="f.iso"\r\n\r\n'
    assert parser.feed(head) == [Part("file", "f.iso")]
    chunk = bytes(range(256)) * 1024
    events = parser.feed(chunk)
    assert [type(e) for e in events] == [Data]
    data = events[0].data
    assert isinstance(data, memoryview) and data.obj is chunk  # a view of the chunk, not a copy
    assert data == chunk[: len(chunk) - len(BOUNDARY) - 3]  # the rest may begin the delimiter
    last = parser.feed(chunk + b"\r\n--" + BOUNDARY + b"--\r\n")
    assert b"".join(bytes(e.data) for e in last if isinstance(e, Data)) == chunk[-len(BOUNDARY) - 3 :] + chunk
    assert last[-1] == PartEnd() and parser.done


def test_bad_bodies() -> None:
    with pytest.raises(MultipartError):
        MultipartParser(BOUNDARY).close()
    parser = MultipartParser(BOUNDARY)
    parser.feed(b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\ndata')
    with pytest.raises(MultipartError):
        parser.close()
    with pytest.raises(MultipartError):
        MultipartParser(BOUNDARY).feed(b"--" + BOUNDARY + b"\r\nX-No-Name: 1\r\n\r\nx\r\n--" + BOUNDARY + b"--")
    with pytest.raises(MultipartError):
        MultipartParser(BOUNDARY).feed(b"--" + BOUNDARY + b"\r\n" + b"X: " + b"y" * 20000)


def test_boundary_of() -> None:
    assert boundary_of("multipart/form-data; boundary=abc") == b"abc"
    assert boundary_of('Multipart/Form-Data; charset=x; boundary="a b"') == b"a b"
    assert boundary_of("application/json") is None
    assert boundary_of("multipart/form-data") is None


def test_iso_label_and_magic(tmp_path: Path) -> None:
    image = tmp_path / "a.iso"
    image.write_bytes(iso.make_iso("UBUNTU_24_04"))
    assert iso.is_iso9660(image)
    assert iso.volume_label(image) == "UBUNTU_24_04"
    assert iso.has_iso_magic(image.read_bytes()[:40000])
    plain = tmp_path / "b.img"
    plain.write_bytes(b"\0" * 40000)
    assert not iso.is_iso9660(plain)
    assert iso.volume_label(plain) is None
    assert iso.volume_label(tmp_path / "missing.iso") is None


def test_host_view(tmp_path: Path) -> None:
    (tmp_path / "sys/class/udc/sim-udc").mkdir(parents=True)
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/usb.disk0").write_bytes(b"")
    (tmp_path / "boot/usb.ncm").write_bytes(b"")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/u.iso").write_bytes(iso.make_iso("UBUNTU"))
    root = DeviceRoot(tmp_path)
    gadget = Gadget(root)
    gadget.start()
    view = host_view(root)
    assert (view.bound, view.disk, view.medium, view.label, view.network) == (True, "flash", "", None, "ncm")
    lun = tmp_path / "sys/kernel/config/usb_gadget/g0/functions/mass_storage.disk0/lun.0"
    (lun / "file").write_bytes(b"/data/u.iso")
    (lun / "cdrom").write_bytes(b"1")
    view = host_view(root)
    assert (view.disk, view.medium, view.label) == ("cdrom", "/data/u.iso", "UBUNTU")
    gadget.unbind()
    assert host_view(root) == type(view)(False, "", "", None, "")
