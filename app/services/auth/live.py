"""Long-lived connections per user, so revoking a user's sessions also ends their WebSockets."""

from __future__ import annotations

from collections.abc import Callable

from app.services.auth.sessions import SessionManager


class LiveConnections:
    def __init__(self, sessions: SessionManager) -> None:
        self._by_user: dict[str, set[Callable[[], None]]] = {}
        sessions.on_revoke(self._revoke)

    def add(self, username: str, end: Callable[[], None]) -> None:
        self._by_user.setdefault(username, set()).add(end)

    def remove(self, username: str, end: Callable[[], None]) -> None:
        ends = self._by_user.get(username)
        if ends is not None:
            ends.discard(end)
            if not ends:
                del self._by_user[username]

    def count(self, username: str) -> int:
        return len(self._by_user.get(username, ()))

    def _revoke(self, username: str) -> None:
        for end in list(self._by_user.get(username, ())):
            end()
