"""Accounts: user names, new passwords, roles as the wire names them."""

from __future__ import annotations

import re

from app.errors import InvalidArgument

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
PASSWORD_MIN_BYTES = 8
PASSWORD_MAX_BYTES = 72  # bcrypt's own limit
ROLES = ("viewer", "user", "admin")


def username(name: str, *, code: int = -1) -> str:
    """1-32 letters, digits, '.', '_' or '-', starting with a letter or digit (safe in paths and logs)."""
    if not USERNAME_RE.fullmatch(name):
        raise InvalidArgument(
            "invalid username: 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit", code=code
        )
    return name


def new_password(password: str, *, code: int = -1) -> str:
    """Policy for new passwords, 8-72 bytes of UTF-8 without NUL (login itself does not apply it, so the
    default admin/admin still logs in to be changed)."""
    size = len(password.encode("utf-8"))
    if not PASSWORD_MIN_BYTES <= size <= PASSWORD_MAX_BYTES:
        raise InvalidArgument(
            f"password must be between {PASSWORD_MIN_BYTES} and {PASSWORD_MAX_BYTES} bytes", code=code
        )
    if "\x00" in password:
        raise InvalidArgument("invalid password", code=code)
    return password


def role_name(name: str, *, code: int = -1) -> str:
    """``viewer``, ``user`` or ``admin``."""
    if name not in ROLES:
        raise InvalidArgument("invalid role", code=code)
    return name
