"""Go's time formats as NanoKVM's clients see them on the wire."""

from __future__ import annotations

import time

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339_nano(ns: int | None = None) -> str:
    """UTC in Go's RFC3339Nano: fractional seconds without trailing zeros (none at all if zero)."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc1123_local(seconds: float | None = None) -> str:
    """Local time in Go's ``time.RFC1123``: the zone's abbreviation, not an offset (``... 15:04:05 UTC``
    on a board, which has no time zone set)."""
    t = time.localtime(seconds)
    zone = t.tm_zone or "UTC"
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {zone}"
    )
