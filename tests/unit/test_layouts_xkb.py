"""Every paste layout against an independent source: Debian's xkb-data, compiled by libxkbcommon.

For each key of each layout (``app/services/hid/layouts/*.json``) the characters the layout claims
for a level must be what XKB's layout of the same name gives at that level; a level the layout
leaves empty may only be empty in XKB too for the two plain levels (base, Shift) — our layouts follow
Windows, which puts fewer characters on AltGr than XKB, and a character we do not claim is a
character we never type. Where Windows and XKB disagree, the difference is listed in ``KNOWN`` with
the reason; anything else fails, and so does a listed difference that is no longer there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
from pathlib import Path

import pytest

LAYOUTS = Path(__file__).resolve().parents[2] / "app" / "services" / "hid" / "layouts"
XKB_SYMBOLS = Path("/usr/share/X11/xkb/symbols")

# Our layout -> XKB (layout, variant).
XKB_NAMES = {
    "us": ("us", ""),
    "us-intl": ("us", "intl"),
    "uk": ("gb", ""),
    "de": ("de", ""),
    "ch-de": ("ch", ""),
    "fr": ("fr", ""),
    "es": ("es", ""),
    "it": ("it", ""),
    "nordic": ("se", ""),
}

# HID usage -> Linux input event code (the kernel's hid_keyboard table); XKB's keycode is it + 8.
_LETTER_CODES = [30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44]
_LETTERS = dict(zip(range(0x04, 0x1E), _LETTER_CODES, strict=True))
_DIGITS = {0x1E + i: 2 + i for i in range(10)}
_OTHERS = {
    0x28: 28, 0x29: 1, 0x2A: 14, 0x2B: 15, 0x2C: 57, 0x2D: 12, 0x2E: 13, 0x2F: 26, 0x30: 27, 0x31: 43,
    0x32: 43, 0x33: 39, 0x34: 40, 0x35: 41, 0x36: 51, 0x37: 52, 0x38: 53, 0x64: 86,
    0x54: 98, 0x55: 55, 0x56: 74, 0x57: 78, 0x59: 79, 0x5A: 80, 0x5B: 81, 0x5C: 75, 0x5D: 76, 0x5E: 77,
    0x5F: 71, 0x60: 72, 0x61: 73, 0x62: 82, 0x63: 83,
}  # fmt: skip
EVDEV = {**_LETTERS, **_DIGITS, **_OTHERS}

# XKB's dead keysyms -> the spacing character our layouts name them by.
DEAD = {
    "dead_grave": "`",
    "dead_acute": "\u00b4",
    "dead_circumflex": "^",
    "dead_tilde": "~",
    "dead_diaeresis": "\u00a8",
    "dead_cedilla": "\u00b8",
    "dead_abovering": "\u00b0",
    "dead_doubleacute": "\u02dd",
    "dead_caron": "\u02c7",
    "dead_breve": "\u02d8",
    "dead_ogonek": "\u02db",
    "dead_abovedot": "\u02d9",
    "dead_macron": "\u00af",
}

# (layout, HID usage, level) -> why Windows' layout (ours) differs from XKB's there.
WINDOWS_BROKEN_BAR = "Windows types ¦ (broken bar) here; XKB the plain | it also has elsewhere"
XKB_ONLY_SHIFT = "XKB has a character on Shift+² that Windows lacks; we never type with it (~ is AltGr+é)"
EURO_ON_5 = "Windows also has € on AltGr+5, XKB ½; paste types € with AltGr+E, where both agree"
UK_ACUTES = (
    "Windows' UK layout types acute vowels with AltGr; XKB's gb has other characters there: pasting"
    " á é í ó ú in layout uk to a host using XKB's gb types those instead"
)
INTL_QUOTE = (
    "US-International's ' key: Windows names the dead keys by ' and \" (dead key then space types them)"
    " and has the acute and diaeresis accents on AltGr; XKB's us(intl) names them dead_acute and"
    " dead_diaeresis and has ' \" on AltGr"
)
KNOWN: dict[tuple[str, int, int], str] = {
    ("ch-de", 0x1E, 2): WINDOWS_BROKEN_BAR,
    ("uk", 0x35, 2): WINDOWS_BROKEN_BAR,
    ("fr", 0x35, 1): XKB_ONLY_SHIFT,
    ("es", 0x22, 2): EURO_ON_5,
    ("it", 0x22, 2): EURO_ON_5,
    **{("uk", usage, level): UK_ACUTES for usage in (0x04, 0x08, 0x0C, 0x12, 0x18) for level in (2, 3)},
    **{("us-intl", 0x34, level): INTL_QUOTE for level in range(4)},
}


class _RuleNames(ctypes.Structure):
    _fields_ = [(name, ctypes.c_char_p) for name in ("rules", "model", "layout", "variant", "options")]


class Xkb:
    """The few libxkbcommon calls needed: compile a layout, read a key's keysyms per level."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("xkbcommon") or "libxkbcommon.so.0"
        lib = ctypes.CDLL(name)
        lib.xkb_context_new.restype = ctypes.c_void_p
        lib.xkb_keymap_new_from_names.restype = ctypes.c_void_p
        lib.xkb_keymap_new_from_names.argtypes = [ctypes.c_void_p, ctypes.POINTER(_RuleNames), ctypes.c_int]
        lib.xkb_keymap_key_get_syms_by_level.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
            ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32)),
        ]  # fmt: skip
        lib.xkb_keymap_num_levels_for_key.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
        lib.xkb_keysym_to_utf32.argtypes = [ctypes.c_uint32]
        lib.xkb_keysym_to_utf32.restype = ctypes.c_uint32
        lib.xkb_keysym_get_name.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
        lib.xkb_keymap_unref.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.context = lib.xkb_context_new(0)
        assert self.context, "xkb_context_new failed"

    def levels(self, layout: str, variant: str) -> dict[int, list[str]]:
        """usage -> the characters of levels 1-4 ("" none, "dead:X" a dead key)."""
        names = _RuleNames(b"evdev", b"pc105", layout.encode(), variant.encode(), b"")
        keymap = self.lib.xkb_keymap_new_from_names(self.context, ctypes.byref(names), 0)
        assert keymap, f"XKB cannot compile layout {layout}({variant})"
        try:
            return {usage: [self._char(keymap, code + 8, level) for level in range(4)] for usage, code in EVDEV.items()}
        finally:
            self.lib.xkb_keymap_unref(keymap)

    def _char(self, keymap: int, keycode: int, level: int) -> str:
        count = self.lib.xkb_keymap_num_levels_for_key(keymap, keycode, 0)
        if count == 0:
            return ""
        # A key with fewer levels ignores the modifiers it has no level for: Shift+Space is a space,
        # AltGr on a two-level key types its base or Shift character (XKB's ONE_LEVEL, TWO_LEVEL types).
        level %= count
        syms = ctypes.POINTER(ctypes.c_uint32)()
        if self.lib.xkb_keymap_key_get_syms_by_level(keymap, keycode, 0, level, ctypes.byref(syms)) != 1:
            return ""
        keysym = syms[0]
        code = self.lib.xkb_keysym_to_utf32(keysym)
        if code:
            return chr(code)
        name = ctypes.create_string_buffer(64)
        self.lib.xkb_keysym_get_name(keysym, name, 64)
        dead = DEAD.get(name.value.decode())
        return f"dead:{dead}" if dead else ""


@pytest.fixture(scope="module")
def xkb() -> Xkb:
    missing = [str(XKB_SYMBOLS)] if not XKB_SYMBOLS.is_dir() else []
    if ctypes.util.find_library("xkbcommon") is None:
        missing.append("libxkbcommon")
    if missing:
        message = f"{', '.join(missing)} missing: run `task setup` (Debian: apt-get install xkb-data libxkbcommon0)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return Xkb()


def _ours(name: str) -> dict[int, list[str]]:
    data = json.loads((LAYOUTS / f"{name}.json").read_text(encoding="utf-8"))
    return {int(usage, 16): list(levels) for usage, levels in data["keys"].items()}


def mismatches(name: str, xkb: Xkb) -> dict[tuple[str, int, int], tuple[str, str]]:
    theirs = xkb.levels(*XKB_NAMES[name])
    found: dict[tuple[str, int, int], tuple[str, str]] = {}
    for usage, levels in _ours(name).items():
        assert usage in EVDEV, f"{name}: usage {usage:#04x} has no evdev code in this test's table"
        for level, ours in enumerate(levels):
            xkb_char = theirs[usage][level]
            if ours != xkb_char and (ours or level < 2):
                found[(name, usage, level)] = (ours, xkb_char)
    return found


def test_every_layout_is_compared() -> None:
    assert {path.stem for path in LAYOUTS.glob("*.json")} == set(XKB_NAMES)


@pytest.mark.parametrize("name", sorted(XKB_NAMES))
def test_layout_matches_xkb(name: str, xkb: Xkb) -> None:
    found = mismatches(name, xkb)
    known = {key for key in KNOWN if key[0] == name}
    unexplained = {
        f"{usage:#04x} level {level + 1}: ours {found[key][0]!r}, XKB {found[key][1]!r}"
        for key in found.keys() - known
        for (_, usage, level) in [key]
    }
    assert not unexplained, f"{name}: differs from XKB ({len(unexplained)}):\n" + "\n".join(sorted(unexplained))
    assert known <= found.keys(), f"{name}: listed differences that are gone: {sorted(known - found.keys())}"
