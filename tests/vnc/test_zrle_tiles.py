"""ZRLE's tile forms, decoded by vncdotool's ZRLE decoder (PyPI): pictures made to call for each form
(solid, packed palettes of 2, 4 and 16 colours, palette runs, colour runs, raw) come back pixel for
pixel. The end-to-end ZRLE test (test_vnc_server.py) shows the sim screen through a live connection."""

from __future__ import annotations

from typing import Any

import numpy as np
from vncdotool.rfb import RFBClient

from app.services.vnc import encodings, wire, zrle

RNG = np.random.default_rng(17)


class Decoder(RFBClient):  # type: ignore[misc]
    """vncdotool's client with its drawing calls kept: the picture it decodes, BGRX as it gets it."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self.picture = np.zeros((height, width, 4), dtype=np.uint8)

    def updateRectangle(self, x: int, y: int, width: int, height: int, data: bytes) -> None:
        self.picture[y : y + height, x : x + width] = np.frombuffer(data, np.uint8).reshape(height, width, 4)

    def fillRectangle(self, x: int, y: int, width: int, height: int, color: bytes) -> None:
        self.picture[y : y + height, x : x + width] = np.frombuffer(color, np.uint8)

    def _doConnection(self) -> None:  # the next message: none here
        pass


def colours(count: int) -> Any:
    """``count`` distinct BGR colours."""
    values = RNG.choice(1 << 24, size=count, replace=False)
    return np.stack([(values >> s) & 0xFF for s in (0, 8, 16)], axis=1).astype(np.uint8)


def random_of(count: int, shape: tuple[int, int] = (64, 64), run: int = 1) -> Any:
    """A tile of ``count`` colours, picked at random in runs of ``run`` pixels along the rows."""
    table = colours(count)
    picks = RNG.integers(0, count, size=shape[0] * shape[1] // run).repeat(run)
    picks[: count * run : run] = np.arange(count)  # every colour present
    return table[picks].reshape(*shape, 3)


def tiles() -> dict[str, Any]:
    glyph = np.zeros((64, 64, 3), dtype=np.uint8)
    glyph[10:50, 20:24] = 255  # a white stroke on black: text
    glyph[10:14, 20:40] = 255
    return {
        "solid": np.full((64, 64, 3), (30, 60, 90), dtype=np.uint8),
        "text": glyph,
        "2 colours": random_of(2),
        "4 colours": random_of(4),
        "16 colours": random_of(16),
        "palette runs": random_of(40, run=8),
        "colour runs": random_of(200, run=16),
        "noise": RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8),
    }


def decode(picture: Any, box: tuple[int, int, int, int], stream: zrle.ZrleStream, decoder: Decoder) -> None:
    x, y, w, h = box
    pixels = encodings.pixels(picture[y : y + h, x : x + w], wire.SERVER_FORMAT)
    header, length, data = stream.encode(pixels, box, wire.SERVER_FORMAT)
    assert bytes(header) == wire.rect(x, y, w, h, wire.ENC_ZRLE)
    assert int.from_bytes(length, "big") == len(data)
    decoder._handleDecodeZRLEdata(bytes(data), x, y, w, h)


def test_each_tile_takes_its_smallest_form() -> None:
    forms = {
        name: zrle.encode_tile(encodings.pixels(tile, wire.SERVER_FORMAT)[..., :3])[0] for name, tile in tiles().items()
    }
    # RFC 6143 7.7.6: 1 solid, 2-16 packed palette, 128 plain RLE, 130-255 palette RLE, 0 raw.
    assert forms == {
        "solid": 1,
        "text": 128 + 2,  # few runs of two colours: smaller as runs than as 1-bit indices
        "2 colours": 2,
        "4 colours": 4,
        "16 colours": 16,
        "palette runs": 128 + 40,
        "colour runs": 128,
        "noise": 0,
    }


def test_vncdotool_decodes_every_form_pixel_for_pixel() -> None:
    row = np.concatenate(list(tiles().values()), axis=1)  # 512 x 64: one tile of each form
    picture = np.concatenate([row, row[:, ::-1]], axis=0)[:, :494]  # and a ragged right edge (46 wide)
    picture = np.ascontiguousarray(np.concatenate([picture, picture[:37]], axis=0))  # and bottom (37 high)
    height, width = picture.shape[:2]
    decoder = Decoder(width, height)
    stream = zrle.ZrleStream()
    decode(picture, (0, 0, width, height), stream, decoder)
    assert np.array_equal(decoder.picture[..., :3], picture)
    # A later update on the same zlib stream: a box inside, not on tile lines.
    picture[50:90, 100:300] = RNG.integers(0, 4, size=(40, 200, 1), dtype=np.uint8) * 60
    decode(picture, (100, 50, 200, 40), stream, decoder)
    assert np.array_equal(decoder.picture[..., :3], picture)
