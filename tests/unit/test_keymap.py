"""Keyboard layouts: strokes for pasted characters, and the host-side decoder that reads them back."""

# ruff: noqa: RUF001, RUF003 - accents such as ´ are what these tests are about

from __future__ import annotations

import pytest

from app.services.hid import reports
from app.services.hid.keymap import LAYOUT_DIR, LAYOUTS, KeyboardDecoder, Keymap

NAMES = sorted(set(LAYOUTS.values()))
RELEASE = bytes(8)


def type_text(keymap: Keymap, text: str, decoder: KeyboardDecoder | None = None) -> str:
    """Paste ``text`` as the paste service does (press, release per stroke) into a host decoder."""
    decoder = decoder or KeyboardDecoder(keymap)
    out = []
    for char in text:
        strokes = keymap.strokes(char)
        assert strokes is not None, f"{keymap.name}: {char!r} cannot be typed"
        for modifiers, usage in strokes:
            out.append(decoder.feed(reports.keyboard(modifiers, [usage])))
            out.append(decoder.feed(RELEASE))
    return "".join(out)


def producible(keymap: Keymap) -> set[str]:
    """Everything the layout can produce: all levels of all keys, and all dead-key combinations."""
    chars = {"\n", "\t"}
    for usage, levels in keymap.levels.items():
        for level, char in enumerate(levels):
            if char and (usage, level) not in keymap.dead_positions:
                chars.add(char)
    for table in keymap.dead.values():
        chars.update(table.values())
    return chars


def press(decoder: KeyboardDecoder, modifiers: int, *usages: int) -> str:
    return decoder.feed(reports.keyboard(modifiers, list(usages))) + decoder.feed(RELEASE)


# --- every layout: every character round-trips ---------------------------------------------


def test_layout_files_match_the_table() -> None:
    assert {p.stem for p in LAYOUT_DIR.glob("*.json")} == set(NAMES)
    assert NAMES == ["ch-de", "de", "es", "fr", "it", "nordic", "uk", "us", "us-intl"]
    for code in ("", "en", "ru"):
        assert Keymap.load(code) is Keymap.load("us")
    for name in NAMES:
        assert Keymap.load(name).name == name


def test_unknown_layout() -> None:
    with pytest.raises(KeyError):
        Keymap.load("klingon")


@pytest.mark.parametrize("name", NAMES)
def test_every_character_round_trips(name: str) -> None:
    keymap = Keymap.load(name)
    chars = producible(keymap)
    assert chars == set(keymap.characters())
    for char in sorted(chars):
        strokes = keymap.strokes(char)
        assert strokes is not None and 1 <= len(strokes) <= 2, (char, strokes)
        assert type_text(keymap, char) == char, (name, char, strokes)
    # and all of them in one go, so no state (dead key, Caps Lock) leaks from one to the next
    text = "".join(sorted(chars))
    assert type_text(keymap, text) == text


@pytest.mark.parametrize("name", NAMES)
def test_dead_keys(name: str) -> None:
    keymap = Keymap.load(name)
    for usage, level in keymap.dead_positions:
        dead = keymap.levels[usage][level]
        assert keymap.dead[dead][" "] == dead
        # the dead character itself: the simplest stroke for it, if it has no key of its own, is dead key + Space
        strokes = keymap.strokes(dead)
        assert strokes is not None
        if len(strokes) == 2:
            assert strokes[1] == (0, 0x2C)
        # a dead key with something it cannot combine gives both characters, as the OSes do
        decoder = KeyboardDecoder(keymap)
        assert press(decoder, (0, 0x02, 0x40, 0x42)[level], usage) == ""
        assert press(decoder, 0, 0x1B) == keymap.dead[dead].get("x", dead + "x")


@pytest.mark.parametrize("name", NAMES)
def test_strokes_prefer_simplest(name: str) -> None:
    keymap = Keymap.load(name)
    for char in keymap.characters():
        strokes = keymap.strokes(char)
        assert strokes is not None
        if len(strokes) == 2:  # composed only when no key types it directly
            direct = {(u, i) for u, levels in keymap.levels.items() for i, c in enumerate(levels) if c == char}
            assert direct <= keymap.dead_positions
        for modifiers, _ in strokes:
            assert modifiers in (0, 0x02, 0x40, 0x42)
    for letter in "abcdefghijklmnopqrstuvwxyz":
        ((modifiers, usage),) = keymap.strokes(letter) or [(-1, -1), (-1, -1)]
        assert modifiers == 0
        assert keymap.strokes(letter.upper()) == [(0x02, usage)]


SENTENCES = {
    "us": "The quick brown fox jumps over the lazy dog! 1234567890 ~`@#$%^&*()_+-={}[]|\\:;\"'<>,.?/",
    "us-intl": "Ça va? Naïve café, señor Müller: ¿Qué tal? ¡Olé! \"quoted\" 'single' `back` ^hat ~tilde 5 € ß",
    "de": "Größenwahn über Äpfel & Öl: 100 € @ §5, nein: ²³ µ {[]} \\ | ~ ^ ° ´ ` é ê",
    "fr": 'Où est le garçon ? Là, à côté de l\'hôtel, 12 € ; "non" : ça coûte 3,50 $ ! ~#{[|`\\^@]} ²µ£ ë',
    "uk": 'Price: £5 or €6 "quoted" @home #tag \\path| ¬¦ ~ `tick` é á',
    "es": "¿Dónde está el niño? ¡Señor! Pingüino, acción: 5 € @ # ~ ¬ | \\ [ ] { } ª º ç Ç ^ ` ¨",
    "it": "Perché è già così? Però sì: 10 € @ # [ ] { } £ § ° ç ò à ù ì é",
    "ch-de": "Grüezi mitenand! ça va? Très bien, à côté: 5 € @ # | ¦ ¬ ¢ [ ] { } \\ ~ ñ Ü é",
    "nordic": "Hämta ölet på gården! Ärligt, åtta öre: 5 € @ £ $ { [ ] } \\ | ~ µ ^ ` ´ ¨ Å",
}


@pytest.mark.parametrize("name", NAMES)
def test_sentence_round_trips(name: str) -> None:
    keymap = Keymap.load(name)
    text = SENTENCES[name] + "\nline two\tend"
    assert type_text(keymap, text) == text


# --- classic positions, byte for byte --------------------------------------------------------


def strokes(name: str, char: str) -> list[tuple[int, int]] | None:
    return Keymap.load(name).strokes(char)


def test_us_positions() -> None:
    assert strokes("us", "a") == [(0, 0x04)]
    assert strokes("us", "A") == [(0x02, 0x04)]
    assert strokes("us", "1") == [(0, 0x1E)]
    assert strokes("us", "!") == [(0x02, 0x1E)]
    assert strokes("us", "@") == [(0x02, 0x1F)]
    assert strokes("us", "0") == [(0, 0x27)]
    assert strokes("us", " ") == [(0, 0x2C)]
    assert strokes("us", "\n") == [(0, 0x28)]
    assert strokes("us", "\t") == [(0, 0x2B)]
    assert strokes("us", "\\") == [(0, 0x31)]
    assert strokes("us", "|") == [(0x02, 0x31)]
    assert strokes("us", "~") == [(0x02, 0x35)]
    assert strokes("us", '"') == [(0x02, 0x34)]
    # NanoKVM's base table (spec 7.3.4), all of it
    for char, usage in zip("-=[]\\;'`,./", (45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56), strict=True):
        assert strokes("us", char) == [(0, usage)]
    for char, usage in zip('_+{}|:"~<>?', (45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56), strict=True):
        assert strokes("us", char) == [(0x02, usage)]


def test_de_positions() -> None:
    assert strokes("de", "z") == [(0, 0x1C)]
    assert strokes("de", "y") == [(0, 0x1D)]
    assert strokes("de", "Z") == [(0x02, 0x1C)]
    assert strokes("de", "@") == [(0x40, 0x14)]
    assert strokes("de", "€") == [(0x40, 0x08)]
    assert strokes("de", "µ") == [(0x40, 0x10)]
    assert strokes("de", "ß") == [(0, 0x2D)]
    assert strokes("de", "?") == [(0x02, 0x2D)]
    assert strokes("de", "\\") == [(0x40, 0x2D)]
    assert strokes("de", "ü") == [(0, 0x2F)]
    assert strokes("de", "ö") == [(0, 0x33)]
    assert strokes("de", "Ä") == [(0x02, 0x34)]
    assert strokes("de", "#") == [(0, 0x32)]
    assert strokes("de", "'") == [(0x02, 0x32)]
    assert strokes("de", "-") == [(0, 0x38)]
    assert strokes("de", "/") == [(0x02, 0x24)]
    assert strokes("de", '"') == [(0x02, 0x1F)]
    assert strokes("de", "§") == [(0x02, 0x20)]
    assert strokes("de", "²") == [(0x40, 0x1F)]
    assert strokes("de", "³") == [(0x40, 0x20)]
    assert strokes("de", "{") == [(0x40, 0x24)]
    assert strokes("de", "}") == [(0x40, 0x27)]
    assert strokes("de", "~") == [(0x40, 0x30)]
    assert strokes("de", "|") == [(0x40, 0x64)]
    assert strokes("de", "<") == [(0, 0x64)]
    assert strokes("de", "°") == [(0x02, 0x35)]
    assert strokes("de", "´") == [(0, 0x2E), (0, 0x2C)]  # dead key, then Space
    assert strokes("de", "`") == [(0x02, 0x2E), (0, 0x2C)]
    assert strokes("de", "^") == [(0, 0x35), (0, 0x2C)]
    assert strokes("de", "é") == [(0, 0x2E), (0, 0x08)]
    assert strokes("de", "È") == [(0x02, 0x2E), (0x02, 0x08)]
    assert strokes("de", "ô") == [(0, 0x35), (0, 0x12)]


def test_fr_positions() -> None:
    assert strokes("fr", "a") == [(0, 0x14)]
    assert strokes("fr", "q") == [(0, 0x04)]
    assert strokes("fr", "z") == [(0, 0x1A)]
    assert strokes("fr", "w") == [(0, 0x1D)]
    assert strokes("fr", "m") == [(0, 0x33)]
    assert strokes("fr", ",") == [(0, 0x10)]
    assert strokes("fr", ";") == [(0, 0x36)]
    assert strokes("fr", ":") == [(0, 0x37)]
    assert strokes("fr", "!") == [(0, 0x38)]
    assert strokes("fr", "1") == [(0x02, 0x1E)]
    assert strokes("fr", "0") == [(0x02, 0x27)]
    assert strokes("fr", "&") == [(0, 0x1E)]
    assert strokes("fr", "é") == [(0, 0x1F)]
    assert strokes("fr", "è") == [(0, 0x24)]
    assert strokes("fr", "ç") == [(0, 0x26)]
    assert strokes("fr", "à") == [(0, 0x27)]
    assert strokes("fr", "ù") == [(0, 0x34)]
    assert strokes("fr", "~") == [(0x40, 0x1F)]
    assert strokes("fr", "#") == [(0x40, 0x20)]
    assert strokes("fr", "{") == [(0x40, 0x21)]
    assert strokes("fr", "[") == [(0x40, 0x22)]
    assert strokes("fr", "|") == [(0x40, 0x23)]
    assert strokes("fr", "`") == [(0x40, 0x24)]
    assert strokes("fr", "\\") == [(0x40, 0x25)]
    assert strokes("fr", "^") == [(0x40, 0x26)]  # the plain ^ beats dead ^ + Space
    assert strokes("fr", "@") == [(0x40, 0x27)]
    assert strokes("fr", "]") == [(0x40, 0x2D)]
    assert strokes("fr", "}") == [(0x40, 0x2E)]
    assert strokes("fr", "€") == [(0x40, 0x08)]
    assert strokes("fr", "ê") == [(0, 0x2F), (0, 0x08)]
    assert strokes("fr", "ë") == [(0x02, 0x2F), (0, 0x08)]
    assert strokes("fr", "¨") == [(0x02, 0x2F), (0, 0x2C)]
    assert strokes("fr", "É") is None  # no key for it on AZERTY (Windows), and dead ´ does not exist


def test_uk_positions() -> None:
    assert strokes("uk", '"') == [(0x02, 0x1F)]
    assert strokes("uk", "@") == [(0x02, 0x34)]
    assert strokes("uk", "£") == [(0x02, 0x20)]
    assert strokes("uk", "#") == [(0, 0x32)]
    assert strokes("uk", "~") == [(0x02, 0x32)]
    assert strokes("uk", "\\") == [(0, 0x64)]
    assert strokes("uk", "|") == [(0x02, 0x64)]
    assert strokes("uk", "¬") == [(0x02, 0x35)]
    assert strokes("uk", "€") == [(0x40, 0x21)]


def test_other_positions() -> None:
    assert strokes("es", "ñ") == [(0, 0x33)]
    assert strokes("es", "@") == [(0x40, 0x1F)]
    assert strokes("es", "á") == [(0, 0x34), (0, 0x04)]
    assert strokes("es", "ü") == [(0x02, 0x34), (0, 0x18)]
    assert strokes("es", "[") == [(0x40, 0x2F)]
    assert strokes("it", "@") == [(0x40, 0x33)]
    assert strokes("it", "#") == [(0x40, 0x34)]
    assert strokes("it", "è") == [(0, 0x2F)]
    assert strokes("it", "é") == [(0x02, 0x2F)]
    assert strokes("it", "{") == [(0x42, 0x2F)]
    assert strokes("ch-de", "z") == [(0, 0x1C)]
    assert strokes("ch-de", "@") == [(0x40, 0x1F)]
    assert strokes("ch-de", "é") == [(0x02, 0x33)]
    assert strokes("ch-de", "ü") == [(0, 0x2F)]
    assert strokes("ch-de", "Ü") == [(0, 0x30), (0x02, 0x18)]  # dead ¨ + Shift+U
    assert strokes("ch-de", "~") == [(0x40, 0x2E), (0, 0x2C)]
    assert strokes("nordic", "å") == [(0, 0x2F)]
    assert strokes("nordic", "@") == [(0x40, 0x1F)]
    assert strokes("nordic", "$") == [(0x40, 0x21)]
    assert strokes("nordic", "\\") == [(0x40, 0x2D)]
    assert strokes("nordic", "~") == [(0x40, 0x30), (0, 0x2C)]
    assert strokes("us-intl", "é") == [(0x40, 0x08)]  # AltGr+E, one stroke, beats ' then e
    assert strokes("us-intl", "ë") == [(0x02, 0x34), (0, 0x08)]  # " then e
    assert strokes("us-intl", "'") == [(0, 0x34), (0, 0x2C)]
    assert strokes("us-intl", "ç") == [(0x40, 0x36)]
    assert strokes("us-intl", "ß") == [(0x40, 0x16)]
    assert strokes("us-intl", "ô") == [(0x02, 0x23), (0, 0x12)]
    assert strokes("us-intl", "ã") == [(0x02, 0x35), (0, 0x04)]
    assert strokes("us-intl", "¿") == [(0x40, 0x38)]


@pytest.mark.parametrize(
    ("name", "char"),
    [("us", "é"), ("us", "€"), ("it", "~"), ("it", "`"), ("de", "ñ"), ("uk", "ü"), ("us", "\r"), ("us", "\x00")]
    + [(name, c) for name in NAMES for c in ("😀", "ab", "", "\b", "Ω")],
)
def test_cannot_be_typed(name: str, char: str) -> None:
    assert Keymap.load(name).strokes(char) is None


# --- the host decoder ----------------------------------------------------------------------


def test_caps_lock_and_leds() -> None:
    decoder = KeyboardDecoder(Keymap.load("de"))
    assert decoder.led_report() == 0
    assert press(decoder, 0, 0x39) == ""
    assert decoder.caps_lock and decoder.led_report() == 0x02
    assert press(decoder, 0, 0x04) == "A"
    assert press(decoder, 0x02, 0x04) == "a"  # Shift undoes Caps Lock on letters
    assert press(decoder, 0, 0x34) == "Ä"  # ä is a letter
    assert press(decoder, 0, 0x2D) == "ß"  # ß is not (Shift gives ?)
    assert press(decoder, 0, 0x1E) == "1"  # digits are not
    assert press(decoder, 0x40, 0x14) == "@"  # AltGr levels are not
    assert press(decoder, 0, 0x39) == ""
    assert not decoder.caps_lock and decoder.led_report() == 0
    assert press(decoder, 0, 0x53) + press(decoder, 0, 0x47) == ""
    assert decoder.led_report() == 0x05
    assert press(decoder, 0, 0x39) == ""
    assert decoder.led_report() == 0x07
    fr = KeyboardDecoder(Keymap.load("fr"))
    press(fr, 0, 0x39)
    assert press(fr, 0, 0x1F) + press(fr, 0, 0x14) == "éA"  # é (Shift gives 2) is not a letter


def test_caps_lock_held_toggles_once() -> None:
    decoder = KeyboardDecoder(Keymap.load("us"))
    decoder.feed(reports.keyboard(0, [0x39]))
    decoder.feed(reports.keyboard(0, [0x39]))
    assert decoder.caps_lock
    decoder.feed(RELEASE)
    assert decoder.caps_lock


def test_decoder_key_down_only_and_order() -> None:
    decoder = KeyboardDecoder(Keymap.load("us"))
    assert decoder.feed(reports.keyboard(0, [0x04])) == "a"
    assert decoder.feed(reports.keyboard(0, [0x04])) == ""  # held: no repeat
    assert decoder.feed(reports.keyboard(0, [0x04, 0x05])) == "b"
    assert decoder.feed(reports.keyboard(0x02, [0x05, 0x06])) == "C"  # modifiers of the report that pressed it
    assert decoder.feed(reports.keyboard(0, [0x01] * 6)) == ""  # rollover: nothing new
    assert decoder.feed(reports.keyboard(0, [0x05, 0x06])) == ""
    assert decoder.feed(RELEASE) == ""
    assert decoder.feed(reports.keyboard(0, [0x07, 0x08, 0x09])) == "def"
    assert decoder.feed(b"\x00\x00\x04") == ""  # not a keyboard report
    assert press(decoder, 0, 0x28) + press(decoder, 0, 0x2B) + press(decoder, 0, 0x2A) == "\n\t\b"


def test_decoder_shortcuts_and_altgr() -> None:
    decoder = KeyboardDecoder(Keymap.load("de"))
    assert press(decoder, 0x01, 0x06) == ""  # Ctrl+C
    assert press(decoder, 0x04, 0x06) == ""  # Alt+C
    assert press(decoder, 0x08, 0x06) == ""  # Win+C
    assert press(decoder, 0x20, 0x06) == "C"  # right Shift
    assert press(decoder, 0x40, 0x14) == "@"  # AltGr+Q
    assert press(decoder, 0x05, 0x14) == "@"  # Ctrl+Alt = AltGr (Windows)
    assert press(decoder, 0x41, 0x14) == "@"  # what a Windows AltGr really sends: LCtrl+RAlt
    assert press(decoder, 0x40, 0x06) == ""  # AltGr+C: nothing on this layout
    us = KeyboardDecoder(Keymap.load("us"))
    assert press(us, 0x40, 0x04) == ""  # US has no AltGr
    assert press(us, 0x42, 0x04) == ""


def test_decoder_dead_keys() -> None:
    decoder = KeyboardDecoder(Keymap.load("de"))
    assert press(decoder, 0, 0x2E) == ""  # dead ´
    assert decoder.pending_dead == "´"
    assert press(decoder, 0, 0x08) == "é"
    assert press(decoder, 0, 0x2E) + press(decoder, 0, 0x2C) == "´"
    assert press(decoder, 0, 0x2E) + press(decoder, 0, 0x1B) == "´x"  # cannot combine: both
    assert press(decoder, 0, 0x2E) + press(decoder, 0x01, 0x1B) + press(decoder, 0x02, 0x04) == "Á"  # Ctrl+X waits
    assert press(decoder, 0, 0x35) + press(decoder, 0, 0x35) == "^^"  # dead twice: both, as Windows
    assert press(decoder, 0, 0x35) + press(decoder, 0, 0x28) == "^\n"
    assert decoder.pending_dead is None
    assert press(decoder, 0, 0x39) + press(decoder, 0, 0x2E) + press(decoder, 0, 0x08) == "É"  # Caps Lock too


def test_decoder_iso_key_aliases() -> None:
    # hosts map usage 0x31 (US \) and 0x32 (Non-US #) to one key
    assert press(KeyboardDecoder(Keymap.load("uk")), 0, 0x31) == "#"
    assert press(KeyboardDecoder(Keymap.load("us")), 0x02, 0x32) == "|"
    assert press(KeyboardDecoder(Keymap.load("de")), 0, 0x31) == "#"


def test_decoder_keypad() -> None:
    decoder = KeyboardDecoder(Keymap.load("de"))
    assert press(decoder, 0, 0x59) + press(decoder, 0, 0x57) + press(decoder, 0, 0x58) == "+\n"  # Num Lock off
    press(decoder, 0, 0x53)
    assert decoder.num_lock
    text = "".join(press(decoder, 0, u) for u in (0x59, 0x62, 0x63, 0x61, 0x54, 0x55, 0x56))
    assert text == "10,9/*-"
    assert press(decoder, 0x02, 0x59) == ""  # Shift+keypad: navigation
    assert press(KeyboardDecoder(Keymap.load("us")), 0, 0x53) == ""


def test_paste_of_many_layouts_is_independent() -> None:
    # one decoder per layout, state not shared between instances
    a, b = KeyboardDecoder(Keymap.load("us")), KeyboardDecoder(Keymap.load("us"))
    press(a, 0, 0x39)
    assert a.caps_lock and not b.caps_lock
