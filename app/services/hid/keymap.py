"""Keyboard layouts: which key strokes type a character on the host, and what the host makes of them.

The KVM is a USB boot keyboard; the host OS turns key usages into characters with *its own*
layout. A layout (``layouts/<name>.json``) describes that OS keymap per physical key, the way
XKB does: for each usage (hex string) the characters at the levels [plain, Shift, AltGr,
Shift+AltGr], ``""`` for nothing and ``"dead:X"`` for a dead key whose combining table is
``dead[X]`` (the next character is combined through it; ``" "`` gives X itself). Letters are
the keys whose Shift level is the upper case of their plain level: Caps Lock affects those only.

:class:`Keymap` answers "which strokes type this character" (paste, spec 7.3.4);
:class:`KeyboardDecoder` models the host's keyboard driver (the sim host's typed text and LEDs).
"""

from __future__ import annotations

import json
import threading
from importlib.resources import files
from typing import Any, ClassVar

# Package data, read through importlib.resources: a directory in the checkout, a zip member in the zipapp.
LAYOUT_DIR = files(__package__ or __name__) / "layouts"

# NanoKVM's `langue` codes (spec 7.3.4) and our own layout names -> layout file.
LAYOUTS: dict[str, str] = {
    "": "us",
    "en": "us",
    "ru": "us",  # the web client transliterates Russian before pasting
    "us": "us",
    "de": "de",
    "fr": "fr",
    "uk": "uk",
    "es": "es",
    "it": "it",
    "ch-de": "ch-de",
    "nordic": "nordic",
    "us-intl": "us-intl",
}

SHIFT, ALTGR = 0x02, 0x40  # what strokes() uses: left Shift, right Alt
LEVEL_MODIFIERS = (0, SHIFT, ALTGR, SHIFT | ALTGR)  # plain, Shift, AltGr, Shift+AltGr
DEAD = "dead:"

ENTER, TAB, BACKSPACE, SPACE = 0x28, 0x2B, 0x2A, 0x2C
CAPS_LOCK, NUM_LOCK, SCROLL_LOCK = 0x39, 0x53, 0x47
BACKSLASH, NON_US_HASH = 0x31, 0x32  # one key to both Windows and Linux: either usage means the other
ERROR_ROLL_OVER = 0x01
CONTROL_KEYS = {ENTER: "\n", 0x58: "\n", TAB: "\t", BACKSPACE: "\b"}  # 0x58 = keypad Enter
KEYPAD_SYMBOLS = {0x54: "/", 0x55: "*", 0x56: "-", 0x57: "+"}
KEYPAD_DIGITS = {0x59 + i: str((i + 1) % 10) for i in range(10)}  # 0x59..0x61 = 1..9, 0x62 = 0
KEYPAD_DECIMAL = 0x63

Stroke = tuple[int, int]  # (modifier byte, usage)


class Keymap:
    """One host keyboard layout, loaded from ``layouts/<name>.json``."""

    _cache: ClassVar[dict[str, Keymap]] = {}  # by file name
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.description: str = data.get("description", "")
        self.keypad_decimal: str = data.get("keypad_decimal", ".")
        # usage -> the four levels' characters ("" for nothing; dead keys give their dead character)
        self.levels: dict[int, tuple[str, str, str, str]] = {}
        self.dead_positions: set[tuple[int, int]] = set()  # (usage, level) of dead keys
        self.dead: dict[str, dict[str, str]] = {k: dict(v) for k, v in data.get("dead", {}).items()}
        for key, values in data["keys"].items():
            usage = int(key, 16)
            if len(values) != 4:
                raise ValueError(f"layout {name}: key {key} needs 4 levels")
            chars: list[str] = []
            for level, value in enumerate(values):
                if value.startswith(DEAD):
                    value = value[len(DEAD) :]
                    if " " not in self.dead.get(value, {}):
                        raise ValueError(f"layout {name}: dead key {value!r} has no table (or no space entry)")
                    self.dead_positions.add((usage, level))
                elif len(value) > 1:
                    raise ValueError(f"layout {name}: key {key} level {level}: {value!r} is not one character")
                chars.append(value)
            self.levels[usage] = (chars[0], chars[1], chars[2], chars[3])
        # Letters (Caps Lock applies): Shift gives the plain character's upper case.
        self.letters = {u for u, (low, up, _, _) in self.levels.items() if low.isalpha() and low.upper() == up}
        self._strokes = self._build_strokes()

    @classmethod
    def load(cls, name: str) -> Keymap:
        """The layout for a layout name or NanoKVM ``langue`` code (cached); KeyError if unknown."""
        file = LAYOUTS[name]
        with cls._cache_lock:
            keymap = cls._cache.get(file)
            if keymap is None:
                data = json.loads((LAYOUT_DIR / f"{file}.json").read_text(encoding="utf-8"))
                keymap = cls._cache[file] = cls(file, data)
            return keymap

    def _build_strokes(self) -> dict[str, list[Stroke]]:
        # Direct characters: the simplest level wins, then the lowest usage.
        strokes: dict[str, list[Stroke]] = {"\n": [(0, ENTER)], "\t": [(0, TAB)]}
        for level, modifiers in enumerate(LEVEL_MODIFIERS):
            for usage in sorted(self.levels):
                char = self.levels[usage][level]
                if char and (usage, level) not in self.dead_positions and char not in strokes:
                    strokes[char] = [(modifiers, usage)]
        # Characters only reachable through a dead key: dead stroke, then the base stroke.
        composed: dict[str, tuple[tuple[int, int, int], list[Stroke]]] = {}
        for usage, level in self.dead_positions:
            for base, result in self.dead[self.levels[usage][level]].items():
                if result in strokes or base not in strokes:
                    continue
                (base_stroke,) = strokes[base]
                cost = (level, LEVEL_MODIFIERS.index(base_stroke[0]), usage)
                if result not in composed or cost < composed[result][0]:
                    composed[result] = (cost, [(LEVEL_MODIFIERS[level], usage), base_stroke])
        strokes.update({char: seq for char, (_, seq) in composed.items()})
        return strokes

    def strokes(self, char: str) -> list[Stroke] | None:
        """The (modifier byte, usage) strokes that type ``char`` on the host, None if it cannot be typed.

        Assumes Caps Lock off and no dead key pending, as the host's state is not known.
        """
        found = self._strokes.get(char)
        return list(found) if found is not None else None

    def characters(self) -> list[str]:
        """Every character strokes() can type, in stroke-table order."""
        return list(self._strokes)

    def resolve(self, usage: int) -> int | None:
        """The usage this layout defines for a key: 0x31 and 0x32 stand in for each other, as on the hosts."""
        if usage not in self.levels and usage in (BACKSLASH, NON_US_HASH):
            usage = NON_US_HASH if usage == BACKSLASH else BACKSLASH
        return usage if usage in self.levels else None

    def __repr__(self) -> str:
        return f"Keymap({self.name!r})"


class KeyboardDecoder:
    """The host OS's view of the boot keyboard: reports in, typed characters out.

    A character is produced on key down (a usage that was not in the previous report), at the
    level given by that report's modifiers: Shift (either), AltGr (right Alt, or Ctrl+Alt as on
    Windows). Ctrl, Alt or GUI otherwise make a shortcut, which types nothing. Caps Lock inverts
    Shift on letters; a dead key waits for the next character and combines with it.
    """

    def __init__(self, keymap: Keymap) -> None:
        self.keymap = keymap
        self.caps_lock = False
        self.num_lock = False
        self.scroll_lock = False
        self.pending_dead: str | None = None
        self._held: set[int] = set()

    def led_report(self) -> int:
        """The LED output report the host sends back: bit0 Num, bit1 Caps, bit2 Scroll."""
        return int(self.num_lock) | int(self.caps_lock) << 1 | int(self.scroll_lock) << 2

    def feed(self, report: bytes) -> str:
        """Characters typed by one 8-byte keyboard report ("\\n" Enter, "\\t" Tab, "\\b" Backspace)."""
        if len(report) != 8:
            return ""
        keys = [k for k in report[2:8] if k]
        if ERROR_ROLL_OVER in keys:  # phantom state: the host keeps what it had
            return ""
        modifiers = report[0]
        out: list[str] = []
        for usage in keys:
            if usage not in self._held:
                out.append(self._key_down(usage, modifiers))
        self._held = set(keys)
        return "".join(out)

    def _key_down(self, usage: int, modifiers: int) -> str:
        if usage == CAPS_LOCK:
            self.caps_lock = not self.caps_lock
            return ""
        if usage == NUM_LOCK:
            self.num_lock = not self.num_lock
            return ""
        if usage == SCROLL_LOCK:
            self.scroll_lock = not self.scroll_lock
            return ""
        shift = bool(modifiers & 0x22)
        ctrl, alt = bool(modifiers & 0x11), bool(modifiers & 0x44)
        altgr = (ctrl and alt) or bool(modifiers & 0x40)
        if modifiers & 0x88 or (not altgr and (ctrl or alt)):
            return ""  # a shortcut, not typing
        char, dead = self._char(usage, shift, altgr)
        if not char:
            return ""
        pending, self.pending_dead = self.pending_dead, None
        if pending is None:
            if dead:
                self.pending_dead = char
                return ""
            return char
        # Combine with the pending dead key; what it cannot combine comes out as both characters.
        return self.keymap.dead[pending].get(char) or pending + char

    def _char(self, usage: int, shift: bool, altgr: bool) -> tuple[str, bool]:
        """The character of a key down and whether it is a dead key."""
        if usage in CONTROL_KEYS:
            return CONTROL_KEYS[usage], False
        if usage in KEYPAD_SYMBOLS:
            return KEYPAD_SYMBOLS[usage], False
        if usage in KEYPAD_DIGITS or usage == KEYPAD_DECIMAL:
            if not self.num_lock or shift:
                return "", False  # navigation keys then
            return KEYPAD_DIGITS.get(usage, self.keymap.keypad_decimal), False
        key = self.keymap.resolve(usage)
        if key is None:
            return "", False
        if self.caps_lock and not altgr and key in self.keymap.letters:
            shift = not shift
        level = int(shift) + 2 * int(altgr)
        return self.keymap.levels[key][level], (key, level) in self.keymap.dead_positions
