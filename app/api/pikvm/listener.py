"""kvmd's API on a listener of its own (``pikvm:`` in server.yaml), next to the main one.

The same kvmd app the main listener dispatches to, served alone: kvmd's layout at the root, its
envelope and credentials only, so nothing collides with NanoKVM's routes there. HTTPS uses the device
certificate (made on first use, as the VNC server's). It starts once the main app's lifespan has started
the shared services, and stops with the main server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from granian.constants import Interfaces
from granian.server.embed import Server
from litestar import Litestar

from app.config import Config

log = logging.getLogger(__name__)


class KvmdListener:
    def __init__(self, server: Server, url: str) -> None:
        self.server = server
        self.url = url
        self._stop: Callable[[], None] = server.stop  # (granian's own is untyped)

    @classmethod
    def create(cls, config: Config, app: Litestar) -> KvmdListener | None:
        """The listener ``config.pikvm`` asks for, or None when it is off."""
        settings = config.pikvm
        if not settings.enabled:
            return None
        https = settings.proto == "https"
        crt = key = None
        if https:
            crt, key = (Path(p) for p in app.state.services.tls.device_certificate())
        host = settings.host or config.host or "0.0.0.0"
        server = Server(
            app.state.kvmd_app,
            address=host,
            port=settings.port,
            interface=Interfaces.ASGINL,  # no lifespan of its own: the main app's runs the services
            ssl_cert=crt,
            ssl_key=key,
            log_level="warning",  # type: ignore[arg-type]
        )
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return cls(server, f"{settings.proto}://{shown}:{settings.port}")

    @property
    def line(self) -> str:
        return f"  PiKVM's API (kvmd) also at {self.url}"

    @contextlib.asynccontextmanager
    async def alongside(self, app: Litestar, main: Server) -> AsyncIterator[None]:
        """Serve while the body (the main server) runs: from the main app's start-up on. A listener that
        cannot start (its port taken) stops the main server too: a half-configured device is worse."""
        ready = asyncio.Event()
        app.on_startup.append(ready.set)
        stop_main: Callable[[], None] = main.stop

        async def serve() -> None:
            await ready.wait()
            try:
                await self.server.serve()
            except Exception as err:
                log.error("PiKVM listener %s failed (%s); stopping", self.url, err)
                stop_main()
                raise

        task = asyncio.create_task(serve())
        try:
            yield
        finally:
            self._stop()
            if not ready.is_set():
                task.cancel()
            (result,) = await asyncio.gather(task, return_exceptions=True)
        if isinstance(result, Exception):
            raise SystemExit(f"PiKVM listener {self.url}: {result}")
