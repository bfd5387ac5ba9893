"""Brute-force protection per client IP (spec 2.3, ``security.*``)."""

from __future__ import annotations

import time

_TABLE_LIMIT = 3000


class Lockout:
    def __init__(self, duration: int, max_failures: int) -> None:
        self.duration = duration
        self.max_failures = max_failures
        # ip -> (failures inside the window, window start, locked until)
        self._table: dict[str, tuple[int, float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.duration > 0

    def is_locked(self, ip: str) -> bool:
        if not self.enabled:
            return False
        entry = self._table.get(ip)
        return entry is not None and entry[2] > time.monotonic()

    def failure(self, ip: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        count, start, locked_until = self._table.get(ip, (0, now, 0.0))
        if now - start > self.duration:
            count, start = 0, now
        count += 1
        if count >= self.max_failures:
            locked_until = now + self.duration
            count, start = 0, now
        if len(self._table) >= _TABLE_LIMIT and ip not in self._table:
            self._sweep(now)
        self._table[ip] = (count, start, locked_until)

    def success(self, ip: str) -> None:
        self._table.pop(ip, None)

    def _sweep(self, now: float) -> None:
        self._table = {ip: e for ip, e in self._table.items() if e[2] > now or now - e[1] <= self.duration}
        if len(self._table) >= _TABLE_LIMIT:
            self._table.clear()
