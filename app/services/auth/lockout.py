"""Brute-force protection per client IP (spec 2.3, ``security.*``).

An attempt is counted *before* its password is checked (``reserve``), in one step on the event loop,
so concurrent guesses cannot all pass the check while the first ones are still being verified: with
a limit of N, at most N checks run per window, and the Nth reservation already locks the IP.

The table is bounded and kept in least-recently-used order. When it is full, entries that hold
nothing are dropped first, then the least recently used entry without a lock; a lock is never
dropped before it expires. If the table holds nothing but locks, a new address is refused until
locks expire (failing closed: otherwise enough addresses would buy unlimited guesses).
"""

from __future__ import annotations

import time

TABLE_LIMIT = 3000


class Lockout:
    def __init__(self, duration: int, max_failures: int, limit: int = TABLE_LIMIT) -> None:
        self.duration = duration
        self.max_failures = max_failures
        self.limit = limit
        # ip -> (attempts inside the window, window start, locked until); dict order = LRU order
        self._table: dict[str, tuple[int, float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.duration > 0

    def is_locked(self, ip: str) -> bool:
        if not self.enabled:
            return False
        entry = self._table.get(ip)
        return entry is not None and entry[2] > time.monotonic()

    def reserve(self, ip: str) -> bool:
        """Count an attempt from ``ip`` before it is checked; False: refuse it without checking."""
        if not self.enabled:
            return True
        now = time.monotonic()
        entry = self._table.pop(ip, None)  # re-inserted below: most recently used
        if entry is None:
            if not self._make_room(now):
                return False
            entry = (0, now, 0.0)
        count, start, locked_until = entry
        if locked_until > now:
            self._table[ip] = entry
            return False
        if now - start > self.duration:
            count, start = 0, now
        count += 1
        if count >= self.max_failures:
            locked_until = now + self.duration
            count, start = 0, now
        self._table[ip] = (count, start, locked_until)
        return True

    def success(self, ip: str) -> None:
        """The attempt was right: forget the address's count (and a lock its last attempt set)."""
        self._table.pop(ip, None)

    def __len__(self) -> int:
        return len(self._table)

    def _make_room(self, now: float) -> bool:
        if len(self._table) < self.limit:
            return True
        for ip, (_, start, locked_until) in list(self._table.items()):
            if locked_until <= now and now - start > self.duration:
                del self._table[ip]
        if len(self._table) < self.limit:
            return True
        for ip, (_, _, locked_until) in self._table.items():
            if locked_until <= now:
                del self._table[ip]
                return True
        return False
