"""Long-lived kvmd connections (log follow, WebSocket) end when their user's sessions are revoked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from app.api.access import current_session


@contextlib.contextmanager
def revocation(connection: Any) -> Iterator[asyncio.Event]:
    """An event set when the caller's sessions are revoked (logout, password or role change, delete)."""
    services = connection.app.state.services
    username = current_session(connection).username
    revoked = asyncio.Event()
    services.live.add(username, revoked.set)
    try:
        yield revoked
    finally:
        services.live.remove(username, revoked.set)
