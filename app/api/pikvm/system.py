"""``/api/info`` and ``/api/log``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Response
from litestar.response import Stream

from app.api.pikvm import state
from app.api.pikvm.envelope import answer, bad_request
from app.api.pikvm.live import held
from app.api.pikvm.params import flag, listed, number
from app.api.routing import Req, get, services
from app.runtime import Services
from app.services.auth.accounts import Role
from app.services.auth.live import SessionEnded
from app.services.logbook import logbook

# A follower hears at least this often, so a proxy or client does not time the stream out.
FOLLOW_KEEPALIVE = 5.0


async def all_info(svc: Services) -> dict[str, Any]:
    """``/api/info`` without a query: every category in kvmd's default (legacy) layout."""
    return await asyncio.to_thread(state.info, svc, True)


class KvmdSystemController(Controller):
    path = "/api"

    @get("/info", role=Role.VIEWER, hot=all_info)  # dashboards poll it (app/api/hot.py answers ahead)
    async def info(self, request: Req) -> Response[bytes]:
        fields = listed(request, "fields")
        legacy = flag(request, "legacy", True)
        known = set(state.LEGACY_CATEGORIES if legacy else state.CATEGORIES)
        if not legacy:
            known.add("hw")  # kvmd still answers the old category when asked by name
        unknown = [name for name in fields if name not in known]
        if unknown:
            raise bad_request(f"Unknown info categories: {', '.join(unknown)}")
        everything = await asyncio.to_thread(state.info, services(request), legacy)
        if not legacy and "hw" in fields:
            old = await asyncio.to_thread(state.info, services(request), True)
            everything["hw"] = old["hw"]
        return answer({k: v for k, v in everything.items() if not fields or k in fields})

    @get("/log", role=Role.ADMIN)
    async def log(self, request: Req) -> Stream | Response[bytes]:
        seek = number(request, "seek", 0, 0, 10 * 365 * 86400)
        follow = flag(request, "follow", False)
        book = logbook()
        if not follow:
            return Response("".join(book.since(seek)).encode(), media_type="text/plain; charset=utf-8")

        async def lines() -> AsyncIterator[bytes]:
            with book.follow() as queue:
                backlog = book.since(seek)
                # Something at once: the response's headers leave with its first bytes.
                yield "".join(backlog).encode() or b"\n"
                while True:
                    try:
                        async with held(request, Role.ADMIN):  # ends the stream when the session does
                            async with asyncio.timeout(FOLLOW_KEEPALIVE):
                                line = await queue.get()
                    except TimeoutError:
                        line = "\n"
                    except SessionEnded:
                        return
                    yield line.encode()

        return Stream(lines(), media_type="text/plain; charset=utf-8")
