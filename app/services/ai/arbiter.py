"""Manual input goes first (spec 4.10): an MCP input operation starts only when no person has typed,
clicked or pasted for ``QUIET_SECONDS``, and a person's input ends a running one at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import anyio

QUIET_SECONDS = 2.0


class Preempted(Exception):
    """Manual input arrived while an MCP operation was running."""


class InputArbiter:
    def __init__(self, busy: Callable[[], bool] = lambda: False) -> None:
        self._last_manual = -float("inf")
        self._busy = busy  # e.g. a paste in progress: manual input that lasts
        self._running: set[anyio.CancelScope] = set()

    def manual(self) -> None:
        """A person's keyboard or mouse event (any thread-free caller on the event loop)."""
        self._last_manual = time.monotonic()
        for scope in list(self._running):
            scope.cancel()

    async def _quiet(self) -> None:
        while True:
            wait = self._last_manual + QUIET_SECONDS - time.monotonic()
            if wait <= 0 and not self._busy():
                return
            await asyncio.sleep(max(wait, 0.1))

    @contextlib.asynccontextmanager
    async def mcp_input(self) -> AsyncIterator[None]:
        """Wait for quiet, then run the body; raise Preempted if a person's input cancels it."""
        await self._quiet()
        with anyio.CancelScope() as scope:
            self._running.add(scope)
            try:
                yield
            finally:
                self._running.discard(scope)
        if scope.cancelled_caught:
            raise Preempted("manual input preempted the MCP operation")
