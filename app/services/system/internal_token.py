"""NanoKVM's internal token (``/etc/kvm/.picoclaw_internal_token``): what on-device helpers send as
``X-NanoKVM-Internal-Token`` from loopback to reach the internal routes (spec 4, "loop")."""

from __future__ import annotations

import hmac
import secrets

from app.paths import DeviceRoot, atomic_write, read_text

FILE = "/etc/kvm/.picoclaw_internal_token"


class InternalToken:
    def __init__(self, root: DeviceRoot) -> None:
        self.path = root(FILE)

    def ensure(self) -> None:
        """At start, as NanoKVM: keep a usable token, else write a new random one (0600)."""
        if len(read_text(self.path)) < 32:
            atomic_write(self.path, secrets.token_hex(32).encode(), 0o600)

    def matches(self, presented: str | None) -> bool:
        expected = read_text(self.path)
        return bool(presented) and len(expected) >= 32 and hmac.compare_digest(presented or "", expected)
