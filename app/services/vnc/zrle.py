"""ZRLE (RFC 6143 7.7.6): the encoding for clients without Tight (RealVNC, macOS Screen Sharing).

The rectangle is cut into 64x64 tiles, and each tile is sent in whichever of ZRLE's forms is the
smallest for it: one colour (solid), a palette of 2-16 colours with packed indices, run lengths of
palette indices (up to 127 colours), run lengths of colours, or raw pixels. A console's text on a
flat background makes solid and palette tiles; a photo's noise makes raw ones. All tiles of an
update then go through the connection's one zlib stream.

Packed palette rows are padded to a byte boundary (the RFC); tiles whose rows would need padding get
the palette run-length form instead, which every decoder reads alike (vncdotool's ignores the padding).
NumPy is imported on first use, as the video sources do.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from app.services.vnc import wire
from app.services.vnc.wire import PixelFormat

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]
else:
    Image = Any

TILE = 64
ZLIB_LEVEL = 1  # most of a frame is solid or palette tiles already; a higher level costs CPU per frame
SUB_RAW, SUB_SOLID, SUB_PLAIN_RLE = 0, 1, 128
PACKED_MAX, PALETTE_RLE_MAX = 16, 127


def cpixel_bytes(fmt: PixelFormat) -> slice:
    """ZRLE's compressed pixel: 3 bytes when a 32-bit pixel's colours fit in its low or high three."""
    if fmt.bits_per_pixel != 32 or fmt.depth > 24:
        return slice(0, fmt.bytes_per_pixel)
    top = max(
        (fmt.red_max.bit_length() + fmt.red_shift),
        (fmt.green_max.bit_length() + fmt.green_shift),
        (fmt.blue_max.bit_length() + fmt.blue_shift),
    )
    low = min(fmt.red_shift, fmt.green_shift, fmt.blue_shift)
    if top <= 24:  # the low three bytes carry the colour
        return slice(1, 4) if fmt.big_endian else slice(0, 3)
    if low >= 8:
        return slice(0, 3) if fmt.big_endian else slice(1, 4)
    return slice(0, 4)


def _runs(values: Any, lengths: Any, flag_long: bool) -> bytes:
    """Runs as ZRLE writes them: each run's value bytes, then (for a run longer than one pixel, or
    every run when not ``flag_long``) its length - 1 as bytes of 255 and a last byte below 255.

    Built in one array: every byte starts as 255, the values and the last length bytes are put in."""
    import numpy as np

    extra = (lengths - 1) // 255  # 255s before the last length byte
    counted = lengths > 1 if flag_long else np.ones(len(lengths), dtype=bool)
    size = values.shape[1]
    sizes = size + np.where(counted, extra + 1, 0)
    at = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    out = np.full(int(sizes.sum()), 255, dtype=np.uint8)
    for byte in range(size):
        out[at + byte] = values[:, byte]
    out[(at + size + extra)[counted]] = ((lengths - 1) % 255)[counted]
    return bytes(out.tobytes())


def _packed(indices: Any, colours: int) -> bytes:
    """Palette indices at 1, 2 or 4 bits, the leftmost pixel in the high bits, rows padded to a byte."""
    import numpy as np

    bits = 1 if colours == 2 else 2 if colours <= 4 else 4
    per_byte = 8 // bits
    height, width = indices.shape
    padded = np.zeros((height, -(-width // per_byte) * per_byte), dtype=np.uint8)
    padded[:, :width] = indices
    groups = padded.reshape(height, -1, per_byte)
    out = np.zeros(groups.shape[:2], dtype=np.uint8)
    for k in range(per_byte):
        out |= groups[..., k] << (8 - bits * (k + 1))
    return bytes(out.tobytes())


def pixel_keys(cpixels: Image) -> Any:
    """Each compressed pixel as one number (its bytes little-endian), for comparing and sorting."""
    import numpy as np

    keys = np.zeros(cpixels.shape[:2], dtype=np.uint32)
    for byte in range(cpixels.shape[2]):
        keys |= cpixels[..., byte].astype(np.uint32) << (8 * byte)
    return keys


def encode_tile(tile: Image, keys: Any | None = None) -> bytes:
    """One tile (h, w, cpixel bytes) in its smallest ZRLE form: the subencoding byte, then its data.
    ``keys``: the tile's ``pixel_keys`` if already made."""
    import numpy as np

    height, width, size = tile.shape
    flat_keys = (pixel_keys(tile) if keys is None else keys).ravel()
    starts = np.flatnonzero(np.concatenate(([True], flat_keys[1:] != flat_keys[:-1])))
    if len(starts) == 1:
        return bytes([SUB_SOLID]) + bytes(tile[0, 0].tobytes())
    lengths = np.diff(np.append(starts, len(flat_keys)))
    length_bytes = (lengths - 1) // 255 + 1
    ordered = np.sort(flat_keys)
    palette = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    colours = len(palette)
    # Each form's size in bytes; the smallest is sent (ties: the first here).
    options = {SUB_RAW: len(flat_keys) * size, SUB_PLAIN_RLE: len(starts) * size + int(length_bytes.sum())}
    if colours <= PALETTE_RLE_MAX:
        options[128 + colours] = colours * size + len(starts) + int(length_bytes[lengths > 1].sum())
    bits = 1 if colours == 2 else 2 if colours <= 4 else 4
    if colours <= PACKED_MAX and (width * bits) % 8 == 0:
        options[colours] = colours * size + height * width * bits // 8
    chosen = min(options, key=lambda sub: options[sub])
    head = bytes([chosen])
    flat = tile.reshape(-1, size)
    if chosen == SUB_RAW:
        return head + bytes(flat.tobytes())
    if chosen == SUB_PLAIN_RLE:
        return head + _runs(flat[starts], lengths, flag_long=False)
    table = bytes(palette.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :size].tobytes())
    if chosen < 128:
        indices = np.searchsorted(palette, flat_keys).astype(np.uint8).reshape(height, width)
        return head + table + _packed(indices, colours)
    index = np.searchsorted(palette, flat_keys[starts]).astype(np.uint8)
    index[lengths > 1] |= 0x80
    return head + table + _runs(index[:, None], lengths, flag_long=True)


class ZrleStream:
    """One client's ZRLE state: its zlib stream lives as long as the connection (RFC 6143 7.7.6)."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(ZLIB_LEVEL)

    def encode(self, pixels: Image, box: tuple[int, int, int, int], fmt: PixelFormat) -> list[bytes | memoryview]:
        """``pixels``: the box, already in the client's pixel format (h, w, bytes per pixel)."""
        x, y, w, h = box
        cpixels = pixels[..., cpixel_bytes(fmt)]
        keys = pixel_keys(cpixels)
        tiles = [
            encode_tile(cpixels[ty : ty + TILE, tx : tx + TILE], keys[ty : ty + TILE, tx : tx + TILE])
            for ty in range(0, h, TILE)
            for tx in range(0, w, TILE)
        ]
        data = self._zlib.compress(b"".join(tiles)) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        return [wire.rect(x, y, w, h, wire.ENC_ZRLE), len(data).to_bytes(4, "big"), data]
