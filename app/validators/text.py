"""Short texts people give things: a device's web title, a name in a list."""

from __future__ import annotations

import unicodedata

from app.errors import InvalidArgument

TITLE_MAX = 64
NAME_MAX = 32
_BREAKS = ("Cc", "Cf", "Zl", "Zp")  # control and format characters, line and paragraph separators


def web_title(title: str, *, code: int = -1) -> str:
    """At most 64 printable characters ("" is allowed: it means the default)."""
    if len(title) > TITLE_MAX or any(not char.isprintable() for char in title):
        raise InvalidArgument(f"invalid arguments: a title is at most {TITLE_MAX} printable characters", code=code)
    return title


def one_line_name(name: str, *, limit: int = NAME_MAX, code: int = -1) -> str:
    """One line (tabs allowed), whitespace runs collapsed to one space, at most ``limit`` characters."""
    message = f"invalid arguments: a name is one line of at most {limit} characters"
    if len(name) > 4 * limit or any(unicodedata.category(char) in _BREAKS and char not in " \t" for char in name):
        raise InvalidArgument(message, code=code)
    collapsed = " ".join(name.split())
    if len(collapsed) > limit:
        raise InvalidArgument(message, code=code)
    return collapsed
