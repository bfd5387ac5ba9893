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
