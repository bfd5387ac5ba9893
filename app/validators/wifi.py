"""Wi-Fi credentials, as 802.11 and WPA define them."""

from __future__ import annotations

import unicodedata

from app.errors import InvalidArgument

SSID_MAX_BYTES = 32  # 802.11


def wifi_ssid(ssid: str, *, code: int = -1) -> str:
    """1-32 bytes of UTF-8, one line without control characters."""
    if not ssid or len(ssid) > SSID_MAX_BYTES or len(ssid.encode("utf-8")) > SSID_MAX_BYTES:
        raise InvalidArgument("an SSID is 1-32 bytes", code=code)
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in ssid):
        raise InvalidArgument("an SSID is one line without control characters", code=code)
    return ssid


def wifi_password(password: str, *, code: int = -1) -> str:
    """None (an open network), a WPA passphrase (8-63 printable ASCII characters) or a 64-digit hex key."""
    if password == "":
        return password
    if len(password) == 64 and all(char in "0123456789abcdefABCDEF" for char in password):
        return password
    if not 8 <= len(password) <= 63 or any(not " " <= char <= "~" for char in password):
        raise InvalidArgument("a password is 8-63 printable ASCII characters (or 64 hex digits)", code=code)
    return password


def wifi_credentials(ssid: str, password: str, *, code: int = -1) -> tuple[str, str]:
    return wifi_ssid(ssid, code=code), wifi_password(password, code=code)
