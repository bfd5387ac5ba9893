"""Long-lived connections per user and per session, so revoking a user's sessions, ending one
session or revoking one API token also ends their streams and sockets.

Every long-lived response (MJPEG, WebSockets, and any stream added later) runs inside ``hold``: a
cancel scope that ends its body within a second of the session's revocation (logout, password or
role change, disable, delete: at once, through the session manager's listener), its expiry (a timer),
or an outside edit of the account store (a re-check every ``RECHECK_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable

from app.services.auth.sessions import SessionManager

# How often a held connection re-checks its credentials (outside edits of the account store, which
# no listener reports). Cheap: a cached token and an in-memory account lookup.
RECHECK_SECONDS = 1.0


class SessionEnded(Exception):
    """The session behind a long-lived connection was revoked or expired: end the connection."""


class LiveConnections:
    def __init__(self, sessions: SessionManager) -> None:
        self._by_user: dict[str, set[Callable[[], None]]] = {}
        self._by_sid: dict[str, set[Callable[[], None]]] = {}
        sessions.on_revoke(self._revoke)
        sessions.on_end(self._end)

    def add(self, username: str, end: Callable[[], None], sid: str = "") -> None:
        self._by_user.setdefault(username, set()).add(end)
        if sid:
            self._by_sid.setdefault(sid, set()).add(end)

    def remove(self, username: str, end: Callable[[], None], sid: str = "") -> None:
        for table, key in ((self._by_user, username), (self._by_sid, sid)):
            ends = table.get(key)
            if ends is not None:
                ends.discard(end)
                if not ends:
                    del table[key]

    def count(self, username: str) -> int:
        return len(self._by_user.get(username, ()))

    def _revoke(self, username: str) -> None:
        for end in list(self._by_user.get(username, ())):
            end()

    def _end(self, sid: str) -> None:
        """One session ended or one API token was revoked (``SessionManager.ended``)."""
        for end in list(self._by_sid.get(sid, ())):
            end()

    @contextlib.asynccontextmanager
    async def hold(
        self, username: str, expires: float, still_valid: Callable[[], bool], sid: str = ""
    ) -> AsyncIterator[None]:
        """Run the body until it ends or the session does; then raise SessionEnded.

        ``expires``: the session's expiry (wall clock, ``inf`` for none); ``still_valid``: re-checks the
        connection's credentials (False ends it); ``sid``: the session's id (``Session.sid``), so ending
        that one session or revoking that API token ends it at once. The body is cancelled where it
        awaits, so it must not swallow CancelledError.
        """
        loop = asyncio.get_running_loop()
        deadline = None if math.isinf(expires) else loop.time() + max(0.0, expires - time.time())
        scope: asyncio.Timeout | None = None
        try:
            async with asyncio.timeout(deadline) as scope:
                entered = scope

                def end() -> None:
                    if not entered.expired():
                        entered.reschedule(loop.time())

                self.add(username, end, sid)
                checker = asyncio.create_task(_recheck(still_valid, end))
                try:
                    yield
                finally:
                    checker.cancel()
                    self.remove(username, end, sid)
        except TimeoutError:
            if scope is not None and scope.expired():
                raise SessionEnded from None
            raise


async def _recheck(still_valid: Callable[[], bool], end: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(RECHECK_SECONDS)
        if not still_valid():
            end()
            return
