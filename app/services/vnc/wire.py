"""RFB 3.8 (RFC 6143) on the wire: numbers, the pixel format, and the messages the server builds.

Only what the server speaks is here; every value is from RFC 6143 or the community extensions
registered in the rfbproto document (Tight, ExtendedDesktopSize, QEMU key events, ...).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = b"RFB 003.008\n"

# Security types (RFC 6143 7.1.2; VeNCrypt is 19).
SEC_INVALID, SEC_NONE, SEC_VNC, SEC_VENCRYPT = 0, 1, 2, 19
# VeNCrypt subtypes: X.509 certificate TLS, then None / VNC / Plain inside.
VENCRYPT_X509_NONE, VENCRYPT_X509_VNC, VENCRYPT_X509_PLAIN = 260, 261, 262
SEC_RESULT_OK, SEC_RESULT_FAILED = 0, 1

# Client -> server message types.
C_SET_PIXEL_FORMAT, C_SET_ENCODINGS, C_UPDATE_REQUEST, C_KEY, C_POINTER, C_CUT_TEXT = 0, 2, 3, 4, 5, 6
C_ENABLE_CONTINUOUS, C_FENCE, C_SET_DESKTOP_SIZE, C_QEMU = 150, 248, 251, 255
QEMU_KEY_EVENT, QEMU_AUDIO = 0, 1

# Server -> client message types.
S_UPDATE, S_BELL, S_CUT_TEXT, S_END_CONTINUOUS, S_FENCE = 0, 2, 3, 150, 248

# Encodings and pseudo-encodings (signed 32-bit).
ENC_RAW, ENC_TIGHT, ENC_ZRLE = 0, 7, 16
ENC_DESKTOP_SIZE, ENC_LAST_RECT = -223, -224
ENC_QEMU_KEY, ENC_EXTENDED_DESKTOP_SIZE = -258, -308
ENC_FENCE, ENC_CONTINUOUS_UPDATES = -312, -313
JPEG_QUALITY_LOWEST, JPEG_QUALITY_HIGHEST = -32, -23

# Tight: the compression-control byte of a JPEG rectangle (upper nibble 1001).
TIGHT_JPEG = 0x90

# ExtendedDesktopSize: why the size changed, and the answer to a client's SetDesktopSize.
RESIZE_BY_SERVER, RESIZE_BY_CLIENT = 0, 1
RESIZE_OK, RESIZE_PROHIBITED = 0, 1

# Fence flags.
FENCE_BLOCK_BEFORE, FENCE_BLOCK_AFTER, FENCE_SYNC_NEXT, FENCE_REQUEST = 1, 2, 4, 1 << 31


@dataclass(frozen=True, slots=True)
class PixelFormat:
    bits_per_pixel: int
    depth: int
    big_endian: bool
    true_colour: bool
    red_max: int
    green_max: int
    blue_max: int
    red_shift: int
    green_shift: int
    blue_shift: int

    _STRUCT = struct.Struct(">BBBBHHHBBBxxx")

    @classmethod
    def parse(cls, data: bytes) -> PixelFormat:
        bpp, depth, big, true, rmax, gmax, bmax, rsh, gsh, bsh = cls._STRUCT.unpack(data)
        return cls(bpp, depth, bool(big), bool(true), rmax, gmax, bmax, rsh, gsh, bsh)

    def pack(self) -> bytes:
        return self._STRUCT.pack(
            self.bits_per_pixel,
            self.depth,
            int(self.big_endian),
            int(self.true_colour),
            self.red_max,
            self.green_max,
            self.blue_max,
            self.red_shift,
            self.green_shift,
            self.blue_shift,
        )

    @property
    def bytes_per_pixel(self) -> int:
        return self.bits_per_pixel // 8

    def usable(self) -> bool:
        """What the server converts to: true colour at 8, 16 or 32 bits per pixel."""
        return self.true_colour and self.bits_per_pixel in (8, 16, 32) and self.depth > 0

    def jpeg_ok(self) -> bool:
        """Tight's JPEG rectangles need a 32-bit true-colour client (the decoders' rule)."""
        return self.true_colour and self.bits_per_pixel == 32 and self.depth == 24


# What ServerInit announces: 32-bit little-endian BGRX, the common format every client takes.
SERVER_FORMAT = PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0)

_RECT = struct.Struct(">HHHHi")


def server_init(width: int, height: int, name: str) -> bytes:
    encoded = name.encode("utf-8")
    return struct.pack(">HH", width, height) + SERVER_FORMAT.pack() + struct.pack(">I", len(encoded)) + encoded


def update_header(rectangles: int) -> bytes:
    return struct.pack(">BxH", S_UPDATE, rectangles)


def rect(x: int, y: int, width: int, height: int, encoding: int) -> bytes:
    return _RECT.pack(x, y, width, height, encoding)


def compact_length(size: int) -> bytes:
    """Tight's 1-3 byte length: seven bits per byte, low bits first, high bit = more follows."""
    out = bytearray([size & 0x7F])
    if size > 0x7F:
        out[0] |= 0x80
        out.append((size >> 7) & 0x7F)
        if size > 0x3FFF:
            out[1] |= 0x80
            out.append((size >> 14) & 0xFF)
    return bytes(out)


def extended_desktop_size(width: int, height: int, reason: int, status: int) -> bytes:
    """The ExtendedDesktopSize pseudo-rectangle: one screen covering the framebuffer."""
    screen = struct.pack(">IHHHHI", 1, 0, 0, width, height, 0)
    return rect(reason, status, width, height, ENC_EXTENDED_DESKTOP_SIZE) + struct.pack(">Bxxx", 1) + screen


def cut_text(text: bytes) -> bytes:
    return struct.pack(">BxxxI", S_CUT_TEXT, len(text)) + text


def fence(flags: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxIB", S_FENCE, flags, len(payload)) + payload


def security_failure(reason: str) -> bytes:
    """Security result "failed" with its reason string (3.8)."""
    encoded = reason.encode("utf-8")
    return struct.pack(">II", SEC_RESULT_FAILED, len(encoded)) + encoded
