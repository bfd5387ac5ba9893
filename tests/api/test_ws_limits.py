"""Inbound WebSocket messages are capped (issue 13, finding 4): ten viewers each sending one 16 MiB
message are each closed with 1009 (message too big), and the server's memory comes back down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

VIEWERS = 10
FRAME = 16 * 1024 * 1024
# Granian (2.8, tungstenite inside, its WebSocketConfig not exposed) assembles each message up to its
# own 16 MiB frame limit before the app's guard can drop it, so the attack still costs a transient
# peak (measured +115..+170 MiB): bounded here by 1.75 x what the attackers send (without the guard
# each message was also held by the handler: +323 MiB), and little may stay once the sockets close.
PEAK_GROWTH = VIEWERS * FRAME * 7 // 4
KEPT_GROWTH = 48 * 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def viewer_cookie(app: RunningApp, admin: httpx.Client) -> str:
    body = {"username": "watcher", "password": encrypt("password-1"), "role": "viewer"}
    assert admin.post("/api/auth/users", json=body).json()["code"] == 0
    value = app.login("watcher", "password-1").cookies.get("nano-kvm-token")
    assert value
    return value


async def attack(url: str, cookie: str, pid: int) -> tuple[list[int | None], int]:
    """Every viewer sends one oversized message at once; their close codes, and the peak RSS seen."""
    peak = rss(pid)
    sockets = [
        await connect(url, additional_headers={"Cookie": f"nano-kvm-token={cookie}"}, max_size=None, open_timeout=20)
        for _ in range(VIEWERS)
    ]

    async def one(socket: object) -> int | None:
        conn = socket  # websockets' ClientConnection
        payload = b"\x00" * FRAME
        try:
            await conn.send(payload)  # type: ignore[attr-defined]
            async with asyncio.timeout(30):
                while True:
                    await conn.recv()  # type: ignore[attr-defined]
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return None

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss(pid))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    codes = await asyncio.gather(*(one(s) for s in sockets))
    sampler.cancel()
    for conn in sockets:
        await conn.close()
    return codes, peak


def test_oversized_messages_close_with_1009_and_memory_stays_small(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory()
    cookie = viewer_cookie(app, app.login())
    url = app.url.replace("http", "ws") + "/api/ws"
    pid = app.process.pid
    before = rss(pid)
    codes, peak = asyncio.run(attack(url, cookie, pid))
    time.sleep(0.5)
    after = rss(pid)
    mib = 1024 * 1024
    print(f"{VIEWERS} viewers x one 16 MiB message: RSS {before / mib:.0f} MiB before, peak {peak / mib:.0f} MiB,")
    print(f"  {after / mib:.0f} MiB after; close codes {codes}")
    assert codes == [1009] * VIEWERS, codes
    assert peak - before < PEAK_GROWTH, (before, peak)
    assert after - before < KEPT_GROWTH, (before, after)
    # The server still serves: a small message on a new socket is fine.
    assert httpx.get(f"{app.url}/api/vm/hardware", cookies={"nano-kvm-token": cookie}).json()["code"] == 0
