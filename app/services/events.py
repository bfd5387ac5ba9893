"""An in-process event bus: services publish state changes, WebSocket channels forward them.

Publishing is safe from any thread (capture and HID threads publish); subscribers are asyncio
queues on the app's event loop. A subscriber that does not keep up loses its oldest events rather
than holding anyone back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import msgspec


class Event(msgspec.Struct, frozen=True):
    type: str
    data: Any


_QUEUE_LIMIT = 64


class EventBus:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: set[asyncio.Queue[Event]] = set()
        self.last: dict[str, Event] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, type_: str, data: Any, key: str | None = None) -> None:
        """Record ``data`` as the latest ``type_`` (per ``key``) and hand it to every subscriber."""
        event = Event(type_, data)
        loop = self._loop
        if loop is None:
            self.last[key or type_] = event
            return
        loop.call_soon_threadsafe(self._deliver, key or type_, event)

    def _deliver(self, key: str, event: Event) -> None:
        self.last[key] = event
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(_QUEUE_LIMIT)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
