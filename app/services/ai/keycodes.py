"""KeyboardEvent.code names (what NanoKVM's MCP tools take) to USB HID usages and modifier bits."""

from __future__ import annotations

MODIFIERS = {
    "ControlLeft": 0x01,
    "ShiftLeft": 0x02,
    "AltLeft": 0x04,
    "MetaLeft": 0x08,
    "ControlRight": 0x10,
    "ShiftRight": 0x20,
    "AltRight": 0x40,
    "MetaRight": 0x80,
}

_NAMED = {
    "Enter": 0x28, "Escape": 0x29, "Backspace": 0x2A, "Tab": 0x2B, "Space": 0x2C, "Minus": 0x2D,
    "Equal": 0x2E, "BracketLeft": 0x2F, "BracketRight": 0x30, "Backslash": 0x31, "Semicolon": 0x33,
    "Quote": 0x34, "Backquote": 0x35, "Comma": 0x36, "Period": 0x37, "Slash": 0x38, "CapsLock": 0x39,
    "PrintScreen": 0x46, "ScrollLock": 0x47, "Pause": 0x48, "Insert": 0x49, "Home": 0x4A, "PageUp": 0x4B,
    "Delete": 0x4C, "End": 0x4D, "PageDown": 0x4E, "ArrowRight": 0x4F, "ArrowLeft": 0x50, "ArrowDown": 0x51,
    "ArrowUp": 0x52, "NumLock": 0x53, "NumpadDivide": 0x54, "NumpadMultiply": 0x55, "NumpadSubtract": 0x56,
    "NumpadAdd": 0x57, "NumpadEnter": 0x58, "NumpadDecimal": 0x63, "IntlBackslash": 0x64, "ContextMenu": 0x65,
}  # fmt: skip

USAGES: dict[str, int] = {
    **{f"Key{chr(ord('A') + i)}": 0x04 + i for i in range(26)},
    **{f"Digit{(i + 1) % 10}": 0x1E + i for i in range(10)},
    **{f"F{i + 1}": 0x3A + i for i in range(12)},
    **{f"Numpad{(i + 1) % 10}": 0x59 + i for i in range(10)},
    **_NAMED,
}

NAMES: list[str] = sorted([*USAGES, *MODIFIERS])
MAX_KEYS = 6  # a boot keyboard report's key slots


def combo(names: list[str]) -> tuple[int, list[int]]:
    """(modifier byte, usages) for a chord; ValueError naming an unknown key or too many keys."""
    modifiers, usages = 0, []
    for name in names:
        if name in MODIFIERS:
            modifiers |= MODIFIERS[name]
        elif name in USAGES:
            usages.append(USAGES[name])
        else:
            raise ValueError(f"unknown key {name!r} (KeyboardEvent.code names, e.g. KeyA, Enter, ControlLeft)")
    if len(usages) > MAX_KEYS:
        raise ValueError(f"at most {MAX_KEYS} non-modifier keys at once")
    return modifiers, usages
